/* krr: kernel ridge regression on a team's process grid, shared by the
 * experiment kinds (linear-algebra layer, above dist and kernels). */
#ifndef HK_KRR_H
#define HK_KRR_H

#include "hk/dist.h"
#include "hk/kernels.h"
#include "hk/result.h"

/* Kernel ridge regression with k right-hand sides Y (N x k, column-major,
 * replicated) on a team's grid: solves (K + (ridge + jitter) I) A = Y, with
 * mixed in mixed precision (hk_dist_solve_mixed: a float32 factor refined to
 * float64's accuracy, jitter 0; a rank holds 1.5 Gram matrices' share), and
 * otherwise, or when that does not converge, with pdpotrf/pdpotrs, the jitter
 * raised from 0 by decades of the mean diagonal (1e-10 .. 1e-4) until the
 * factorisation succeeds, and predicts the test
 * points block by block, test_chunk rows at a time, into pred (M x k,
 * column-major, replicated). With snap, the whole Gram matrix (before the
 * ridge) is written to it under the kernel's name. Collective. Returns 0;
 * 1 if the point fails (K not positive definite even with jitter, or out of
 * memory; message set); -1 on another error (message set; the point fails). */
struct hk_pfile;
struct hk_krr_stats {
    double jitter, t_gram, t_factor, t_solve, t_predict, mse_train;
    double t_validation;  /* a ridge search: its validation rows and predictions */
    int info;
    int refine_steps;     /* mixed precision's refinement steps; -1: factored in float64 */
};
int hk_krr(enum hk_kernel kind, const struct hk_depths *d, const struct hk_inputs *train, const double *Y, int k,
           const struct hk_inputs *test, int test_chunk, double ridge, int mixed, const struct hk_grid *grid, int nb,
           struct hk_pfile *snap, double *pred, struct hk_krr_stats *st);
/* The same with the ridge chosen on a validation set: for each of the
 * nridges ridges, fits on train and predicts val (V points, targets Yval,
 * V x k column-major); the ridge of the least validation MSE (val_mse[r]
 * gets each, NaN where the Gram matrix was not positive definite) predicts
 * test into pred. *chosen gets its index, st its fit's stats (t_gram: the
 * one fill of the Gram matrix, kept and copied for every ridge, so a rank
 * holds its share of two Gram matrices, mixed precision needing no copy; t_validation: the validation rows,
 * filled once, and their predictions). Returns as hk_krr; 1 also when no
 * ridge is usable. */
int hk_krr_select(enum hk_kernel kind, const struct hk_depths *d, const struct hk_inputs *train, const double *Y,
                  int k, const struct hk_inputs *val, const double *Yval, const double *ridges, int nridges,
                  int mixed, const struct hk_inputs *test, int test_chunk, const struct hk_grid *grid, int nb,
                  double *pred, struct hk_krr_stats *st, double *val_mse, int *chosen);
/* Records the stats of kernel `name` as metrics jitter_<name>, time_gram_,
 * time_factor_, time_solve_, time_predict_, mse_train_ and refine_steps_<name>
 * (-1: factored in float64). */
void hk_krr_record(struct hk_result *r, const char *name, const struct hk_krr_stats *st);

#endif
