/* estimate: what `hksweep plan` predicts for a point before it runs: memory
 * per rank, work, and time at rates measured on this machine. One time model
 * for every kind. */
#ifndef HK_ESTIMATE_H
#define HK_ESTIMATE_H

/* Rates measured on this machine, for predictions. */
struct hk_rates {
    double dgemm_gflops;       /* per rank */
    double kernel_gflops;      /* per rank, in the units of the kernel table's cost per entry */
};

struct hk_estimate {
    double mem_bytes_per_rank;
    double gflop;              /* dense linear algebra and training */
    double kernel_entries;
    double seconds;            /* on the team, at the measured rates */
};

/* Predicted seconds of a point on a team: kernel evaluation at the measured
 * kernel rate, dense linear algebra at 70 % of DGEMM (pdpotrf on a few
 * ranks) and network training at 30 % of it. GFLOP in, 0 without rates. */
double hk_estimate_seconds(const struct hk_rates *rates, int team_size, double kernel_gflop, double la_gflop,
                           double train_gflop);

/* Measures the rates: DGEMM through the BLAS probe (which also fills the
 * BLAS description for provenance) and the hyperkernel's evaluation. */
struct hk_blas_info;
void hk_measure_rates(struct hk_rates *rates, struct hk_blas_info *blas);

#endif
