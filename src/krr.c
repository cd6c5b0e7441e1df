/* krr: kernel ridge regression on a team's process grid, shared by the
 * experiment kinds. The Gram matrix is filled block-cyclically where it
 * lives, optionally written to a snapshot, factored by hk_dist_cholesky (raising a
 * jitter by decades if needed) and solved by hk_dist_cholesky_solve for k right-hand
 * sides at once; test predictions go through pdgemm one block of test rows
 * at a time, so a rank holds its share of one test_chunk x N matrix besides
 * the Gram matrix. A ridge search (hk_krr_select) also keeps a copy of the
 * Gram matrix and the validation rows K(val, train), so that the kernel is
 * evaluated once for all its ridges. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk/dist.h"
#include "hk/krr.h"
#include "hk/team.h"
#include "hk/store.h"
#include "hk/util.h"

/* Fills K's lower triangle, or (kept) copies it from the Gram matrix a ridge
 * search filled once: the same values, without evaluating the kernel again. */
static int gram_fill(struct hk_dmatrix *K, enum hk_kernel kind, const struct hk_depths *d,
                     const struct hk_inputs *train, int lower_only, const struct hk_dmatrix *kept)
{
    if (kept) {
        hk_dmatrix_copy(K, kept);
        return 0;
    }
    return hk_dist_fill_kernel(K, kind, d, train, 0, train, 0, lower_only);
}

/* Fits (K + (ridge + jitter) I) A = Y on the grid: B gets A (N x k). The
 * Gram matrix is filled (or read from kept, a ridge search's), optionally
 * written to snap; with mixed, solved in mixed precision (hk_dist_solve_mixed:
 * kept needs no copy then), otherwise, or when that does not converge,
 * factored in float64 (raising the jitter when needed). Returns as hk_krr. */
static int krr_fit(enum hk_kernel kind, const struct hk_depths *d, const struct hk_inputs *train, const double *Y,
                   int k, double ridge, int mixed, const struct hk_grid *grid, int nb, struct hk_pfile *snap,
                   const struct hk_dmatrix *kept, struct hk_dmatrix *B, struct hk_krr_stats *st)
{
    memset(st, 0, sizeof *st);
    memset(B, 0, sizeof *B);
    st->refine_steps = -1;
    MPI_Comm comm = grid->comm;
    const int N = train->n;
    struct hk_dmatrix K;
    memset(&K, 0, sizeof K);
    double t0 = hk_now();
    if (!kept) {
        if (!hk_all_ok(comm, hk_dmatrix_create(&K, grid, N, N, nb) == 0)) {
            hk_dmatrix_destroy(&K);
            return 1;
        }
        /* a snapshot needs the whole matrix; the Cholesky factor only the lower triangle */
        int rc = gram_fill(&K, kind, d, train, snap == NULL, NULL);
        st->t_gram = hk_now() - t0;
        if (!hk_all_ok(comm, rc == 0) ||
            (snap && hk_pfile_write_blockcyclic(snap, hk_kernel_name(kind), K.desc, K.a))) {
            hk_dmatrix_destroy(&K);
            return -1;
        }
    }
    const struct hk_dmatrix *G = kept ? kept : &K;
    const double mean_diag = hk_dist_trace(G) / N;
    if (!hk_all_ok(comm, hk_dmatrix_create(B, grid, N, k, nb) == 0)) {
        hk_dmatrix_destroy(B);
        hk_dmatrix_destroy(&K);
        return 1;
    }
    hk_dist_columns_set(B, Y);
    t0 = hk_now();
    if (mixed) hk_dist_solve_mixed(G, ridge, B, &st->refine_steps);
    if (st->refine_steps < 0) {
        if (kept) {
            if (!hk_all_ok(comm, hk_dmatrix_create(&K, grid, N, N, nb) == 0)) {
                hk_dmatrix_destroy(&K);
                hk_dmatrix_destroy(B);
                return 1;
            }
            gram_fill(&K, kind, d, train, 1, kept);
        }
        hk_dist_add_diagonal(&K, ridge);
        int info = hk_dist_cholesky(&K);
        for (int attempt = 0; info > 0 && attempt < 7; attempt++) {
            st->jitter = mean_diag * pow(10.0, -10 + attempt);
            gram_fill(&K, kind, d, train, 1, kept);
            hk_dist_add_diagonal(&K, ridge + st->jitter);
            info = hk_dist_cholesky(&K);
        }
        st->t_factor = hk_now() - t0;
        st->info = info;
        if (info != 0) {
            hk_dmatrix_destroy(&K);
            hk_dmatrix_destroy(B);
            hk_fail("Gram matrix of %s is not positive definite even with jitter %.3g added to ridge %.3g (Cholesky "
                    "info %d at N=%d); raise ridge", hk_kernel_name(kind), st->jitter, ridge, info, N);
            return 1;
        }
        t0 = hk_now();
        hk_dist_cholesky_solve(&K, B);
    } else {
        st->t_factor = hk_now() - t0; /* the float32 factor and the refinement */
        t0 = hk_now();
    }
    /* (K + lambda I) A = Y: the training residual Y - K A is lambda A */
    double *alpha = hk_malloc((size_t)N * k * sizeof(double));
    hk_dist_columns_allgather(B, alpha);
    st->t_solve = hk_now() - t0;
    double sse = 0;
    for (size_t i = 0; i < (size_t)N * k; i++) sse += pow((ridge + st->jitter) * alpha[i], 2);
    st->mse_train = sse / ((double)N * k);
    free(alpha);
    hk_dmatrix_destroy(&K);
    return 0;
}

