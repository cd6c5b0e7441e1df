/* dist: BLACS grid, descriptors, local index arithmetic, ScaLAPACK calls. */
#include "hk/dist.h"
#include "hk/blas.h"
#include "hk/util.h"

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

/* ---- Cholesky on a 1 x Q grid ----------------------------------------------
 * pdpotrf updates the trailing matrix after every panel of nb columns: each
 * step streams the whole trailing matrix through memory for 2 nb flops per
 * entry, and two ranks sharing a memory bus wait on it (82 % of a threaded
 * dpotrf here). With one process row every rank holds whole columns, and the
 * factorisation can delay its updates: the G panels of an outer block are
 * factored one after another (each owner first applies the outer block's
 * earlier panels to its own panel, factors it, and broadcasts it), then every
 * rank applies the outer block's G nb columns to its trailing columns at once,
 * in a few large GEMMs (a staircase split in halves), a G-th of the memory
 * traffic. Same arithmetic as a blocked right-looking Cholesky; the strict
 * upper triangle is not touched, as with pdpotrf. */

/* One rank's view of the factorisation. */
struct chol {
    struct hk_dmatrix *A;
    int N, nb, Q, me;
    int K;          /* first row of the current outer block */
    double *W;      /* the outer block's panels, rows K..N-1 (ld ldw), column block j = panel K/nb + j */
    int ldw;
    double *Wc;     /* the rows of W at this rank's trailing columns, gathered (ld ldc) */
    int ldc, lb0;   /* Wc row 0 is local block lb0 */
    int width;      /* columns of W in use (the outer block's width) */
};

static int chol_gb(const struct chol *c, int lb) { return lb * c->Q + c->me; }
static int chol_bw(const struct chol *c, int gb) { return c->N - gb * c->nb < c->nb ? c->N - gb * c->nb : c->nb; }

/* Local columns [a, e) (local blocks), rows from each block's diagonal down to
 * bound (exclusive): C -= W Wc^T over the outer block's width. */
static void chol_stair(const struct chol *c, int a, int e, int bound)
{
    const double mone = -1, one = 1;
    const int lld = c->A->lld, k = c->width;
    if (e - a == 1) {
        int gb = chol_gb(c, a), r = gb * c->nb, bj = chol_bw(c, gb);
        double *C = c->A->a + r + (size_t)a * c->nb * lld;
        const double *Wr = c->W + (r - c->K);
        dsyrk_("L", "N", &bj, &k, &mone, Wr, &c->ldw, &one, C, &lld);
        int below = bound - r - bj;
        if (below > 0)
            dgemm_("N", "T", &below, &bj, &k, &mone, Wr + bj, &c->ldw, Wr, &c->ldw, &one, C + bj, &lld);
        return;
    }
    int mid = (a + e) / 2, r = chol_gb(c, mid) * c->nb, rows = bound - r, cols = (mid - a) * c->nb;
    if (rows > 0)
        dgemm_("N", "T", &rows, &cols, &k, &mone, c->W + (r - c->K), &c->ldw, c->Wc + (size_t)(a - c->lb0) * c->nb,
               &c->ldc, &one, c->A->a + r + (size_t)a * c->nb * lld, &lld);
    chol_stair(c, a, mid, r);
    chol_stair(c, mid, e, bound);
}

