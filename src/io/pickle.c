/* The allow-listed pickle reader (pickle.h). Values live in one arena freed at the end,
 * so shared references (memo, dicts holding themselves) need no ownership rules; every
 * opcode makes at most one new value, so memory grows with the input only. */
#include "io/pickle.h"
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { V_NONE, V_BOOL, V_INT, V_STR, V_TUPLE, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR } vkind;
/* The resolvable globals. */
typedef enum { G_ORDERED_DICT, G_REBUILD_V2, G_HALF, G_FLOAT, G_BF16 } gkind;

typedef struct val val;
struct val {
    vkind k;
    int64_t i;           /* V_INT, V_BOOL; V_GLOBAL: gkind */
    char *s;             /* V_STR (NUL-terminated, len bytes); V_STORAGE: its key */
    size_t len;
    val **items;         /* V_TUPLE: n items; V_DICT: n keys and values, interleaved */
    size_t n, cap;
    xl_dtype dt;         /* V_STORAGE */
    uint64_t numel;      /* V_STORAGE */
    xl_pk_tensor *t;     /* V_TENSOR (name unset, storage borrowed from the V_STORAGE) */
    val *next;           /* arena list */
};

typedef struct {
    const uint8_t *p;
    size_t len, pos, op_pos;
    const char *what;
    val *arena;
    val **stack;
    size_t sp, stack_cap;
    size_t marks[XL_PK_MAX_DEPTH];
    int n_marks;
    val **memo;
    size_t memo_cap, memo_count;
    size_t n_values;
} vm;

static const struct {
    const char *module, *name;
    gkind g;
} allowed[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_V2},
    {"torch", "HalfStorage", G_HALF},
    {"torch", "FloatStorage", G_FLOAT},
    {"torch", "BFloat16Storage", G_BF16},
};

static const char *global_name(gkind g) {
    static char buf[64];
    snprintf(buf, sizeof buf, "%s.%s", allowed[g].module, allowed[g].name);
    return buf;
}

/* Bytes from the file shown in a message: printable ASCII, at most 48 of them. */
static void show(char *dst, size_t cap, const char *s, size_t len) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 4 < cap; i++) {
        if (i == 48) { memcpy(dst + o, "...", 3); o += 3; break; }
        unsigned char c = (unsigned char)s[i];
        dst[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    dst[o] = '\0';
}

static xl_status fail(vm *v, xl_status st, const char *fmt, ...) XL_PRINTF(3, 4);
static xl_status fail(vm *v, xl_status st, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return xl_err(st, "%s: data.pkl byte %zu: %s", v->what, v->op_pos, msg);
}

static val *new_val(vm *v, vkind k) {
    if (v->n_values >= XL_PK_MAX_VALUES) return NULL;
    val *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->k = k;
    v->n_values++;
    x->next = v->arena;
    v->arena = x;
    return x;
}

static void free_arena(vm *v) {
    for (val *x = v->arena, *nx; x; x = nx) {
        nx = x->next;
        free(x->s);
        free(x->items);
        free(x->t);
        free(x);
    }
    v->arena = NULL;
}

/* Allocation failures and the value bound (XL_PK_MAX_VALUES) end the same way. */
#define NOMEM(v) fail(v, XL_ERR_NOMEM, "out of memory, or more than %u values", XL_PK_MAX_VALUES)

static xl_status push(vm *v, val *x) {
    if (!x) return NOMEM(v);
    if (v->sp == v->stack_cap) {
        if (v->stack_cap >= XL_PK_MAX_STACK) return fail(v, XL_ERR_FORMAT, "stack deeper than %u entries", XL_PK_MAX_STACK);
        size_t cap = v->stack_cap ? v->stack_cap * 2 : 64;
        val **s = realloc(v->stack, cap * sizeof *s);
        if (!s) return NOMEM(v);
        v->stack = s;
        v->stack_cap = cap;
    }
    v->stack[v->sp++] = x;
    return XL_OK;
}

/* The floor below which pops may not go: the innermost MARK. */
static size_t floor_of(const vm *v) { return v->n_marks ? v->marks[v->n_marks - 1] : 0; }

static xl_status pop(vm *v, val **x) {
    if (v->sp <= floor_of(v)) return fail(v, XL_ERR_FORMAT, "stack underflow");
    *x = v->stack[--v->sp];
    return XL_OK;
}

static xl_status need(vm *v, size_t n) {
    if (v->len - v->pos < n) return fail(v, XL_ERR_FORMAT, "truncated (%zu more bytes needed, %zu left)", n, v->len - v->pos);
    return XL_OK;
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t x = 0;
    for (int i = n - 1; i >= 0; i--) x = x << 8 | p[i];
    return x;
}

static xl_status item_add(vm *v, val *c, val *x) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        val **it = realloc(c->items, cap * sizeof *it);
        if (!it) return NOMEM(v);
        c->items = it;
        c->cap = cap;
    }
    c->items[c->n++] = x;
    return XL_OK;
}

