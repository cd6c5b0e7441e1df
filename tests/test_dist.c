/* Distributed Gram assembly, pdpotrf/pdpotrs solve, pdgemm predictions, the
 * experiments' kernel ridge regression (hk_krr) and the collective HDF5 write, on every grid shape of the world, several block
 * sizes, N not a multiple of the block: all against serial LAPACK on the same
 * matrix (assembled whole here, in the test only). */
#include <float.h>
#include <hdf5.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "hk/blas.h"
#include "hk/data.h"
#include "hk/dist.h"
#include "hk/krr.h"
#include "hk/store.h"
#include "hk/util.h"

static int rank;

static double rel_diff(const double *a, const double *b, int n)
{
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / den);
}

static void one_case(int nprow, int nb, int distinct_x, int per_x, enum hk_kernel kind, const char *tmpdir)
{
    struct hk_synthetic_spec spec = {.seed = 11, .dx = 5, .dz = 2, .distinct_x = distinct_x, .samples_per_x = per_x,
                                     .test_distinct_x = 9, .test_samples_per_x = 5};
    struct hk_dataset tr, te;
    hk_synthetic_regression(&spec, &tr, &te);
    int N = tr.in.n, M = te.in.n;
    struct hk_depths d = {2, 3, 0};
    const double ridge = 1e-2;
    struct hk_grid g;
    hk_grid_create(&g, MPI_COMM_WORLD, nprow);
    char what[160];
    snprintf(what, sizeof what, "grid %dx%d nb=%d N=%d %s", g.nprow, g.npcol, nb, N, hk_kernel_name(kind));

    /* serial reference */
    int *all = malloc((N > M ? N : M) * sizeof(int));
    for (int i = 0; i < (N > M ? N : M); i++) all[i] = i;
    double *Kfull = malloc((size_t)N * N * sizeof(double)), *Kt = malloc((size_t)M * N * sizeof(double));
    hk_kernel_eval(kind, &d, &tr.in, all, N, &tr.in, all, N, 0, Kfull, N);
    hk_kernel_eval(kind, &d, &te.in, all, M, &tr.in, all, N, 0, Kt, M);

    /* distributed: full matrix first, checked entry by entry and written collectively */
    struct hk_dmatrix K, B, T, Y;
    hk_dmatrix_create(&K, &g, N, N, nb);
    hk_dist_fill_kernel(&K, kind, &d, &tr.in, 0, &tr.in, 0, 0);
    double worst = 0;
    for (int j = 0; j < K.nloc; j++)
        for (int i = 0; i < K.mloc; i++)
            worst = worst_of(worst, fabs(K.a[i + (size_t)j * K.lld] - Kfull[K.grows[i] + (size_t)K.gcols[j] * N]));
    if (isnan(worst)) worst = INFINITY; /* MPI_MAX may drop a NaN coming from another rank */
    MPI_Allreduce(MPI_IN_PLACE, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    CHECK(worst == 0, "%s: local blocks differ from the serial matrix by %g", what, worst);

    char path[512];
    snprintf(path, sizeof path, "%s/gram.h5", tmpdir);
    struct hk_pfile *pf = hk_pfile_create(MPI_COMM_WORLD, path);
    CHECK(pf != NULL, "%s: pfile create: %s", what, hk_error_message());
    if (pf) {
        int rc = hk_pfile_write_blockcyclic(pf, "K", K.desc, K.a);
        /* a rectangular, non-symmetric block: test points x training points */
        struct hk_dmatrix R;
        hk_dmatrix_create(&R, &g, M, N, nb);
        hk_dist_fill_kernel(&R, kind, &d, &te.in, 0, &tr.in, 0, 0);
        rc |= hk_pfile_write_blockcyclic(pf, "R", R.desc, R.a);
        hk_dmatrix_destroy(&R);
        rc |= hk_pfile_commit(pf);
        CHECK(rc == 0, "%s: collective write failed: %s", what, hk_error_message());
        if (rank == 0) {
            double *read;
            long r, c;
            CHECK(hk_h5_read_matrix(path, "K", &read, &r, &c) == 0 && r == N && c == N, "%s: read back", what);
            double diff = 0;
            for (long i = 0; i < (long)N * N; i++) diff = worst_of(diff, fabs(read[i] - Kfull[i]));
            CHECK(diff == 0, "%s: written file differs from the matrix by %g", what, diff);
            free(read);
            /* file[i][j] = A(i, j) for a matrix that is not its own transpose */
            CHECK(hk_h5_read_matrix(path, "R", &read, &r, &c) == 0 && r == M && c == N,
                  "%s: read back the %d x %d block: %ld x %ld", what, M, N, r, c);
            long wrong = 0;
            for (long i = 0; i < (long)M; i++)
                for (long j = 0; j < (long)N; j++) wrong += !(read[i * N + j] == Kt[i + j * (long)M]);
            CHECK(wrong == 0, "%s: %ld entries of the rectangular block are not at file[i][j] = A(i, j)", what, wrong);
            free(read);
            unlink(path);
        }
    }

    /* solve: lower triangle only, as the experiment does */
    hk_dmatrix_destroy(&K);
    hk_dmatrix_create(&K, &g, N, N, nb);
    hk_dist_fill_kernel(&K, kind, &d, &tr.in, 0, &tr.in, 0, 1);
    hk_dist_add_diagonal(&K, ridge);
    int info = hk_dist_cholesky(&K);
    CHECK(info == 0, "%s: pdpotrf info %d", what, info);
    hk_dmatrix_create(&B, &g, N, 1, nb);
    hk_dist_columns_set(&B, tr.y);
    info = hk_dist_cholesky_solve(&K, &B);
    CHECK(info == 0, "%s: pdpotrs info %d", what, info);
    double *alpha = malloc(N * sizeof(double));
    hk_dist_columns_allgather(&B, alpha);

    double *ref = malloc(N * sizeof(double));
    memcpy(ref, tr.y, N * sizeof(double));
    for (int i = 0; i < N; i++) Kfull[i + (size_t)i * N] += ridge;
    double *Kr = malloc((size_t)N * N * sizeof(double)); /* K + ridge I, kept for the eigensolver's check */
    memcpy(Kr, Kfull, (size_t)N * N * sizeof(double));
    int one = 1;
    dpotrf_("L", &N, Kfull, &N, &info);
    dpotrs_("L", &N, &one, Kfull, &N, ref, &N, &info);
    double err = rel_diff(alpha, ref, N);
    CHECK(err < 1e-10, "%s: solve differs from serial LAPACK by %g (relative)", what, err);
    /* and the residual by hand, a reference that is not LAPACK (a 1 x 1 grid calls dpotrs itself): backward
     * stable, |(K + rI) alpha - y| <= c eps |K + rI| |alpha| */
    double resid = 0, knorm = 0, anorm = 0;
    for (int i = 0; i < N; i++) {
        double sum = 0, row = 0;
        for (int j = 0; j < N; j++) {
            sum += Kr[i + (size_t)j * N] * alpha[j];
            row += fabs(Kr[i + (size_t)j * N]);
        }
        resid = worst_of(resid, fabs(sum - tr.y[i]));
        knorm = worst_of(knorm, row);
        anorm = worst_of(anorm, fabs(alpha[i]));
    }
    CHECK(knorm > 0 && anorm > 0 && resid <= 1e-12 * knorm * anorm, "%s: residual of the solve %g (|K| %g, |alpha| %g)",
          what, resid, knorm, anorm);

    /* eigendecomposition: pdsyevd against LAPACK dsyevd, and (K + rI)^-1 y
     * through Z diag(1/w) Z^T against the serial solve */
    {
        struct hk_dmatrix E, Z, V, C;
        const int nbe = hk_dist_eigh_block(N, nb);
        hk_dmatrix_create(&E, &g, N, N, nbe);
        hk_dmatrix_create(&Z, &g, N, N, nbe);
        /* the lower triangle only, as the dynamics fill it, and NaN above:
         * an eigensolver that read the upper triangle would spread it */
        hk_dist_fill_kernel(&E, kind, &d, &tr.in, 0, &tr.in, 0, 1);
        for (int jl = 0; jl < E.nloc; jl++)
            for (int il = 0; il < E.mloc; il++)
                if (E.grows[il] < E.gcols[jl]) E.a[il + (size_t)jl * E.lld] = NAN;
        hk_dist_add_diagonal(&E, ridge);
        double *w = malloc(N * sizeof(double)), *wref = malloc(N * sizeof(double));
        CHECK(hk_dist_eigh(&E, w, &Z) == 0, "%s: pdsyevd: %s", what, hk_error_message());
        int lwork = -1, liwork = -1, iwq, inf;
        double wq;
        dsyevd_("N", "L", &N, Kr, &N, wref, &wq, &lwork, &iwq, &liwork, &inf);
        lwork = (int)wq + 1, liwork = iwq;
        double *work = malloc(lwork * sizeof(double));
        int *iwork = malloc(liwork * sizeof(int));
        dsyevd_("N", "L", &N, Kr, &N, wref, work, &lwork, iwork, &liwork, &inf);
        CHECK(inf == 0, "%s: dsyevd info %d", what, inf);
        double ew = 0, top = fabs(wref[N - 1]);
        for (int i = 0; i < N; i++) ew = worst_of(ew, fabs(w[i] - wref[i]) / top);
        CHECK(ew <= 1e-9, "%s: eigenvalues differ from LAPACK dsyevd by %g (relative to the largest)", what, ew);
        hk_dmatrix_create(&V, &g, N, 1, nbe);
        hk_dmatrix_create(&C, &g, N, 1, nbe);
        hk_dist_columns_set(&V, tr.y);
        hk_dist_gemm_op("T", "N", 1, &Z, &V, 0, &C);                  /* c = Z^T y */
        for (int i = 0; i < C.mloc; i++)
            for (int j = 0; j < C.nloc; j++) C.a[i + (size_t)j * C.lld] /= w[C.grows[i]];
        hk_dist_gemm_op("N", "N", 1, &Z, &C, 0, &V);                  /* Z diag(1/w) c */
        double *x = malloc(N * sizeof(double));
        hk_dist_columns_allgather(&V, x);
        double ex = rel_diff(x, ref, N);
        CHECK(ex < 1e-9, "%s: (K + rI)^-1 y through the eigenvectors differs from the serial solve by %g", what, ex);
        free(w); free(wref); free(work); free(iwork); free(x);
        hk_dmatrix_destroy(&E); hk_dmatrix_destroy(&Z); hk_dmatrix_destroy(&V); hk_dmatrix_destroy(&C);
    }
    free(Kr);

    /* predictions in two chunks against the serial product */
    double *pred = malloc(M * sizeof(double)), *pred_ref = calloc(M, sizeof(double));
    int half = M / 2;
    for (int c0 = 0; c0 < M; c0 += half) {
        int rows = M - c0 < half ? M - c0 : half;
        hk_dmatrix_create(&T, &g, rows, N, nb);
        hk_dmatrix_create(&Y, &g, rows, 1, nb);
        hk_dist_fill_kernel(&T, kind, &d, &te.in, c0, &tr.in, 0, 0);
        hk_dist_gemm(&T, &B, &Y);
        hk_dist_columns_allgather(&Y, pred + c0);
        hk_dmatrix_destroy(&T);
        hk_dmatrix_destroy(&Y);
    }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) pred_ref[i] += Kt[i + (size_t)j * M] * ref[j];
    err = rel_diff(pred, pred_ref, M);
    CHECK(err < 1e-10, "%s: chunked predictions differ from the serial product by %g", what, err);

    hk_dmatrix_destroy(&K);
    hk_dmatrix_destroy(&B);

    /* hk_krr with two right-hand sides (y and y^2 + 1), test blocks of M/2 + 1
     * rows, against the serial solve and product */
    double *Y2 = malloc(2 * (size_t)N * sizeof(double)), *ref2 = malloc(2 * (size_t)N * sizeof(double));
    double *pred2 = malloc(2 * (size_t)M * sizeof(double)), *pred2_ref = calloc(2 * (size_t)M, sizeof(double));
    for (int i = 0; i < N; i++) Y2[i] = tr.y[i], Y2[N + i] = tr.y[i] * tr.y[i] + 1;
    memcpy(ref2, Y2, 2 * (size_t)N * sizeof(double));
    int two = 2;
    dpotrs_("L", &N, &two, Kfull, &N, ref2, &N, &info);
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) pred2_ref[i + (size_t)c * M] += Kt[i + (size_t)j * M] * ref2[j + (size_t)c * N];
    /* in float64, and in mixed precision (which must have taken its own path: refinement steps >= 0) */
    for (int mixed = 0; mixed <= 1; mixed++) {
        struct hk_krr_stats st;
        memset(pred2, 0, 2 * (size_t)M * sizeof(double));
        int kr = hk_krr(kind, &d, &tr.in, Y2, 2, &te.in, M / 2 + 1, ridge, mixed, &g, nb, NULL, pred2, &st);
        CHECK(kr == 0 && st.jitter == 0, "%s, mixed %d: hk_krr returned %d (jitter %g)", what, mixed, kr, st.jitter);
        CHECK(mixed ? st.refine_steps >= 0 : st.refine_steps == -1, "%s, mixed %d: refinement steps %d", what, mixed,
              st.refine_steps);
        err = rel_diff(pred2, pred2_ref, 2 * M);
        CHECK(err < 1e-10, "%s, mixed %d: hk_krr predictions differ from the serial solve and product by %g", what,
              mixed, err);
        double mse = 0;
        for (int i = 0; i < 2 * N; i++) mse += ridge * ref2[i] * ridge * ref2[i] / (2.0 * N);
        CHECK(fabs(st.mse_train - mse) <= 1e-8 * mse, "%s, mixed %d: hk_krr training MSE %g, want lambda^2 |A|^2 / 2N = %g",
              what, mixed, st.mse_train, mse);
    }
    free(Y2); free(ref2); free(pred2); free(pred2_ref);
    hk_grid_destroy(&g);
    free(all); free(Kfull); free(Kt); free(alpha); free(ref); free(pred); free(pred_ref);
    hk_dataset_free(&tr);
    hk_dataset_free(&te);
}