static int cholesky_1xq(struct hk_dmatrix *A, int group)
{
    const struct hk_grid *g = A->g;
    struct chol c = {.A = A, .N = A->n, .nb = A->nb, .Q = g->npcol, .me = g->mycol};
    const int N = c.N, nb = c.nb, lld = A->lld, nblk = (N + nb - 1) / nb, nlb = (A->nloc + nb - 1) / nb;
    const double mone = -1, one = 1;
    int *rank_of_col = hk_malloc((size_t)c.Q * sizeof(int)), info = 0;
    MPI_Allgather(&c.me, 1, MPI_INT, rank_of_col, 1, MPI_INT, g->comm);
    {   /* rank_of_col[q]: the rank whose column is q */
        int *tmp = hk_malloc((size_t)c.Q * sizeof(int));
        for (int r = 0; r < c.Q; r++) tmp[rank_of_col[r]] = r;
        memcpy(rank_of_col, tmp, (size_t)c.Q * sizeof(int));
        free(tmp);
    }
    const int wcols = group * nb;
    c.W = hk_try_malloc((size_t)N * wcols * sizeof(double));
    c.Wc = hk_try_malloc(((size_t)A->nloc + 1) * wcols * sizeof(double));
    int ok = c.W && c.Wc, all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, g->comm);
    if (!all_ok) {
        free(c.W), free(c.Wc), free(rank_of_col);
        return -1;
    }
    for (int kb = 0; kb < nblk && !info; kb += group) {
        const int kend = kb + group < nblk ? kb + group : nblk;
        c.K = kb * nb;
        c.ldw = N - c.K;
        c.width = 0;
        for (int k = kb; k < kend; k++) {
            const int r0 = k * nb, b = chol_bw(&c, k), owner = k % c.Q, j = k - kb;
            double *Wj = c.W + (size_t)j * nb * c.ldw;
            int kinfo = 0;
            if (owner == c.me) {
                double *P = A->a + r0 + (size_t)(k / c.Q) * nb * lld;
                int below = N - r0 - b;
                dpotrf_("L", &b, P, &lld, &kinfo);
                if (kinfo == 0 && below > 0) dtrsm_("R", "L", "T", "N", &below, &b, &one, P, &lld, P + b, &lld);
                if (kinfo == 0)
                    for (int q = 0; q < b; q++) /* the panel below its diagonal block, into W */
                        memcpy(Wj + (size_t)q * c.ldw + (r0 + b - c.K), P + b + (size_t)q * lld,
                               (size_t)below * sizeof(double));
                else kinfo += r0;
            }
            MPI_Bcast(&kinfo, 1, MPI_INT, rank_of_col[owner], g->comm);
            if (kinfo) { info = kinfo; break; }
            /* the panel's columns of W from its first row below the diagonal block */
            int from = r0 + b - c.K, len = c.ldw - from;
            if (len > 0 && c.Q > 1) {
                MPI_Datatype col;
                MPI_Type_vector(b, len, c.ldw, MPI_DOUBLE, &col);
                MPI_Type_commit(&col);
                MPI_Bcast(Wj + from, 1, col, rank_of_col[owner], g->comm);
                MPI_Type_free(&col);
            }
            /* this panel applied at once to this rank's later panels of the outer block, so that
             * their owners only factor them */
            for (int lb = k / c.Q + (c.me <= owner ? 1 : 0); lb < nlb && chol_gb(&c, lb) < kend; lb++) {
                int gb = chol_gb(&c, lb), r = gb * nb, bj = chol_bw(&c, gb), rest = N - r - bj;
                double *C = A->a + r + (size_t)lb * nb * lld;
                const double *Wr = Wj + (r - c.K);
                dsyrk_("L", "N", &bj, &b, &mone, Wr, &c.ldw, &one, C, &lld);
                if (rest > 0) dgemm_("N", "T", &rest, &bj, &b, &mone, Wr + bj, &c.ldw, Wr, &c.ldw, &one, C + bj, &lld);
            }
            c.width += b;
        }
        if (info) break;
        /* the outer block's panels applied to this rank's columns right of it */
        const int next = kend * nb;
        int lb0 = 0;
        while (lb0 < nlb && chol_gb(&c, lb0) < kend) lb0++;
        if (lb0 >= nlb || next >= N) continue;
        c.lb0 = lb0;
        c.ldc = A->nloc - lb0 * nb;
        for (int lb = lb0; lb < nlb; lb++) { /* Wc: W's rows at these columns */
            int gb = chol_gb(&c, lb), bj = chol_bw(&c, gb);
            for (int q = 0; q < c.width; q++)
                memcpy(c.Wc + (size_t)q * c.ldc + (size_t)(lb - lb0) * nb, c.W + (size_t)q * c.ldw + (gb * nb - c.K),
                       (size_t)bj * sizeof(double));
        }
        chol_stair(&c, lb0, nlb, N);
    }
    free(c.W), free(c.Wc), free(rank_of_col);
    return info;
}

/* Outer block of cholesky_1xq in panels: HKSWEEP_CHOLESKY_GROUP (1 to 16, default 2); 0 when the ScaLAPACK
 * routine is asked for (HKSWEEP_CHOLESKY=pdpotrf) or the grid has more than one process row. */
static int cholesky_group(int nprow)
{
    const char *which = getenv("HKSWEEP_CHOLESKY"), *grp = getenv("HKSWEEP_CHOLESKY_GROUP");
    if (nprow != 1 || (which && !strcmp(which, "pdpotrf"))) return 0;
    int group = grp ? atoi(grp) : 2;
    return group >= 1 && group <= 16 ? group : 2;
}

int hk_dist_cholesky_group(const struct hk_grid *g) { return cholesky_group(g->nprow); }

double hk_dist_cholesky_workspace(int n, int nb, int nprow, int npcol)
{
    int group = cholesky_group(nprow);
    if (!group) return 0;
    /* W: n rows of the outer block's panels; Wc: as many rows as a rank's columns */
    return (double)group * nb * (n + (double)hk_local_elements_max(1, n, nb, 1, npcol) + 1);
}

static int last_group = -1;

int hk_dist_cholesky_last(void) { return last_group; }

int hk_dist_cholesky(struct hk_dmatrix *A)
{
    int one = 1, info = 0, group = hk_dist_cholesky_group(A->g);
    /* every rank must take the same path: the smallest group asked for (0: ScaLAPACK) */
    MPI_Allreduce(MPI_IN_PLACE, &group, 1, MPI_INT, MPI_MIN, A->g->comm);
    if (group > 0 && A->m == A->n && A->mb == A->nb && A->mloc == A->m) {
        info = cholesky_1xq(A, group);
        last_group = group;
        if (info >= 0) return info;
        /* no memory for the panels: ScaLAPACK's routine needs none */
    }
    last_group = 0;
    pdpotrf_("L", &A->n, A->a, &one, &one, A->desc, &info);
    return info;
}

int hk_dist_cholesky_solve(const struct hk_dmatrix *L, struct hk_dmatrix *B)
{
    int one = 1, info = 0;
    pdpotrs_("L", &L->n, &B->n, L->a, &one, &one, L->desc, B->a, &one, &one, B->desc, &info);
    return info;
}

int hk_dist_eigh(struct hk_dmatrix *A, double *w, struct hk_dmatrix *Z)
{
    int one = 1, info = 0, lwork = -1, liwork = -1, iwq = 0;
    double wq = 0;
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
