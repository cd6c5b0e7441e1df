/* tools: the `kernel` and `ntk` commands, for a user's own inputs (IN.h5 with
 * /x, N x dx, and /z, N x dz). Collective over MPI_COMM_WORLD; return exit
 * statuses (util.h), the message in hk_error_message(). */
#ifndef HK_TOOLS_H
#define HK_TOOLS_H

#include "hk/kernels.h"

/* Reads and checks /x and /z of IN.h5 (matrices of N >= 1 rows, at least one
 * column, finite, shapes checked before allocating) into data; 0, or -1 with
 * a message that starts with cmd and names the file and dataset. Serial. */
struct hk_dataset;
int hk_tool_read_inputs(const char *cmd, const char *in, struct hk_dataset *data);

struct hk_kernel_options {
    const char *in, *out;
    int depth_f, depth_g, block_size;
    const char *kernels;        /* as given, for the summary line */
    int want[HK_NKERNELS];      /* which kernels of the table to write */
};
int hk_tool_kernel(const struct hk_kernel_options *o);

struct hk_ntk_options {
    const char *in, *out;
    int width_f, width_g, depth_f, depth_g, seeds;
    long seed0;
};
int hk_tool_ntk(const struct hk_ntk_options *o);

/* `predict`: the infinite-width hypernetwork trained by gradient descent
 * (docs/hyperkernel-math.md, section 9) for TRAIN.h5 (/x, /z, /y) and TEST.h5
 * (/x, /z), written to OUT.h5 collectively. */
struct hk_predict_options {
    const char *train, *test, *out;
    int depth_f, depth_g, block_size, flow;
    int converged;          /* only the t -> infinity posteriors, by Cholesky (hk_dynamics_uncertainty) */
    double lr, ridge;
    double *steps;
    int nsteps;
};
int hk_tool_predict(const struct hk_predict_options *o);
/* "0,10,100": at most 4096 non-negative steps, allocated into *steps; 0, or
 * -1 with a message (nothing allocated). */
int hk_parse_steps(const char *text, double **steps, int *n);

#endif
