/* dynamics: gradient descent of the infinite-width hypernetwork in closed
 * form, and its uncertainty (docs/hyperkernel-math.md, section 9). */
#include "hk/dynamics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hk/team.h"
#include "hk/util.h"

double hk_dynamics_max_lr(int n, double lambda_max) { return lambda_max > 0 ? 2.0 * n / lambda_max : INFINITY; }

/* 1 - (1 - a)^t = -expm1(t log1p(-a)), exact to rounding for small a; for
 * a > 1 (only below the divergence bound, a < 2) (1 - a)^t alternates. */
double hk_dynamics_fit_fraction(double lr, double lambda, int n, double t, int flow)
{
    double a = lr * lambda / n;
    if (flow) return -expm1(-a * t);
    if (a < 1) return -expm1(t * log1p(-a));
    return 1 - pow(1 - a, t);
}

double hk_dynamics_gain(double lr, double lambda, int n, double t, int flow)
{
    double a = lr * lambda / n;
    if (fabs(a) < 1e-300) return lr * t / n; /* the limit lambda -> 0 */
    return hk_dynamics_fit_fraction(lr, lambda, n, t, flow) / lambda;
}

/* out[i] = sum over j of A(i, j) B(i, j) (rows) or of A(j, i) B(j, i)
 * (columns), for A and B distributed alike; replicated. */
static void sums_of_products(const struct hk_dmatrix *A, const struct hk_dmatrix *B, int by_rows, double *out)
{
    int n = by_rows ? A->m : A->n;
    memset(out, 0, (size_t)n * sizeof(double));
    for (int j = 0; j < A->nloc; j++)
        for (int i = 0; i < A->mloc; i++) {
            size_t at = i + (size_t)j * A->lld, bt = i + (size_t)j * B->lld;
            out[by_rows ? A->grows[i] : A->gcols[j]] += A->a[at] * B->a[bt];
        }
    MPI_Allreduce(MPI_IN_PLACE, out, n, MPI_DOUBLE, MPI_SUM, A->g->comm);
}

/* K(u_i, u_i) for every point of in, replicated: chunks of 256 points dealt
 * over the ranks, each evaluated as a small square and its diagonal kept. */
static int kernel_diagonal(enum hk_kernel kind, const struct hk_depths *d, const struct hk_inputs *in, MPI_Comm comm,
                           double *diag)
{
    int rank, size, rc = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(diag, 0, (size_t)in->n * sizeof(double));
    enum { CHUNK = 256 };
    int idx[CHUNK];
    double *sq = hk_malloc((size_t)CHUNK * CHUNK * sizeof(double));
    for (int c0 = rank * CHUNK; c0 < in->n && rc == 0; c0 += size * CHUNK) {
        int cnt = in->n - c0 < CHUNK ? in->n - c0 : CHUNK;
        for (int i = 0; i < cnt; i++) idx[i] = c0 + i;
        rc = hk_kernel_eval(kind, d, in, idx, cnt, in, idx, cnt, 0, sq, cnt);
        for (int i = 0; i < cnt && rc == 0; i++) diag[c0 + i] = sq[i + (size_t)i * cnt];
    }
    free(sq);
    MPI_Allreduce(MPI_IN_PLACE, diag, in->n, MPI_DOUBLE, MPI_SUM, comm);
    return hk_all_ok(comm, rc == 0) ? 0 : -1;
}

void hk_dynamics_free(struct hk_dynamics_out *o)
{
    free(o->eigenvalues);
    free(o->f_train);
    free(o->f_test);
    free(o->loss);
    free(o->mean_kh);
    free(o->var_kh);
    free(o->mean_ensemble);
    free(o->var_ensemble);
    memset(o, 0, sizeof *o);
}

