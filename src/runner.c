/* runner: the life of a sweep. `run` loads the config (rank 0 reads, every
 * rank parses the same text), expands and checks it, skips finished points,
 * writes the run's provenance, hands the points to the scheduler, stores
 * each point's record as it finishes, merges, and prints the summary. `plan`
 * predicts memory and time per point without running anything. Above the
 * scheduler, the store and the experiment registry; below main. */
#define _GNU_SOURCE
#include "hk/runner.h"

#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hk/config.h"
#include "hk/estimate.h"
#include "hk/experiment.h"
#include "hk/provenance.h"
#include "hk/scheduler.h"
#include "hk/store.h"
#include "hk/sweep.h"
#include "hk/team.h"
#include "hk/util.h"

extern const char hk_quickstart_yaml[]; /* configs/quickstart.yaml, built in */

static int load_config(const char *path, struct hk_config *cfg, MPI_Comm comm)
{
    /* rank 0 reads, everyone parses the same text */
    char *text = NULL;
    long len = 0;
    int rank = 0, have_mpi = comm != MPI_COMM_NULL;
    if (have_mpi) MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        if (path) {
            size_t n;
            text = hk_read_file(path, &n);
            len = text ? (long)n : -1;
        } else {
            text = hk_strdup(hk_quickstart_yaml);
            len = (long)strlen(text);
        }
    }
    if (have_mpi) MPI_Bcast(&len, 1, MPI_LONG, 0, comm);
    if (len < 0) return -1;
    if (rank != 0) text = hk_malloc((size_t)len + 1);
    if (have_mpi) MPI_Bcast(text, (int)len, MPI_CHAR, 0, comm);
    text[len] = 0;
    int rc = hk_config_parse(path ? path : "<built-in quickstart>", text, hk_experiment_schema, cfg);
    free(text);
    return rc;
}

static void config_stem(const struct hk_config *cfg, const char *path, char *out, size_t n)
{
    if (cfg->name[0]) { snprintf(out, n, "%s", cfg->name); return; }
    if (!path) { snprintf(out, n, "quickstart"); return; }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, n, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
}

/* The team size of a point (its common parameter team_size, at index
 * team_param of the config's schema, found once per config). */
static int team_size_of(const struct hk_point *p, int team_param, int world)
{
    int t = (int)p->values[team_param].num;
    return (t <= 0 || t > world) ? world : t;
}

/* The order in which the scheduler hands out the points todo[0 .. n-1]. It
 * runs one phase per team size, largest first, each taking its points in
 * this order: the order of the phases, and within a phase of several teams
 * plan's predicted time, longest first (at fixed nominal rates, so every
 * rank computes the same order); a phase of one team keeps the sweep's order
 * (nothing to balance), as do ties. */
static const double *sort_keys;
static const int *sort_teams, *sort_sizes;
static int by_phase_then_key(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_sizes[i] != sort_sizes[j]) return sort_sizes[i] < sort_sizes[j] ? 1 : -1;
    if (sort_teams[i] > 1 && sort_keys[i] != sort_keys[j]) return sort_keys[i] < sort_keys[j] ? 1 : -1;
    return (i > j) - (i < j);
}

static int *longest_first(const struct hk_experiment *exp, const struct hk_sweep *sw, const int *todo, int n,
                          int team_param, int world)
{
    int *order = hk_malloc((size_t)(n + 1) * sizeof(int));
    int *size = hk_malloc((size_t)(n + 1) * sizeof(int)), *teams = hk_malloc((size_t)(n + 1) * sizeof(int));
    double *key = hk_malloc((size_t)(n + 1) * sizeof(double));
    const struct hk_rates nominal = {50, 10, 10};
    for (int i = 0; i < n; i++) {
        const struct hk_point *p = &sw->points[todo[i]];
        size[i] = team_size_of(p, team_param, world);
        teams[i] = world / size[i];
        struct hk_estimate e;
        exp->estimate(p, size[i], &nominal, &e);
        key[i] = isnan(e.seconds) ? 0 : e.seconds;
        order[i] = i;
    }
    sort_keys = key, sort_teams = teams, sort_sizes = size;
    qsort(order, (size_t)n, sizeof *order, by_phase_then_key);
    free(key), free(teams), free(size);
    return order;
}

