/* Analytic kernels against hand-worked values, Monte Carlo of the dual maps,
 * symmetry, positive semi-definiteness, and the tiled evaluator against the
 * per-pair maps. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hk/blas.h"
#include "hk/data.h"
#include "hk/kernels.h"
#include "hk/util.h"

static double eval_one(enum hk_kernel k, const struct hk_depths *d, const struct hk_inputs *in, int i, int j)
{
    double v;
    hk_kernel_eval(k, d, in, &i, 1, in, &j, 1, 0, &v, 1);
    return v;
}

static void test_dual_maps(void)
{
    double v, vd;
    hk_relu_dual(2.5, 2.5, 2.5, &v, &vd);
    CHECK(v == 2.5 && vd == 1, "diagonal must be exact: V=%.17g Vd=%.17g", v, vd);
    hk_relu_dual(1, 1, 0, &v, &vd); /* orthogonal: V = 1/pi, Vd = 1/2 */
    CHECK_CLOSE(v, 1 / M_PI, 1e-15, "V orthogonal");
    CHECK_CLOSE(vd, 0.5, 1e-15, "Vd orthogonal");
    hk_relu_dual(1, 4, -2, &v, &vd); /* c = -1 */
    CHECK(v == 0 && vd == 0, "antiparallel: V=%g Vd=%g", v, vd);
    hk_relu_dual(1, 1, 1 + 1e-15, &v, &vd); /* rounding past c = 1 is clamped */
    CHECK(v == 1 && vd == 1, "clamp at c > 1: V=%.17g Vd=%.17g", v, vd);
    /* Monte Carlo of E[s(a)s(b)] and E[s'(a)s'(b)] for kxx=2, kyy=0.8, kxy=0.7
     * (kxx kyy != 1, so a normalisation mistake shows) */
    struct hk_rng rng;
    hk_rng_seed(&rng, 42, 0);
    double kxx = 2, kyy = 0.8, kxy = 0.7, sv = 0, svd = 0;
    double l11 = sqrt(kxx), l21 = kxy / l11, l22 = sqrt(kyy - l21 * l21);
    const int n = 2000000;
    for (int i = 0; i < n; i++) {
        double g1 = hk_rng_normal(&rng), g2 = hk_rng_normal(&rng);
        double a = l11 * g1, b = l21 * g1 + l22 * g2;
        if (a > 0 && b > 0) {
            sv += 2 * a * b;
            svd += 2;
        }
    }
    hk_relu_dual(kxx, kyy, kxy, &v, &vd);
    CHECK(fabs(sv / n - v) < 4e-3, "V vs Monte Carlo: %g vs %g", v, sv / n);
    CHECK(fabs(svd / n - vd) < 3e-3, "Vd vs Monte Carlo: %g vs %g", vd, svd / n);
    /* the same samples reject V without its norm sqrt(kxx kyy) = 1.26 */
    double wrong, wrong_d;
    hk_relu_dual(1, 1, kxy / sqrt(kxx * kyy), &wrong, &wrong_d);
    CHECK(fabs(sv / n - wrong) > 0.1, "Monte Carlo cannot tell V from V / sqrt(kxx kyy): %g vs %g", sv / n, wrong);
}