/* The values above the innermost MARK, which is removed: into a new tuple, or
 * (SETITEMS) as key / value pairs into the dict below the mark. */
static xl_status pop_mark(vm *v, size_t *from) {
    if (!v->n_marks) return fail(v, XL_ERR_FORMAT, "no MARK to pop to");
    *from = v->marks[--v->n_marks];
    return XL_OK;
}

static xl_status make_tuple(vm *v, size_t from) {
    val *t = new_val(v, V_TUPLE);
    if (!t) return NOMEM(v);
    for (size_t i = from; i < v->sp; i++)
        if (item_add(v, t, v->stack[i])) return XL_ERR_NOMEM;
    v->sp = from;
    return push(v, t);
}

static xl_status make_tuple_n(vm *v, size_t n) {
    if (v->sp < floor_of(v) + n) return fail(v, XL_ERR_FORMAT, "stack underflow");
    return make_tuple(v, v->sp - n);
}

static xl_status find_global(vm *v, const char *mod, size_t mlen, const char *name, size_t nlen) {
    for (size_t g = 0; g < sizeof allowed / sizeof allowed[0]; g++)
        if (strlen(allowed[g].module) == mlen && !memcmp(allowed[g].module, mod, mlen) &&
            strlen(allowed[g].name) == nlen && !memcmp(allowed[g].name, name, nlen)) {
            val *x = new_val(v, V_GLOBAL);
            if (!x) return NOMEM(v);
            x->i = (int64_t)g;
            return push(v, x);
        }
    char m[64], n[64];
    show(m, sizeof m, mod, mlen);
    show(n, sizeof n, name, nlen);
    return fail(v, XL_ERR_FORMAT, "global %s.%s is not allowed (only a tensor state_dict is read)", m, n);
}

/* GLOBAL's "module\nname\n" operands. */
static xl_status read_line(vm *v, const char **s, size_t *len) {
    const uint8_t *start = v->p + v->pos;
    const uint8_t *nl = memchr(start, '\n', v->len - v->pos);
    if (!nl) return fail(v, XL_ERR_FORMAT, "truncated GLOBAL operand");
    *s = (const char *)start;
    *len = (size_t)(nl - start);
    v->pos += *len + 1;
    return XL_OK;
}

static xl_status push_str(vm *v, size_t n) {
    xl_status st = need(v, n);
    if (st) return st;
    val *x = new_val(v, V_STR);
    if (!x || !(x->s = malloc(n + 1))) return NOMEM(v);
    memcpy(x->s, v->p + v->pos, n);
    x->s[n] = '\0';
    x->len = n;
    v->pos += n;
    return push(v, x);
}

static xl_status push_int(vm *v, vkind k, int64_t i) {
    val *x = new_val(v, k);
    if (!x) return NOMEM(v);
    x->i = i;
    return push(v, x);
}

static xl_status memo_put(vm *v, uint64_t idx) {
    if (v->sp <= floor_of(v)) return fail(v, XL_ERR_FORMAT, "memo put with an empty stack");
    if (idx >= XL_PK_MAX_MEMO) return fail(v, XL_ERR_FORMAT, "memo index %llu out of range", (unsigned long long)idx);
    if (idx >= v->memo_cap) {
        size_t cap = v->memo_cap ? v->memo_cap : 64;
        while (cap <= idx) cap *= 2;
        val **m = realloc(v->memo, cap * sizeof *m);
        if (!m) return NOMEM(v);
        memset(m + v->memo_cap, 0, (cap - v->memo_cap) * sizeof *m);
        v->memo = m;
        v->memo_cap = cap;
    }
    if (!v->memo[idx]) v->memo_count++;
    v->memo[idx] = v->stack[v->sp - 1];
    return XL_OK;
}

static xl_status memo_get(vm *v, uint64_t idx) {
    if (idx >= v->memo_cap || !v->memo[idx])
        return fail(v, XL_ERR_FORMAT, "memo index %llu out of range (never stored)", (unsigned long long)idx);
    return push(v, v->memo[idx]);
}