/* The Cholesky factor itself (hk_dist_cholesky) against serial LAPACK dpotrf
 * of the same matrix: a random SPD matrix (and one that is not positive
 * definite from row `bad`), N not a multiple of the block, ranks holding no
 * column. The strict upper triangle holds NaN, which must neither be read (it
 * would spread into the factor) nor be changed; a failure is reported as
 * dpotrf reports it. */
static void cholesky_case(int nprow, int nb, int N, int bad)
{
    char what[128];
    snprintf(what, sizeof what, "cholesky, grid nprow %d, nb %d, N %d%s", nprow, nb, N,
             bad >= 0 ? ", not positive definite" : "");
    struct hk_grid g;
    hk_grid_create(&g, MPI_COMM_WORLD, nprow);
    /* A = B B^T / N + I with B uniform in [-1, 1): the same on every rank (a fixed generator) */
    double *full = malloc((size_t)N * N * sizeof(double)), *b = malloc((size_t)N * N * sizeof(double));
    struct hk_rng rng;
    hk_rng_seed(&rng, 11, 3);
    for (size_t i = 0; i < (size_t)N * N; i++) b[i] = 2 * hk_rng_uniform(&rng) - 1;
    for (int j = 0; j < N; j++)
        for (int i = 0; i < N; i++) {
            double sum = 0;
            for (int k = 0; k < N; k++) sum += b[i + (size_t)k * N] * b[j + (size_t)k * N];
            full[i + (size_t)j * N] = sum / N + (i == j);
        }
    if (bad >= 0) full[bad + (size_t)bad * N] = -1; /* the leading minor of order bad + 1 is not positive definite */
    for (int j = 0; j < N; j++)
        for (int i = 0; i < j; i++) full[i + (size_t)j * N] = NAN;
    struct hk_dmatrix A;
    hk_dmatrix_create(&A, &g, N, N, nb);
    hk_dist_columns_set(&A, full);
    int info = hk_dist_cholesky(&A), ref_info = 0;
    double *L = malloc((size_t)N * N * sizeof(double));
    hk_dist_columns_allgather(&A, L);
    double *ref = malloc((size_t)N * N * sizeof(double));
    memcpy(ref, full, (size_t)N * N * sizeof(double));
    dpotrf_("L", &N, ref, &N, &ref_info);
    CHECK(info == ref_info, "%s: info %d, serial dpotrf says %d", what, info, ref_info);
    /* and as it must be: the leading minors up to order bad are positive definite, that of order bad + 1 not */
    CHECK(info == (bad >= 0 ? bad + 1 : 0), "%s: info %d, want %d", what, info, bad >= 0 ? bad + 1 : 0);
    if (bad < 0) {
        double worst = 0;
        int upper_kept = 1;
        for (int j = 0; j < N; j++)
            for (int i = 0; i < N; i++) {
                size_t at = i + (size_t)j * N;
                if (i >= j) worst = worst_of(worst, fabs(L[at] - ref[at]) / fabs(ref[j + (size_t)j * N]));
                else if (memcmp(&L[at], &full[at], sizeof(double))) upper_kept = 0;
            }
        CHECK(worst <= 1e-12, "%s: factor differs from serial dpotrf by %g (relative to its column's diagonal)",
              what, worst);
        CHECK(upper_kept, "%s: the strict upper triangle was written", what);
        /* and L L^T = A by hand, a reference that is not LAPACK (a 1 x 1 grid calls dpotrf itself) */
        double resid = 0, scale = 0;
        for (int j = 0; j < N; j++)
            for (int i = j; i < N; i++) {
                double sum = 0;
                for (int k = 0; k <= j; k++) sum += L[i + (size_t)k * N] * L[j + (size_t)k * N];
                resid = worst_of(resid, fabs(sum - full[i + (size_t)j * N]));
                scale = worst_of(scale, fabs(full[i + (size_t)j * N]));
            }
        CHECK(scale > 0 && resid <= 1e-13 * N * scale, "%s: L L^T differs from A by %g (largest entry %g)", what,
              resid, scale);
    }
    hk_dmatrix_destroy(&A);
    hk_grid_destroy(&g);
    free(full); free(b); free(L); free(ref);
}

