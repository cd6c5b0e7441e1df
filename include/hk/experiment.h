/* experiment: what an experiment kind is, and the registry of kinds. A kind
 * declares its parameters once (params.h), runs one point on a team, and
 * predicts the memory and time of a point for `hksweep plan`. Kinds never
 * parse configs or write files themselves (snapshots go through the store):
 * they get a parsed point and report a result. Kinds sit above the model,
 * kernel, linear-algebra, data and team modules, and below the runner; they
 * never call the scheduler. */
#ifndef HK_EXPERIMENT_H
#define HK_EXPERIMENT_H

#include <mpi.h>

#include "hk/config.h"
#include "hk/estimate.h"
#include "hk/result.h"
#include "hk/sweep.h"

/* Where a point may put files, through the store. */
struct hk_experiment_env {
    const char *out_dir;
    const char *id_hex;
};

struct hk_experiment {
    const char *kind;
    const char *summary;
    const struct hk_param_spec *params;   /* set with HK_PARAMS_OF(prefix) */
    int nparams;
    /* Collective over team. Returns 0 with r filled (its status ok, failed,
     * diverged or abandoned), or -1 with a message: the point fails with that
     * reason and the sweep goes on (as it does when memory runs out). Only a
     * point that cannot be stored stops a sweep. */
    int (*run)(const struct hk_point *p, MPI_Comm team, const struct hk_experiment_env *env, struct hk_result *r);
    void (*estimate)(const struct hk_point *p, int team_size, const struct hk_rates *rates, struct hk_estimate *e);
    /* Optional: checks a point's inputs (data files) before anything is
     * written; -1 with a message names what is wrong. */
    int (*check)(const struct hk_point *p);
    /* The metrics worth a glance in progress lines and plans. */
    const char *headline;      /* comma-separated metric names */
};

/* Defines kind `name` (hk_exp_<name>, the registry's entry) from its
 * HK_PARAMS_DEFINE prefix and functions; check may be NULL. */
#define HK_EXPERIMENT(name, kind_name, summary_text, prefix, run_fn, estimate_fn, check_fn, headline_metrics)     \
    const struct hk_experiment hk_exp_##name = {.kind = kind_name, .summary = summary_text, HK_PARAMS_OF(prefix), \
                                                .run = run_fn, .estimate = estimate_fn, .check = check_fn,        \
                                                .headline = headline_metrics};

const struct hk_experiment *hk_experiment_find(const char *kind);
const struct hk_experiment *const *hk_experiment_list(int *n);
/* For config parsing: the schema of a kind, or NULL. */
const struct hk_param_spec *hk_experiment_schema(const char *kind, int *nparams);
/* Runs the kind's check on every point; 0, or -1 with the first problem. */
int hk_experiment_check(const struct hk_experiment *e, const struct hk_sweep *sweep);

#endif
