/* dist: BLACS grid, descriptors, local index arithmetic, ScaLAPACK calls. */
#include "hk/dist.h"
#include "hk/blas.h"
#include "hk/util.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void hk_grid_shape(int size, int nprow_request, int *nprow, int *npcol)
{
    int r = 1;
    if (nprow_request > 0 && size % nprow_request == 0) r = nprow_request;
    else
        for (int d = 1; d * d <= size; d++)
            if (size % d == 0) r = d;
    *nprow = r;
    *npcol = size / r;
}

int hk_grid_create(struct hk_grid *g, MPI_Comm comm, int nprow)
{
    memset(g, 0, sizeof *g);
    g->comm = comm;
    MPI_Comm_rank(comm, &g->rank);
    MPI_Comm_size(comm, &g->size);
    hk_grid_shape(g->size, nprow, &g->nprow, &g->npcol);
    g->blacs_handle = Csys2blacs_handle(comm);
    g->ctxt = g->blacs_handle;
    Cblacs_gridinit(&g->ctxt, "Row", g->nprow, g->npcol);
    Cblacs_gridinfo(g->ctxt, &g->nprow, &g->npcol, &g->myrow, &g->mycol);
    if (g->myrow < 0) return hk_fail("BLACS grid %dx%d could not be created on %d ranks", g->nprow, g->npcol, g->size);
    return 0;
}

void hk_grid_destroy(struct hk_grid *g)
{
    Cblacs_gridexit(g->ctxt);
    Cfree_blacs_system_handle(g->blacs_handle);
}

/* Global index of local index il when blocks of nb are dealt cyclically over
 * nprocs processes, starting at process 0. */
static int local_to_global(int il, int nb, int iproc, int nprocs) { return (il / nb * nprocs + iproc) * nb + il % nb; }

static int local_count(int n, int nb, int iproc, int nprocs)
{
    int zero = 0;
    return numroc_(&n, &nb, &iproc, &zero, &nprocs);
}

long hk_local_elements_max(int m, int n, int nb, int nprow, int npcol)
{
    return (long)local_count(m, nb, 0, nprow) * local_count(n, nb, 0, npcol); /* process 0 gets the most */
}

/* Elements of a rank's local part as allocated (at least one). */
static size_t local_elements(const struct hk_dmatrix *A) { return (size_t)A->lld * (A->nloc > 0 ? A->nloc : 1); }

int hk_dmatrix_create(struct hk_dmatrix *A, const struct hk_grid *g, int m, int n, int nb)
{
    memset(A, 0, sizeof *A);
    A->g = g;
    A->m = m;
    A->n = n;
    A->mb = A->nb = nb;
    A->mloc = local_count(m, nb, g->myrow, g->nprow);
    A->nloc = local_count(n, nb, g->mycol, g->npcol);
    A->lld = A->mloc > 1 ? A->mloc : 1;
    int zero = 0, info;
    descinit_(A->desc, &m, &n, &nb, &nb, &zero, &zero, &g->ctxt, &A->lld, &info);
    if (info != 0) return hk_fail("descinit failed (info %d) for a %dx%d matrix, block %d", info, m, n, nb);
    size_t elems = local_elements(A);
    A->a = malloc(elems * sizeof(double));
    if (!A->a)
        return hk_fail("cannot allocate the local part of a %dx%d matrix: %.2f GB on this rank", m, n,
                       elems * 8.0 / 1e9);
    memset(A->a, 0, elems * sizeof(double));
    A->grows = hk_malloc((size_t)(A->mloc + 1) * sizeof(int));
    A->gcols = hk_malloc((size_t)(A->nloc + 1) * sizeof(int));
    for (int i = 0; i < A->mloc; i++) A->grows[i] = local_to_global(i, nb, g->myrow, g->nprow);
    for (int j = 0; j < A->nloc; j++) A->gcols[j] = local_to_global(j, nb, g->mycol, g->npcol);
    return 0;
}


void hk_dmatrix_copy(struct hk_dmatrix *dst, const struct hk_dmatrix *src)
{
    memcpy(dst->a, src->a, local_elements(src) * sizeof(double));
}

void hk_dmatrix_destroy(struct hk_dmatrix *A)
{
    free(A->a);
    free(A->grows);
    free(A->gcols);
    memset(A, 0, sizeof *A);
}