static int is_int(const val *x) { return x->k == V_INT || x->k == V_BOOL; }

static xl_status int_tuple(vm *v, const val *t, const char *what, int64_t *out, int *n) {
    if (t->k != V_TUPLE) return fail(v, XL_ERR_FORMAT, "tensor %s is not a tuple", what);
    if (t->n > XL_MAX_DIMS) return fail(v, XL_ERR_FORMAT, "tensor %s has %zu dimensions (at most %d)", what, t->n, XL_MAX_DIMS);
    for (size_t i = 0; i < t->n; i++) {
        if (!is_int(t->items[i]) || t->items[i]->i < 0) return fail(v, XL_ERR_FORMAT, "tensor %s holds a value that is not a size", what);
        out[i] = t->items[i]->i;
    }
    *n = (int)t->n;
    return XL_OK;
}

/* torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
 * backward_hooks[, metadata]) as a record; the view must lie inside the storage. */
static xl_status rebuild_tensor(vm *v, const val *args) {
    if (args->n < 6 || args->n > 7) return fail(v, XL_ERR_FORMAT, "_rebuild_tensor_v2 with %zu arguments (6 or 7 expected)", args->n);
    val *const *a = args->items;
    if (a[0]->k != V_STORAGE) return fail(v, XL_ERR_FORMAT, "_rebuild_tensor_v2 of something that is not a storage");
    if (!is_int(a[1]) || a[1]->i < 0) return fail(v, XL_ERR_FORMAT, "tensor storage offset is not a non-negative integer");
    if (a[4]->k != V_BOOL && a[4]->k != V_INT) return fail(v, XL_ERR_FORMAT, "tensor requires_grad is not a boolean");
    if (a[5]->k != V_DICT || a[5]->n) return fail(v, XL_ERR_FORMAT, "tensor backward hooks are not an empty dict");
    if (args->n == 7 && a[6]->k != V_NONE && !(a[6]->k == V_DICT && !a[6]->n))
        return fail(v, XL_ERR_FORMAT, "tensor metadata is not empty");
    xl_pk_tensor *t = calloc(1, sizeof *t);
    val *x = t ? new_val(v, V_TENSOR) : NULL;
    if (!x) { free(t); return NOMEM(v); }
    x->t = t;
    int ns, nst;
    xl_status st = int_tuple(v, a[2], "size", t->shape, &ns);
    if (!st) st = int_tuple(v, a[3], "stride", t->stride, &nst);
    if (st) return st;
    if (ns != nst) return fail(v, XL_ERR_FORMAT, "tensor size has %d dimensions, its stride %d", ns, nst);
    t->ndim = ns;
    t->dtype = a[0]->dt;
    t->storage = a[0]->s; /* borrowed until the result is built */
    t->storage_numel = a[0]->numel;
    t->offset = (uint64_t)a[1]->i;
    /* numel, and the last element the view reads, without overflow */
    uint64_t numel = 1, last = t->offset;
    for (int d = 0; d < ns; d++) {
        uint64_t s = (uint64_t)t->shape[d];
        if (s && numel > UINT64_MAX / s) return fail(v, XL_ERR_FORMAT, "tensor size overflows");
        numel *= s;
    }
    t->numel = numel;
    if (numel) {
        for (int d = 0; d < ns; d++) {
            uint64_t span = (uint64_t)(t->shape[d] - 1), s = (uint64_t)t->stride[d];
            if (s && span > (UINT64_MAX - last) / s) return fail(v, XL_ERR_FORMAT, "tensor strides overflow");
            last += span * s;
        }
        if (last >= t->storage_numel)
            return fail(v, XL_ERR_FORMAT, "tensor view (offset %llu, up to element %llu) does not fit its storage of %llu elements",
                        (unsigned long long)t->offset, (unsigned long long)last, (unsigned long long)t->storage_numel);
        /* An expanded view (stride 0) would make more values than the file holds. */
        if (numel > t->storage_numel)
            return fail(v, XL_ERR_FORMAT, "tensor of %llu elements is larger than its storage of %llu",
                        (unsigned long long)numel, (unsigned long long)t->storage_numel);
    }
    return push(v, x);
}