/* Mixed precision (hk_dist_solve_mixed) against serial float64 LAPACK on the
 * same matrix A + shift I, A = B B^T / N with B of N/4 random columns (rank
 * deficient, so the shift sets the conditioning): with shift 1e-3 and 1e-5
 * (condition about 1e3 and 1e5) it converges after at least one refinement
 * step, to dpotrs's solution within the conditioning and to dsposv's residual
 * bound checked here by hand; with shift 1e-9 (condition about 1e9, beyond
 * float32) it gives up and leaves B as it was. The strict upper triangle
 * holds NaN, which must not be read. Two right-hand sides. */
static void mixed_case(int nprow, int nb, int N, double shift, int want_converged, int max_steps)
{
    char what[128];
    snprintf(what, sizeof what, "mixed solve, grid nprow %d, nb %d, N %d, shift %g", nprow, nb, N, shift);
    struct hk_grid g;
    hk_grid_create(&g, MPI_COMM_WORLD, nprow);
    const int r = N / 4 > 0 ? N / 4 : 1, two = 2;
    double *full = malloc((size_t)N * N * sizeof(double)), *b = malloc((size_t)N * r * sizeof(double));
    double *rhs = malloc(2 * (size_t)N * sizeof(double)), *x = malloc(2 * (size_t)N * sizeof(double));
    struct hk_rng rng;
    hk_rng_seed(&rng, 17, 5);
    for (size_t i = 0; i < (size_t)N * r; i++) b[i] = 2 * hk_rng_uniform(&rng) - 1;
    for (int i = 0; i < 2 * N; i++) rhs[i] = 2 * hk_rng_uniform(&rng) - 1;
    for (int j = 0; j < N; j++)
        for (int i = 0; i < N; i++) {
            double sum = 0;
            for (int k = 0; k < r; k++) sum += b[i + (size_t)k * N] * b[j + (size_t)k * N];
            full[i + (size_t)j * N] = i < j ? NAN : sum / N;
        }
    struct hk_dmatrix A, X;
    hk_dmatrix_create(&A, &g, N, N, nb);
    hk_dmatrix_create(&X, &g, N, 2, nb);
    hk_dist_columns_set(&A, full);
    hk_dist_columns_set(&X, rhs);
    int steps = 99;
    int rc = hk_dist_solve_mixed(&A, shift, &X, &steps);
    hk_dist_columns_allgather(&X, x);
    /* the reference: float64 LAPACK on A + shift I, its upper triangle filled */
    double *ref = malloc((size_t)N * N * sizeof(double)), *sol = malloc(2 * (size_t)N * sizeof(double));
    for (int j = 0; j < N; j++)
        for (int i = 0; i < N; i++)
            ref[i + (size_t)j * N] = (i >= j ? full[i + (size_t)j * N] : full[j + (size_t)i * N]) + (i == j ? shift : 0);
    memcpy(sol, rhs, 2 * (size_t)N * sizeof(double));
    int info = 0;
    dpotrf_("L", &N, ref, &N, &info);
    CHECK(info == 0, "%s: serial dpotrf info %d", what, info);
    dpotrs_("L", &N, &two, ref, &N, sol, &N, &info);
    if (want_converged) {
        CHECK(rc == 0 && steps >= 1 && steps <= max_steps, "%s: returned %d after %d refinement steps, want 0 after 1 "
              "to %d", what, rc, steps, max_steps);
        const double cond = 1.5 / shift;
        double err = rel_diff(x, sol, 2 * N);
        CHECK(err <= 20 * cond * DBL_EPSILON, "%s: solution differs from serial dpotrs by %g (condition ~%.0g)", what,
              err, cond);
        /* dsposv's bound, by hand: |rhs - (A + shift I) x|_inf <= sqrt(N) eps |A + shift I|_inf |x|_inf per column */
        double anrm = 0;
        for (int i = 0; i < N; i++) {
            double row = 0;
            for (int j = 0; j < N; j++) row += fabs(i >= j ? full[i + (size_t)j * N] : full[j + (size_t)i * N]);
            anrm = worst_of(anrm, row + shift);
        }
        for (int c = 0; c < 2; c++) {
            double rn = 0, xn = 0;
            for (int i = 0; i < N; i++) {
                long double s = rhs[i + (size_t)c * N] - (long double)shift * x[i + (size_t)c * N];
                for (int j = 0; j < N; j++)
                    s -= (long double)(i >= j ? full[i + (size_t)j * N] : full[j + (size_t)i * N]) * x[j + (size_t)c * N];
                rn = worst_of(rn, fabs((double)s));
                xn = worst_of(xn, fabs(x[i + (size_t)c * N]));
            }
            CHECK(rn <= sqrt((double)N) * DBL_EPSILON / 2 * anrm * xn,
                  "%s: column %d residual %g beyond dsposv's bound %g", what, c, rn,
                  sqrt((double)N) * DBL_EPSILON / 2 * anrm * xn);
        }
    } else {
        CHECK((rc == -1 || rc == -2) && steps == -1, "%s: returned %d (steps %d) for a matrix float32 cannot solve, "
              "want -1 or -2", what, rc, steps);
        CHECK(!memcmp(x, rhs, 2 * (size_t)N * sizeof(double)), "%s: the right-hand sides were changed", what);
    }
    /* A itself is left as it was, NaN upper triangle included */
    double *back = malloc((size_t)N * N * sizeof(double));
    hk_dist_columns_allgather(&A, back);
    CHECK(!memcmp(back, full, (size_t)N * N * sizeof(double)) || N == 0, "%s: A was changed", what);
    hk_dmatrix_destroy(&A);
    hk_dmatrix_destroy(&X);
    hk_grid_destroy(&g);
    free(full); free(b); free(rhs); free(x); free(ref); free(sol); free(back);
}

