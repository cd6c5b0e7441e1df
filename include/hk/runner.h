/* runner: the life of a sweep (run) and its prediction (plan). Returns exit
 * statuses (util.h); on an error the message is in hk_error_message(), or
 * empty when the runner has already said what went wrong. */
#ifndef HK_RUNNER_H
#define HK_RUNNER_H

struct hk_run_options {
    const char *config_path;   /* NULL: the built-in quickstart */
    const char *out_dir;       /* NULL: results/<config name> */
    int shard, nshards;        /* run only shard I of N */
    int resume, quiet;
};
/* Collective over MPI_COMM_WORLD. */
int hk_runner_run(const struct hk_run_options *o);

struct hk_plan_options {
    const char *config_path;
    int ranks, shard, nshards;
};
/* Without MPI: validates the config and prints its points with predicted
 * memory per rank, work and time at rates measured now. */
int hk_runner_plan(const struct hk_plan_options *o);
/* The experiment kinds, or one kind's parameters with their defaults. */
void hk_runner_list_kinds(const char *kind);

#endif
