/* krr: kernel ridge regression on a team's process grid, shared by the
 * experiment kinds. The Gram matrix is filled block-cyclically where it
 * lives, optionally written to a snapshot, factored with pdpotrf (raising a
 * jitter by decades if needed) and solved with pdpotrs for k right-hand
 * sides at once; test predictions go through pdgemm one block of test rows
 * at a time, so no rank holds more than its share of a test_chunk x N
 * matrix. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk/dist.h"
#include "hk/krr.h"
#include "hk/team.h"
#include "hk/store.h"
#include "hk/util.h"

/* Fits (K + (ridge + jitter) I) A = Y on the grid: B gets A (N x k). The
 * Gram matrix is filled, optionally written to snap, factored (raising the
 * jitter when needed) and freed. Returns as hk_krr. */
static int krr_fit(enum hk_kernel kind, const struct hk_depths *d, const struct hk_inputs *train, const double *Y,
                   int k, double ridge, const struct hk_grid *grid, int nb, struct hk_pfile *snap, struct hk_dmatrix *B,
                   struct hk_krr_stats *st)
{
    memset(st, 0, sizeof *st);
    memset(B, 0, sizeof *B);
    MPI_Comm comm = grid->comm;
    const int N = train->n;
    struct hk_dmatrix K;
    if (!hk_all_ok(comm, hk_dmatrix_create(&K, grid, N, N, nb) == 0)) {
        hk_dmatrix_destroy(&K);
        return 1;
    }
    /* a snapshot needs the whole matrix; the Cholesky factor only the lower triangle */
    double t0 = hk_now();
    int rc = hk_dist_fill_kernel(&K, kind, d, train, 0, train, 0, snap == NULL);
    st->t_gram = hk_now() - t0;
    if (!hk_all_ok(comm, rc == 0) ||
        (snap && hk_pfile_write_blockcyclic(snap, hk_kernel_name(kind), K.desc, K.a))) {
        hk_dmatrix_destroy(&K);
        return -1;
    }
    const double mean_diag = hk_dist_trace(&K) / N;
    t0 = hk_now();
    hk_dist_add_diagonal(&K, ridge);
    int info = hk_dist_cholesky(&K);
    for (int attempt = 0; info > 0 && attempt < 7; attempt++) {
        st->jitter = mean_diag * pow(10.0, -10 + attempt);
        hk_dist_fill_kernel(&K, kind, d, train, 0, train, 0, 1);
        hk_dist_add_diagonal(&K, ridge + st->jitter);
        info = hk_dist_cholesky(&K);
    }
    st->t_factor = hk_now() - t0;
    st->info = info;
    if (info != 0) {
        hk_dmatrix_destroy(&K);
        hk_fail("Gram matrix of %s is not positive definite even with jitter %.3g added to ridge %.3g (pdpotrf info "
                "%d at N=%d); raise ridge", hk_kernel_name(kind), st->jitter, ridge, info, N);
        return 1;
    }
    t0 = hk_now();
    if (!hk_all_ok(comm, hk_dmatrix_create(B, grid, N, k, nb) == 0)) {
        hk_dmatrix_destroy(B);
        hk_dmatrix_destroy(&K);
        return 1;
    }
    hk_dist_columns_set(B, Y);
    hk_dist_cholesky_solve(&K, B);
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
           const struct hk_inputs *test, int test_chunk, double ridge, const struct hk_grid *grid, int nb,
           struct hk_pfile *snap, double *pred, struct hk_krr_stats *st)
{
    struct hk_dmatrix B;
    int rc = krr_fit(kind, d, train, Y, k, ridge, grid, nb, snap, &B, st);
    if (rc) return rc;
    double t0 = hk_now();
    rc = krr_predict(kind, d, train, test, test_chunk, grid, nb, &B, pred);
    st->t_predict = hk_now() - t0;
    hk_dmatrix_destroy(&B);
    return rc;
}

int hk_krr_select(enum hk_kernel kind, const struct hk_depths *d, const struct hk_inputs *train, const double *Y,
                  int k, const struct hk_inputs *val, const double *Yval, const double *ridges, int nridges,
                  const struct hk_inputs *test, int test_chunk, const struct hk_grid *grid, int nb, double *pred,
                  struct hk_krr_stats *st, double *val_mse, int *chosen)
{
    const int V = val->n;
    double *pv = hk_malloc((size_t)(V > 0 ? V : 1) * k * sizeof(double)), best = INFINITY;
    struct hk_dmatrix B, Bbest;
    memset(&Bbest, 0, sizeof Bbest);
    struct hk_krr_stats s;
    int rc = 0;
    *chosen = -1;
    memset(st, 0, sizeof *st);
    for (int r = 0; r < nridges; r++) val_mse[r] = NAN;
    for (int r = 0; r < nridges && rc == 0; r++) {
        int fit = krr_fit(kind, d, train, Y, k, ridges[r], grid, nb, NULL, &B, &s);
        if (fit < 0) { rc = -1; break; }
        if (fit > 0) continue; /* not positive definite at this ridge: not a candidate */
        rc = krr_predict(kind, d, train, val, test_chunk, grid, nb, &B, pv);
        double sse = 0;
        for (int j = 0; j < k && rc == 0; j++)
            for (int i = 0; i < V; i++) sse += pow(pv[i + (size_t)j * V] - Yval[i + (size_t)j * V], 2);
        if (rc == 0) val_mse[r] = sse / ((double)V * k);
        if (rc == 0 && val_mse[r] < best) {
            best = val_mse[r];
            *chosen = r;
            hk_dmatrix_destroy(&Bbest);
            Bbest = B;
            *st = s;
        } else {
            hk_dmatrix_destroy(&B);
        }
    }
    free(pv);
    if (rc == 0 && *chosen < 0) {
        hk_fail("no ridge of the grid gives %s a positive definite Gram matrix with finite validation error; raise "
                "the ridges", hk_kernel_name(kind));
        rc = 1;
    }
    if (rc == 0) {
        double t0 = hk_now();
        rc = krr_predict(kind, d, train, test, test_chunk, grid, nb, &Bbest, pred);
        st->t_predict = hk_now() - t0;
    }
    hk_dmatrix_destroy(&Bbest);
    return rc;
}

void hk_krr_record(struct hk_result *r, const char *name, const struct hk_krr_stats *st)
{
    static const char *const keys[] = {"jitter", "time_gram", "time_factor", "time_solve", "time_predict", "mse_train"};
    const double values[] = {st->jitter, st->t_gram, st->t_factor, st->t_solve, st->t_predict, st->mse_train};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s_%s", keys[i], name);
        hk_attrs_num(&r->metrics, key, values[i]);
    }
}