/* Two points with orthogonal x of unit x.x/dx, and chosen z. */
static void test_hand_cases(void)
{
    double x[4] = {M_SQRT2, 0, 0, M_SQRT2};    /* dx = 2: x.x/dx = 1, x1.x2 = 0 */
    double z[4] = {1, 0, 0.6, 0.8};            /* dz = 2: z.z/dz = 0.5, z1.z2/dz = 0.3 */
    int xid[2] = {0, 1};
    struct hk_inputs in = {.n = 2, .nx = 2, .dx = 2, .x = x, .dz = 2, .z = z, .xid = xid};
    /* L = 1: Sf(x1,x2) = V(1,1,0) = 1/pi, Tf = Sf + 0 * Vd = 1/pi */
    struct hk_depths d1 = {1, 1, 0};
    CHECK_CLOSE(eval_one(HK_SF, &d1, &in, 0, 1), 1 / M_PI, 1e-15, "Sf orthogonal L=1");
    CHECK_CLOSE(eval_one(HK_TF, &d1, &in, 0, 1), 1 / M_PI, 1e-15, "Tf orthogonal L=1");
    /* H = 1: Kh = Sf Z0, Th = Tf Z0 */
    CHECK_CLOSE(eval_one(HK_KH, &d1, &in, 0, 1), 0.3 / M_PI, 1e-15, "Kh H=1");
    CHECK_CLOSE(eval_one(HK_TH, &d1, &in, 0, 1), 0.3 / M_PI, 1e-15, "Th H=1");
    /* L = 2 orthogonal: S1 = 1/pi, T1 = 1/pi; S2 = V(1,1,1/pi), T2 = S2 + T1 Vd(1,1,1/pi) */
    double t = acos(1 / M_PI);
    double s2 = (sin(t) + (M_PI - t) / M_PI) / M_PI, vd2 = (M_PI - t) / M_PI;
    struct hk_depths d2 = {2, 1, 0};
    CHECK_CLOSE(eval_one(HK_SF, &d2, &in, 0, 1), s2, 1e-14, "Sf orthogonal L=2");
    CHECK_CLOSE(eval_one(HK_TF, &d2, &in, 0, 1), s2 + vd2 / M_PI, 1e-14, "Tf orthogonal L=2");
    /* H = 2, L = 1, orthogonal x: K1 = Z0/pi, diagonals K1(u,u) = 0.5;
     * In_2 = V(0.5, 0.5, 0.3/pi), Th = Tf (In_1 Sf Vd(K1) + In_2) */
    double c = (0.3 / M_PI) / 0.5, tt = acos(c);
    double in2 = 0.5 * (sin(tt) + (M_PI - tt) * c) / M_PI, vdk = (M_PI - tt) / M_PI;
    struct hk_depths d12 = {1, 2, 0};
    CHECK_CLOSE(eval_one(HK_KH, &d12, &in, 0, 1), in2 / M_PI, 1e-14, "Kh H=2 orthogonal");
    CHECK_CLOSE(eval_one(HK_TH, &d12, &in, 0, 1), (0.3 * (1 / M_PI) * vdk + in2) / M_PI, 1e-14, "Th H=2 orthogonal");
    /* x = x' (same point): S_l = s, T_l = (l+1) s, K_l = s^l zz, and
     * Th = (L+1) s * sum_l In_l s^(H-l) with In_1 = zz, In_l = s^(l-1) zz */
    double xs[2] = {1.2, -0.7}, zs[3] = {0.3, -1.1, 0.5};
    int one = 0;
    struct hk_inputs pt = {.n = 1, .nx = 1, .dx = 2, .x = xs, .dz = 3, .z = zs, .xid = &one};
    double s = (1.2 * 1.2 + 0.7 * 0.7) / 2, zz = (0.09 + 1.21 + 0.25) / 3;
    for (int L = 1; L <= 3; L++)
        for (int H = 1; H <= 4; H++) {
            struct hk_depths d = {L, H, 0};
            double sum = 0;
            for (int l = 1; l <= H; l++) sum += pow(s, l - 1) * zz * pow(s, H - l);
            char what[64];
            snprintf(what, sizeof what, "Th(u,u) L=%d H=%d", L, H);
            CHECK_CLOSE(eval_one(HK_TH, &d, &pt, 0, 0), (L + 1) * s * sum, 1e-14, what);
            snprintf(what, sizeof what, "Kh(u,u) L=%d H=%d", L, H);
            CHECK_CLOSE(eval_one(HK_KH, &d, &pt, 0, 0), pow(s, H) * zz, 1e-14, what);
            /* plain MLP on (x, z): diagonal T = (L+H+1) (x.x + z.z)/(dx+dz) */
            snprintf(what, sizeof what, "Tmlp(u,u) L=%d H=%d", L, H);
            CHECK_CLOSE(eval_one(HK_TMLP, &d, &pt, 0, 0), (L + H + 1) * (2 * s + 3 * zz) / 5, 1e-14, what);
        }
}