/* Predictions K(test, train) A into pred (M x k, column-major, replicated),
 * test_chunk rows at a time. */
static int krr_predict(enum hk_kernel kind, const struct hk_depths *d, const struct hk_inputs *train,
                       const struct hk_inputs *test, int test_chunk, const struct hk_grid *grid, int nb,
                       const struct hk_dmatrix *B, double *pred)
{
    MPI_Comm comm = grid->comm;
    const int N = train->n, M = test ? test->n : 0, k = B->n;
    int rc = 0, chunk = test_chunk < M ? test_chunk : M;
    double *part = hk_malloc((size_t)(chunk > 0 ? chunk : 1) * k * sizeof(double));
    for (int c0 = 0; c0 < M && rc == 0; c0 += test_chunk) {
        int rows = M - c0 < test_chunk ? M - c0 : test_chunk;
        struct hk_dmatrix Kt, C;
        int ok = hk_dmatrix_create(&Kt, grid, rows, N, nb) == 0 && hk_dmatrix_create(&C, grid, rows, k, nb) == 0;
        if (!hk_all_ok(comm, ok)) rc = 1;
        else if (!hk_all_ok(comm, hk_dist_fill_kernel(&Kt, kind, d, test, c0, train, 0, 0) == 0)) rc = -1;
        else {
            hk_dist_gemm(&Kt, B, &C);
            hk_dist_columns_allgather(&C, part);
            for (int j = 0; j < k; j++)
                memcpy(pred + c0 + (size_t)j * M, part + (size_t)j * rows, (size_t)rows * sizeof(double));
        }
        hk_dmatrix_destroy(&Kt);
        hk_dmatrix_destroy(&C);
    }
    free(part);
    return rc;
}

int hk_krr(enum hk_kernel kind, const struct hk_depths *d, const struct hk_inputs *train, const double *Y, int k,
           const struct hk_inputs *test, int test_chunk, double ridge, int mixed, const struct hk_grid *grid, int nb,
           struct hk_pfile *snap, double *pred, struct hk_krr_stats *st)
{
    struct hk_dmatrix B;
    int rc = krr_fit(kind, d, train, Y, k, ridge, mixed, grid, nb, snap, NULL, &B, st);
    if (rc) return rc;
    double t0 = hk_now();
    rc = krr_predict(kind, d, train, test, test_chunk, grid, nb, &B, pred);
    st->t_predict = hk_now() - t0;
    hk_dmatrix_destroy(&B);
    return rc;
}

/* The kernel rows K(val, train) of a ridge search, test_chunk rows a block,
 * filled once for every ridge's validation predictions. */
struct val_rows {
    int nblocks;
    struct hk_dmatrix *K;
};

static void val_rows_free(struct val_rows *v)
{
    for (int b = 0; b < v->nblocks; b++) hk_dmatrix_destroy(&v->K[b]);
    free(v->K);
    memset(v, 0, sizeof *v);
}

static int val_rows_fill(struct val_rows *v, enum hk_kernel kind, const struct hk_depths *d,
                         const struct hk_inputs *train, const struct hk_inputs *val, int test_chunk,
                         const struct hk_grid *grid, int nb)
{
    const int V = val->n;
    v->nblocks = (V + test_chunk - 1) / test_chunk;
    v->K = hk_calloc((size_t)v->nblocks + 1, sizeof *v->K);
    for (int b = 0; b < v->nblocks; b++) {
        const int r0 = b * test_chunk, rows = V - r0 < test_chunk ? V - r0 : test_chunk;
        if (!hk_all_ok(grid->comm, hk_dmatrix_create(&v->K[b], grid, rows, train->n, nb) == 0)) return 1;
        if (!hk_all_ok(grid->comm, hk_dist_fill_kernel(&v->K[b], kind, d, val, r0, train, 0, 0) == 0)) return -1;
    }
    return 0;
}

/* pred (V x k, column-major, replicated) = K(val, train) B. */
static int val_rows_predict(const struct val_rows *v, int V, const struct hk_dmatrix *B, double *pred)
{
    const int k = B->n;
    for (int b = 0; b < v->nblocks; b++) {
        const int rows = v->K[b].m, r0 = b * v->K[0].m;
        struct hk_dmatrix C;
        if (!hk_all_ok(B->g->comm, hk_dmatrix_create(&C, B->g, rows, k, B->nb) == 0)) {
            hk_dmatrix_destroy(&C);
            return 1;
        }
        double *part = hk_malloc((size_t)rows * k * sizeof(double));
        hk_dist_gemm(&v->K[b], B, &C);
        hk_dist_columns_allgather(&C, part);
        for (int j = 0; j < k; j++)
            memcpy(pred + r0 + (size_t)j * V, part + (size_t)j * rows, (size_t)rows * sizeof(double));
        free(part);
        hk_dmatrix_destroy(&C);
    }
    return 0;
}

