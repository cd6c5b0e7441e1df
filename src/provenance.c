/* provenance: BLAS detection and timing, versions, host. */
#define _GNU_SOURCE
#include "hk/provenance.h"
#include "hk/kernels.h"
#include "hk/store.h"
#include "hk/blas.h"
#include "hk/util.h"

#include <ctype.h>
#include <dlfcn.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

extern const char hk_git_commit_text[];   /* generated at build time */

const char *hk_git_commit(void) { return hk_git_commit_text; }
const char *hk_version(void) { return "0.1.0"; }

static char mpi_transports[200] = "not set by hksweep";

/* Whether the user's own MCA parameter file ($HOME/.openmpi/mca-params.conf)
 * sets pml or btl: the environment would override it. (The system file sets
 * exclusions on Debian, "pml = ^ucx", "btl = ^uct,openib,ofi", which ob1,
 * self and vader satisfy.) */
static int user_file_sets_transports(void)
{
    const char *home = getenv("HOME");
    if (!home) return 0;
    char path[4096], line[512];
    snprintf(path, sizeof path, "%s/.openmpi/mca-params.conf", home);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        const char *p = line + strspn(line, " \t");
        size_t n = strcspn(p, " \t=");
        if ((n == 3 && (!strncmp(p, "pml", 3) || !strncmp(p, "btl", 3))) && strchr(p, '=')) found = 1;
    }
    fclose(f);
    return found;
}

void hk_mpi_one_node_defaults(void)
{
    const char *size = getenv("OMPI_COMM_WORLD_SIZE"), *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    const char *off = getenv("HKSWEEP_MPI_ONE_NODE"), *pml = getenv("OMPI_MCA_pml"), *btl = getenv("OMPI_MCA_btl");
    const char *why = NULL;
    if (off && (!strcmp(off, "0") || !strcasecmp(off, "off") || !strcasecmp(off, "no") || !strcasecmp(off, "false")))
        why = "HKSWEEP_MPI_ONE_NODE=0";
    else if (pml || btl) why = "set by the user";
    else if (getenv("OMPI_MCA_mca_base_param_files") || user_file_sets_transports())
        why = "the user's MCA parameter file";
    else if (size && (!local || strcmp(size, local))) why = "ranks on several nodes";
    else if (!size && (getenv("PMIX_RANK") || getenv("PMI_RANK") || getenv("PMI_SIZE"))) why = "launched by srun";
    if (!why) {
        setenv("OMPI_MCA_pml", "ob1", 0);
        setenv("OMPI_MCA_btl", "self,vader", 0);
        snprintf(mpi_transports, sizeof mpi_transports, "pml=ob1 btl=self,vader (one node: set by hksweep)");
        return;
    }
    snprintf(mpi_transports, sizeof mpi_transports, "pml=%s btl=%s (%s)", pml ? pml : "default",
             btl ? btl : "default", why);
}

const char *hk_mpi_transports(void) { return mpi_transports; }

void hk_blas_limit_threads(void)
{
    const char *env = getenv("HKSWEEP_BLAS_THREADS");
    int n = env ? atoi(env) : 1;
    if (n < 1) n = 1;
    void (*set_threads)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    if (set_threads) set_threads(n);
}

static void lower(char *s) { for (; *s; s++) *s = (char)tolower((unsigned char)*s); }

