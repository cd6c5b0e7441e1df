/* provenance: what produced a result. BLAS core and threads (OpenBLAS found
 * at run time through dlsym, so any BLAS works), a measured DGEMM rate,
 * library versions, host, git commit. */
#ifndef HK_PROVENANCE_H
#define HK_PROVENANCE_H

#include "hk/result.h"

struct hk_blas_info {
    char core[64];          /* OpenBLAS core name, or "unknown (not OpenBLAS)" */
    char config[256];
    int threads;
    int generic;            /* 1: a slow generic fallback core */
    char suggestion[64];    /* OPENBLAS_CORETYPE value that suits this CPU */
    double dgemm_gflops;    /* measured, one rank, 0 if not measured */
};

/* One BLAS thread per rank unless HKSWEEP_BLAS_THREADS says otherwise:
 * with a rank per core, more threads only oversubscribe. */
void hk_blas_limit_threads(void);
void hk_blas_probe(struct hk_blas_info *info, int measure);
/* The warning line for a generic core, or NULL. */
const char *hk_blas_warning(const struct hk_blas_info *info);

/* Before MPI_Init: when every rank is on this node (an Open MPI mpirun whose
 * ranks are all local, or a singleton), Open MPI's shared-memory transports
 * only (OMPI_MCA_pml=ob1, OMPI_MCA_btl=self,vader), which skip 0.2 s of
 * probing network transports (PSM2, OFI) in MPI_Init. Left alone when the
 * user set either variable (mpirun --mca passes them so) or either in their
 * own MCA parameter file, under a direct srun launch, across nodes, or with
 * HKSWEEP_MPI_ONE_NODE=0 (or off, no, false). Provenance records which
 * (mpi_transports). */
void hk_mpi_one_node_defaults(void);
/* What it decided, as provenance records it. */
const char *hk_mpi_transports(void);

/* Fills provenance attributes common to every command. */
void hk_provenance_collect(struct hk_attrs *prov, const struct hk_blas_info *blas, int world_size);
const char *hk_git_commit(void);
const char *hk_version(void);

#endif