static xl_status reduce(vm *v) {
    val *args = NULL, *fn = NULL;
    xl_status st = pop(v, &args);
    if (!st) st = pop(v, &fn);
    if (st) return st;
    if (fn->k != V_GLOBAL) return fail(v, XL_ERR_FORMAT, "REDUCE of a value that is not an allowed callable");
    if (args->k != V_TUPLE) return fail(v, XL_ERR_FORMAT, "REDUCE arguments are not a tuple");
    switch ((gkind)fn->i) {
    case G_ORDERED_DICT:
        if (args->n) return fail(v, XL_ERR_FORMAT, "OrderedDict() with arguments");
        return push(v, new_val(v, V_DICT));
    case G_REBUILD_V2: return rebuild_tensor(v, args);
    default:
        return fail(v, XL_ERR_FORMAT, "REDUCE of %s is not allowed (storages come only from persistent ids)",
                    global_name((gkind)fn->i));
    }
}

/* BINPERSID: ("storage", torch.<T>Storage, key, location, numel) as torch.save writes it. */
static xl_status persistent_id(vm *v) {
    val *pid = NULL;
    xl_status st = pop(v, &pid);
    if (st) return st;
    if (pid->k != V_TUPLE || pid->n != 5 || pid->items[0]->k != V_STR || strcmp(pid->items[0]->s, "storage"))
        return fail(v, XL_ERR_FORMAT, "persistent id is not a (\"storage\", type, key, location, size) tuple");
    val *const *a = pid->items;
    if (a[1]->k != V_GLOBAL || a[1]->i < G_HALF) return fail(v, XL_ERR_FORMAT, "persistent id's storage type is not a torch storage");
    if (a[2]->k != V_STR || !a[2]->len || a[2]->len > 64 || memchr(a[2]->s, '/', a[2]->len) || strlen(a[2]->s) != a[2]->len ||
        !strcmp(a[2]->s, "..") || !strcmp(a[2]->s, "."))
        return fail(v, XL_ERR_FORMAT, "persistent id's storage key is not a plain name");
    if (a[3]->k != V_STR) return fail(v, XL_ERR_FORMAT, "persistent id's location is not a string");
    if (a[4]->k != V_INT || a[4]->i < 0) return fail(v, XL_ERR_FORMAT, "persistent id's storage size is not a non-negative integer");
    val *s = new_val(v, V_STORAGE);
    if (!s || !(s->s = strdup(a[2]->s))) return NOMEM(v);
    s->dt = a[1]->i == G_HALF ? XL_DT_F16 : a[1]->i == G_FLOAT ? XL_DT_F32 : XL_DT_BF16;
    s->numel = (uint64_t)a[4]->i;
    return push(v, s);
}

static xl_status set_items(vm *v, val *d, size_t from) {
    if (d->k != V_DICT) return fail(v, XL_ERR_FORMAT, "SETITEM on a value that is not a dict");
    if ((v->sp - from) % 2) return fail(v, XL_ERR_FORMAT, "SETITEMS with an odd number of values");
    for (size_t i = from; i < v->sp; i++)
        if (item_add(v, d, v->stack[i])) return XL_ERR_NOMEM;
    v->sp = from;
    return XL_OK;
}