int hk_dist_fill_kernel(struct hk_dmatrix *A, enum hk_kernel kind, const struct hk_depths *d,
                        const struct hk_inputs *rows_in, int row0, const struct hk_inputs *cols_in, int col0,
                        int lower_only)
{
    if (A->mloc == 0 || A->nloc == 0) return 0;
    int *rows = hk_malloc((size_t)A->mloc * sizeof(int));
    int *cols = hk_malloc((size_t)A->nloc * sizeof(int));
    for (int i = 0; i < A->mloc; i++) rows[i] = A->grows[i] + row0;
    for (int j = 0; j < A->nloc; j++) cols[j] = A->gcols[j] + col0;
    int rc = hk_kernel_eval(kind, d, rows_in, rows, A->mloc, cols_in, cols, A->nloc, lower_only, A->a, A->lld);
    free(rows);
    free(cols);
    return rc;
}

void hk_dist_add_diagonal(struct hk_dmatrix *A, double value)
{
    /* walk local columns; the matching local row, if here, is found by a
     * merge since both index lists ascend */
    int i = 0;
    for (int j = 0; j < A->nloc; j++) {
        int gj = A->gcols[j];
        while (i < A->mloc && A->grows[i] < gj) i++;
        if (i < A->mloc && A->grows[i] == gj) A->a[i + (size_t)j * A->lld] += value;
    }
}

double hk_dist_trace(const struct hk_dmatrix *A)
{
    double s = 0;
    int i = 0;
    for (int j = 0; j < A->nloc; j++) {
        while (i < A->mloc && A->grows[i] < A->gcols[j]) i++;
        if (i < A->mloc && A->grows[i] == A->gcols[j]) s += A->a[i + (size_t)j * A->lld];
    }
    MPI_Allreduce(MPI_IN_PLACE, &s, 1, MPI_DOUBLE, MPI_SUM, A->g->comm);
    return s;
}

void hk_dist_columns_set(struct hk_dmatrix *v, const double *values)
{
    for (int j = 0; j < v->nloc; j++)
        for (int i = 0; i < v->mloc; i++)
            v->a[i + (size_t)j * v->lld] = values[v->grows[i] + (size_t)v->gcols[j] * v->m];
}

int hk_dist_columns_allgather(const struct hk_dmatrix *v, double *values)
{
    /* each entry lives on exactly one rank, so a sum reassembles it */
    size_t total = (size_t)v->m * v->n;
    memset(values, 0, total * sizeof(double));
    for (int j = 0; j < v->nloc; j++)
        for (int i = 0; i < v->mloc; i++)
            values[v->grows[i] + (size_t)v->gcols[j] * v->m] = v->a[i + (size_t)j * v->lld];
    return MPI_Allreduce(MPI_IN_PLACE, values, (int)total, MPI_DOUBLE, MPI_SUM, v->g->comm) == MPI_SUCCESS ? 0 : -1;
}

/* On a 1 x 1 grid the local part is the whole matrix, column-major with
 * leading dimension lld, and LAPACK's own routines apply: pdpotrf there
 * factors panel by panel with updates of inner dimension nb and reached 63 %
 * of dpotrf's rate on one core (44.5 against 70.5 GFLOP/s at N = 6,000). */
static int single_rank(const struct hk_dmatrix *A) { return A->g->nprow * A->g->npcol == 1; }

int hk_dist_cholesky(struct hk_dmatrix *A)
{
    int one = 1, info = 0;
    if (single_rank(A)) dpotrf_("L", &A->n, A->a, &A->lld, &info);
    else pdpotrf_("L", &A->n, A->a, &one, &one, A->desc, &info);
    return info;
}

int hk_dist_cholesky_solve(const struct hk_dmatrix *L, struct hk_dmatrix *B)
{
    int one = 1, info = 0;
    if (single_rank(L)) dpotrs_("L", &L->n, &B->n, L->a, &L->lld, B->a, &B->lld, &info);
    else pdpotrs_("L", &L->n, &B->n, L->a, &one, &one, L->desc, B->a, &one, &one, B->desc, &info);
    return info;
}

/* Mixed precision, as LAPACK's dsposv does it on one process: the float32
 * factor costs half the float64 one where SGEMM runs at twice DGEMM's rate,
 * and refinement in float64 brings the solution to float64's accuracy. */
#define HK_REFINE_MAX 30

/* Largest |entry| of each global column of a distributed matrix, on every
 * rank; returns whether any entry is NaN (on every rank: MPI's MAX has no
 * rule for NaN, so the flag travels as an integer). */