static void point_params(const struct hk_point *p, struct hk_attrs *out)
{
    for (int i = 0; i < p->cfg->nspecs; i++) {
        const struct hk_value *v = &p->values[i];
        if (v->type == HK_T_STRING || v->type == HK_T_LIST || v->type == HK_T_REALS) hk_attrs_text(out, p->cfg->specs[i].key, v->text);
        else hk_attrs_num(out, p->cfg->specs[i].key, v->num);
    }
}

/* The experiment's headline metric names, split. */
static int headline_names(const struct hk_experiment *exp, char names[][64], int max)
{
    char list[256];
    snprintf(list, sizeof list, "%s", exp->headline ? exp->headline : "");
    int n = 0;
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name && n < max; name = strtok_r(NULL, ",", &save))
        snprintf(names[n++], 64, "%s", name);
    return n;
}

/* The headline metrics as a progress summary and as numbers for the end table. */
static void headline(const struct hk_experiment *exp, const struct hk_attrs *metrics, struct hk_point_report *rep)
{
    char names[HK_REPORT_VALUES][64];
    int count = headline_names(exp, names, HK_REPORT_VALUES), used = 0, n = sizeof rep->summary;
    for (int k = 0; k < count; k++) {
        const struct hk_attr *a = hk_attrs_find(metrics, names[k]);
        rep->values[k] = a && !a->is_text ? a->num : NAN;
        if (a && !a->is_text && used < n)
            used += snprintf(rep->summary + used, (size_t)(n - used), "%s%s=%.4g", used ? " " : "", names[k], a->num);
    }
}

/* At the end of a run: for each combination of the swept parameters other
 * than the seed, the headline metrics as mean +- std over seeds. */
static void print_summary(const struct hk_experiment *exp, const struct hk_sweep *sw, const int *todo, int ntodo,
                          const struct hk_point_report *reports, const int *finished_ok)
{
    char names[HK_REPORT_VALUES][64];
    int nnames = headline_names(exp, names, HK_REPORT_VALUES);
    if (!nnames || !ntodo) return;
    char (*keys)[400] = hk_calloc((size_t)ntodo, sizeof *keys);
    const struct hk_config *cfg = sw->points[0].cfg;
    int seed_param = hk_config_param_index(cfg, "seed");
    for (int i = 0; i < ntodo; i++) {
        const struct hk_point *p = &sw->points[todo[i]];
        int used = 0;
        const struct hk_axis *sets[2] = {cfg->zip, cfg->grid};
        int counts[2] = {cfg->nzip, cfg->ngrid};
        for (int s = 0; s < 2; s++)
            for (int a = 0; a < counts[s]; a++) {
                int k = sets[s][a].param;
                if (k == seed_param || cfg->specs[k].resource == 1) continue;
                char val[HK_VALUE_TEXT];
                hk_value_display(&p->values[k], val, sizeof val);
                used += snprintf(keys[i] + used, sizeof keys[i] - (size_t)used, "%s%s=%s", used ? " " : "",
                                 cfg->specs[k].key, val);
            }
    }
    printf("\nsummary (mean +- std over seeds, this run's points):\n");
    int *done = hk_calloc((size_t)ntodo, sizeof(int));
    for (int i = 0; i < ntodo; i++) {
        if (done[i]) continue;
        /* sums of differences from the first value: no cancellation when values agree */
        double sum[HK_REPORT_VALUES] = {0}, sq[HK_REPORT_VALUES] = {0}, first[HK_REPORT_VALUES] = {0};
        int cnt[HK_REPORT_VALUES] = {0}, members = 0;
        for (int j = i; j < ntodo; j++) {
            if (done[j] || strcmp(keys[i], keys[j])) continue;
            done[j] = 1;
            if (!finished_ok[j]) continue;
            members++;
            for (int k = 0; k < nnames; k++)
                if (!isnan(reports[j].values[k])) {
                    if (!cnt[k]) first[k] = reports[j].values[k];
                    double d = reports[j].values[k] - first[k];
                    sum[k] += d;
                    sq[k] += d * d;
                    cnt[k]++;
                }
        }
        printf("  %-40s", keys[i][0] ? keys[i] : "(all)");
        for (int k = 0; k < nnames; k++) {
            if (!cnt[k]) continue;
            double dm = sum[k] / cnt[k], var = cnt[k] > 1 ? (sq[k] - cnt[k] * dm * dm) / (cnt[k] - 1) : 0;
            printf("  %s %.4g", names[k], first[k] + dm);
            if (cnt[k] > 1) printf(" +- %.2g", sqrt(var > 0 ? var : 0));
        }
        printf("%s\n", members ? "" : "  (no finished point)");
    }
    free(done);
    free(keys);
}

