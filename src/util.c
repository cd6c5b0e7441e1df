/* util: error message, RNG, timers, files. */
#define _GNU_SOURCE
#include "hk/util.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char error_message[2048];

int hk_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return -1;
}

const char *hk_error_message(void) { return error_message[0] ? error_message : "unknown error"; }
void hk_clear_error(void) { error_message[0] = 0; }
int hk_has_error(void) { return error_message[0] != 0; }

/* The innermost guarded region, and the test hook HKSWEEP_TEST_ALLOC_LIMIT:
 * a request above that many bytes fails as if memory were gone. */
static struct hk_oom_guard *oom_guard = NULL;
static size_t alloc_limit = 0;
static int alloc_limit_read = 0;

void hk_oom_push(struct hk_oom_guard *g)
{
    g->outer = oom_guard;
    oom_guard = g;
}

void hk_oom_pop(struct hk_oom_guard *g) { oom_guard = g->outer; }

static int over_limit(size_t bytes)
{
    if (!alloc_limit_read) {
        const char *v = getenv("HKSWEEP_TEST_ALLOC_LIMIT");
        alloc_limit = v ? (size_t)strtoull(v, NULL, 10) : 0;
        alloc_limit_read = 1;
    }
    return alloc_limit && bytes > alloc_limit;
}

/* Out of memory: back to the innermost guard with the message set. Every
 * command runs under a guard set in main, so this always has one. */
static void out_of_memory(size_t bytes)
{
    hk_fail("out of memory allocating %zu bytes (%.3g GB)", bytes, bytes / 1e9);
    if (oom_guard) longjmp(oom_guard->env, 1);
    /* no guard: a programming error; abort rather than return NULL into code
     * that does not check */
    fprintf(stderr, "hksweep: %s outside any guarded region\n", hk_error_message());
    abort();
}

void *hk_malloc(size_t bytes)
{
    void *p = over_limit(bytes) ? NULL : malloc(bytes ? bytes : 1);
    if (!p) out_of_memory(bytes);
    return p;
}

void *hk_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) out_of_memory(SIZE_MAX);
    void *p = over_limit(count * size) ? NULL : calloc(count ? count : 1, size ? size : 1);
    if (!p) out_of_memory(count * size);
    return p;
}

int hk_round_to_float(float **dst, const double *src, long count)
{
    if (!*dst && !(*dst = malloc((size_t)(count > 0 ? count : 1) * sizeof(float)))) return -1;
    for (long i = 0; i < count; i++) (*dst)[i] = (float)src[i];
    return 0;
}

void *hk_realloc(void *p, size_t bytes)
{
    void *q = over_limit(bytes) ? NULL : realloc(p, bytes ? bytes : 1);
    if (!q) out_of_memory(bytes); /* p is still valid, and is the caller's to free */
    return q;
}

void *hk_try_malloc(size_t bytes) { return over_limit(bytes) ? NULL : malloc(bytes ? bytes : 1); }