/* One opcode; *stop = the STOP value. */
static xl_status step(vm *v, val **stop) {
    xl_status st = need(v, 1);
    if (st) return fail(v, XL_ERR_FORMAT, "truncated: no STOP opcode");
    v->op_pos = v->pos;
    uint8_t op = v->p[v->pos++];
    val *x = NULL, *y = NULL;
    size_t from = 0;
    switch (op) {
    case 0x80: /* PROTO */
        if ((st = need(v, 1))) return st;
        if (v->p[v->pos] > 5) return fail(v, XL_ERR_FORMAT, "pickle protocol %u is not supported", v->p[v->pos]);
        v->pos++;
        return XL_OK;
    case 0x95: /* FRAME: a length hint only */
        if ((st = need(v, 8))) return st;
        if (le(v->p + v->pos, 8) > v->len - v->pos - 8) return fail(v, XL_ERR_FORMAT, "FRAME longer than the data");
        v->pos += 8;
        return XL_OK;
    case '}': return push(v, new_val(v, V_DICT));   /* EMPTY_DICT */
    case ')': return push(v, new_val(v, V_TUPLE));  /* EMPTY_TUPLE */
    case 'N': return push(v, new_val(v, V_NONE));   /* NONE */
    case 0x88: return push_int(v, V_BOOL, 1);       /* NEWTRUE */
    case 0x89: return push_int(v, V_BOOL, 0);       /* NEWFALSE */
    case 'X':                                       /* BINUNICODE */
        if ((st = need(v, 4))) return st;
        from = (size_t)le(v->p + v->pos, 4);
        v->pos += 4;
        return push_str(v, from);
    case 0x8c:                                      /* SHORT_BINUNICODE */
        if ((st = need(v, 1))) return st;
        return push_str(v, v->p[v->pos++]);
    case 'K':                                       /* BININT1 */
        if ((st = need(v, 1))) return st;
        return push_int(v, V_INT, v->p[v->pos++]);
    case 'M':                                       /* BININT2 */
        if ((st = need(v, 2))) return st;
        v->pos += 2;
        return push_int(v, V_INT, (int64_t)le(v->p + v->pos - 2, 2));
    case 'J':                                       /* BININT: signed 32 */
        if ((st = need(v, 4))) return st;
        v->pos += 4;
        return push_int(v, V_INT, (int32_t)(uint32_t)le(v->p + v->pos - 4, 4));
    case 0x8a: {                                    /* LONG1: n-byte two's complement */
        if ((st = need(v, 1))) return st;
        int n = v->p[v->pos++];
        if (n > 8) return fail(v, XL_ERR_FORMAT, "integer of %d bytes is too large", n);
        if ((st = need(v, (size_t)n))) return st;
        uint64_t u = le(v->p + v->pos, n);
        if (n && n < 8 && (v->p[v->pos + n - 1] & 0x80)) u |= UINT64_MAX << (8 * n);
        v->pos += (size_t)n;
        return push_int(v, V_INT, (int64_t)u);
    }
    case '(':                                       /* MARK */
        if (v->n_marks == XL_PK_MAX_DEPTH) return fail(v, XL_ERR_FORMAT, "nested deeper than %d MARKs", XL_PK_MAX_DEPTH);
        v->marks[v->n_marks++] = v->sp;
        return XL_OK;
    case 't':                                       /* TUPLE */
        if ((st = pop_mark(v, &from))) return st;
        return make_tuple(v, from);
    case 0x85: return make_tuple_n(v, 1);           /* TUPLE1 */
    case 0x86: return make_tuple_n(v, 2);           /* TUPLE2 */
    case 0x87: return make_tuple_n(v, 3);           /* TUPLE3 */
    case 'c': {                                     /* GLOBAL */
        const char *m, *n;
        size_t ml, nl;
        if ((st = read_line(v, &m, &ml)) || (st = read_line(v, &n, &nl))) return st;
        return find_global(v, m, ml, n, nl);
    }
    case 0x93:                                      /* STACK_GLOBAL */
        if ((st = pop(v, &y)) || (st = pop(v, &x))) return st;
        if (x->k != V_STR || y->k != V_STR) return fail(v, XL_ERR_FORMAT, "STACK_GLOBAL of values that are not strings");
        return find_global(v, x->s, x->len, y->s, y->len);
    case 'R': return reduce(v);                     /* REDUCE */
    case 'Q': return persistent_id(v);              /* BINPERSID */
    case 'b':                                       /* BUILD: only an OrderedDict's attributes, ignored */
        if ((st = pop(v, &y))) return st;
        if (v->sp <= floor_of(v)) return fail(v, XL_ERR_FORMAT, "stack underflow");
        if (v->stack[v->sp - 1]->k != V_DICT || (y->k != V_DICT && y->k != V_NONE))
            return fail(v, XL_ERR_FORMAT, "BUILD of something other than a dict's attributes");
        return XL_OK;
    case 's':                                       /* SETITEM */
        if (v->sp < floor_of(v) + 3) return fail(v, XL_ERR_FORMAT, "stack underflow");
        return set_items(v, v->stack[v->sp - 3], v->sp - 2);
    case 'u':                                       /* SETITEMS */
        if ((st = pop_mark(v, &from))) return st;
        if (from <= floor_of(v)) return fail(v, XL_ERR_FORMAT, "stack underflow");
        return set_items(v, v->stack[from - 1], from);
    case 'q':                                       /* BINPUT */
        if ((st = need(v, 1))) return st;
        return memo_put(v, v->p[v->pos++]);
    case 'r':                                       /* LONG_BINPUT */
        if ((st = need(v, 4))) return st;
        v->pos += 4;
        return memo_put(v, le(v->p + v->pos - 4, 4));
    case 0x94: return memo_put(v, v->memo_count);   /* MEMOIZE: index = entries so far */
    case 'h':                                       /* BINGET */
        if ((st = need(v, 1))) return st;
        return memo_get(v, v->p[v->pos++]);
    case 'j':                                       /* LONG_BINGET */
        if ((st = need(v, 4))) return st;
        v->pos += 4;
        return memo_get(v, le(v->p + v->pos - 4, 4));
    case '.':                                       /* STOP */
        if ((st = pop(v, stop))) return st;
        return XL_OK;
    default:
        if (op >= 0x20 && op < 0x7f) return fail(v, XL_ERR_FORMAT, "opcode 0x%02x ('%c') is not allowed", op, op);
        return fail(v, XL_ERR_FORMAT, "opcode 0x%02x is not allowed", op);
    }
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const xl_pk_tensor *)a)->name, ((const xl_pk_tensor *)b)->name);
}
static int by_storage(const void *a, const void *b) {
    return strcmp(((const xl_pk_tensor *)a)->storage, ((const xl_pk_tensor *)b)->storage);
}

