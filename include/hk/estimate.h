/* estimate: what `hksweep plan` predicts for a point before it runs: memory
 * per rank, work, and time at rates measured on this machine. One time model
 * for every kind. */
#ifndef HK_ESTIMATE_H
#define HK_ESTIMATE_H

/* Rates measured on this machine, for predictions. */
struct hk_rates {
    double dgemm_gflops;       /* per rank */
    double kernel_gflops;      /* per rank, in the units of the kernel table's cost per entry */
    double memory_gbs;         /* per rank: a streaming triad over arrays larger than the caches, GB/s */
};

struct hk_estimate {
    double mem_bytes_per_rank;
    double gflop;              /* dense linear algebra and training */
    double kernel_entries;
    double seconds;            /* on the team, at the measured rates */
};

/* Predicted seconds of a point on a team: kernel evaluation at the measured
 * kernel rate, dense linear algebra at 70 % of DGEMM (pdpotrf on a few
 * ranks), network training at 30 % of it, and the training steps' passes
 * over the parameters (hk_train_step_gbytes) at the measured memory rate.
 * GFLOP and GB in, 0 without rates. */
double hk_estimate_seconds(const struct hk_rates *rates, int team_size, double kernel_gflop, double la_gflop,
                           double train_gflop, double step_gbytes);

/* GB each rank of a team streams in `steps` optimizer steps of a network with
 * `params` parameters of `word` bytes: every step passes over all of them
 * whatever the batch (packing the generated-weight layer for its skinny
 * products, its gradient, the momentum update), and a team of several ranks
 * also all-reduces the gradient. Measured on a 2-core node (completion,
 * n = 512, m = 64, float32): about 8 passes' time on one rank alone, 10 with
 * the other rank training too (as in a run of 1-rank teams), 13 on a team of
 * two. For wide networks with few images per batch this, not the flops, is
 * the time, and teams of one rank train twice as fast per node. */
double hk_train_step_gbytes(double steps, double params, int word, int team_size);

/* Measures the rates: DGEMM through the BLAS probe (which also fills the
 * BLAS description for provenance) and the hyperkernel's evaluation. */
struct hk_blas_info;
void hk_measure_rates(struct hk_rates *rates, struct hk_blas_info *blas);

#endif
