/* experiments: the registry of experiment kinds. Each kind declares its
 * parameters (the config schema), runs one point on a team, and predicts the
 * memory and time of a point for `hksweep plan`. Kinds never parse configs or
 * write files themselves: they get a parsed point and report a result. */
#ifndef HK_EXPERIMENTS_H
#define HK_EXPERIMENTS_H

#include <mpi.h>

#include "hk/config.h"
#include "hk/result.h"
#include "hk/sweep.h"

/* Parameters every kind has. team_size 0 means all ranks. */
#define HK_COMMON_PARAMS                                                                                           \
    {"seed", HK_T_INT, "1", 0, 2147483647, NULL, "random seed of data and initialisation", 0},                   \
    {"team_size", HK_T_INT, "0", 0, 1000000, NULL, "ranks per point (0: all ranks)", 1},                          \
    {"block_size", HK_T_INT, "128", 1, 4096, NULL, "ScaLAPACK block size", 1},                                     \
    {"grid_rows", HK_T_INT, "0", 0, 1000000, NULL, "process grid rows (0: most square)", 1},                      \
    {"snapshot", HK_T_BOOL, "false", 0, 1, NULL, "write the training Gram matrices to snapshots/", 1}

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
    /* The metrics worth a glance in progress lines and plans. */
    const char *headline;      /* comma-separated metric names */
};

const struct hk_experiment *hk_experiment_find(const char *kind);
const struct hk_experiment *const *hk_experiment_list(int *n);
/* For config parsing: the schema of a kind, or NULL. */
const struct hk_param_spec *hk_experiment_schema(const char *kind, int *nparams);

extern const struct hk_experiment hk_exp_hyperkernel_regression;
extern const struct hk_experiment hk_exp_kernel_convergence;

#endif