/* The two ways of giving up, each forced exactly, and a NaN: A of 2 x 2
 * blocks [[1, 1 + e], [1 + e, 1 + d]] (NaN above the diagonal) whose float32
 * rounding is [[1, 1], [1, 1 + d32]]. With d = 2^-23 (representable) and
 * e = 5.5e-8 (below half of float's spacing above 1, so rounded away) float32
 * factors exactly, but its inverse times the lost e has spectral radius
 * 2 e / d = 0.92: refinement cannot converge (-2). With d = 2e-8, lost too,
 * float32's block is singular: the factor fails (-1) while the float64
 * matrix is positive definite. A NaN on the diagonal: -1. Each time the
 * right-hand sides come back as they were. */
static void mixed_exact_cases(int nprow, int nb, int N)
{
    struct hk_grid g;
    hk_grid_create(&g, MPI_COMM_WORLD, nprow);
    static const struct { double e, d; int nan, want; const char *what; } cases[] = {
        {5.5e-8, 0x1p-23, 0, -2, "refinement cannot converge"},
        {0, 2e-8, 0, -1, "float32 block singular"},
        {0, 0.5, 1, -1, "a NaN on the diagonal"},
    };
    double *full = malloc((size_t)N * N * sizeof(double)), *rhs = malloc(2 * (size_t)N * sizeof(double));
    double *x = malloc(2 * (size_t)N * sizeof(double));
    for (int c = 0; c < 3; c++) {
        char what[160];
        snprintf(what, sizeof what, "mixed solve, grid nprow %d, nb %d, N %d: %s", nprow, nb, N, cases[c].what);
        for (size_t i = 0; i < (size_t)N * N; i++) full[i] = 0;
        for (int j = 0; j < N; j++)
            for (int i = 0; i < j; i++) full[i + (size_t)j * N] = NAN;
        for (int b = 0; b + 1 < N; b += 2) {
            full[b + (size_t)b * N] = 1;
            full[b + 1 + (size_t)b * N] = 1 + cases[c].e;
            full[b + 1 + (size_t)(b + 1) * N] = 1 + cases[c].d;
        }
        if (cases[c].nan) full[N / 2 + (size_t)(N / 2) * N] = NAN;
        for (int i = 0; i < 2 * N; i++) rhs[i] = 1 + (i % 7);
        struct hk_dmatrix A, X;
        hk_dmatrix_create(&A, &g, N, N, nb);
        hk_dmatrix_create(&X, &g, N, 2, nb);
        hk_dist_columns_set(&A, full);
        hk_dist_columns_set(&X, rhs);
        int steps = 99, rc = hk_dist_solve_mixed(&A, 0, &X, &steps);
        hk_dist_columns_allgather(&X, x);
        CHECK(rc == cases[c].want && steps == -1, "%s: returned %d (steps %d), want %d", what, rc, steps, cases[c].want);
        CHECK(!memcmp(x, rhs, 2 * (size_t)N * sizeof(double)), "%s: the right-hand sides were changed", what);
        hk_dmatrix_destroy(&A);
        hk_dmatrix_destroy(&X);
    }
    hk_grid_destroy(&g);
    free(full); free(rhs); free(x);
}