char *hk_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = hk_malloc(n);
    memcpy(d, s, n);
    return d;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void hk_rng_seed(struct hk_rng *rng, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xD1342543DE82EF95ULL);
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t hk_rng_next(struct hk_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double hk_rng_uniform(struct hk_rng *rng) { return (double)(hk_rng_next(rng) >> 11) * 0x1.0p-53; }

double hk_rng_normal(struct hk_rng *rng)
{
    /* Box-Muller without caching the second value, so a stream position
     * always means the same number. */
    double u1 = hk_rng_uniform(rng), u2 = hk_rng_uniform(rng);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Ziggurat for the normal density (Marsaglia and Tsang 2000, in the form of
 * Doornik 2005): 128 boxes of equal area; a draw is accepted at once unless
 * it falls in a box's wedge or in the tail beyond R. */
enum { ZIG_BOXES = 128 };
static const double zig_r = 3.442619855899, zig_v = 9.91256303526217e-3;
static double zig_x[ZIG_BOXES + 1], zig_ratio[ZIG_BOXES];
static int zig_ready = 0;

static void zig_init(void)
{
    double f = exp(-0.5 * zig_r * zig_r);
    zig_x[0] = zig_v / f;
    zig_x[1] = zig_r;
    zig_x[ZIG_BOXES] = 0;
    for (int i = 2; i < ZIG_BOXES; i++) {
        zig_x[i] = sqrt(-2 * log(zig_v / zig_x[i - 1] + f));
        f = exp(-0.5 * zig_x[i] * zig_x[i]);
    }
    for (int i = 0; i < ZIG_BOXES; i++) zig_ratio[i] = zig_x[i + 1] / zig_x[i];
    zig_ready = 1;
}

static double open_uniform(struct hk_rng *rng) /* (0, 1): safe for log */
{
    return ((double)(hk_rng_next(rng) >> 11) + 0.5) * 0x1.0p-53;
}

/* A draw from its first 64 bits onward: accepted at once unless it falls in
 * a box's wedge or in the tail, where more of the stream is used. */
static double zig_from(struct hk_rng *rng, uint64_t bits)
{
    for (;; bits = hk_rng_next(rng)) {
        double u = 2 * ((double)(bits >> 11) * 0x1.0p-53) - 1;
        int i = (int)(bits & (ZIG_BOXES - 1));
        if (fabs(u) < zig_ratio[i]) return u * zig_x[i];
        if (i == 0) { /* the tail beyond R */
            double x, y;
            do {
                x = log(open_uniform(rng)) / zig_r;
                y = log(open_uniform(rng));
            } while (-2 * y < x * x);
            return u < 0 ? x - zig_r : zig_r - x;
        }
        double x = u * zig_x[i];
        double f0 = exp(-0.5 * (zig_x[i] * zig_x[i] - x * x));
        double f1 = exp(-0.5 * (zig_x[i + 1] * zig_x[i + 1] - x * x));
        if (f1 + open_uniform(rng) * (f0 - f1) < 1.0) return x;
    }
}

/* The fast path (98.8 % of draws) runs on a copy of the state held in
 * registers; the rest goes through zig_from with the state written back.
 * Drawing through *rng stored and reloaded the four words at every draw, and
 * the loop ran 1.2-1.4x slower. The same numbers either way:
 * tests/test_kernels.c pins them. */
void hk_rng_normal_fill(struct hk_rng *rng, double *a, long count)
{
    if (!zig_ready) zig_init();
    uint64_t s0 = rng->s[0], s1 = rng->s[1], s2 = rng->s[2], s3 = rng->s[3];
    for (long k = 0; k < count; k++) {
        uint64_t bits = rotl(s1 * 5, 7) * 9, t = s1 << 17; /* hk_rng_next on the copy */
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = rotl(s3, 45);
        double u = 2 * ((double)(bits >> 11) * 0x1.0p-53) - 1;
        int i = (int)(bits & (ZIG_BOXES - 1));
        if (__builtin_expect(fabs(u) < zig_ratio[i], 1)) {
            a[k] = u * zig_x[i];
            continue;
        }
        rng->s[0] = s0, rng->s[1] = s1, rng->s[2] = s2, rng->s[3] = s3;
        a[k] = zig_from(rng, bits);
        s0 = rng->s[0], s1 = rng->s[1], s2 = rng->s[2], s3 = rng->s[3];
    }
    rng->s[0] = s0, rng->s[1] = s1, rng->s[2] = s2, rng->s[3] = s3;
}

double hk_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

uint64_t hk_fnv1a(const void *data, size_t len, uint64_t h)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void hk_runtime_init(void)
{
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
}

/* A field of /proc/meminfo in bytes, or -1. */
static double meminfo(const char *field)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    double v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') { v = strtod(line + n + 1, NULL) * 1024; break; }
    fclose(f);
    return v;
}

double hk_memory_budget_bytes(int ranks_on_node)
{
    double total = meminfo("MemTotal"), avail = meminfo("MemAvailable");
    double budget = total > 0 ? total / (ranks_on_node > 0 ? ranks_on_node : 1) : INFINITY;
    if (avail > 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double mine = avail + ru.ru_maxrss * 1024.0; /* what this rank holds can be reused */
        if (mine < budget) budget = mine;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (double)rl.rlim_cur < budget)
        budget = (double)rl.rlim_cur;
    return budget;
}

long hk_peak_rss_bytes(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss * 1024L;
}

char *hk_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        hk_fail("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = hk_malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); hk_fail("%s: out of memory", path); return NULL; }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        hk_fail("%s: read error", path);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int hk_mkdir_p(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
                return hk_fail("cannot create directory %s: %s", tmp, strerror(errno));
            *p = '/';
        }
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        return hk_fail("cannot create directory %s: %s", tmp, strerror(errno));
    return 0;
}

int hk_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return hk_fail("cannot open directory %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    if (rc != 0 && errno != EINVAL) return hk_fail("cannot fsync directory %s: %s", dir, strerror(errno));
    return 0;
}