/* Creates matrices on the grid, all or none (collective). */
static int create_all(const struct hk_grid *g, int nb, int count, struct hk_dmatrix **ms, const int *rows,
                      const int *cols)
{
    int ok = 1;
    for (int i = 0; i < count; i++) {
        ok = ok && hk_dmatrix_create(ms[i], g, rows[i], cols[i], nb) == 0;
        if (!ok) memset(ms[i], 0, sizeof *ms[i]);
    }
    if (hk_all_ok(g->comm, ok)) return 0;
    for (int i = 0; i < count; i++) hk_dmatrix_destroy(ms[i]);
    return hk_fail("out of memory for the distributed matrices of the dynamics");
}

/* The hyper-GP posterior, for Kh = Kh(U, U) in K (consumed: it becomes the
 * factor of Kh + ridge I), Q = Kh(U, U*) (N x M), X an N x M workspace laid
 * out as Q, and Kh(u*, u*) in diag: mean Q^T (Kh + rI)^-1 y (M x k) and
 * variance diag - colsum(Q o (Kh + rI)^-1 Q), into out. 0, or 1 with a
 * message when Kh + ridge I is not positive definite. */
static int gp_posterior(struct hk_dmatrix *K, const struct hk_dmatrix *Q, struct hk_dmatrix *X, struct hk_dmatrix *Yd,
                        struct hk_dmatrix *F, const double *Y, double ridge, const double *diag, double *term,
                        struct hk_dynamics_out *out)
{
    hk_dist_add_diagonal(K, ridge);
    int info = hk_dist_cholesky(K);
    if (!hk_all_ok(K->g->comm, info == 0))
        return hk_fail("Kh + %g I is not positive definite (Cholesky info %d); raise the ridge (--ridge)", ridge, info), 1;
    const int M = Q->n;
    out->mean_kh = hk_malloc((size_t)M * Yd->n * sizeof(double));
    out->var_kh = hk_malloc((size_t)M * sizeof(double));
    hk_dist_columns_set(Yd, Y);
    hk_dist_cholesky_solve(K, Yd);                               /* (Kh + rI)^-1 y */
    hk_dist_gemm_op("T", "N", 1, Q, Yd, 0, F);
    hk_dist_columns_allgather(F, out->mean_kh);
    hk_dmatrix_copy(X, Q);
    hk_dist_cholesky_solve(K, X);                                /* (Kh + rI)^-1 Kh(U, U*) */
    sums_of_products(Q, X, 0, term);
    for (int i = 0; i < M; i++) out->var_kh[i] = diag[i] - term[i];
    return 0;
}