struct run_ctx {
    const struct hk_experiment *exp;
    struct hk_sweep *sweep;
    const int *todo;
    const char *out_dir;
    const char *config_path;
    const char *config_name;
    const char *run_id;
    int world;
    int ranks_on_node;
    char host[256];
    /* test hooks, from the environment (README, Tests): after this process
     * has stored `signal_after` points it raises `signal_number` (on world rank
     * `signal_rank`, or any with -1); after `pause_after` it waits for a signal */
    int stored, signal_after, signal_number, signal_rank, pause_after, world_rank;
};

static void read_test_hooks(struct run_ctx *ctx)
{
    const char *s = getenv("HKSWEEP_TEST_SIGNAL"), *p = getenv("HKSWEEP_TEST_PAUSE_AFTER");
    ctx->signal_rank = -1;
    if (s && sscanf(s, "%d:%d:%d", &ctx->signal_after, &ctx->signal_number, &ctx->signal_rank) < 2)
        ctx->signal_after = 0;
    if (p) ctx->pause_after = atoi(p);
}

static void run_test_hooks(struct run_ctx *ctx)
{
    ctx->stored++;
    if (ctx->signal_after && ctx->stored == ctx->signal_after &&
        (ctx->signal_rank < 0 || ctx->signal_rank == ctx->world_rank)) {
        fflush(stdout);
        raise(ctx->signal_number);
    }
    if (ctx->pause_after && ctx->stored == ctx->pause_after)
        while (!hk_stop_requested()) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
}

/* Whether the point fits the memory of every rank of its team, by the kind's
 * own prediction (the one `plan` prints). Collective over the team; on 0 the
 * result says why. */
static int point_fits(const struct run_ctx *ctx, const struct hk_point *p, MPI_Comm team, int tsize,
                      struct hk_result *r)
{
    struct hk_rates none = {0, 0, 0};
    struct hk_estimate e;
    ctx->exp->estimate(p, tsize, &none, &e);
    double budget = hk_memory_budget_bytes(ctx->ranks_on_node);
    MPI_Allreduce(MPI_IN_PLACE, &budget, 1, MPI_DOUBLE, MPI_MIN, team);
    if (e.mem_bytes_per_rank <= budget) return 1;
    hk_result_fail(r, "out of memory: the point needs %.3g GB per rank (plan's prediction) and a rank has %.3g GB; "
                   "lower the widths or sizes, or give it more ranks (team_size)",
                   e.mem_bytes_per_rank / 1e9, budget / 1e9);
    return 0;
}

