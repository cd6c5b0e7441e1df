/* experiments: the registry of experiment kinds. Each kind declares its
 * parameters (the config schema), runs one point on a team, and predicts the
 * memory and time of a point for `hksweep plan`. Kinds never parse configs or
 * write files themselves: they get a parsed point and report a result. */
#ifndef HK_EXPERIMENTS_H
#define HK_EXPERIMENTS_H

#include <mpi.h>

#include "hk/config.h"
#include "hk/hypernet.h"
#include "hk/kernels.h"
#include "hk/result.h"
#include "hk/sweep.h"

/* Parameters every kind has. team_size 0 means all ranks. */
#define HK_COMMON_PARAMS                                                                                           \
    {"seed", HK_T_INT, "1", 0, 2147483647, NULL, "random seed of data and initialisation", 0},                   \
    {"team_size", HK_T_INT, "0", 0, 1000000, NULL, "ranks per point (0: all ranks)", 1},                          \
    {"block_size", HK_T_INT, "128", 1, 4096, NULL, "ScaLAPACK block size", 1},                                     \
    {"grid_rows", HK_T_INT, "0", 0, 1000000, NULL, "process grid rows (0: most square)", 1},                      \
    {"snapshot", HK_T_BOOL, "false", 0, 1, NULL, "write the training Gram matrices to snapshots/", 1}

/* The synthetic regression task (README, "The synthetic task"): parameters
 * shared by the kinds that run on it, so they see the same data for the same
 * values. */
#define HK_REGRESSION_TASK_PARAMS                                                                                  \
    {"depth_f", HK_T_INT, "2", 1, HK_MAX_DEPTH, NULL, "hidden layers L of the meta-network f", 0},                \
    {"depth_g", HK_T_INT, "3", 1, HK_MAX_DEPTH, NULL, "layers H of the primary network g", 0},                    \
    {"dx", HK_T_INT, "16", 1, 1000000, NULL, "dimension of x (input of f)", 0},                                   \
    {"dz", HK_T_INT, "2", 1, 100000, NULL, "dimension of z (input of g)", 0},                                     \
    {"distinct_x", HK_T_INT, "50", 1, 10000000, NULL, "distinct x in the training set", 0},                       \
    {"samples_per_x", HK_T_INT, "10", 1, 1000000, NULL, "z samples per training x", 0},                           \
    {"test_distinct_x", HK_T_INT, "20", 1, 10000000, NULL, "distinct x in the test set", 0},                      \
    {"test_samples_per_x", HK_T_INT, "10", 1, 1000000, NULL, "z samples per test x", 0},                          \
    {"noise", HK_T_REAL, "0", 0, 100, NULL, "std of Gaussian noise added to training and test targets", 0},       \
    {"z_embedding", HK_T_STRING, "none", 0, 0, "none|fourier", "fixed embedding of z: none, or random Fourier features", 0}, \
    {"embedding_width", HK_T_INT, "64", 1, 1000000, NULL, "width D of the Fourier embedding", 0},                 \
    {"embedding_lengthscale", HK_T_REAL, "0.5", 1e-6, 1e6, NULL, "length scale of the Fourier embedding", 0},    \
    {"x_embedding", HK_T_STRING, "none", 0, 0, "none|fourier", "fixed embedding of x: none, or random Fourier features", 0}, \
    {"x_embedding_width", HK_T_INT, "256", 1, 1000000, NULL, "width of x's Fourier embedding", 0},               \
    {"x_embedding_lengthscale", HK_T_REAL, "1", 1e-6, 1e6, NULL, "length scale of x's Fourier embedding", 0}

struct hk_dataset;
struct hk_grid;
struct hk_hypernet;
struct hk_inputs;
/* The task of a point with HK_REGRESSION_TASK_PARAMS: data, and z embedded
 * when asked (the same map for both splits). */
void hk_regression_task(const struct hk_point *p, struct hk_dataset *train, struct hk_dataset *test);

/* Whether ok holds on every rank of comm (collective). */
int hk_all_ok(MPI_Comm comm, int ok);

/* Kernel ridge regression with k right-hand sides Y (N x k, column-major,
 * replicated) on a team's grid: solves (K + (ridge + jitter) I) A = Y with
 * pdpotrf/pdpotrs, the jitter raised from 0 by decades of the mean diagonal
 * (1e-10 .. 1e-4) until the factorisation succeeds, and predicts the test
 * points block by block, test_chunk rows at a time, into pred (M x k,
 * column-major, replicated). With snap, the whole Gram matrix (before the
 * ridge) is written to it under the kernel's name. Collective. Returns 0;
 * 1 if the point fails (K not positive definite even with jitter, or out of
 * memory; message set); -1 on an error that must stop the sweep. */