int hk_dynamics_predict(const struct hk_depths *d, const struct hk_inputs *train, const double *Y, int k,
                        const struct hk_inputs *test, const struct hk_grid *grid,
                        const struct hk_dynamics_opts *o, struct hk_dynamics_out *out)
{
    memset(out, 0, sizeof *out);
    const int N = train->n, M = test->n, T = o->nsteps;
    const int nb = hk_dist_eigh_block(N, o->nb);
    out->N = N, out->M = M, out->k = k, out->T = T;
    double t0 = hk_now();

    /* Th = Z diag(lambda) Z^T */
    struct hk_dmatrix Th, Z, Yd, C;
    struct hk_dmatrix *first[] = {&Th, &Z, &Yd, &C};
    int r1[] = {N, N, N, N}, c1[] = {N, N, k, k};
    if (create_all(grid, nb, 4, first, r1, c1)) return -1;
    int rc = hk_dist_fill_kernel(&Th, HK_TH, d, train, 0, train, 0, 1);
    if (!hk_all_ok(grid->comm, rc == 0)) rc = -1;
    out->t_gram = hk_now() - t0;
    double *lambda = hk_malloc((size_t)N * sizeof(double));
    t0 = hk_now();
    if (rc == 0) rc = hk_dist_eigh(&Th, lambda, &Z);
    out->t_eigh = hk_now() - t0;
    hk_dmatrix_destroy(&Th);
    double lr = o->lr_fraction > 0 ? o->lr_fraction * hk_dynamics_max_lr(N, lambda[N - 1]) : o->lr;
    out->lr = lr;
    if (rc == 0 && !o->flow && lr >= hk_dynamics_max_lr(N, lambda[N - 1])) {
        rc = 1;
        hk_fail("learning rate %g is at or above 2N / lambda_max = %g (N = %d, lambda_max of Th = %g): discrete "
                "gradient descent diverges there; use a smaller --lr, or --flow",
                lr, hk_dynamics_max_lr(N, lambda[N - 1]), N, lambda[N - 1]);
    }
    if (rc != 0) {
        free(lambda);
        hk_dmatrix_destroy(&Z), hk_dmatrix_destroy(&Yd), hk_dmatrix_destroy(&C);
        return rc;
    }
    out->eigenvalues = lambda;

    /* c = Z^T Y, replicated (N x k) */
    t0 = hk_now();
    double *c = hk_malloc((size_t)N * k * sizeof(double)), *scaled = hk_malloc((size_t)N * k * sizeof(double));
    hk_dist_columns_set(&Yd, Y);
    hk_dist_gemm_op("T", "N", 1, &Z, &Yd, 0, &C);
    hk_dist_columns_allgather(&C, c);

    /* train outputs and loss: f_t = Z diag(fit) c, |f_t - y|^2 = sum (1 - fit)^2 c^2 */
    out->f_train = hk_calloc((size_t)T * N * k, sizeof(double));
    out->loss = hk_calloc((size_t)T, sizeof(double));
    double *col = hk_malloc((size_t)(N > M ? N : M) * k * sizeof(double));
    for (int s = 0; s < T; s++) {
        double loss = 0;
        for (int i = 0; i < N; i++) {
            double fit = hk_dynamics_fit_fraction(lr, lambda[i], N, o->steps[s], o->flow);
            for (int q = 0; q < k; q++) {
                double ci = c[i + (size_t)q * N];
                scaled[i + (size_t)q * N] = fit * ci;
                loss += (1 - fit) * (1 - fit) * ci * ci;
            }
        }
        out->loss[s] = loss / (2.0 * N);
        hk_dist_columns_set(&C, scaled);
        hk_dist_gemm(&Z, &C, &Yd);
        hk_dist_columns_allgather(&Yd, col);
        for (int q = 0; q < k; q++)
            memcpy(out->f_train + (size_t)s * N + (size_t)q * T * N, col + (size_t)q * N, (size_t)N * sizeof(double));
    }

    /* test outputs: P = Th(U*, U) Z, f_t(U*) = P diag(gain) c */
    struct hk_dmatrix Ts, P, F;
    struct hk_dmatrix *second[] = {&Ts, &P, &F};
    int r2[] = {M, M, M}, c2[] = {N, N, k};
    if (create_all(grid, nb, 3, second, r2, c2)) {
        free(c), free(scaled), free(col);
        hk_dmatrix_destroy(&Z), hk_dmatrix_destroy(&Yd), hk_dmatrix_destroy(&C);
        hk_dynamics_free(out);
        return -1;
    }
    rc = hk_dist_fill_kernel(&Ts, HK_TH, d, test, 0, train, 0, 0);
    rc = hk_all_ok(grid->comm, rc == 0) ? 0 : -1;
    hk_dist_gemm(&Ts, &Z, &P);
    out->f_test = hk_calloc((size_t)T * M * k, sizeof(double));
    for (int s = 0; s < T && rc == 0; s++) {
        for (int i = 0; i < N; i++) {
            double gain = hk_dynamics_gain(lr, lambda[i], N, o->steps[s], o->flow);
            for (int q = 0; q < k; q++) scaled[i + (size_t)q * N] = gain * c[i + (size_t)q * N];
        }
        hk_dist_columns_set(&C, scaled);
        hk_dist_gemm(&P, &C, &F);
        hk_dist_columns_allgather(&F, col);
        for (int q = 0; q < k; q++)
            memcpy(out->f_test + (size_t)s * M + (size_t)q * T * M, col + (size_t)q * M, (size_t)M * sizeof(double));
    }
    out->t_predict = hk_now() - t0;

    if (rc == 0 && o->uncertainty) {
        t0 = hk_now();
        /* the trained ensemble: mean P diag(1/lambda) c; variance
         * Kh** + diag(B Z^T Kh Z B^T) - 2 diag(B Z^T Kh*^T), B = P diag(1/lambda) */
        out->mean_ensemble = hk_malloc((size_t)M * k * sizeof(double));
        for (int i = 0; i < N; i++)
            for (int q = 0; q < k; q++) scaled[i + (size_t)q * N] = c[i + (size_t)q * N] / lambda[i];
        hk_dist_columns_set(&C, scaled);
        hk_dist_gemm(&P, &C, &F);
        hk_dist_columns_allgather(&F, out->mean_ensemble);
        for (int j = 0; j < P.nloc; j++) /* P becomes B */
            for (int i = 0; i < P.mloc; i++) P.a[i + (size_t)j * P.lld] /= lambda[P.gcols[j]];
        /* E = B Z^T = Th* Th^-1 (M x N); Ts now holds Kh* = Kh(U*, U);
         * diag(B Z^T Kh Z B^T) = rowsum((E Kh) o E), diag(E Kh*^T) = rowsum(E o Kh*) */
        struct hk_dmatrix Kh, E, G, Q, X;
        struct hk_dmatrix *third[] = {&Kh, &E, &G, &Q, &X};
        int r3[] = {N, M, M, N, N}, c3[] = {N, N, N, M, M};
        if (create_all(grid, nb, 5, third, r3, c3)) rc = -1;
        double *diag = hk_malloc((size_t)M * sizeof(double)), *term = hk_malloc((size_t)M * sizeof(double));
        if (rc == 0) rc = kernel_diagonal(HK_KH, d, test, grid->comm, diag);
        if (rc == 0) {
            int fill = hk_dist_fill_kernel(&Kh, HK_KH, d, train, 0, train, 0, 0) ||
                       hk_dist_fill_kernel(&Ts, HK_KH, d, test, 0, train, 0, 0) ||
                       hk_dist_fill_kernel(&Q, HK_KH, d, train, 0, test, 0, 0);
            rc = hk_all_ok(grid->comm, fill == 0) ? 0 : -1;
        }
        if (rc == 0) {
            out->var_ensemble = hk_malloc((size_t)M * sizeof(double));
            hk_dist_gemm_op("N", "T", 1, &P, &Z, 0, &E);      /* E = B Z^T */
            hk_dist_gemm(&E, &Kh, &G);                         /* E Kh */
            sums_of_products(&G, &E, 1, out->var_ensemble);
            sums_of_products(&E, &Ts, 1, term);
            for (int i = 0; i < M; i++) out->var_ensemble[i] += diag[i] - 2 * term[i];
            rc = gp_posterior(&Kh, &Q, &X, &Yd, &F, Y, o->ridge, diag, term, out);
        }
        free(diag), free(term);
        for (int i = 0; i < 5; i++) hk_dmatrix_destroy(third[i]);
        out->t_uncertainty = hk_now() - t0;
    }
    free(c), free(scaled), free(col);
    hk_dmatrix_destroy(&Z), hk_dmatrix_destroy(&Yd), hk_dmatrix_destroy(&C);
    hk_dmatrix_destroy(&Ts), hk_dmatrix_destroy(&P), hk_dmatrix_destroy(&F);
    if (rc != 0) hk_dynamics_free(out);
    return rc;
}