int main(int argc, char **argv)
{
    int provided, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    hk_store_init();
    char tmpdir[256] = "/tmp/hk_test_dist_XXXXXX";
    if (rank == 0 && !mkdtemp(tmpdir)) return 1;
    MPI_Bcast(tmpdir, sizeof tmpdir, MPI_CHAR, 0, MPI_COMM_WORLD);
    static const int blocks[] = {4, 16, 64};
    for (int nprow = 1; nprow <= size; nprow++) {
        if (size % nprow) continue;
        for (int b = 0; b < 3; b++) {
            one_case(nprow, blocks[b], 11, 7, HK_TH, tmpdir);   /* N = 77 */
            one_case(nprow, blocks[b], 3, 12, HK_KH, tmpdir);   /* N = 36, fewer than one block of 64 */
        }
        one_case(nprow, 32, 40, 5, HK_TMLP, tmpdir);            /* N = 200 */
    }
    /* the factor itself, on every grid shape */
    for (int nprow = 1; nprow <= size; nprow++) {
        if (size % nprow) continue;
        cholesky_case(nprow, 16, 203, -1);
        cholesky_case(nprow, 16, 203, 150);
        cholesky_case(nprow, 7, 64, -1);
        cholesky_case(nprow, 64, 100, -1); /* two blocks: on 4 ranks, two hold no column */
        cholesky_case(nprow, 64, 40, 0);   /* one block, the first entry negative */
        /* each refinement step gains about 1 / (condition x 6e-8): 3 steps at 1e3, 6 at 1e5, from float32's start */
        mixed_case(nprow, 16, 203, 1e-3, 1, 4);
        mixed_case(nprow, 32, 150, 1e-5, 1, 8);
        mixed_case(nprow, 16, 203, 1e-9, 0, 0);
        mixed_exact_cases(nprow, 16, 100);
    }
    if (rank == 0) rmdir(tmpdir);
    int failures = check_failures;
    MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("test_dist on %d ranks: %d checks per rank, %d failed in all\n", size, check_count, failures);
    MPI_Finalize();
    return failures ? 1 : 0;
}
