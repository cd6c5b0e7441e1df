/* ensemble: many random initialisations of a finite hypernetwork spread over
 * the ranks of a team, seed i on rank i % size, gathered back in seed order,
 * so a result never depends on the number of ranks. Serves the `ntk` command
 * and the kernel-convergence kind. Above hypernet and team. */
#ifndef HK_ENSEMBLE_H
#define HK_ENSEMBLE_H

#include <mpi.h>
#include <stddef.h>

#include "hk/hypernet.h"

/* Fills slot (per doubles) for seed index i; 0, or -1 with a message. */
typedef int (*hk_seed_fn)(int i, double *slot, void *ctx);

/* Runs fn for i = 0..nseeds-1 over the ranks of comm and gathers the slots in
 * seed order on rank 0 (*gathered, nseeds x per; NULL on other ranks). One
 * slot buffer per rank, reused by its seeds. Collective. Returns 0, or -1 when
 * a seed failed on any rank (message set on every rank). */
int hk_seeds_run(MPI_Comm comm, int nseeds, size_t per, hk_seed_fn fn, void *ctx, double **gathered);

/* The empirical NTK of the hypernetwork of `shape` on every point of `in`
 * (N x N, section 7 of the math) and its outputs h (N), at seeds seed0 + i:
 * slots of N * N + N doubles, gathered as above. */
int hk_entk_seeds(MPI_Comm comm, const struct hk_hn_shape *shape, const struct hk_inputs *in, long seed0, int nseeds,
                  double **gathered);

#endif