static int run_point(int item, MPI_Comm team, void *arg, struct hk_point_report *report)
{
    struct run_ctx *ctx = arg;
    const struct hk_point *p = &ctx->sweep->points[ctx->todo[item]];
    int trank, tsize;
    MPI_Comm_rank(team, &trank);
    MPI_Comm_size(team, &tsize);
    struct hk_result r;
    hk_result_init(&r);
    struct hk_experiment_env env = {.out_dir = ctx->out_dir, .id_hex = p->id_hex};
    time_t started = time(NULL);
    double t0 = hk_now();
    hk_clear_error();
    /* Any failure inside the point fails the point, out of memory included:
     * the memory is checked before it starts, and an allocation that still
     * fails jumps back here (util.h). */
    volatile int rc = 0;
    if (point_fits(ctx, p, team, tsize, &r)) {
        struct hk_oom_guard guard;
        hk_oom_push(&guard);
        if (setjmp(guard.env) == 0) rc = ctx->exp->run(p, team, &env, &r);
        else rc = -1;
        hk_oom_pop(&guard);
    }
    int any_error = rc != 0;
    MPI_Allreduce(MPI_IN_PLACE, &any_error, 1, MPI_INT, MPI_MAX, team);
    if (any_error && r.status == HK_OK)
        hk_result_fail(&r, "%s", rc ? hk_error_message() : "an error on another rank of the team");
    /* a diverged point is a result, counted with the failures in progress lines */
    int outcome = r.status == HK_OK                                   ? HK_POINT_OK
                  : r.status == HK_FAILED || r.status == HK_DIVERGED ? HK_POINT_FAILED
                                                                      : HK_POINT_ABANDONED;
    /* an abandoned point reports its status too: a report left as the scheduler zeroed it read as a finished
     * point whose metrics are all 0 in the end-of-run summary */
    for (int k = 0; k < HK_REPORT_VALUES; k++) report->values[k] = NAN;
    report->status = (int)r.status;
    if (trank == 0 && r.status != HK_ABANDONED) {
        struct hk_attrs info = {0}, params = {0};
        char stamp[64];
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&started));
        hk_attrs_num(&info, "index", p->index);
        hk_attrs_text(&info, "experiment", p->cfg->experiment);
        hk_attrs_text(&info, "config", ctx->config_path);
        hk_attrs_text(&info, "config_name", ctx->config_name);
        hk_attrs_text(&info, "run", ctx->run_id);
        hk_attrs_text(&info, "host", ctx->host);
        hk_attrs_num(&info, "team_size", tsize);
        hk_attrs_text(&info, "started", stamp);
        hk_attrs_num(&info, "seconds", hk_now() - t0);
        point_params(p, &params);
        if (hk_store_write_point(ctx->out_dir, p->id_hex, &info, &params, &r)) {
            fprintf(stderr, "hksweep: cannot store point %s: %s\n", p->id_hex, hk_error_message());
            outcome = HK_POINT_FATAL;
        } else {
            run_test_hooks(ctx);
        }
        hk_attrs_free(&info);
        hk_attrs_free(&params);
        if (r.status == HK_FAILED || r.status == HK_DIVERGED)
            snprintf(report->summary, sizeof report->summary, "%s: %.220s", hk_status_name(r.status), r.reason);
        else headline(ctx->exp, &r.metrics, report);
    }
    hk_result_free(&r);
    return outcome;
}