static int column_max_abs(const struct hk_dmatrix *B, const double *v, double *out)
{
    int nan = 0;
    for (int j = 0; j < B->n; j++) out[j] = 0;
    for (int j = 0; j < B->nloc; j++) {
        double m = 0;
        for (int i = 0; i < B->mloc; i++) {
            double a = fabs(v[i + (size_t)j * B->lld]);
            if (a > m) m = a;
            else if (isnan(a)) nan = 1;
        }
        out[B->gcols[j]] = m;
    }
    MPI_Allreduce(MPI_IN_PLACE, out, B->n, MPI_DOUBLE, MPI_MAX, B->g->comm);
    MPI_Allreduce(MPI_IN_PLACE, &nan, 1, MPI_INT, MPI_MAX, B->g->comm);
    return nan;
}

/* A32 = A + shift I in float, its lower triangle only (the factor reads no
 * more), and the infinity norm of A + shift I from A's lower triangle, in
 * one pass over the local entries on or below the diagonal. */
static double convert_lower(const struct hk_dmatrix *A, double shift, float *A32)
{
    double *rows = hk_calloc((size_t)A->n + 1, sizeof(double)), *local = hk_calloc((size_t)A->mloc + 1, sizeof(double));
    double norm = 0;
    int i0 = 0;
    for (int j = 0; j < A->nloc; j++) {
        const int gj = A->gcols[j];
        while (i0 < A->mloc && A->grows[i0] < gj) i0++; /* both index lists ascend */
        const double *a = A->a + (size_t)j * A->lld;
        float *a32 = A32 + (size_t)j * A->lld;
        int i = i0;
        double col = 0;
        if (i < A->mloc && A->grows[i] == gj) {
            const double d = a[i] + shift;
            a32[i] = (float)d;
            rows[gj] += fabs(d);
            i++;
        }
        for (; i < A->mloc; i++) {
            const double v = fabs(a[i]);
            a32[i] = (float)a[i];
            local[i] += v;
            col += v;
        }
        rows[gj] += col;
    }
    for (int i = 0; i < A->mloc; i++) rows[A->grows[i]] += local[i];
    MPI_Allreduce(MPI_IN_PLACE, rows, A->n, MPI_DOUBLE, MPI_SUM, A->g->comm);
    int nan = 0;
    for (int i = 0; i < A->n; i++) {
        if (rows[i] > norm) norm = rows[i];
        else if (isnan(rows[i])) nan = 1; /* a NaN entry makes its row's sum NaN on every rank */
    }
    free(rows);
    free(local);
    return nan ? NAN : norm;
}

/* X32 = X (float); X32 = (A32)^-1 X32; X += X32 (or X = X32 when add is 0). */
static void solve32(const struct hk_dmatrix *A, const float *A32, const struct hk_dmatrix *B, float *X32,
                    const double *rhs, double *X, int add)
{
    const size_t nb = local_elements(B);
    int one = 1, info = 0;
    for (size_t i = 0; i < nb; i++) X32[i] = (float)rhs[i];
    if (single_rank(A)) spotrs_("L", &A->n, &B->n, A32, &A->lld, X32, &B->lld, &info);
    else pspotrs_("L", &A->n, &B->n, A32, &one, &one, A->desc, X32, &one, &one, B->desc, &info);
    for (size_t i = 0; i < nb; i++) X[i] = add ? X[i] + X32[i] : X32[i];
}