static void random_task(struct hk_dataset *train, struct hk_dataset *test, int nx, int per_x)
{
    struct hk_synthetic_spec spec = {.seed = 5, .dx = 6, .dz = 3, .distinct_x = nx, .samples_per_x = per_x,
                                     .test_distinct_x = 7, .test_samples_per_x = 3};
    hk_synthetic_regression(&spec, train, test);
}

static void test_symmetric_psd(void)
{
    struct hk_dataset tr, te;
    random_task(&tr, &te, 12, 5);
    int n = tr.in.n;
    int *idx = malloc(n * sizeof(int));
    for (int i = 0; i < n; i++) idx[i] = i;
    double *K = malloc((size_t)n * n * sizeof(double)), *w = malloc(n * sizeof(double));
    for (int k = 0; k < HK_NKERNELS; k++) {
        struct hk_depths d = {2, 3, 0};
        hk_kernel_eval(k, &d, &tr.in, idx, n, &tr.in, idx, n, 0, K, n);
        double asym = 0, scale = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                asym = worst_of(asym, fabs(K[i + j * n] - K[j + i * n]));
                scale = worst_of(scale, fabs(K[i + j * n]));
            }
        CHECK(scale > 0 && asym <= 1e-14 * scale, "%s not symmetric (or zero): %g of %g", hk_kernel_name(k), asym, scale);
        int lwork = 10 * n, info;
        double *work = malloc(lwork * sizeof(double));
        dsyev_("N", "L", &n, K, &n, w, work, &lwork, &info);
        free(work);
        CHECK(info == 0 && w[0] >= -1e-12 * w[n - 1], "%s not PSD: smallest eigenvalue %g, largest %g",
              hk_kernel_name(k), w[0], w[n - 1]);
    }
    free(K);
    free(w);
    free(idx);
    hk_dataset_free(&tr);
    hk_dataset_free(&te);
}

/* Th and Kh of one pair by the per-pair maps (dx = 6, dz = 3, L = 2), and the
 * Cauchy-Schwarz bounds sqrt(K(u,u) K(u',u')) to measure their errors by:
 * Th and Kh cross zero with z.z', and at an entry near zero a relative error
 * measures the cancellation, not the code. */
static void pair_reference(int H, const struct hk_inputs *a, int ia, const struct hk_inputs *b, int ib, double *th,
                           double *kh, double *th_bound, double *kh_bound)
{
    const double *xa = a->x + a->xid[ia] * 6, *xb = b->x + b->xid[ib] * 6;
    const double *za = a->z + ia * 3, *zb = b->z + ib * 3;
    double sab = 0, saa = 0, sbb = 0, zab = 0, zaa = 0, zbb = 0;
    for (int k = 0; k < 6; k++) { sab += xa[k] * xb[k]; saa += xa[k] * xa[k]; sbb += xb[k] * xb[k]; }
    for (int k = 0; k < 3; k++) { zab += za[k] * zb[k]; zaa += za[k] * za[k]; zbb += zb[k] * zb[k]; }
    double sf, tf, sfa, tfa, sfb, tfb;
    hk_relu_net_kernels(2, saa / 6, sbb / 6, sab / 6, &sf, &tf);
    hk_relu_net_kernels(2, saa / 6, saa / 6, saa / 6, &sfa, &tfa);
    hk_relu_net_kernels(2, sbb / 6, sbb / 6, sbb / 6, &sfb, &tfb);
    /* K_l(u, u) = Sf(x, x)^l z.z / dz: V(k, k, k) = k for the scaled ReLU */
    double kda[HK_MAX_DEPTH], kdb[HK_MAX_DEPTH];
    for (int l = 1; l < H; l++) {
        kda[l - 1] = pow(sfa, l) * zaa / 3;
        kdb[l - 1] = pow(sfb, l) * zbb / 3;
    }
    double kh_aa, th_aa, kh_bb, th_bb;
    hk_hyper_pair(H, sf, tf, zab / 3, kda, kdb, kh, th);
    hk_hyper_pair(H, sfa, tfa, zaa / 3, kda, kda, &kh_aa, &th_aa);
    hk_hyper_pair(H, sfb, tfb, zbb / 3, kdb, kdb, &kh_bb, &th_bb);
    *th_bound = sqrt(th_aa * th_bb);
    *kh_bound = sqrt(kh_aa * kh_bb);
}

