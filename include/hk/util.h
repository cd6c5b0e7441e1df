/* util: error reporting, seeded random numbers, timers and small helpers
 * shared by every module. No MPI, no HDF5. */
#ifndef HK_UTIL_H
#define HK_UTIL_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses of every command: 0 success, 1 runtime failure, 2 bad input
 * (nothing written), 3 interrupted by a signal (finished points kept). */
enum hk_exit { HK_EXIT_OK = 0, HK_EXIT_RUNTIME = 1, HK_EXIT_USAGE = 2, HK_EXIT_INTERRUPTED = 3 };

/* Errors travel up the stack as a return value (-1) plus one message kept
 * here; main turns it into a single line on stderr. */
int hk_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *hk_error_message(void);
void hk_clear_error(void);
int hk_has_error(void); /* whether a message is set (hk_error_message never returns an empty one) */

/* Allocation. Every command and every point runs inside a guarded region
 * (struct hk_oom_guard): when memory is gone, hk_malloc, hk_calloc and
 * hk_realloc set the message and jump back to the innermost guard, which
 * fails that point (or that command) and goes on. Nothing calls exit().
 * The guarded region's own allocations are not freed on that path; a point's
 * memory is predicted by `plan` and checked before it starts, so this is the
 * last line, not the usual one. hk_try_malloc returns NULL instead, for
 * large buffers whose failure the caller reports itself.
 * HKSWEEP_TEST_ALLOC_LIMIT=BYTES makes any larger request fail (tests). */
struct hk_oom_guard {
    jmp_buf env;
    struct hk_oom_guard *outer;
};
void hk_oom_push(struct hk_oom_guard *g);
void hk_oom_pop(struct hk_oom_guard *g);
void *hk_malloc(size_t bytes);
void *hk_calloc(size_t count, size_t size);
/* Rounds count doubles into *dst, allocating it (without the OOM guard's
 * exit: 0, or -1 when memory is gone) unless it is already there. */
int hk_round_to_float(float **dst, const double *src, long count);
void *hk_realloc(void *p, size_t bytes);   /* on failure p stays valid (and the guard is taken) */
void *hk_try_malloc(size_t bytes);
char *hk_strdup(const char *s);

/* xoshiro256** seeded through splitmix64: the same seed gives the same
 * stream on any machine and any number of ranks. */
struct hk_rng { uint64_t s[4]; };
void hk_rng_seed(struct hk_rng *rng, uint64_t seed, uint64_t stream);
uint64_t hk_rng_next(struct hk_rng *rng);
double hk_rng_uniform(struct hk_rng *rng);        /* [0, 1) */
double hk_rng_normal(struct hk_rng *rng);         /* N(0, 1) */
/* Fills a with iid N(0, 1) by the ziggurat method (about 5x faster than
 * Box-Muller): for the millions of weights of a wide network. */
void hk_rng_normal_fill(struct hk_rng *rng, double *a, long count);

double hk_now(void);                               /* monotonic seconds */
uint64_t hk_fnv1a(const void *data, size_t len, uint64_t h);
#define HK_FNV_OFFSET 1469598103934665603ULL

long hk_peak_rss_bytes(void);
/* The memory one rank may plan on: the node's memory shared by the ranks on
 * it, no more than is available now (plus what this rank holds), and no more
 * than the process limit (ulimit -v). */
double hk_memory_budget_bytes(int ranks_on_node);
/* Once at start: lets glibc reuse freed blocks of up to 256 MiB instead of
 * mapping fresh zeroed pages for every training step's temporaries. */
void hk_runtime_init(void);

/* Read a whole file; NULL with hk_fail message on error. */
char *hk_read_file(const char *path, size_t *len);
int hk_mkdir_p(const char *path);
int hk_fsync_dir(const char *dir);

/* Marks a function whose loops should vectorise for the machine it runs on:
 * GCC compiles it for AVX-512, AVX2 and plain x86-64 and picks at load time. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HK_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HK_VECTOR_CLONES
#endif

#endif