int hk_dist_solve_mixed(const struct hk_dmatrix *A, double shift, struct hk_dmatrix *B, int *steps)
{
    const size_t na = local_elements(A), nb = local_elements(B);
    const int N = A->n, k = B->n, one = 1;
    *steps = -1;
    float *A32 = hk_try_malloc(na * sizeof(float)), *X32 = hk_try_malloc(nb * sizeof(float));
    double *X = hk_try_malloc(nb * sizeof(double)), *R = hk_try_malloc(nb * sizeof(double));
    double *xn = hk_malloc(((size_t)k + 1) * sizeof(double)), *rn = hk_malloc(((size_t)k + 1) * sizeof(double));
    double *prev = hk_malloc(((size_t)k + 1) * sizeof(double));
    int rc = -1, ok = A32 && X32 && X && R; /* -1: float32 cannot factor it; -2: refinement does not converge */
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, A->g->comm);
    const double anrm = ok ? convert_lower(A, shift, A32) : 0;
    /* an entry beyond float's range, or a NaN, cannot be factored in float32 */
    if (!ok || !(anrm < 0.5 * FLT_MAX)) goto done;
    int info = 0;
    if (single_rank(A)) spotrf_("L", &N, A32, &A->lld, &info);
    else pspotrf_("L", &N, A32, &one, &one, A->desc, &info);
    if (info != 0) goto done;
    rc = -2;
    solve32(A, A32, B, X32, B->a, X, 0);
    /* dsposv's test: every column's residual within sqrt(N) eps ||A|| ||x|| (infinity norms) */
    const double tol = sqrt((double)N) * DBL_EPSILON / 2 * anrm;
    for (int it = 0; it <= HK_REFINE_MAX; it++) {
        const double minus = -1, plus = 1;
        memcpy(R, B->a, nb * sizeof(double));
        if (single_rank(A)) dsymm_("L", "L", &N, &k, &minus, A->a, &A->lld, X, &B->lld, &plus, R, &B->lld);
        else pdsymm_("L", "L", &N, &k, &minus, A->a, &one, &one, A->desc, X, &one, &one, B->desc, &plus, R, &one, &one,
                     B->desc);
        for (size_t i = 0; i < nb; i++) R[i] -= shift * X[i];
        const int nan = column_max_abs(B, X, xn) | column_max_abs(B, R, rn);
        /* a column short of the bound whose residual did not at least halve in a step converges too slowly
         * to be worth it (the float32 factor's error times the condition number is near 1): give up. The
         * norms are the same on every rank, and so is the decision; it is reduced all the same, so that
         * the ranks cannot part ways in the loop */
        int converged = !nan, stalled = nan;
        for (int j = 0; j < k; j++)
            if (!(rn[j] <= xn[j] * tol)) {
                converged = 0;
                if (it > 0 && !(rn[j] <= 0.5 * prev[j])) stalled = 1;
            }
        MPI_Allreduce(MPI_IN_PLACE, &converged, 1, MPI_INT, MPI_MIN, A->g->comm);
        MPI_Allreduce(MPI_IN_PLACE, &stalled, 1, MPI_INT, MPI_MAX, A->g->comm);
        if (converged) {
            memcpy(B->a, X, nb * sizeof(double));
            *steps = it;
            rc = 0;
            break;
        }
        if (stalled) break;
        memcpy(prev, rn, (size_t)k * sizeof(double));
        if (it < HK_REFINE_MAX) solve32(A, A32, B, X32, R, X, 1);
    }
done:
    free(A32);
    free(X32);
    free(X);
    free(R);
    free(xn);
    free(rn);
    free(prev);
    return rc;
}

/* dsyevd on the whole matrix of a 1 x 1 grid (1.26x pdsyevd there at
 * N = 3,000 on one core), the eigenvectors copied into Z */
static int single_rank_eigh(struct hk_dmatrix *A, double *w, struct hk_dmatrix *Z)
{
    int info = 0, lwork = -1, liwork = -1, iwq = 0;
    double wq = 0;
    /* LAPACK computes its minimum workspace, 1 + 6N + 2N^2, in 32-bit integers: from N = 32,768 on it wraps,
     * and from 46,341 on it wraps to a small positive size that dsyevd accepts and then overruns. The
     * distributed path refuses the same sizes (its guard below). */
    double need = 1 + 6.0 * A->n + 2.0 * A->n * (double)A->n;
    if (need > 2e9) return hk_fail("dsyevd workspace of %.3g doubles is too large for one rank (N = %d)", need, A->n);
    dsyevd_("V", "L", &A->n, A->a, &A->lld, w, &wq, &lwork, &iwq, &liwork, &info);
    if (info != 0) return hk_fail("dsyevd workspace query failed (info %d)", info);
    lwork = (int)wq + 1;
    liwork = iwq;
    double *work = hk_try_malloc((size_t)lwork * sizeof(double));
    int *iwork = hk_try_malloc((size_t)liwork * sizeof(int));
    if (work && iwork) dsyevd_("V", "L", &A->n, A->a, &A->lld, w, work, &lwork, iwork, &liwork, &info);
    free(work);
    free(iwork);
    if (!work || !iwork) return hk_fail("out of memory for the eigensolver's workspace (%d doubles)", lwork);
    if (info != 0) return hk_fail("dsyevd failed (info %d)", info);
    for (int j = 0; j < A->n; j++)
        memcpy(Z->a + (size_t)j * Z->lld, A->a + (size_t)j * A->lld, (size_t)A->n * sizeof(double));
    return 0;
}