/* The tiled evaluator (many tiles, cross sets, lower_only) against the per-pair maps: Th and Kh at H = 2, 3
 * and 4 (the fused column form has a pass for the first, middle and last layer of g), rows not a whole
 * number of chunks, and the plain-MLP NTK. */
static void test_tiles_against_pairs(void)
{
    struct hk_dataset tr, te;
    random_task(&tr, &te, 60, 11); /* 660 points: several column tiles */
    struct hk_depths d = {2, 3, 0};
    int nr = te.in.n, nc = tr.in.n;
    CHECK(nr % HK_LANES != 0, "the test wants a partial last chunk: %d rows", nr);
    int *rows = malloc(nr * sizeof(int)), *cols = malloc(nc * sizeof(int));
    for (int i = 0; i < nr; i++) rows[i] = i;
    for (int j = 0; j < nc; j++) cols[j] = nc - 1 - j; /* descending: order must not matter */
    double *th = malloc((size_t)nr * nc * sizeof(double)), *tm = malloc((size_t)nr * nc * sizeof(double));
    double *kh = malloc((size_t)nr * nc * sizeof(double));
    for (int H = 2; H <= 4; H++) {
        struct hk_depths dh = {2, H, 0};
        hk_kernel_eval(HK_TH, &dh, &te.in, rows, nr, &tr.in, cols, nc, 0, th, nr);
        hk_kernel_eval(HK_KH, &dh, &te.in, rows, nr, &tr.in, cols, nc, 0, kh, nr);
        if (H == 3) hk_kernel_eval(HK_TMLP, &d, &te.in, rows, nr, &tr.in, cols, nc, 0, tm, nr);
        double worst = 0, worst_kh = 0, worst_mlp = 0;
        for (int i = 0; i < nr; i++)
            for (int j = 0; j < nc; j++) {
                double want, want_kh, th_bound, kh_bound;
                pair_reference(H, &te.in, rows[i], &tr.in, cols[j], &want, &want_kh, &th_bound, &kh_bound);
                worst = worst_of(worst, fabs(th[i + j * nr] - want) / th_bound);
                worst_kh = worst_of(worst_kh, fabs(kh[i + j * nr] - want_kh) / kh_bound);
                if (H != 3) continue;
                const double *xa = te.in.x + te.in.xid[rows[i]] * 6, *xb = tr.in.x + tr.in.xid[cols[j]] * 6;
                const double *za = te.in.z + rows[i] * 3, *zb = tr.in.z + cols[j] * 3;
                double sab = 0, saa = 0, sbb = 0, zab = 0, zaa = 0, zbb = 0;
                for (int k = 0; k < 6; k++) { sab += xa[k] * xb[k]; saa += xa[k] * xa[k]; sbb += xb[k] * xb[k]; }
                for (int k = 0; k < 3; k++) { zab += za[k] * zb[k]; zaa += za[k] * za[k]; zbb += zb[k] * zb[k]; }
                double s_unused, want_mlp;
                hk_relu_net_kernels(5, (saa + zaa) / 9, (sbb + zbb) / 9, (sab + zab) / 9, &s_unused, &want_mlp);
                worst_mlp = worst_of(worst_mlp, fabs(tm[i + j * nr] - want_mlp) / fabs(want_mlp));
            }
        CHECK(worst < 1e-12, "tiled Th differs from per-pair maps by %g at H = %d", worst, H);
        CHECK(worst_kh < 1e-12, "tiled Kh differs from per-pair maps by %g at H = %d", worst_kh, H);
        if (H == 3) CHECK(worst_mlp < 1e-12, "tiled Tmlp differs from per-pair maps by %g", worst_mlp);
    }
    free(kh);
    /* lower_only leaves the strict upper triangle untouched */
    int n = 300;
    double *K = malloc((size_t)n * n * sizeof(double));
    for (int i = 0; i < n * n; i++) K[i] = -7;
    int *idx = malloc(n * sizeof(int));
    for (int i = 0; i < n; i++) idx[i] = i;
    hk_kernel_eval(HK_TH, &d, &tr.in, idx, n, &tr.in, idx, n, 1, K, n);
    int upper_ok = 1, lower_ok = 1;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) {
            if (i < j && K[i + j * n] != -7) upper_ok = 0;
            if (i >= j && K[i + j * n] == -7) lower_ok = 0;
        }
    CHECK(upper_ok && lower_ok, "lower_only: upper untouched %d, lower filled %d", upper_ok, lower_ok);
    /* and its entries, whose column segments start mid-tile at the diagonal, bit for bit those of the full
     * evaluation (checked against the per-pair maps below): an entry must not depend on where it sits */
    double *full = malloc((size_t)n * n * sizeof(double));
    hk_kernel_eval(HK_TH, &d, &tr.in, idx, n, &tr.in, idx, n, 0, full, n);
    long differ = 0;
    for (int j = 0; j < n; j++)
        for (int i = j; i < n; i++) differ += memcmp(&K[i + j * n], &full[i + j * n], sizeof(double)) != 0;
    CHECK(differ == 0, "lower_only: %ld entries differ from the full evaluation's", differ);
    /* and the full evaluation of these 300 rows, two row tiles, against the per-pair maps */
    double worst300 = 0, worst_diag = 0;
    long ndiag = 0;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) {
            double want, want_kh, th_bound, kh_bound;
            pair_reference(3, &tr.in, i, &tr.in, j, &want, &want_kh, &th_bound, &kh_bound);
            double err = fabs(full[i + j * n] - want) / th_bound;
            /* a point with itself meets g's arccos at c = 1, where one ulp of c (the tiles take each side's
             * variance as sd and 1/sd) moves Vd by about 1e-8: there the bound is that conditioning */
            if (i == j) worst_diag = worst_of(worst_diag, err), ndiag++;
            else worst300 = worst_of(worst300, err);
        }
    CHECK(worst300 < 1e-12, "Th on 300 x 300 (two row tiles) differs from per-pair maps by %g", worst300);
    CHECK(ndiag == n && worst_diag < 1e-7, "Th on 300 x 300, its diagonal: differs from per-pair maps by %g", worst_diag);
    free(full);
    free(K); free(idx); free(rows); free(cols); free(th); free(tm);
    hk_dataset_free(&tr);
    hk_dataset_free(&te);
}

