/* dist: the team's BLACS process grid, 2D block-cyclic matrices, kernel
 * matrices filled block by block where they live, and the ScaLAPACK solve and
 * products. No function here gathers a matrix onto one rank. */
#ifndef HK_DIST_H
#define HK_DIST_H

#include <mpi.h>

#include "hk/kernels.h"

struct hk_grid {
    MPI_Comm comm;
    int blacs_handle, ctxt;
    int nprow, npcol, myrow, mycol;
    int rank, size;
};

/* nprow = 0 chooses the most square grid with nprow <= npcol. */
int hk_grid_create(struct hk_grid *g, MPI_Comm comm, int nprow);
void hk_grid_destroy(struct hk_grid *g);
void hk_grid_shape(int size, int nprow_request, int *nprow, int *npcol);

struct hk_dmatrix {
    int m, n, mb, nb;
    int mloc, nloc, lld;
    int desc[9];
    double *a;       /* mloc × nloc, column-major, leading dimension lld */
    int *grows;      /* global index of each local row */
    int *gcols;      /* global index of each local column */
    const struct hk_grid *g;
};

int hk_dmatrix_create(struct hk_dmatrix *A, const struct hk_grid *g, int m, int n, int nb);
void hk_dmatrix_destroy(struct hk_dmatrix *A);
/* Copies src's local part into dst, a matrix of the same shape, block and grid. */
void hk_dmatrix_copy(struct hk_dmatrix *dst, const struct hk_dmatrix *src);
/* Largest local size any rank of a grid gets, for memory predictions. */
long hk_local_elements_max(int m, int n, int nb, int nprow, int npcol);

/* Fills A(i, j) = K(rows_in[i + row0], cols_in[j + col0]) on the blocks this
 * rank owns; lower_only skips the strict upper triangle. */
int hk_dist_fill_kernel(struct hk_dmatrix *A, enum hk_kernel kind, const struct hk_depths *d,
                        const struct hk_inputs *rows_in, int row0, const struct hk_inputs *cols_in, int col0,
                        int lower_only);
void hk_dist_add_diagonal(struct hk_dmatrix *A, double value);
/* The trace of a square distributed matrix, on every rank of the grid. */
double hk_dist_trace(const struct hk_dmatrix *A);
/* Sets a distributed m x k matrix from a replicated column-major array, and
 * replicates one on every rank of the grid (k small: right-hand sides,
 * predictions; never a Gram matrix). */
void hk_dist_columns_set(struct hk_dmatrix *v, const double *values);
int hk_dist_columns_allgather(const struct hk_dmatrix *v, double *values);

/* Cholesky factorisation A = L L^T (lower) and solve A X = B in place.
 * Returns 0, or the ScaLAPACK info (> 0: not positive definite). */
int hk_dist_cholesky(struct hk_dmatrix *A);
int hk_dist_cholesky_solve(const struct hk_dmatrix *L, struct hk_dmatrix *B);

/* Solves (A + shift I) X = B, A symmetric positive definite given by its
 * lower triangle (float64, left as it is), in mixed precision as LAPACK's
 * dsposv: a float32 Cholesky factor of A + shift I (pspotrf; spotrf on a
 * 1 x 1 grid), then iterative refinement with float64 residuals (pdsymm)
 * until every column's residual is within sqrt(N) eps ||A + shift I|| ||x||
 * (infinity norms, eps = 2^-53), at most 30 steps, giving up as soon as a
 * column's residual fails to halve in a step. Returns 0 with the
 * solution in B and *steps the refinement steps taken; otherwise B is as it
 * was and *steps = -1, for the caller to factor in float64: -1 when float32
 * cannot factor it (not positive definite there, an entry out of float's
 * range or NaN), -2 when refinement does not converge (or meets a NaN).
 * A rank holds A plus half of A's share for the factor. Collective. */
int hk_dist_solve_mixed(const struct hk_dmatrix *A, double shift, struct hk_dmatrix *B, int *steps);
/* Eigendecomposition of a symmetric distributed matrix with ScaLAPACK's
 * pdsyevd: A = Z diag(w) Z^T, w ascending (replicated on every rank, n
 * entries), Z distributed like A. A is overwritten. Collective; 0, or -1
 * with a message. No rank holds A or Z whole. On a 1 x 1 grid (a team of
 * one, which holds everything anyway) LAPACK's dsyevd, 1.26x faster there;
 * hk_dist_cholesky and hk_dist_cholesky_solve likewise call dpotrf and
 * dpotrs there. */
int hk_dist_eigh(struct hk_dmatrix *A, double *w, struct hk_dmatrix *Z);
/* The block size to give A and Z for hk_dist_eigh: nb, at most
 * HK_EIGH_MAX_BLOCK, and at most n. The tridiagonal reduction of pdsyevd
 * runs best with small blocks (1.5x slower at 256 than at 64 for N = 4,000
 * here), whatever block the Cholesky factorisations of a kind use. */
#define HK_EIGH_MAX_BLOCK 64
int hk_dist_eigh_block(int n, int nb);
/* Bytes of pdsyevd's workspace per rank for an n x n matrix, for plan. */
double hk_dist_eigh_workspace(int n, int nb, int nprow, int npcol);

/* C = A B for distributed A (m x n), B (n x k), C (m x k). */
void hk_dist_gemm(const struct hk_dmatrix *A, const struct hk_dmatrix *B, struct hk_dmatrix *C);
/* C = alpha op(A) op(B) + beta C, op = "N" or "T". */
void hk_dist_gemm_op(const char *ta, const char *tb, double alpha, const struct hk_dmatrix *A,
                     const struct hk_dmatrix *B, double beta, struct hk_dmatrix *C);

#endif
