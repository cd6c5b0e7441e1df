/* dynamics: the infinite-width hypernetwork trained by gradient descent, in
 * closed form (docs/hyperkernel-math.md, section 9), on a team's grid: the
 * eigendecomposition of Th (pdsyevd), train and test outputs and the train
 * loss at any step, gradient flow, the hyper-GP posterior of Kh and the
 * trained ensemble's mean and variance. No rank holds an N x N matrix whole;
 * what comes out (T x N x k predictions, M variances) is replicated.
 * Linear-algebra layer: above dist and kernels, below the kinds and tools. */
#ifndef HK_DYNAMICS_H
#define HK_DYNAMICS_H

#include "hk/dist.h"
#include "hk/kernels.h"

struct hk_dynamics_opts {
    double lr;              /* eta */
    double lr_fraction;     /* > 0: eta = lr_fraction 2N / lambda_max(Th) instead */
    int flow;               /* 1: gradient flow, exp(-eta lambda t / N) */
    const double *steps;    /* T times t (steps, or time for flow) */
    int nsteps;
    double ridge;           /* noise variance of the hyper-GP posterior */
    int nb;                 /* block size */
    int uncertainty;        /* 1: also the GP and ensemble posteriors */
};

/* Outputs, allocated here, replicated on every rank of the grid; free with
 * hk_dynamics_free. Column-major in points: f_train[(s * N + i) + c * T * N]
 * is output c of training point i at step s (k outputs). */
struct hk_dynamics_out {
    int N, M, k, T;
    double *eigenvalues;    /* N, ascending */
    double *f_train;        /* T x N x k: f_train[s * N + i + c * T * N] */
    double *f_test;         /* T x M x k: f_test[s * M + i + c * T * M] */
    double *loss;           /* T */
    double *mean_kh, *var_kh;          /* M x k, M: hyper-GP posterior */
    double *mean_ensemble, *var_ensemble; /* M x k, M: trained ensemble (t -> infinity) */
    double lr;              /* the eta used */
    double jitter_th;       /* hk_dynamics_uncertainty: jitter added to Th to factor it (0: none) */
    double t_gram, t_eigh, t_predict, t_uncertainty;
};

/* The largest stable learning rate of discrete GD: 2N / lambda_max. */
double hk_dynamics_max_lr(int n, double lambda_max);

/* Collective over the grid. Returns 0; 1 if the learning rate is at or above
 * 2N / lambda_max for discrete GD, or Kh + ridge I is not positive definite
 * (message set, nothing allocated); -1 on another error. */
int hk_dynamics_predict(const struct hk_depths *d, const struct hk_inputs *train, const double *Y, int k,
                        const struct hk_inputs *test, const struct hk_grid *grid,
                        const struct hk_dynamics_opts *o, struct hk_dynamics_out *out);
void hk_dynamics_free(struct hk_dynamics_out *out);

/* The uncertainty of hk_dynamics_predict alone, the hyper-GP posterior and
 * the trained ensemble at t -> infinity (mean_kh, var_kh, mean_ensemble,
 * var_ensemble; T = 0), without the eigendecomposition: Th^-1 Th(U, U*)
 * through a Cholesky factor of Th (a jitter of the mean diagonal, raised by
 * decades from 1e-10 if Th is not numerically positive definite, goes to
 * jitter_th), and Kh + ridge I likewise factored. Two N^3/3 factorisations
 * and about 6 N^2 M flops, where pdsyevd costs several N^3 at a lower rate.
 * A rank holds its share of one N x N and three N x M matrices. Collective;
 * returns as hk_dynamics_predict. */
int hk_dynamics_uncertainty(const struct hk_depths *d, const struct hk_inputs *train, const double *Y, int k,
                            const struct hk_inputs *test, const struct hk_grid *grid, double ridge, int nb,
                            struct hk_dynamics_out *out);

/* (1 - (1 - a)^t) for a = eta lambda / N (flow: 1 - exp(-a t)), and the same
 * over lambda, finite as lambda -> 0 (eta t / N). */
double hk_dynamics_fit_fraction(double lr, double lambda, int n, double t, int flow);
double hk_dynamics_gain(double lr, double lambda, int n, double t, int flow);

#endif