static void test_dedup(void)
{
    /* identical rows of x share one distinct x; different rows do not */
    double x[8] = {1, 2, 3, 4, 1, 2, 1, 2.0000001};
    double z[4] = {0, 1, 2, 3};
    struct hk_dataset d;
    hk_dataset_from_points(4, 2, x, 1, z, &d);
    CHECK(d.in.nx == 3, "distinct x: got %d, want 3", d.in.nx);
    CHECK(d.xid[0] == d.xid[2] && d.xid[0] != d.xid[1] && d.xid[3] != d.xid[0], "xid grouping wrong");
    hk_dataset_free(&d);
}

/* The ziggurat sampler: moments and tail mass of N(0, 1). */
static void test_normal_sampler(void)
{
    const long n = 4000000;
    double *a = malloc(n * sizeof(double));
    struct hk_rng rng;
    hk_rng_seed(&rng, 77, 3);
    hk_rng_normal_fill(&rng, a, n);
    double m1 = 0, m2 = 0, m4 = 0;
    long tail = 0, far = 0;
    for (long i = 0; i < n; i++) {
        m1 += a[i];
        m2 += a[i] * a[i];
        m4 += a[i] * a[i] * a[i] * a[i];
        tail += fabs(a[i]) > 3;
        far += fabs(a[i]) > 4; /* beyond the ziggurat's base R = 3.44: its separate tail branch */
    }
    m1 /= n; m2 /= n; m4 /= n;
    CHECK(fabs(m1) < 3e-3, "mean %g", m1);
    CHECK(fabs(m2 - 1) < 3e-3, "variance %g", m2);
    CHECK(fabs(m4 - 3) < 3e-2, "fourth moment %g", m4);
    CHECK(fabs((double)tail / n - 0.0026998) < 2.5e-4, "P(|x| > 3) = %g, want 0.0027", (double)tail / n);
    /* P(|x| > 4) = 6.334e-5: about 253 of 4e6 samples, standard deviation 16 */
    CHECK(fabs((double)far / n - 6.334e-5) < 1.2e-5, "P(|x| > 4) = %g, want 6.33e-5", (double)far / n);
    free(a);
}

