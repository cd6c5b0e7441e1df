/* main: the hksweep command line. Parses each command's arguments into the
 * options of the module that does the work (runner, tools, store, images)
 * and turns an error into one message and an exit status: 0 success,
 * 1 runtime failure, 2 bad input (nothing written), 3 interrupted by a signal
 * (finished points kept; resume with --resume). Nothing else lives here. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hk/help.h"
#include "hk/images.h"
#include "hk/kernels.h"
#include "hk/provenance.h"
#include "hk/runner.h"
#include "hk/store.h"
#include "hk/sweep.h"
#include "hk/team.h"
#include "hk/tools.h"
#include "hk/util.h"

static int world_rank = 0;

/* One option of a command: --name VALUE (or --name=VALUE), or a flag. */
enum opt_type { OPT_STRING, OPT_INT, OPT_LONG, OPT_REAL, OPT_FLAG, OPT_SHARD };
struct opt {
    const char *name;
    enum opt_type type;
    void *dst;           /* const char **, int *, long *, double *, int * (flag), int[2] (shard I/N) */
    double lo, hi;       /* range of a number */
};

/* Parses argv[1..argc) of command cmd against opts; other words go to pos
 * (at most maxpos). Returns 0, 1 for --help, or -1 with a message. */
static int parse_args(const char *cmd, int argc, char **argv, const struct opt *opts, const char **pos, int maxpos,
                      int *npos)
{
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
        if (strncmp(a, "--", 2) != 0) {
            if (*npos >= maxpos) return hk_fail("%s: unexpected argument '%s' (see 'hksweep %s --help')", cmd, a, cmd);
            pos[(*npos)++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        const struct opt *o = opts;
        while (o->name && (strlen(o->name) != len || strncmp(o->name, a + 2, len))) o++;
        if (!o->name) return hk_fail("%s: unknown option '%s' (see 'hksweep %s --help')", cmd, a, cmd);
        if (o->type == OPT_FLAG) {
            *(int *)o->dst = 1;
            continue;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) return hk_fail("%s: --%s needs a value", cmd, o->name);
        if (o->type == OPT_STRING) {
            *(const char **)o->dst = value;
        } else if (o->type == OPT_SHARD) {
            int *sh = o->dst;
            if (hk_parse_shard(value, &sh[0], &sh[1])) return -1;
        } else if (o->type == OPT_REAL) {
            char *end;
            double v = strtod(value, &end);
            if (end == value || *end || !(v >= o->lo && v <= o->hi))
                return hk_fail("%s: --%s expects a number in [%g, %g], got '%s'", cmd, o->name, o->lo, o->hi, value);
            *(double *)o->dst = v;
        } else {
            char *end;
            long v = strtol(value, &end, 10);
            if (end == value || *end || v < o->lo || v > o->hi)
                return hk_fail("%s: --%s expects an integer in [%.0f, %.0f], got '%s'", cmd, o->name, o->lo, o->hi, value);
            if (o->type == OPT_INT) *(int *)o->dst = (int)v;
            else *(long *)o->dst = v;
        }
    }
    return 0;
}

/* Parses, or returns from the command: the usage on --help, 2 on an error. */
#define PARSE(cmd, opts, pos, maxpos, npos)                                                                       \
    do {                                                                                                          \
        int rc_ = parse_args(cmd, argc, argv, opts, pos, maxpos, npos);                                          \
        if (rc_ > 0) { if (world_rank == 0) hk_help(cmd); return 0; }                                            \
        if (rc_ < 0) return HK_EXIT_USAGE;                                                                        \
    } while (0)

static int cmd_run(int argc, char **argv)
{
    struct hk_run_options o = {.nshards = 1};
    int shard[2] = {0, 1}, npos;
    const char *pos[1] = {NULL};
    const struct opt opts[] = {{"out", OPT_STRING, &o.out_dir, 0, 0}, {"shard", OPT_SHARD, shard, 0, 0},
                               {"resume", OPT_FLAG, &o.resume, 0, 0},  {"quiet", OPT_FLAG, &o.quiet, 0, 0},
                               {NULL, 0, NULL, 0, 0}};
    PARSE("run", opts, pos, 1, &npos);
    o.config_path = pos[0];
    o.shard = shard[0];
    o.nshards = shard[1];
    return hk_runner_run(&o);
}

static int cmd_plan(int argc, char **argv)
{
    struct hk_plan_options o = {.ranks = 2};
    int shard[2] = {0, 1}, list = 0, npos;
    const char *pos[1] = {NULL};
    const struct opt opts[] = {{"ranks", OPT_INT, &o.ranks, 1, 10000000}, {"shard", OPT_SHARD, shard, 0, 0},
                               {"list", OPT_FLAG, &list, 0, 0},            {NULL, 0, NULL, 0, 0}};
    PARSE("plan", opts, pos, 1, &npos);
    if (list) {
        hk_runner_list_kinds(pos[0]);
        return 0;
    }
    if (!pos[0]) return hk_fail("plan: which CONFIG? (see 'hksweep plan --help')"), HK_EXIT_USAGE;
    o.config_path = pos[0];
    o.shard = shard[0];
    o.nshards = shard[1];
    return hk_runner_plan(&o);
}

static int cmd_merge(int argc, char **argv)
{
    const char *out = NULL, **dirs = hk_calloc((size_t)argc + 1, sizeof *dirs);
    int ndirs, status = 0;
    const struct opt opts[] = {{"out", OPT_STRING, &out, 0, 0}, {NULL, 0, NULL, 0, 0}};
    int rc = parse_args("merge", argc, argv, opts, dirs, argc, &ndirs);
    if (rc > 0) hk_help("merge");
    else if (rc < 0) status = HK_EXIT_USAGE;
    else if (ndirs == 0) status = HK_EXIT_USAGE, hk_fail("merge: which directories? (see 'hksweep merge --help')");
    for (int i = 0; rc == 0 && !status && i < ndirs; i++) {
        struct stat st;
        if (stat(dirs[i], &st) != 0 || !S_ISDIR(st.st_mode))
            status = HK_EXIT_USAGE, hk_fail("merge: %s is not a directory", dirs[i]);
    }
    if (rc == 0 && !status) {
        char out_path[8192];
        snprintf(out_path, sizeof out_path, out ? "%s" : "%s/results.h5", out ? out : dirs[0]);
        if (hk_store_merge(ndirs, (char *const *)dirs, out_path, 1) < 0) status = HK_EXIT_RUNTIME;
    }
    free(dirs);
    return status;
}

static int cmd_split(int argc, char **argv)
{
    const char *out = NULL, *pos[1] = {NULL};
    int npos;
    const struct opt opts[] = {{"out", OPT_STRING, &out, 0, 0}, {NULL, 0, NULL, 0, 0}};
    PARSE("split", opts, pos, 1, &npos);
    if (!pos[0] || !out)
        return hk_fail("split: %s (see 'hksweep split --help')", !pos[0] ? "which results FILE?" : "--out DIR is required"),
               HK_EXIT_USAGE;
    struct stat st;
    if (stat(pos[0], &st) != 0 || !S_ISREG(st.st_mode)) return hk_fail("split: %s is not a file", pos[0]), HK_EXIT_USAGE;
    return hk_store_split(pos[0], out, 1) < 0 ? HK_EXIT_RUNTIME : 0;
}

static int cmd_inspect(int argc, char **argv)
{
    const char *pos[1] = {NULL};
    int npos;
    const struct opt opts[] = {{NULL, 0, NULL, 0, 0}};
    PARSE("inspect", opts, pos, 1, &npos);
    if (!pos[0]) return hk_help("inspect"), HK_EXIT_USAGE;
    return hk_store_inspect(pos[0]) ? HK_EXIT_USAGE : 0;
}

static int cmd_kernel(int argc, char **argv)
{
    struct hk_kernel_options o = {.depth_f = 2, .depth_g = 3, .block_size = 256, .kernels = NULL};
    int npos;
    const struct opt opts[] = {{"in", OPT_STRING, &o.in, 0, 0},          {"out", OPT_STRING, &o.out, 0, 0},
                               {"depth-f", OPT_INT, &o.depth_f, 1, HK_MAX_DEPTH},
                               {"depth-g", OPT_INT, &o.depth_g, 1, HK_MAX_DEPTH},
                               {"kernels", OPT_STRING, &o.kernels, 0, 0}, {"block-size", OPT_INT, &o.block_size, 1, 8192},
                               {NULL, 0, NULL, 0, 0}};
    PARSE("kernel", opts, NULL, 0, &npos);
    if (!o.in || !o.out)
        return hk_fail("kernel: --in IN.h5 and --out OUT.h5 are required (see 'hksweep kernel --help')"), HK_EXIT_USAGE;
    char list[256] = "";
    for (int k = 0; k < HK_NKERNELS && !o.kernels; k++) o.want[k] = 1;
    if (o.kernels) snprintf(list, sizeof list, "%s", o.kernels);
    for (char *save = NULL, *k = strtok_r(list, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        int id = hk_kernel_from_name(k);
        if (id < 0) return hk_fail("kernel: --kernels: unknown kernel '%s'; expected names from %s", k, HK_KERNEL_CHOICES), HK_EXIT_USAGE;
        o.want[id] = 1;
    }
    if (!o.kernels) o.kernels = "all";
    return hk_tool_kernel(&o);
}

static int cmd_ntk(int argc, char **argv)
{
    struct hk_ntk_options o = {.depth_f = 2, .depth_g = 3, .seed0 = 1};
    int npos;
    const struct opt opts[] = {{"in", OPT_STRING, &o.in, 0, 0},     {"out", OPT_STRING, &o.out, 0, 0},
                               {"width-f", OPT_INT, &o.width_f, 1, 1000000},
                               {"width-g", OPT_INT, &o.width_g, 1, 1000000},
                               {"depth-f", OPT_INT, &o.depth_f, 1, HK_MAX_DEPTH},
                               {"depth-g", OPT_INT, &o.depth_g, 1, HK_MAX_DEPTH},
                               {"seeds", OPT_INT, &o.seeds, 1, 1000000}, {"seed0", OPT_LONG, &o.seed0, 0, 2147483647L},
                               {NULL, 0, NULL, 0, 0}};
    PARSE("ntk", opts, NULL, 0, &npos);
    if (!o.in || !o.out || !o.width_f || !o.width_g || !o.seeds)
        return hk_fail("ntk: --in, --out, --width-f, --width-g and --seeds are required (see 'hksweep ntk --help')"),
               HK_EXIT_USAGE;
    return hk_tool_ntk(&o);
}

static int cmd_predict(int argc, char **argv)
{
    struct hk_predict_options o = {.depth_f = 2, .depth_g = 3, .block_size = 128, .lr = 1, .ridge = 1e-3};
    const char *steps = "0,1,10,100,1000,10000";
    int npos;
    const struct opt opts[] = {{"train", OPT_STRING, &o.train, 0, 0},   {"test", OPT_STRING, &o.test, 0, 0},
                               {"out", OPT_STRING, &o.out, 0, 0},       {"depth-f", OPT_INT, &o.depth_f, 1, HK_MAX_DEPTH},
                               {"depth-g", OPT_INT, &o.depth_g, 1, HK_MAX_DEPTH},
                               {"lr", OPT_REAL, &o.lr, 1e-300, 1e300},  {"steps", OPT_STRING, &steps, 0, 0},
                               {"flow", OPT_FLAG, &o.flow, 0, 0},       {"ridge", OPT_REAL, &o.ridge, 0, 1e300},
                               {"block-size", OPT_INT, &o.block_size, 1, 8192},
                               {"converged", OPT_FLAG, &o.converged, 0, 0}, {NULL, 0, NULL, 0, 0}};
    PARSE("predict", opts, NULL, 0, &npos);
    if (!o.train || !o.test || !o.out)
        return hk_fail("predict: --train, --test and --out are required (see 'hksweep predict --help')"), HK_EXIT_USAGE;
    if (hk_parse_steps(steps, &o.steps, &o.nsteps)) return HK_EXIT_USAGE;
    int status = hk_tool_predict(&o);
    free(o.steps);
    return status;
}

static int cmd_data(int argc, char **argv)
{
    const char *from = NULL, *out = NULL, *pos[1] = {NULL};
    long count = 2000, seed = 2020;
    int npos;
    const struct opt opts[] = {{"from", OPT_STRING, &from, 0, 0},          {"out", OPT_STRING, &out, 0, 0},
                               {"count", OPT_LONG, &count, 1, 10000000}, {"seed", OPT_LONG, &seed, 0, 2147483647L},
                               {NULL, 0, NULL, 0, 0}};
    PARSE("data", opts, pos, 1, &npos);
    const char *what = pos[0];
    if (!what) return hk_help("data"), HK_EXIT_USAGE;
    if (strcmp(what, "mnist") && strcmp(what, "synthetic"))
        return hk_fail("data: unknown source '%s' (mnist or synthetic)", what), HK_EXIT_USAGE;
    if (!out) return hk_fail("data %s: --out FILE.h5 is required", what), HK_EXIT_USAGE;
    if (!strcmp(what, "mnist")) {
        char summary[8192];
        if (!from)
            return hk_fail("data mnist: --from PATH is required (IDX folder, npm package folder or .tgz)"), HK_EXIT_USAGE;
        if (hk_mnist_convert(from, out, summary, sizeof summary)) return HK_EXIT_USAGE;
        printf("%s\n", summary);
        return 0;
    }
    if (hk_images_write_synthetic(out, (int)count, seed)) return HK_EXIT_RUNTIME;
    printf("%ld synthetic digits (seed %ld) written to %s\n", count, seed, out);
    return 0;
}

static int cmd_version(int argc, char **argv)
{
    struct hk_blas_info blas;
    hk_blas_probe(&blas, 0);
    printf("hksweep %s (git %s), BLAS core %s%s\n", hk_version(), hk_git_commit(), blas.core,
           blas.generic ? " (generic fallback)" : "");
    return 0;
}

static const struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    int mpi;    /* runs under MPI (collective over the world) */
} commands[] = {
    {"run", cmd_run, 1},         {"plan", cmd_plan, 0},   {"merge", cmd_merge, 0}, {"split", cmd_split, 0},
    {"inspect", cmd_inspect, 0},
    {"kernel", cmd_kernel, 1},   {"ntk", cmd_ntk, 1},     {"predict", cmd_predict, 1}, {"data", cmd_data, 0},
    {"version", cmd_version, 0},
    {"--version", cmd_version, 0}, {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    hk_runtime_init();
    hk_blas_limit_threads();
    hk_store_init();
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        hk_help(NULL);
        return argc < 2 ? HK_EXIT_USAGE : 0;
    }
    const struct command *c = commands;
    while (c->name && strcmp(c->name, argv[1])) c++;
    if (!c->name) {
        fprintf(stderr, "hksweep: unknown command '%s' (see 'hksweep --help')\n", argv[1]);
        return HK_EXIT_USAGE;
    }
    if (c->mpi) {
        int provided;
        hk_mpi_one_node_defaults();
        MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
        MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
        hk_signals_install();
    }
    hk_clear_error();
    /* out of memory anywhere in a command comes back here (util.h) */
    volatile int status = HK_EXIT_RUNTIME;
    struct hk_oom_guard guard;
    hk_oom_push(&guard);
    if (setjmp(guard.env) == 0) status = c->fn(argc - 1, argv + 1);
    hk_oom_pop(&guard);
    if (status && world_rank == 0 && hk_has_error()) fprintf(stderr, "hksweep: %s\n", hk_error_message());
    if (c->mpi) MPI_Finalize();
    return status;
}
