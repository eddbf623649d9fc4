# xling build. `make` builds build/libxling.a and build/xling; `make test` runs the suite;
# `make asan` builds with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/
# and runs the whole suite there. BUILD=dir selects another build folder.
CC      ?= cc
BUILD   ?= build
ASAN_BUILD ?= build-asan
PKGS     = jansson libutf8proc libpcre2-8
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# OpenBLAS built for OpenMP (Debian's libopenblas-openmp-dev), linked by path with an
# rpath: our kernels use OpenMP too, and the pthread build's threads spin against
# OpenMP's on a small machine (3-20x slower). One runtime, one pool of threads.
MULTIARCH   := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
OPENBLAS_LIB ?= /usr/lib/$(MULTIARCH)/openblas-openmp
OPENBLAS_INC ?= /usr/include/$(MULTIARCH)/openblas-openmp
PKG_CFLAGS += -I$(OPENBLAS_INC)
PKG_LIBS   += -L$(OPENBLAS_LIB) -lopenblas -Wl,-rpath,$(OPENBLAS_LIB) -llinear
OPT     ?= -O2
ARCH    ?= -march=native
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -g $(OPT) $(ARCH) -fopenmp \
           -Iinclude -Isrc $(PKG_CFLAGS) $(SAN)
LDFLAGS += -fopenmp $(SAN)
LDLIBS  += $(PKG_LIBS) -lm -lpthread

LIB_SRC  := $(sort $(wildcard src/*/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
BENCH_SRC:= $(sort $(wildcard bench/*.c))
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
EXAMPLES := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)

.PHONY: all test asan clean bench fuzz fuzz-run install shared
.SECONDARY:
all: $(BUILD)/libxling.a $(BUILD)/xling $(TESTS) $(BENCHES) $(EXAMPLES)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The CLI sees only the public header: its objects are built without -Isrc.
$(CLI_OBJ): CFLAGS := $(filter-out -Isrc,$(CFLAGS))

$(BUILD)/libxling.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/xling: $(CLI_OBJ) $(BUILD)/libxling.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libxling.a $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/testlib.o $(BUILD)/libxling.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/tests/testlib.o $(BUILD)/libxling.a $(LDLIBS)

# Examples see only the public header (no -Isrc): they show what a user of xling.h can do.
$(BUILD)/examples/%: examples/%.c $(BUILD)/libxling.a
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Isrc,$(CFLAGS)) -MMD -MP $(LDFLAGS) -o $@ $< $(BUILD)/libxling.a $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libxling.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libxling.a $(LDLIBS)

# Shared library: the library objects again with -fPIC, only when asked for (make shared /
# make install), so that the everyday build and the kernels stay non-PIC.
VERSION  := $(shell sed -n 's/^\#define XLING_VERSION "\(.*\)"/\1/p' include/xling.h)
SOMAJOR  := $(firstword $(subst ., ,$(VERSION)))
PIC_OBJ  := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -MMD -MP -c $< -o $@

$(BUILD)/libxling.so: $(PIC_OBJ)
	$(CC) -shared -Wl,-soname,libxling.so.$(SOMAJOR) $(LDFLAGS) -o $@ $^ $(LDLIBS)
shared: $(BUILD)/libxling.so

# make install PREFIX=/usr/local (DESTDIR for staging): bin/xling, lib/libxling.a,
# lib/libxling.so*, include/xling.h, lib/pkgconfig/xling.pc.
PREFIX  ?= /usr/local
DESTDIR ?=
install: $(BUILD)/xling $(BUILD)/libxling.a $(BUILD)/libxling.so
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(BUILD)/xling $(DESTDIR)$(PREFIX)/bin/xling
	install -m 644 $(BUILD)/libxling.a $(DESTDIR)$(PREFIX)/lib/libxling.a
	install -m 755 $(BUILD)/libxling.so $(DESTDIR)$(PREFIX)/lib/libxling.so.$(VERSION)
	ln -sf libxling.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libxling.so.$(SOMAJOR)
	ln -sf libxling.so.$(SOMAJOR) $(DESTDIR)$(PREFIX)/lib/libxling.so
	install -m 644 include/xling.h $(DESTDIR)$(PREFIX)/include/xling.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@LIBS_PRIVATE@|$(LDFLAGS) $(filter-out -ljansson -lutf8proc -lpcre2-8,$(LDLIBS))|' \
	    scripts/xling.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/xling.pc

# The test command (README, .ci/run): builds, runs every tests/test_* binary and the
# CLI tests, prints "N passed, N failed" last.
test: all
	@BUILD=$(BUILD) sh tests/run_tests.sh

asan:
	$(MAKE) BUILD=$(ASAN_BUILD) OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

# libFuzzer targets (clang) for every fixture tokenizer: build, then a bounded run each.
fuzz:
	sh fuzz/build.sh
fuzz-run: fuzz
	sh fuzz/run.sh

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TESTS:=.d) $(PIC_OBJ:.o=.d) $(EXAMPLES:=.d)