/* The ziggurat's stream is part of every result: a seed must give the same
 * weights as when the published sweeps were computed. These fingerprints
 * were printed by the fill of commit 7c03997 (before its fast path moved
 * into registers): a million draws, the state after them, and the same
 * stream drawn in pieces. */
static void test_normal_stream_pinned(void)
{
    const long n = 1000003;
    double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double));
    struct hk_rng rng;
    hk_rng_seed(&rng, 12345, 200);
    hk_rng_normal_fill(&rng, a, n);
    hk_rng_normal_fill(&rng, a + n - 5, 5);
    uint64_t h = hk_fnv1a(a, n * sizeof(double), HK_FNV_OFFSET), next = hk_rng_next(&rng);
    CHECK(h == 0x057508ee94b021c4ULL, "ziggurat stream changed: hash %016llx, want 057508ee94b021c4",
          (unsigned long long)h);
    CHECK(next == 0x0fca9604e4b5203aULL, "generator state after the fill changed: next %016llx",
          (unsigned long long)next);
    CHECK(a[0] == -0.91980136739548646 && a[1] == -0.55105724131584788, "first draws %.17g %.17g", a[0], a[1]);
    /* in pieces of 1, 999 and the rest: the same numbers */
    hk_rng_seed(&rng, 12345, 200);
    hk_rng_normal_fill(&rng, b, 1);
    hk_rng_normal_fill(&rng, b + 1, 999);
    hk_rng_normal_fill(&rng, b + 1000, n - 1000);
    hk_rng_normal_fill(&rng, b + n - 5, 5);
    CHECK(!memcmp(a, b, n * sizeof(double)) && hk_rng_next(&rng) == next, "the stream drawn in pieces differs");
    free(a);
    free(b);
}

/* The vectorised maps take each variance as its sd and 1/sd, whose rounding
 * puts c a few ulp off 1 for a pair of identical inputs, where arccos has
 * infinite slope (1 ulp of c moves Vd by 1e-8). Two points with the same x and
 * z must still get the diagonal's value to rounding, and a point paired with
 * itself its diagonal exactly, bit for bit equal to the scalar maps. */