void hk_blas_probe(struct hk_blas_info *info, int measure)
{
    memset(info, 0, sizeof *info);
    char *(*corename)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_corename");
    char *(*config)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_config");
    int (*threads)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
    snprintf(info->core, sizeof info->core, "%s", corename ? corename() : "unknown (not OpenBLAS)");
    snprintf(info->config, sizeof info->config, "%s", config ? config() : "");
    info->threads = threads ? threads() : 1;
    char core[64];
    snprintf(core, sizeof core, "%s", info->core);
    lower(core);
    static const char *fallbacks[] = {"prescott", "katmai", "coppermine", "northwood", "banias", "core2",
                                      "penryn",   "dunnington", "atom", "generic", NULL};
    for (int i = 0; fallbacks[i]; i++)
        if (!strcmp(core, fallbacks[i])) info->generic = 1;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) snprintf(info->suggestion, sizeof info->suggestion, "SkylakeX");
    else if (__builtin_cpu_supports("avx2")) snprintf(info->suggestion, sizeof info->suggestion, "Haswell");
    else info->suggestion[0] = 0;
    if (!measure) return;
    /* Best of a few 384^3 products: ~0.1 s even on the slowest core. */
    const int n = 384;
    double *a = hk_malloc((size_t)n * n * sizeof(double)), *b = hk_malloc((size_t)n * n * sizeof(double));
    double *c = hk_calloc((size_t)n * n, sizeof(double));
    for (int i = 0; i < n * n; i++) { a[i] = (i % 7) * 0.1; b[i] = (i % 5) * 0.2; }
    double best = 1e30, one = 1, zero = 0;
    for (int rep = 0; rep < 4; rep++) {
        double t0 = hk_now();
        dgemm_("N", "N", &n, &n, &n, &one, a, &n, b, &n, &zero, c, &n);
        double t = hk_now() - t0;
        if (t < best) best = t;
    }
    info->dgemm_gflops = 2.0 * n * n * n / best / 1e9;
    free(a); free(b); free(c);
}

const char *hk_blas_warning(const struct hk_blas_info *info)
{
    static char msg[512];
    if (!info->generic) return NULL;
    snprintf(msg, sizeof msg,
             "warning: OpenBLAS runs its generic '%s' kernels on this CPU (DGEMM %.1f GFLOP/s per rank); "
             "export OPENBLAS_CORETYPE=%s before mpirun (and pass it on with -x OPENBLAS_CORETYPE) for "
             "several times the speed (README, 'BLAS speed')",
             info->core, info->dgemm_gflops, info->suggestion[0] ? info->suggestion : "<your CPU's core>");
    return msg;
}

static void cpu_model(char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *colon = strchr(line, ':');
            if (colon) {
                colon += 2;
                colon[strcspn(colon, "\n")] = 0;
                snprintf(buf, n, "%s", colon);
            }
            break;
        }
    }
    fclose(f);
}

void hk_provenance_collect(struct hk_attrs *prov, const struct hk_blas_info *blas, int world_size)
{
    char buf[MPI_MAX_LIBRARY_VERSION_STRING + 64];
    hk_attrs_text(prov, "hksweep_version", hk_version());
    hk_attrs_text(prov, "git_commit", hk_git_commit());
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    hk_attrs_text(prov, "host", host);
    cpu_model(buf, sizeof buf);
    hk_attrs_text(prov, "cpu", buf);
    hk_attrs_num(prov, "mpi_world_size", world_size);
    int len = 0;
    MPI_Get_library_version(buf, &len);
    buf[strcspn(buf, "\n")] = 0;
    hk_attrs_text(prov, "mpi_library", buf);
    hk_attrs_text(prov, "mpi_transports", mpi_transports);
    hk_store_library_version(buf, sizeof buf);
    hk_attrs_text(prov, "hdf5_version", buf);
    hk_attrs_text(prov, "libyaml_version", yaml_get_version_string());
    hk_attrs_text(prov, "scalapack", HK_SCALAPACK_VERSION);
    /* the kernel table, so the analysis knows the kernels and their labels:
     * "name|point|label;..." (point: 1 between points (x, z), 0 of x alone) */
    char table[1024] = "";
    for (int k = 0; k < HK_NKERNELS; k++) {
        const struct hk_kernel_info *info = hk_kernel_info(k);
        size_t used = strlen(table);
        snprintf(table + used, sizeof table - used, "%s%s|%d|%s", k ? ";" : "", info->name, info->point, info->label);
    }
    hk_attrs_text(prov, "kernel_table", table);
    hk_attrs_text(prov, "blas_core", blas->core);
    hk_attrs_text(prov, "blas_config", blas->config);
    hk_attrs_num(prov, "blas_threads_per_rank", blas->threads);
    hk_attrs_num(prov, "blas_generic_fallback", blas->generic);
    hk_attrs_num(prov, "dgemm_gflops_per_rank", blas->dgemm_gflops);
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    hk_attrs_text(prov, "env_OPENBLAS_CORETYPE", coretype ? coretype : "");
    time_t now = time(NULL);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    hk_attrs_text(prov, "started", buf);
}