int hk_runner_run(const struct hk_run_options *o)
{
    char msg[2300];
    int world_rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    int world;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    struct hk_config cfg;
    if (load_config(o->config_path, &cfg, MPI_COMM_WORLD)) { return HK_EXIT_USAGE; }
    const struct hk_experiment *exp = hk_experiment_find(cfg.experiment);
    const int team_param = hk_config_param_index(&cfg, "team_size");
    struct hk_sweep sweep;
    if (hk_sweep_expand(&cfg, &sweep)) { return HK_EXIT_USAGE; }
    if (hk_experiment_check(exp, &sweep)) { return HK_EXIT_USAGE; }

    char stem[128], out_dir[PATH_MAX];
    config_stem(&cfg, o->config_path, stem, sizeof stem);
    if (o->out_dir) snprintf(out_dir, sizeof out_dir, "%s", o->out_dir);
    else snprintf(out_dir, sizeof out_dir, "results/%s", stem);

    /* What is already finished; refuse to mix into old results unless asked. */
    uint64_t *finished = NULL;
    int nfinished = 0, verdict = 0;
    if (world_rank == 0) {
        nfinished = hk_store_finished_ids(out_dir, &finished);
        if (nfinished < 0) verdict = HK_EXIT_RUNTIME;
        else if (nfinished > 0 && !o->resume) {
            verdict = HK_EXIT_USAGE;
            hk_fail("%s already holds %d finished points; add --resume to continue that sweep, or choose another --out",
                    out_dir, nfinished);
        }
    }
    MPI_Bcast(&verdict, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (verdict) return verdict;
    MPI_Bcast(&nfinished, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (world_rank != 0) finished = hk_malloc((size_t)(nfinished + 1) * sizeof *finished);
    MPI_Bcast(finished, nfinished, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    int *todo;
    int ntodo = hk_sweep_select(&sweep, o->shard, o->nshards, finished, nfinished, &todo);
    int in_shard = 0;
    for (int i = 0; i < sweep.npoints; i++) in_shard += hk_point_in_shard(&sweep.points[i], o->shard, o->nshards);
    free(finished);

    /* Provenance, written before any point. */
    char run_id[96];
    struct hk_blas_info blas;
    hk_blas_probe(&blas, world_rank == 0);
    if (world_rank == 0) {
        time_t now = time(NULL);
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", gmtime(&now));
        snprintf(run_id, sizeof run_id, "%s-%d-%04x", stamp, (int)getpid(), (unsigned)(hk_now() * 1e6) & 0xffff);
    }
    MPI_Bcast(run_id, sizeof run_id, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (world_rank == 0) {
        struct hk_attrs prov = {0};
        hk_provenance_collect(&prov, &blas, world);
        hk_attrs_text(&prov, "run_id", run_id);
        hk_attrs_text(&prov, "config_path", o->config_path ? o->config_path : "<built-in quickstart>");
        hk_attrs_text(&prov, "config_text", cfg.text);
        hk_attrs_text(&prov, "experiment", cfg.experiment);
        char shard_text[64];
        snprintf(shard_text, sizeof shard_text, "%d/%d", o->shard, o->nshards);
        hk_attrs_text(&prov, "shard", shard_text);
        hk_attrs_num(&prov, "resume", o->resume);
        hk_attrs_num(&prov, "points_in_sweep", sweep.npoints);
        hk_attrs_num(&prov, "points_to_run", ntodo);
        verdict = hk_mkdir_p(out_dir) || hk_store_write_run(out_dir, run_id, &prov) ? HK_EXIT_RUNTIME : 0;
        hk_attrs_free(&prov);
        if (!verdict) {
            printf("hksweep run: %s (%s), %d points%s, %d to run, %d already finished, %d rank%s, output %s\n",
                   o->config_path ? o->config_path : "built-in quickstart", cfg.experiment, sweep.npoints,
                   o->nshards > 1 ? " in the sweep" : "", ntodo, in_shard - ntodo, world, world == 1 ? "" : "s", out_dir);
            if (o->nshards > 1) printf("shard %d/%d holds %d of them\n", o->shard, o->nshards, in_shard);
            printf("BLAS: %s, %d thread%s per rank, DGEMM %.1f GFLOP/s per rank\n", blas.core, blas.threads,
                   blas.threads == 1 ? "" : "s", blas.dgemm_gflops);
            const char *warn = hk_blas_warning(&blas);
            if (warn) fprintf(stderr, "hksweep: %s\n", warn);
            fflush(stdout);
        }
    }
    MPI_Bcast(&verdict, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (verdict) return verdict;

    /* Several teams: the points go out longest first (plan's estimate), so
     * that the last team to finish is not the one left with the largest. */
    int *order = longest_first(exp, &sweep, todo, ntodo, team_param, world);
    int *sched_todo = hk_malloc((size_t)(ntodo + 1) * sizeof(int));
    for (int i = 0; i < ntodo; i++) sched_todo[i] = todo[order[i]];
    int reordered = 0;
    for (int i = 0; i < ntodo; i++) reordered |= order[i] != i;
    if (world_rank == 0 && reordered && !o->quiet) {
        printf("several teams: the points go out longest first by plan's estimate (by team size first): point");
        for (int i = 0; i < ntodo && i < 12; i++) printf(" %d", sweep.points[sched_todo[i]].index);
        printf("%s\n", ntodo > 12 ? " ..." : "");
        fflush(stdout);
    }
    int *teams = hk_malloc((size_t)(ntodo + 1) * sizeof(int));
    char **labels = hk_malloc((size_t)(ntodo + 1) * sizeof(char *));
    for (int i = 0; i < ntodo; i++) {
        const struct hk_point *p = &sweep.points[sched_todo[i]];
        teams[i] = team_size_of(p, team_param, world);
        char desc[512];
        hk_point_describe(p, desc, sizeof desc);
        labels[i] = hk_malloc(600);
        snprintf(labels[i], 600, "point %d %s %.500s", p->index, p->id_hex, desc);
    }
    struct run_ctx ctx = {.exp = exp, .ranks_on_node = hk_ranks_on_node(MPI_COMM_WORLD), .sweep = &sweep, .todo = sched_todo, .out_dir = out_dir,
                          .config_path = o->config_path ? o->config_path : "<built-in quickstart>", .config_name = stem,
                          .run_id = run_id,
                          .world = world};
    gethostname(ctx.host, sizeof ctx.host - 1);
    ctx.world_rank = world_rank;
    read_test_hooks(&ctx);
    struct hk_schedule_report rep;
    struct hk_point_report *reports = world_rank == 0 ? hk_calloc((size_t)ntodo + 1, sizeof *reports) : NULL;
    for (int i = 0; world_rank == 0 && i < ntodo; i++)
        reports[i].status = -1, reports[i].summary[0] = 0, reports[i].values[0] = NAN;
    hk_schedule(MPI_COMM_WORLD, ntodo, teams, run_point, &ctx, (const char *const *)labels, o->quiet, &rep, reports);

    int status = 0;
    if (world_rank == 0) {
        char *dirs[1] = {out_dir};
        char results[PATH_MAX + 16];
        snprintf(results, sizeof results, "%s/results.h5", out_dir);
        int merged = hk_store_merge(1, dirs, results, 0);
        if (merged < 0) {
            fprintf(stderr, "hksweep: merging into %s failed: %s (the point records are intact; run 'hksweep merge %s')\n",
                    results, hk_error_message(), out_dir);
            status = HK_EXIT_RUNTIME;
        }
        /* the summary in the sweep's order */
        int *finished_ok = hk_calloc((size_t)ntodo + 1, sizeof(int));
        struct hk_point_report *in_order = hk_calloc((size_t)ntodo + 1, sizeof *in_order);
        for (int i = 0; i < ntodo; i++) {
            in_order[order[i]] = reports[i];
            finished_ok[order[i]] = reports[i].status == HK_OK;
        }
        print_summary(exp, &sweep, todo, ntodo, in_order, finished_ok);
        free(finished_ok);
        free(in_order);
        free(reports);
        int remaining = ntodo - rep.done - rep.failed;
        printf("finished %d of %d points (%d failed) in %.1f s; %s holds %d points\n", rep.done + rep.failed, ntodo,
               rep.failed, rep.elapsed, results, merged > 0 ? merged : 0);
        if (rep.fatal) {
            fprintf(stderr, "hksweep: stopped because a point could not be stored (disk full?); finished points are "
                            "kept in %s/points; free space, then rerun with --resume\n", out_dir);
            status = HK_EXIT_RUNTIME;
        } else if (rep.interrupted && remaining > 0) {
            fprintf(stderr,
                    "hksweep: interrupted by signal %d: %d of %d points finished and kept in %s; %d not run.\n"
                    "resume with: mpirun -np %d hksweep run %s --out %s%s%s --resume\n",
                    rep.signal, rep.done + rep.failed, ntodo, out_dir, remaining, world,
                    o->config_path ? o->config_path : "", out_dir, o->nshards > 1 ? " --shard " : "",
                    o->nshards > 1 ? (snprintf(msg, sizeof msg, "%d/%d", o->shard, o->nshards), msg) : "");
            status = HK_EXIT_INTERRUPTED;
        }
        fflush(stdout);
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    hk_clear_error(); /* what went wrong at the end is already said */
    for (int i = 0; i < ntodo; i++) free(labels[i]);
    free(labels);
    free(teams);
    free(todo);
    free(sched_todo);
    free(order);
    hk_sweep_free(&sweep);
    hk_config_free(&cfg);
    return status;
}

void hk_runner_list_kinds(const char *kind)
{
    int n;
    const struct hk_experiment *const *list = hk_experiment_list(&n);
    for (int i = 0; i < n; i++) {
        if (kind && strcmp(kind, list[i]->kind)) continue;
        printf("%s: %s\n", list[i]->kind, list[i]->summary);
        if (!kind) continue;
        for (int k = 0; k < list[i]->nparams; k++) {
            const struct hk_param_spec *s = &list[i]->params[k];
            printf("  %-20s %-8s default %-10s %s%s\n", s->key,
                   s->type == HK_T_INT ? "int" : s->type == HK_T_REAL ? "real" : s->type == HK_T_BOOL ? "bool"
                   : s->type == HK_T_LIST ? "list" : s->type == HK_T_REALS ? "reals" : "string",
                   s->default_value, s->help,
                   s->resource == 1 ? " (not part of the point id)"
                   : s->resource == HK_ID_UNLESS_DEFAULT ? " (part of the point id when not the default)" : "");
        }
    }
}

static void human_bytes(double b, char *out, size_t n)
{
    const char *units[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (b >= 1000 && u < 4) { b /= 1000; u++; }
    snprintf(out, n, "%.1f %s", b, units[u]);
}

int hk_runner_plan(const struct hk_plan_options *o)
{
    const char *path = o->config_path;
    const int ranks = o->ranks, shard = o->shard, nshards = o->nshards;
    struct hk_config cfg;
    if (load_config(path, &cfg, MPI_COMM_NULL)) { return HK_EXIT_USAGE; }
    struct hk_sweep sweep;
    if (hk_sweep_expand(&cfg, &sweep)) { return HK_EXIT_USAGE; }
    const struct hk_experiment *exp = hk_experiment_find(cfg.experiment);
    const int team_param = hk_config_param_index(&cfg, "team_size");
    if (hk_experiment_check(exp, &sweep)) { return HK_EXIT_USAGE; }
    struct hk_rates rates;
    struct hk_blas_info blas;
    hk_measure_rates(&rates, &blas);
    printf("config %s: experiment %s, %d points, planned for %d rank%s%s\n", path, cfg.experiment, sweep.npoints, ranks,
           ranks == 1 ? "" : "s", nshards > 1 ? "" : "");
    if (nshards > 1) printf("shard %d/%d\n", shard, nshards);
    printf("rates measured now: DGEMM %.1f GFLOP/s per rank (BLAS core %s), kernels %.2f GFLOP/s per rank, "
           "memory %.1f GB/s\n", rates.dgemm_gflops, blas.core, rates.kernel_gflops, rates.memory_gbs);
    const char *warn = hk_blas_warning(&blas);
    if (warn) printf("%s\n", warn);
    printf("%-6s %-16s %4s %11s %9s %10s %9s  %s\n", "index", "id", "team", "mem/rank", "GFLOP", "entries", "time", "parameters");
    double total_team_seconds = 0, max_mem = 0;
    int shown = 0;
    for (int i = 0; i < sweep.npoints; i++) {
        const struct hk_point *p = &sweep.points[i];
        if (!hk_point_in_shard(p, shard, nshards)) continue;
        int team = team_size_of(p, team_param, ranks);
        struct hk_estimate e;
        exp->estimate(p, team, &rates, &e);
        char mem[32], desc[512];
        human_bytes(e.mem_bytes_per_rank, mem, sizeof mem);
        hk_point_describe(p, desc, sizeof desc);
        printf("%-6d %-16s %4d %11s %9.3g %10.3g %8.3gs  %s\n", p->index, p->id_hex, team, mem, e.gflop,
               e.kernel_entries, e.seconds, desc);
        total_team_seconds += e.seconds * team;
        if (e.mem_bytes_per_rank > max_mem) max_mem = e.mem_bytes_per_rank;
        shown++;
    }
    char mem[32];
    human_bytes(max_mem, mem, sizeof mem);
    printf("%d points; largest memory per rank %s; predicted %.3g s on %d rank%s (%.3g rank-seconds)\n", shown, mem,
           total_team_seconds / ranks, ranks, ranks == 1 ? "" : "s", total_team_seconds);
    hk_sweep_free(&sweep);
    hk_config_free(&cfg);
    return 0;
}