static void test_duplicate_points(void)
{
    enum { NX = 6, DX = 5, DZ = 3, ORIG = 150, N = 2 * ORIG }; /* two tiles of rows and of columns */
    double x[NX * DX], z[N * DZ];
    int xid[N];
    struct hk_rng rng;
    hk_rng_seed(&rng, 7, 1);
    for (int i = 0; i < NX * DX; i++) x[i] = 2 * hk_rng_uniform(&rng) - 0.5;
    for (int i = 0; i < ORIG; i++) {
        xid[i] = xid[ORIG + i] = i % NX;
        for (int k = 0; k < DZ; k++) z[i * DZ + k] = z[(ORIG + i) * DZ + k] = 3 * hk_rng_uniform(&rng) - 1;
    }
    struct hk_inputs in = {.n = N, .nx = NX, .dx = DX, .x = x, .dz = DZ, .z = z, .xid = xid};
    int idx[N];
    for (int i = 0; i < N; i++) idx[i] = i;
    double *K = malloc((size_t)N * N * sizeof(double));
    for (int k = 0; k < HK_NKERNELS; k++)
        for (int L = 1; L <= 3; L++)
            for (int lower = 0; lower <= 1; lower++) {
            struct hk_depths d = {L, 4, 0};
            hk_kernel_eval(k, &d, &in, idx, N, &in, idx, N, lower, K, N);
            double worst_copy = 0;
            int inexact = 0;
            for (int i = 0; i < ORIG; i++) {
                /* the scalar maps, point by point (diagonals: V(k, k, k) = k exactly) */
                const double *xi = x + xid[i] * DX, *zi = z + i * DZ;
                double s = 0, zz = 0;
                for (int q = 0; q < DX; q++) s += xi[q] * xi[q];
                for (int q = 0; q < DZ; q++) zz += zi[q] * zi[q];
                s *= 1.0 / DX;
                zz *= 1.0 / DZ;
                double sf, tf, kd[3], kh, th, s_mlp, t_mlp;
                hk_relu_net_kernels(L, s, s, s, &sf, &tf);
                kd[0] = sf * zz;
                for (int l = 1; l < 3; l++) kd[l] = sf * kd[l - 1];
                hk_hyper_pair(4, sf, tf, zz, kd, kd, &kh, &th);
                double mlp_in = (s * DX + zz * DZ) * (1.0 / (DX + DZ));
                hk_relu_net_kernels(L + 4, mlp_in, mlp_in, mlp_in, &s_mlp, &t_mlp);
                double want = k == HK_SF ? sf : k == HK_TF ? tf : k == HK_KH ? kh : k == HK_TH ? th : t_mlp;
                /* the copy's entry from the lower triangle (row ORIG + i, column i) */
                double self = K[i + (size_t)i * N], copy = K[(ORIG + i) + (size_t)i * N];
                if (!(self == want) || !(K[(ORIG + i) + (size_t)(ORIG + i) * N] == want)) inexact++;
                worst_copy = worst_of(worst_copy, fabs(copy - want) / fabs(want));
                /* x-only kernels: a copy has the same x, whose f table entry is the scalar maps' */
                if (!hk_kernel_info(k)->point && !(copy == want)) inexact++;
            }
            CHECK(inexact == 0, "%s L=%d lower_only=%d: %d points paired with themselves (or, for Sf and Tf, with"
                  " their copies) differ from the scalar diagonal", hk_kernel_name(k), L, lower, inexact);
            CHECK(worst_copy <= 1e-14, "%s L=%d lower_only=%d: a point and its copy differ from the diagonal by %g"
                  " (relative)", hk_kernel_name(k), L, lower, worst_copy);
        }
    free(K);
}

int main(void)
{
    /* the comparison helper itself: a NaN error anywhere must fail the check */
    CHECK(!(worst_of(0, NAN) <= 1) && !(worst_of(NAN, 0.5) <= 1) && worst_of(0.25, 0.5) == 0.5,
          "worst_of lets a NaN through");
    test_normal_sampler();
    test_normal_stream_pinned();
    test_dual_maps();
    test_hand_cases();
    test_symmetric_psd();
    test_tiles_against_pairs();
    test_dedup();
    test_duplicate_points();
    return check_summary("test_kernels");
}