/* The kernel is evaluated once: the Gram matrix (lower triangle) and the
 * validation rows are kept, and each ridge refactors a copy of the Gram
 * matrix, so a search over R ridges costs R factorisations and one fill. */
int hk_krr_select(enum hk_kernel kind, const struct hk_depths *d, const struct hk_inputs *train, const double *Y,
                  int k, const struct hk_inputs *val, const double *Yval, const double *ridges, int nridges,
                  int mixed, const struct hk_inputs *test, int test_chunk, const struct hk_grid *grid, int nb,
                  double *pred, struct hk_krr_stats *st, double *val_mse, int *chosen)
{
    const int V = val->n;
    double *pv = hk_malloc((size_t)(V > 0 ? V : 1) * k * sizeof(double)), best = INFINITY;
    struct hk_dmatrix B, Bbest, kept;
    struct val_rows vr = {0};
    memset(&Bbest, 0, sizeof Bbest);
    struct hk_krr_stats s;
    int rc = 0;
    *chosen = -1;
    memset(st, 0, sizeof *st);
    for (int r = 0; r < nridges; r++) val_mse[r] = NAN;
    double t0 = hk_now(), t_fill = 0, t_val = 0;
    if (!hk_all_ok(grid->comm, hk_dmatrix_create(&kept, grid, train->n, train->n, nb) == 0)) rc = 1;
    else if (!hk_all_ok(grid->comm, gram_fill(&kept, kind, d, train, 1, NULL) == 0)) rc = -1;
    t_fill = hk_now() - t0;
    if (rc == 0) {
        t0 = hk_now();
        rc = val_rows_fill(&vr, kind, d, train, val, test_chunk, grid, nb);
        t_val = hk_now() - t0;
    }
    /* the ridges from the largest down: once mixed precision has fallen back to float64 at one ridge, it
     * would at every smaller one too (the conditioning only worsens), so those go straight to float64 */
    int *order = hk_malloc((size_t)(nridges > 0 ? nridges : 1) * sizeof(int));
    for (int r = 0; r < nridges; r++) order[r] = r;
    for (int a = 1; a < nridges; a++)
        for (int b = a; b > 0 && ridges[order[b]] > ridges[order[b - 1]]; b--) {
            int t = order[b];
            order[b] = order[b - 1];
            order[b - 1] = t;
        }
    int try_mixed = mixed;
    for (int q = 0; q < nridges && rc == 0; q++) {
        const int r = order[q];
        int fit = krr_fit(kind, d, train, Y, k, ridges[r], try_mixed, grid, nb, NULL, &kept, &B, &s);
        if (fit >= 0 && s.refine_steps < 0) try_mixed = 0;
        if (fit < 0) { rc = -1; break; }
        if (fit > 0) continue; /* not positive definite at this ridge: not a candidate */
        t0 = hk_now();
        rc = val_rows_predict(&vr, V, &B, pv);
        t_val += hk_now() - t0;
        double sse = 0;
        for (int j = 0; j < k && rc == 0; j++)
            for (int i = 0; i < V; i++) sse += pow(pv[i + (size_t)j * V] - Yval[i + (size_t)j * V], 2);
        if (rc == 0) val_mse[r] = sse / ((double)V * k);
        /* the least validation MSE; between equal ones, the ridge listed first */
        if (rc == 0 && (val_mse[r] < best || (val_mse[r] == best && r < *chosen))) {
            best = val_mse[r];
            *chosen = r;
            hk_dmatrix_destroy(&Bbest);
            Bbest = B;
            *st = s;
        } else {
            hk_dmatrix_destroy(&B);
        }
    }
    free(order);
    hk_dmatrix_destroy(&kept);
    val_rows_free(&vr);
    free(pv);
    st->t_gram = t_fill;
    st->t_validation = t_val;
    if (rc == 0 && *chosen < 0) {
        hk_fail("no ridge of the grid gives %s a positive definite Gram matrix with finite validation error; raise "
                "the ridges", hk_kernel_name(kind));
        rc = 1;
    }
    if (rc == 0) {
        t0 = hk_now();
        rc = krr_predict(kind, d, train, test, test_chunk, grid, nb, &Bbest, pred);
        st->t_predict = hk_now() - t0;
    }
    hk_dmatrix_destroy(&Bbest);
    return rc;
}

void hk_krr_record(struct hk_result *r, const char *name, const struct hk_krr_stats *st)
{
    static const char *const keys[] = {"jitter", "time_gram", "time_factor", "time_solve", "time_predict", "mse_train",
                                       "time_validation", "refine_steps"};
    const double values[] = {st->jitter, st->t_gram, st->t_factor, st->t_solve, st->t_predict, st->mse_train,
                             st->t_validation, st->refine_steps};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s_%s", keys[i], name);
        hk_attrs_num(&r->metrics, key, values[i]);
    }
}