int hk_dist_eigh(struct hk_dmatrix *A, double *w, struct hk_dmatrix *Z)
{
    int one = 1, info = 0, lwork = -1, liwork = -1, iwq = 0;
    double wq = 0;
    if (single_rank(A)) return single_rank_eigh(A, w, Z);
    /* a block larger than the matrix is refused: callers use hk_dist_eigh_block */
    if (A->nb > A->n) return hk_fail("pdsyevd: block size %d larger than the matrix (%d)", A->nb, A->n);
    /* workspace query, then the divide-and-conquer solve */
    pdsyevd_("V", "L", &A->n, A->a, &one, &one, A->desc, w, Z->a, &one, &one, Z->desc, &wq, &lwork, &iwq, &liwork,
             &info);
    if (info != 0) return hk_fail("pdsyevd workspace query failed (info %d)", info);
    /* ScaLAPACK's query can come out below what PDORMTR then asks for (small
     * N against the block size): take the documented minimum too,
     * max(1 + 6N + 2 NP NQ, TRILWMIN) + 2N with TRILWMIN = 3N + max(NB (NP + 1), 3 NB) */
    {
        int zero = 0, N = A->n, NB = A->nb;
        double np = numroc_(&N, &NB, &A->g->myrow, &zero, &A->g->nprow);
        double nq = numroc_(&N, &NB, &A->g->mycol, &zero, &A->g->npcol);
        double tril = 3.0 * N + fmax(NB * (np + 1), 3.0 * NB);
        double documented = fmax(1 + 6.0 * N + 2 * np * nq, tril) + 2.0 * N;
        /* and what PDORMTR (applying the Householder vectors) needs on top,
         * which the routine's own bound leaves out when N is a few blocks */
        documented += (double)NB * NB + (np + nq) * NB + 2.0 * N;
        double want = fmax(wq, documented) * 1.1 + 1000;
        if (want > 2e9) return hk_fail("pdsyevd workspace of %.3g doubles is too large for one rank", want);
        lwork = (int)want;
    }
    liwork = (iwq > 7 * A->n + 8 * A->g->npcol + 2 ? iwq : 7 * A->n + 8 * A->g->npcol + 2) + 100;
    double *work = hk_try_malloc((size_t)lwork * sizeof(double));
    int *iwork = hk_try_malloc((size_t)liwork * sizeof(int));
    int ok = work && iwork, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, A->g->comm);
    if (all)
        pdsyevd_("V", "L", &A->n, A->a, &one, &one, A->desc, w, Z->a, &one, &one, Z->desc, work, &lwork, iwork,
                 &liwork, &info);
    free(work);
    free(iwork);
    if (!all) return hk_fail("out of memory for the eigensolver's workspace (%d doubles per rank)", lwork);
    /* W is documented as global, but ranks that hold no block of a matrix
     * smaller than the grid do not get it (ScaLAPACK 2.2): take process
     * (0, 0)'s, which always holds the first block */
    MPI_Bcast(w, A->n, MPI_DOUBLE, 0, A->g->comm);
    MPI_Bcast(&info, 1, MPI_INT, 0, A->g->comm);
    return info ? hk_fail("pdsyevd failed (info %d)", info) : 0;
}

int hk_dist_eigh_block(int n, int nb)
{
    if (nb > HK_EIGH_MAX_BLOCK) nb = HK_EIGH_MAX_BLOCK;
    return nb < n ? nb : (n > 0 ? n : 1);
}

double hk_dist_eigh_workspace(int n, int nb, int nprow, int npcol)
{
    /* pdsyevd's LWORK: max(1 + 6N + 2 NP NQ, TRILWMIN) + 2N, with NP, NQ the
     * largest local sizes; the eigenvector matrix is counted by the caller */
    double np = local_count(n, nb, 0, nprow), nq = local_count(n, nb, 0, npcol);
    return 8.0 * (1 + 6.0 * n + 2 * np * nq + 2.0 * n) + 4.0 * (7.0 * n + 8 * npcol + 2);
}

void hk_dist_gemm_op(const char *ta, const char *tb, double alpha, const struct hk_dmatrix *A,
                     const struct hk_dmatrix *B, double beta, struct hk_dmatrix *C)
{
    int one = 1, k = *ta == 'T' ? A->m : A->n;
    pdgemm_(ta, tb, &C->m, &C->n, &k, &alpha, A->a, &one, &one, A->desc, B->a, &one, &one, B->desc, &beta, C->a, &one,
            &one, C->desc);
}

void hk_dist_gemm(const struct hk_dmatrix *A, const struct hk_dmatrix *B, struct hk_dmatrix *C)
{
    int one = 1;
    double alpha = 1, beta = 0;
    pdgemm_("N", "N", &A->m, &B->n, &A->n, &alpha, A->a, &one, &one, A->desc, B->a, &one, &one, B->desc, &beta, C->a,
            &one, &one, C->desc);
}
