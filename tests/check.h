/* check: a tiny assertion helper for the C tests; prints each failure with
 * its location and counts them. */
#ifndef HK_TEST_CHECK_H
#define HK_TEST_CHECK_H
#include <math.h>
#include <stdio.h>

static int check_failures = 0, check_count = 0;

#define CHECK(cond, ...)                                                                                           \
    do {                                                                                                           \
        check_count++;                                                                                             \
        if (!(cond)) {                                                                                             \
            check_failures++;                                                                                      \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);                               \
            fprintf(stderr, __VA_ARGS__);                                                                          \
            fprintf(stderr, "\n");                                                                                 \
        }                                                                                                          \
    } while (0)

#define CHECK_CLOSE(got, want, rtol, what)                                                                         \
    CHECK(fabs((got) - (want)) <= (rtol) * fmax(fabs(want), 1e-300), "%s: got %.17g, want %.17g", what,          \
          (double)(got), (double)(want))

/* The larger of a running worst error and a new one, NaN if either is NaN:
 * fmax(worst, err) and `if (err > worst)` both skip a NaN, so an all-NaN
 * result would pass. Compare the final worst with `<=`, which fails on NaN. */
__attribute__((unused)) static double worst_of(double worst, double err)
{
    if (isnan(worst) || isnan(err)) return NAN;
    return err > worst ? err : worst;
}

__attribute__((unused)) static int check_summary(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}
#endif
