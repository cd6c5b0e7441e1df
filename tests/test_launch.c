/* hk_mpi_one_node_defaults, before MPI_Init: which launches get Open MPI's
 * shared-memory transports set by hksweep, and which are left to Open MPI.
 * tests/python/test_run.py checks, under a real mpirun, which components
 * Open MPI then loads; here every branch of the decision is taken, the
 * launch environments of several nodes and of srun included, which one
 * machine cannot start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "hk/provenance.h"

static const char *const launch_vars[] = {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "HKSWEEP_MPI_ONE_NODE",
                                          "OMPI_MCA_pml", "OMPI_MCA_btl", "OMPI_MCA_mca_base_param_files",
                                          "PMIX_RANK", "PMI_RANK", "PMI_SIZE", NULL};

/* Sets NAME=VALUE pairs on a clean launch environment, decides, and checks
 * the recorded decision and what reaches MPI_Init. */
static void launch(const char *what, const char *const *set, const char *want, const char *pml, const char *btl)
{
    for (int i = 0; launch_vars[i]; i++) unsetenv(launch_vars[i]);
    for (int i = 0; set[i]; i += 2) setenv(set[i], set[i + 1], 1);
    hk_mpi_one_node_defaults();
    CHECK(!strcmp(hk_mpi_transports(), want), "%s: recorded '%s', want '%s'", what, hk_mpi_transports(), want);
    const char *p = getenv("OMPI_MCA_pml"), *b = getenv("OMPI_MCA_btl");
    CHECK((p ? !strcmp(p, pml) : !pml[0]) && (b ? !strcmp(b, btl) : !btl[0]),
          "%s: OMPI_MCA_pml '%s', OMPI_MCA_btl '%s'; want '%s', '%s'", what, p ? p : "", b ? b : "", pml, btl);
}

int main(void)
{
    /* a HOME without an MCA parameter file, then one with */
    char home[] = "/tmp/hk-launch-XXXXXX";
    CHECK(mkdtemp(home) != NULL, "mkdtemp");
    setenv("HOME", home, 1);
    const char *ours = "pml=ob1 btl=self,vader (one node: set by hksweep)";
    launch("singleton", (const char *[]){NULL}, ours, "ob1", "self,vader");
    launch("mpirun, 2 local ranks",
           (const char *[]){"OMPI_COMM_WORLD_SIZE", "2", "OMPI_COMM_WORLD_LOCAL_SIZE", "2", "PMIX_RANK", "0", NULL},
           ours, "ob1", "self,vader");
    launch("mpirun, 64 ranks on 4 nodes",
           (const char *[]){"OMPI_COMM_WORLD_SIZE", "64", "OMPI_COMM_WORLD_LOCAL_SIZE", "16", "PMIX_RANK", "3", NULL},
           "pml=default btl=default (ranks on several nodes)", "", "");
    launch("srun (PMIx)", (const char *[]){"PMIX_RANK", "5", NULL}, "pml=default btl=default (launched by srun)", "", "");
    launch("srun (PMI2)", (const char *[]){"PMI_RANK", "1", "PMI_SIZE", "2", NULL},
           "pml=default btl=default (launched by srun)", "", "");
    launch("mpirun --mca btl",
           (const char *[]){"OMPI_COMM_WORLD_SIZE", "2", "OMPI_COMM_WORLD_LOCAL_SIZE", "2", "OMPI_MCA_btl", "self,tcp", NULL},
           "pml=default btl=self,tcp (set by the user)", "", "self,tcp");
    launch("mpirun --mca pml", (const char *[]){"OMPI_MCA_pml", "ucx", NULL}, "pml=ucx btl=default (set by the user)",
           "ucx", "");
    launch("opted out", (const char *[]){"HKSWEEP_MPI_ONE_NODE", "false", NULL},
           "pml=default btl=default (HKSWEEP_MPI_ONE_NODE=0)", "", "");
    launch("not opted out by 1", (const char *[]){"HKSWEEP_MPI_ONE_NODE", "1", NULL}, ours, "ob1", "self,vader");
    launch("a parameter file named", (const char *[]){"OMPI_MCA_mca_base_param_files", "/etc/site.conf", NULL},
           "pml=default btl=default (the user's MCA parameter file)", "", "");
    char dir[64], file[96];
    snprintf(dir, sizeof dir, "%s/.openmpi", home);
    snprintf(file, sizeof file, "%s/mca-params.conf", dir);
    CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
    FILE *f = fopen(file, "w");
    fputs("# comments and other settings do not count\nmpi_leave_pinned = 1\n", f);
    fclose(f);
    launch("a parameter file without pml or btl", (const char *[]){NULL}, ours, "ob1", "self,vader");
    f = fopen(file, "a");
    fputs("  btl = self,vader,tcp\n", f);
    fclose(f);
    launch("the user's parameter file sets btl", (const char *[]){NULL},
           "pml=default btl=default (the user's MCA parameter file)", "", "");
    unlink(file);
    rmdir(dir);
    rmdir(home);
    return check_summary("test_launch");
}
