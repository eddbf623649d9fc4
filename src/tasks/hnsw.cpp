// extern "C" wrappers around hnswlib (Debian libhnswlib-dev, header-only): the only C++
// in libxling. Every hnswlib exception becomes an xl_status with a one-line message.
#include "tasks/hnsw.h"

#include <hnswlib/hnswlib.h>

#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <unistd.h>
#include <fcntl.h>

extern "C" xl_status xl_err(xl_status st, const char *fmt, ...);

struct xl_hnsw {
    size_t dim;
    hnswlib::InnerProductSpace space;
    hnswlib::HierarchicalNSW<float> *g = nullptr;
    explicit xl_hnsw(size_t d) : dim(d), space(d) {}
    ~xl_hnsw() { delete g; }
};

xl_status xl_hnsw_new(size_t dim, size_t capacity, int M, int ef_construction, xl_hnsw **out) {
    *out = nullptr;
    xl_hnsw *h = nullptr;
    try {
        h = new xl_hnsw(dim);
        // fixed seed: the same adds give the same graph
        h->g = new hnswlib::HierarchicalNSW<float>(&h->space, capacity < 16 ? 16 : capacity, (size_t)M,
                                                   (size_t)ef_construction, 100);
    } catch (const std::exception &e) {
        delete h;
        return xl_err(XL_ERR_NOMEM, "hnsw: cannot make a graph for %zu vectors: %s", capacity, e.what());
    }
    *out = h;
    return XL_OK;
}

xl_status xl_hnsw_load(const char *path, size_t dim, xl_hnsw **out) {
    *out = nullptr;
    xl_hnsw *h = nullptr;
    try {
        h = new xl_hnsw(dim);
        h->g = new hnswlib::HierarchicalNSW<float>(&h->space, std::string(path));
    } catch (const std::exception &e) {
        delete h;
        return xl_err(XL_ERR_FORMAT, "%s: not a readable HNSW graph (%s)", path, e.what());
    }
    if (h->g->data_size_ != dim * sizeof(float)) {
        size_t got = h->g->data_size_ / sizeof(float);
        delete h;
        return xl_err(XL_ERR_FORMAT, "%s: HNSW graph of dimension %zu, the index has %zu", path, got, dim);
    }
    *out = h;
    return XL_OK;
}

xl_status xl_hnsw_save(const xl_hnsw *h, const char *path) {
    std::string tmp = std::string(path) + ".tmp." + std::to_string((long)getpid());
    try {
        h->g->saveIndex(tmp);
    } catch (const std::exception &e) {
        unlink(tmp.c_str());
        return xl_err(XL_ERR_IO, "cannot write %s: %s", tmp.c_str(), e.what());
    }
    // saveIndex neither reports write errors nor syncs: check the size, sync, rename
    int fd = open(tmp.c_str(), O_RDONLY);
    off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
    const hnswlib::HierarchicalNSW<float> *g = h->g;
    off_t min = (off_t)(g->cur_element_count * g->size_data_per_element_);
    bool ok = fd >= 0 && size > min && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    if (!ok || rename(tmp.c_str(), path) != 0) {
        unlink(tmp.c_str());
        return xl_err(XL_ERR_IO, "cannot write %s (disk full?)", path);
    }
    return XL_OK;
}

void xl_hnsw_free(xl_hnsw *h) { delete h; }

size_t xl_hnsw_count(const xl_hnsw *h) { return h->g->cur_element_count; }

xl_status xl_hnsw_add(xl_hnsw *h, const float *v, const int64_t *labels, size_t n, int threads) {
    try {
        size_t need = h->g->cur_element_count + n;
        if (need > h->g->max_elements_) {
            size_t cap = h->g->max_elements_ * 2;
            h->g->resizeIndex(cap > need ? cap : need);
        }
    } catch (const std::exception &e) {
        return xl_err(XL_ERR_NOMEM, "hnsw: cannot grow the graph: %s", e.what());
    }
    bool failed = false;
    std::string msg;
    const long nn = (long)n;
    // addPoint is thread-safe in hnswlib (per-node locks); an exception must not cross
    // the OpenMP region, so it is caught per item
#pragma omp parallel for schedule(dynamic, 64) num_threads(threads > 0 ? threads : 1) if (nn > 64)
    for (long i = 0; i < nn; i++) {
        try {
            h->g->addPoint(v + (size_t)i * h->dim, (hnswlib::labeltype)labels[i]);
        } catch (const std::exception &e) {
#pragma omp critical
            {
                failed = true;
                msg = e.what();
            }
        }
    }
    if (failed) return xl_err(XL_ERR_NOMEM, "hnsw: adding vectors failed: %s", msg.c_str());
    return XL_OK;
}

xl_status xl_hnsw_search(xl_hnsw *h, const float *q, size_t nq, int k, int ef, int64_t *labels, float *sims,
                         int threads) {
    h->g->setEf((size_t)(ef > k ? ef : k));
    bool failed = false;
    std::string msg;
    const long nn = (long)nq;
// one query runs on this thread: a team would only add wake-up latency
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads > 0 ? threads : 1) if (nn > 1)
    for (long i = 0; i < nn; i++) {
        int64_t *lab = labels + (size_t)i * (size_t)k;
        float *sim = sims + (size_t)i * (size_t)k;
        for (int j = 0; j < k; j++) {
            lab[j] = -1;
            sim[j] = -INFINITY;
        }
        try {
            auto r = h->g->searchKnn(q + (size_t)i * h->dim, (size_t)k);
            // the queue pops the farthest first: fill from the back
            for (int j = (int)r.size() - 1; j >= 0; j--) {
                lab[j] = (int64_t)r.top().second;
                sim[j] = 1.0f - r.top().first;
                r.pop();
            }
        } catch (const std::exception &e) {
#pragma omp critical
            {
                failed = true;
                msg = e.what();
            }
        }
    }
    if (failed) return xl_err(XL_ERR_NOMEM, "hnsw: search failed: %s", msg.c_str());
    return XL_OK;
}