/* Duplicate keys, and storages declared two ways, found on sorted copies (a hostile
 * file may hold a million entries: no pairwise comparison). */
static xl_status check_unique(vm *v, const xl_pk_state_dict *sd) {
    if (sd->n < 2) return XL_OK;
    xl_pk_tensor *c = malloc(sd->n * sizeof *c);
    if (!c) return NOMEM(v);
    memcpy(c, sd->t, sd->n * sizeof *c);
    char shown[64];
    xl_status st = XL_OK;
    qsort(c, sd->n, sizeof *c, by_name);
    for (size_t i = 1; !st && i < sd->n; i++)
        if (!strcmp(c[i].name, c[i - 1].name)) {
            show(shown, sizeof shown, c[i].name, strlen(c[i].name));
            st = fail(v, XL_ERR_FORMAT, "state_dict key \"%s\" appears twice", shown);
        }
    qsort(c, sd->n, sizeof *c, by_storage);
    for (size_t i = 1; !st && i < sd->n; i++)
        if (!strcmp(c[i].storage, c[i - 1].storage) &&
            (c[i].dtype != c[i - 1].dtype || c[i].storage_numel != c[i - 1].storage_numel)) {
            show(shown, sizeof shown, c[i].storage, strlen(c[i].storage));
            st = fail(v, XL_ERR_FORMAT, "storage \"%s\" is declared with two types or sizes", shown);
        }
    free(c);
    return st;
}

/* The STOP value must be a dict of string keys to tensors. */
static xl_status collect(vm *v, const val *d, xl_pk_state_dict *out) {
    if (d->k != V_DICT) return fail(v, XL_ERR_FORMAT, "the pickle holds no dict of tensors (not a state_dict)");
    size_t n = d->n / 2;
    out->t = calloc(n ? n : 1, sizeof *out->t);
    if (!out->t) return NOMEM(v);
    for (size_t i = 0; i < n; i++) {
        const val *k = d->items[2 * i], *t = d->items[2 * i + 1];
        char shown[64];
        if (k->k != V_STR || !k->len || strlen(k->s) != k->len) return fail(v, XL_ERR_FORMAT, "state_dict key %zu is not a name", i);
        show(shown, sizeof shown, k->s, k->len);
        if (t->k != V_TENSOR) return fail(v, XL_ERR_FORMAT, "state_dict entry \"%s\" is not a tensor", shown);
        xl_pk_tensor *o = &out->t[out->n];
        *o = *t->t;
        o->name = strdup(k->s);
        o->storage = strdup(t->t->storage);
        out->n++;
        if (!o->name || !o->storage) return NOMEM(v);
    }
    return check_unique(v, out);
}

xl_status xl_pickle_state_dict(const uint8_t *data, size_t len, const char *what, xl_pk_state_dict *out) {
    memset(out, 0, sizeof *out);
    vm v = {.p = data, .len = len, .what = what ? what : "pickle"};
    val *result = NULL;
    xl_status st = XL_OK;
    while (!st && !result) st = step(&v, &result);
    if (!st) {
        v.op_pos = v.pos;
        if (v.n_marks) st = fail(&v, XL_ERR_FORMAT, "STOP with a MARK still open");
        else if (v.pos != v.len) st = fail(&v, XL_ERR_FORMAT, "%zu bytes after STOP", v.len - v.pos);
        else st = collect(&v, result, out);
    }
    free_arena(&v);
    free(v.stack);
    free(v.memo);
    if (st) xl_pk_state_dict_free(out);
    return st;
}

void xl_pk_state_dict_free(xl_pk_state_dict *sd) {
    if (!sd) return;
    for (size_t i = 0; i < sd->n; i++) {
        free(sd->t[i].name);
        free(sd->t[i].storage);
    }
    free(sd->t);
    memset(sd, 0, sizeof *sd);
}