struct hk_pfile;
struct hk_krr_stats {
    double jitter, t_gram, t_factor, t_solve, t_predict, mse_train;
    int info;
};
int hk_krr(enum hk_kernel kind, const struct hk_depths *d, const struct hk_inputs *train, const double *Y, int k,
           const struct hk_inputs *test, int test_chunk, double ridge, const struct hk_grid *grid, int nb,
           struct hk_pfile *snap, double *pred, struct hk_krr_stats *st);
/* Records the stats of kernel `name` as metrics jitter_<name>, time_gram_,
 * time_factor_, time_solve_, time_predict_ and mse_train_<name>. */
void hk_krr_record(struct hk_result *r, const char *name, const struct hk_krr_stats *st);

/* Training a finite hypernetwork, data-parallel over a team (every rank
 * holds the same network and takes a slice of each minibatch). With labels,
 * softmax cross-entropy over the net's k outputs; otherwise MSE on y. */
struct hk_train_opts {
    int epochs, batch_size, full_batch;
    double lr, momentum;
    long shuffle_seed;
    /* Centred training, h(u; w) - h(u; w_0), whose output starts at 0 as in
     * kernel regression: the initial outputs on the training points (n x k,
     * from hk_hn_evaluate), or NULL for plain training. */
    const double *offset;
};
/* Called on every rank after initialisation (epoch 0) and after each epoch. */
typedef void (*hk_train_epoch_fn)(int epoch, const struct hk_hypernet *net, void *ctx);
/* Returns -1 when all epochs ran, the step at which the loss stopped being
 * finite, or -2 if a signal stopped it; *steps gets the steps taken. */
long hk_train_hypernet(struct hk_hypernet *net, const struct hk_inputs *in, const double *y, const int *labels,
                       const struct hk_train_opts *o, MPI_Comm team, hk_train_epoch_fn on_epoch, void *ctx,
                       long *steps);
/* Mean loss (squared error, or cross-entropy with labels) and accuracy
 * (labels only) over all points of in, split over the team, of the outputs
 * minus offset (n x k, e.g. the initial outputs of a centred net) if not
 * NULL; out (n x k, replicated) gets those outputs if not NULL. Collective. */
void hk_hn_evaluate(const struct hk_hypernet *net, const struct hk_inputs *in, const double *y, const int *labels,
                    const double *offset, MPI_Comm team, double *loss, double *accuracy, double *out);

/* Where a point may put files, through the store. */
struct hk_experiment_env {
    const char *out_dir;
    const char *id_hex;
};

/* Rates measured on this machine, for predictions. */
struct hk_rates {
    double dgemm_gflops;       /* per rank */
    double kernel_gflops;      /* per rank, in the units of hk_kernel_entry_cost */
};

struct hk_estimate {
    double mem_bytes_per_rank;
    double gflop;              /* dense linear algebra */
    double kernel_entries;
    double seconds;            /* on the team, at the measured rates */
};

struct hk_experiment {
    const char *kind;
    const char *summary;
    const struct hk_param_spec *params;
    int nparams;
    /* Collective over team. Returns 0 with r filled (status ok or failed),
     * or -1 with a message for an error that must stop the sweep. */
    int (*run)(const struct hk_point *p, MPI_Comm team, const struct hk_experiment_env *env, struct hk_result *r);
    void (*estimate)(const struct hk_point *p, int team_size, const struct hk_rates *rates, struct hk_estimate *e);
    /* Optional: checks a point's inputs (data files) before anything is
     * written; -1 with a message names what is wrong. */
    int (*check)(const struct hk_point *p);
    /* The metrics worth a glance in progress lines and plans. */
    const char *headline;      /* comma-separated metric names */
};

const struct hk_experiment *hk_experiment_find(const char *kind);
/* Runs the kind's check on every point; 0, or -1 with the first problem. */
int hk_experiment_check(const struct hk_experiment *e, const struct hk_sweep *sweep);
/* The check of the image kinds: the data source exists, is readable and
 * holds train_images + test_images images. */
int hk_check_image_data(const struct hk_point *p);
/* Predicted seconds of a point on a team: kernel evaluation at the measured
 * kernel rate, dense linear algebra at 70 % of DGEMM (pdpotrf on a few
 * ranks) and network training at 30 % of it. GFLOP in, 0 without rates. */
double hk_estimate_seconds(const struct hk_rates *rates, int team_size, double kernel_gflop, double la_gflop,
                           double train_gflop);
const struct hk_experiment *const *hk_experiment_list(int *n);
/* For config parsing: the schema of a kind, or NULL. */
const struct hk_param_spec *hk_experiment_schema(const char *kind, int *nparams);

extern const struct hk_experiment hk_exp_hyperkernel_regression;
extern const struct hk_experiment hk_exp_kernel_convergence;
extern const struct hk_experiment hk_exp_hypernet_training;
extern const struct hk_experiment hk_exp_image_completion;
extern const struct hk_experiment hk_exp_image_inpainting;
extern const struct hk_experiment hk_exp_rotation;

#endif