/* Fills A with the lower triangle of Th(U, U) and factors it; a Th that is
 * not numerically positive definite gets a jitter of the mean diagonal,
 * raised by decades from 1e-10 (*jitter: the one used, 0 if none). */
static int factor_th(const struct hk_depths *d, const struct hk_inputs *train, struct hk_dmatrix *A, double *jitter)
{
    *jitter = 0;
    if (!hk_all_ok(A->g->comm, hk_dist_fill_kernel(A, HK_TH, d, train, 0, train, 0, 1) == 0)) return -1;
    const double mean_diag = hk_dist_trace(A) / A->n;
    int info = hk_dist_cholesky(A);
    for (int attempt = 0; info > 0 && attempt < 7; attempt++) {
        *jitter = mean_diag * pow(10.0, -10 + attempt);
        hk_dist_fill_kernel(A, HK_TH, d, train, 0, train, 0, 1);
        hk_dist_add_diagonal(A, *jitter);
        info = hk_dist_cholesky(A);
    }
    if (info == 0) return 0;
    return hk_fail("Th is not positive definite even with jitter %.3g (Cholesky info %d at N = %d)", *jitter, info,
                   A->n), 1;
}

int hk_dynamics_uncertainty(const struct hk_depths *d, const struct hk_inputs *train, const double *Y, int k,
                            const struct hk_inputs *test, const struct hk_grid *grid, double ridge, int nb,
                            struct hk_dynamics_out *out)
{
    memset(out, 0, sizeof *out);
    const int N = train->n, M = test->n;
    out->N = N, out->M = M, out->k = k;
    double t0 = hk_now();
    /* L: Th's factor, then Kh; X = Th^-1 Th(U, U*); Q = Kh(U, U*); G = Kh X, then (Kh + rI)^-1 Q */
    struct hk_dmatrix L, X, Q, G, Yd, F;
    struct hk_dmatrix *all[] = {&L, &X, &Q, &G, &Yd, &F};
    int rows[] = {N, N, N, N, N, M}, cols[] = {N, M, M, M, k, k};
    if (create_all(grid, nb, 6, all, rows, cols)) return -1;
    double *diag = hk_malloc((size_t)M * sizeof(double)), *term = hk_malloc((size_t)M * sizeof(double));
    int rc = factor_th(d, train, &L, &out->jitter_th);
    if (rc == 0 && !hk_all_ok(grid->comm, hk_dist_fill_kernel(&X, HK_TH, d, train, 0, test, 0, 0) == 0 &&
                                              hk_dist_fill_kernel(&Q, HK_KH, d, train, 0, test, 0, 0) == 0))
        rc = -1;
    if (rc == 0) rc = kernel_diagonal(HK_KH, d, test, grid->comm, diag);
    if (rc == 0) {
        /* the trained ensemble: mean X^T y, variance Kh** + diag(X^T Kh X) - 2 diag(X^T Kh(U, U*)) */
        hk_dist_cholesky_solve(&L, &X);
        out->mean_ensemble = hk_malloc((size_t)M * k * sizeof(double));
        hk_dist_columns_set(&Yd, Y);
        hk_dist_gemm_op("T", "N", 1, &X, &Yd, 0, &F);
        hk_dist_columns_allgather(&F, out->mean_ensemble);
        if (!hk_all_ok(grid->comm, hk_dist_fill_kernel(&L, HK_KH, d, train, 0, train, 0, 0) == 0)) rc = -1;
    }
    if (rc == 0) {
        out->var_ensemble = hk_malloc((size_t)M * sizeof(double));
        hk_dist_gemm(&L, &X, &G);
        sums_of_products(&G, &X, 0, out->var_ensemble);
        sums_of_products(&X, &Q, 0, term);
        for (int i = 0; i < M; i++) out->var_ensemble[i] += diag[i] - 2 * term[i];
        rc = gp_posterior(&L, &Q, &G, &Yd, &F, Y, ridge, diag, term, out);   /* G is free again */
    }
    free(diag), free(term);
    for (int i = 0; i < 6; i++) hk_dmatrix_destroy(all[i]);
    out->t_uncertainty = hk_now() - t0;
    if (rc != 0) hk_dynamics_free(out);
    return rc;
}
