/* util: error reporting, seeded random numbers, timers and small helpers
 * shared by every module. No MPI, no HDF5. */
#ifndef HK_UTIL_H
#define HK_UTIL_H

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

void *hk_malloc(size_t bytes);          /* exits with a message when memory is gone */
void *hk_calloc(size_t count, size_t size);
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
/* Once at start: lets glibc reuse freed blocks of up to 256 MiB instead of
 * mapping fresh zeroed pages for every training step's temporaries. */
void hk_runtime_init(void);

/* Read a whole file; NULL with hk_fail message on error. */
char *hk_read_file(const char *path, size_t *len);
int hk_mkdir_p(const char *path);
int hk_fsync_dir(const char *dir);

#endif
