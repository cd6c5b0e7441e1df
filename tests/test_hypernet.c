/* The finite hypernetwork: finite-difference gradients of every parameter
 * block, and the fast empirical NTK against the explicit Jacobian inner
 * product, on tiny networks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hk/data.h"
#include "hk/hypernet.h"
#include "hk/util.h"

struct fixture {
    struct hk_dataset data;
    int samples[8];
    struct hk_hn_batch batch;
};

static void make_fixture(struct fixture *f, int dx, int dz, int embed)
{
    /* 8 samples over 3 distinct x, in mixed order */
    struct hk_rng rng;
    hk_rng_seed(&rng, 9, 0);
    static const int xid[8] = {2, 0, 1, 0, 2, 2, 1, 0};
    double x[8 * 16], z[8 * 16], xs[3 * 16];
    for (int i = 0; i < 3 * dx; i++) xs[i] = hk_rng_normal(&rng);
    for (int i = 0; i < 8; i++) {
        memcpy(x + i * dx, xs + xid[i] * dx, dx * sizeof(double));
        for (int j = 0; j < dz; j++) z[i * dz + j] = 2 * hk_rng_uniform(&rng) - 1;
    }
    hk_dataset_from_points(8, dx, x, dz, z, &f->data);
    if (embed) { /* z and x through random Fourier features */
        hk_embed_fourier(&f->data, embed, 0.7, 5);
        hk_embed_fourier_x(&f->data, embed + 3, 1.3, 6);
    }
    for (int i = 0; i < 8; i++) f->samples[i] = i;
    f->batch = (struct hk_hn_batch){.in = &f->data.in, .samples = f->samples, .nb = 8};
}

/* loss = sum_b w[b] . out[b] */
static double weighted_output(const struct hk_hypernet *net, const struct hk_hn_batch *b, const double *w)
{
    struct hk_hn_cache c;
    hk_hn_forward(net, b, &c);
    double s = 0;
    for (int i = 0; i < b->nb * net->s.k; i++) s += w[i] * c.out[i];
    hk_hn_cache_free(&c);
    return s;
}

static double check_block(struct hk_hypernet *net, const struct hk_hn_batch *b, const double *w, double *param,
                          const double *grad, long count, const char *name)
{
    /* error relative to the block's largest gradient entry: for tiny entries
     * a per-entry ratio only measures finite-difference roundoff */
    double worst = 0, h = 1e-6, scale = 0;
    for (long i = 0; i < count; i++) scale = worst_of(scale, fabs(grad[i]));
    for (long i = 0; i < count; i++) {
        double keep = param[i];
        param[i] = keep + h;
        double up = weighted_output(net, b, w);
        param[i] = keep - h;
        double down = weighted_output(net, b, w);
        param[i] = keep;
        double fd = (up - down) / (2 * h);
        double err = fabs(fd - grad[i]) / scale;
        worst = worst_of(worst, err);
    }
    CHECK(worst < 1e-6, "%s: finite differences differ by %g (relative)", name, worst);
    return worst;
}

static void test_gradients(int L, int H, int k, int bottleneck, int embed)
{
    struct fixture f;
    make_fixture(&f, 3, 2, embed);
    struct hk_hn_shape s = {.dx = f.data.in.dx, .dz = f.data.in.dz, .n = 5, .L = L, .m = 4, .H = H, .k = k,
                            .bottleneck = bottleneck};
    struct hk_hypernet net;
    CHECK(hk_hn_init(&net, &s, 4) == 0, "init");
    double w[8 * 4];
    struct hk_rng rng;
    hk_rng_seed(&rng, 1, 1);
    for (int i = 0; i < 8 * k; i++) w[i] = hk_rng_normal(&rng);
    struct hk_hn_cache c;
    hk_hn_forward(&net, &f.batch, &c);
    struct hk_hn_grad g;
    hk_hn_grad_alloc(&net, &g);
    hk_hn_backward(&net, &f.batch, &c, w, &g);
    hk_hn_cache_free(&c);
    char name[64];
    for (int l = 1; l <= net.nf; l++) {
        snprintf(name, sizeof name, "W%d (L=%d H=%d k=%d b=%d embed=%d)", l, L, H, k, bottleneck, embed);
        check_block(&net, &f.batch, w, net.W[l], g.W[l], (long)net.fw[l] * net.fw[l - 1], name);
    }
    snprintf(name, sizeof name, "A (L=%d H=%d k=%d b=%d embed=%d)", L, H, k, bottleneck, embed);
    check_block(&net, &f.batch, w, net.A, g.A, net.P * net.fw[net.nf], name);
    hk_hn_grad_free(&g);
    hk_hn_free(&net);
    hk_dataset_free(&f.data);
}

/* MSE: the loss gradient end to end, by finite differences of the loss. */
static void test_mse_gradient(void)
{
    struct fixture f;
    make_fixture(&f, 3, 2, 0);
    struct hk_hn_shape s = {.dx = 3, .dz = 2, .n = 6, .L = 2, .m = 5, .H = 3, .k = 1};
    struct hk_hypernet net;
    hk_hn_init(&net, &s, 8);
    double y[8], dout[8];
    for (int i = 0; i < 8; i++) y[i] = sin(i);
    struct hk_hn_cache c;
    hk_hn_forward(&net, &f.batch, &c);
    hk_hn_mse(&c, y, dout);
    struct hk_hn_grad g;
    hk_hn_grad_alloc(&net, &g);
    hk_hn_backward(&net, &f.batch, &c, dout, &g);
    hk_hn_cache_free(&c);
    double worst = 0, h = 1e-6, scale = 0;
    for (long i = 0; i < net.P * s.n; i++) scale = worst_of(scale, fabs(g.A[i]));
    for (long i = 0; i < net.P * s.n; i += 7) {
        double keep = net.A[i], lu, ld;
        net.A[i] = keep + h;
        hk_hn_forward(&net, &f.batch, &c); lu = hk_hn_mse(&c, y, NULL); hk_hn_cache_free(&c);
        net.A[i] = keep - h;
        hk_hn_forward(&net, &f.batch, &c); ld = hk_hn_mse(&c, y, NULL); hk_hn_cache_free(&c);
        net.A[i] = keep;
        double fd = (lu - ld) / (2 * h);
        worst = worst_of(worst, fabs(fd - g.A[i]) / scale);
    }
    CHECK(worst < 1e-6, "MSE gradient of A differs from finite differences by %g", worst);
    hk_hn_grad_free(&g);
    hk_hn_free(&net);
    hk_dataset_free(&f.data);
}

/* Softmax cross-entropy: the loss gradient end to end, for W1 and A. */
static void test_cross_entropy_gradient(void)
{
    struct fixture f;
    make_fixture(&f, 3, 2, 16);
    struct hk_hn_shape s = {.dx = f.data.in.dx, .dz = f.data.in.dz, .n = 6, .L = 2, .m = 5, .H = 3, .k = 4,
                            .bottleneck = 3};
    struct hk_hypernet net;
    hk_hn_init(&net, &s, 21);
    int labels[8] = {0, 3, 1, 2, 2, 0, 1, 3};
    double dout[32];
    struct hk_hn_cache c;
    hk_hn_forward(&net, &f.batch, &c);
    int correct;
    double loss = hk_hn_cross_entropy(&c, 4, labels, dout, &correct);
    /* against the definition: mean over the batch of log-sum-exp minus the
     * label's logit, and the count of argmaxes equal to the label */
    double want = 0;
    int want_correct = 0;
    for (int b = 0; b < 8; b++) {
        const double *o = c.out + (size_t)b * 4;
        double mx = o[0], se = 0;
        int arg = 0;
        for (int k = 1; k < 4; k++) if (o[k] > mx) mx = o[k], arg = k;
        for (int k = 0; k < 4; k++) se += exp(o[k] - mx);
        want += (mx + log(se) - o[labels[b]]) / 8;
        want_correct += arg == labels[b];
    }
    CHECK_CLOSE(loss, want, 1e-13, "cross-entropy against its definition");
    CHECK(correct == want_correct, "correct %d, want %d", correct, want_correct);
    struct hk_hn_grad g;
    hk_hn_grad_alloc(&net, &g);
    hk_hn_backward(&net, &f.batch, &c, dout, &g);
    hk_hn_cache_free(&c);
    double *blocks[2] = {net.W[1], net.A}, *grads[2] = {g.W[1], g.A};
    long counts[2] = {(long)net.fw[1] * net.fw[0], net.P * net.fw[net.nf]};
    for (int bk = 0; bk < 2; bk++) {
        double worst = 0, h = 1e-6, scale = 0;
        for (long i = 0; i < counts[bk]; i++) scale = worst_of(scale, fabs(grads[bk][i]));
        for (long i = 0; i < counts[bk]; i += 3) {
            double keep = blocks[bk][i], lu, ld;
            blocks[bk][i] = keep + h;
            hk_hn_forward(&net, &f.batch, &c); lu = hk_hn_cross_entropy(&c, 4, labels, NULL, NULL); hk_hn_cache_free(&c);
            blocks[bk][i] = keep - h;
            hk_hn_forward(&net, &f.batch, &c); ld = hk_hn_cross_entropy(&c, 4, labels, NULL, NULL); hk_hn_cache_free(&c);
            blocks[bk][i] = keep;
            worst = worst_of(worst, fabs((lu - ld) / (2 * h) - grads[bk][i]) / scale);
        }
        CHECK(worst < 1e-6, "cross-entropy gradient of %s differs from finite differences by %g", bk ? "A" : "W1", worst);
    }
    hk_hn_grad_free(&g);
    hk_hn_free(&net);
    hk_dataset_free(&f.data);
}

/* The fast empirical NTK against <J(u), J(u')> with J from backward passes. */
static void test_entk_explicit(int L, int H, int bottleneck)
{
    struct fixture f;
    make_fixture(&f, 4, 3, 0);
    struct hk_hn_shape s = {.dx = 4, .dz = 3, .n = 7, .L = L, .m = 6, .H = H, .k = 2, .bottleneck = bottleneck};
    struct hk_hypernet net;
    hk_hn_init(&net, &s, 12);
    int nb = 8;
    double fast[64];
    hk_hn_entk(&net, &f.batch, fast);
    long np = net.nparams;
    double *J = hk_malloc((size_t)nb * np * sizeof(double));
    struct hk_hn_cache c;
    hk_hn_forward(&net, &f.batch, &c);
    for (int u = 0; u < nb; u++) {
        double dout[16] = {0};
        dout[u * s.k] = 1; /* output 0 of sample u */
        struct hk_hn_grad g;
        hk_hn_grad_alloc(&net, &g);
        hk_hn_backward(&net, &f.batch, &c, dout, &g);
        double *arrays[HK_MAX_DEPTH + 3];
        long counts[HK_MAX_DEPTH + 3], off = 0;
        int k = hk_hn_grad_views(&net, &g, arrays, counts);
        for (int a = 0; a < k; a++) {
            memcpy(J + (size_t)u * np + off, arrays[a], counts[a] * sizeof(double));
            off += counts[a];
        }
        CHECK(off == np, "gradient views cover %ld of %ld parameters", off, np);
        hk_hn_grad_free(&g);
    }
    hk_hn_cache_free(&c);
    double worst = 0, scale = 0;
    for (int i = 0; i < nb; i++)
        for (int j = 0; j < nb; j++) {
            double e = 0;
            for (long p = 0; p < np; p++) e += J[(size_t)i * np + p] * J[(size_t)j * np + p];
            worst = worst_of(worst, fabs(e - fast[i + j * nb]));
            scale = worst_of(scale, fabs(e));
        }
    CHECK(worst <= 1e-12 * scale, "fast empirical NTK (L=%d H=%d) differs from the explicit Jacobian product by %g of %g",
          L, H, worst, scale);
    free(J);
    hk_hn_free(&net);
    hk_dataset_free(&f.data);
}

/* A batch of 12 distinct x: gradients against finite differences, and
 * outputs against each sample run alone (12 x at once go through DGEMM, one
 * x through the one-pass loops). */
static void test_many_x_path(void)
{
    enum { NB = 12, DX = 4, DZ = 3 };
    struct hk_rng rng;
    hk_rng_seed(&rng, 17, 0);
    double x[NB * DX], z[NB * DZ];
    for (int i = 0; i < NB * DX; i++) x[i] = hk_rng_normal(&rng);
    for (int i = 0; i < NB * DZ; i++) z[i] = 2 * hk_rng_uniform(&rng) - 1;
    struct hk_dataset data;
    hk_dataset_from_points(NB, DX, x, DZ, z, &data);
    CHECK(data.in.nx == NB, "distinct x: %d of %d", data.in.nx, NB);
    int samples[NB];
    for (int i = 0; i < NB; i++) samples[i] = i;
    struct hk_hn_batch b = {.in = &data.in, .samples = samples, .nb = NB};
    struct hk_hn_shape s = {.dx = DX, .dz = DZ, .n = 6, .L = 2, .m = 5, .H = 3, .k = 2};
    struct hk_hypernet net;
    CHECK(hk_hn_init(&net, &s, 8) == 0, "init");
    double w[NB * 2];
    for (int i = 0; i < NB * 2; i++) w[i] = hk_rng_normal(&rng);
    struct hk_hn_cache c;
    hk_hn_forward(&net, &b, &c);
    double worst = 0;
    for (int i = 0; i < NB; i++) {
        struct hk_hn_batch one = {.in = &data.in, .samples = &samples[i], .nb = 1};
        struct hk_hn_cache c1;
        hk_hn_forward(&net, &one, &c1);
        for (int j = 0; j < 2; j++)
            worst = worst_of(worst, fabs(c1.out[j] - c.out[i * 2 + j]) / (fabs(c.out[i * 2 + j]) + 1e-300));
        hk_hn_cache_free(&c1);
    }
    CHECK(worst < 1e-13, "12 x at once (GEMM) and one at a time (one pass over A) differ by %g", worst);
    struct hk_hn_grad g;
    hk_hn_grad_alloc(&net, &g);
    hk_hn_backward(&net, &b, &c, w, &g);
    hk_hn_cache_free(&c);
    check_block(&net, &b, w, net.W[1], g.W[1], (long)net.fw[1] * net.fw[0], "W1 (12 distinct x)");
    check_block(&net, &b, w, net.A, g.A, net.P * net.fw[net.nf], "A (12 distinct x)");
    hk_hn_grad_free(&g);
    hk_hn_free(&net);
    hk_dataset_free(&data);
}

/* The products with A for few distinct x (nx <= 8: register-blocked loops
 * over A's rows, no BLAS) and for more (DGEMM), at a width n = 37 that
 * leaves a remainder after the 8-wide vectors and P = 50 rows that leave one
 * after blocks of 4 and of 3: the generated weights V against the product
 * summed here in long double, the gradients of A and of f's layers (through
 * dphi = dV A) against finite differences, and the empirical NTK with A
 * drawn as it is multiplied (hk_hn_reseed_entk) against hk_hn_reseed and
 * hk_hn_entk_outputs: the same bits. */
static void test_skinny_products(void)
{
    enum { DX = 4, DZ = 4, MAXX = 9 };
    struct hk_rng rng;
    hk_rng_seed(&rng, 23, 0);
    double xs[MAXX * DX];
    for (int i = 0; i < MAXX * DX; i++) xs[i] = hk_rng_normal(&rng);
    struct hk_hn_shape s = {.dx = DX, .dz = DZ, .n = 37, .L = 2, .m = 10, .H = 2, .k = 1};
    for (int nx = 1; nx <= MAXX; nx++) {
        const int nb = 2 * nx;
        double x[2 * MAXX * DX], z[2 * MAXX * DZ], w[2 * MAXX];
        int samples[2 * MAXX];
        for (int i = 0; i < nb; i++) {
            memcpy(x + i * DX, xs + (i % nx) * DX, DX * sizeof(double));
            for (int j = 0; j < DZ; j++) z[i * DZ + j] = 2 * hk_rng_uniform(&rng) - 1;
            w[i] = hk_rng_normal(&rng);
            samples[i] = i;
        }
        struct hk_dataset data;
        hk_dataset_from_points(nb, DX, x, DZ, z, &data);
        CHECK(data.in.nx == nx, "distinct x: %d of %d", data.in.nx, nx);
        struct hk_hn_batch b = {.in = &data.in, .samples = samples, .nb = nb};
        struct hk_hypernet net;
        CHECK(hk_hn_init(&net, &s, 31 + nx) == 0, "init");
        const int n = net.fw[net.nf];
        CHECK(n == 37 && net.P == 50, "shape: n %d, P %ld", n, net.P);
        struct hk_hn_cache c;
        hk_hn_forward(&net, &b, &c);
        double worst = 0, scale = 0;
        for (int q = 0; q < nx; q++)
            for (long p = 0; p < net.P; p++) {
                long double sum = 0;
                for (int k = 0; k < n; k++) sum += (long double)net.A[p * n + k] * c.a[net.nf][(size_t)q * n + k];
                double want = (double)(sum / sqrtl(n));
                worst = worst_of(worst, fabs(c.V[(size_t)q * net.P + p] - want));
                scale = worst_of(scale, fabs(want));
            }
        CHECK(scale > 0 && worst <= 1e-14 * scale, "%d distinct x: generated weights V differ from the product by %g of %g",
              nx, worst, scale);
        hk_hn_cache_free(&c);
        struct hk_hn_grad g;
        hk_hn_grad_alloc(&net, &g);
        hk_hn_forward(&net, &b, &c);
        hk_hn_backward(&net, &b, &c, w, &g);
        hk_hn_cache_free(&c);
        char name[64];
        snprintf(name, sizeof name, "A (%d distinct x)", nx);
        check_block(&net, &b, w, net.A, g.A, net.P * n, name);
        snprintf(name, sizeof name, "W1 (%d distinct x, through dphi)", nx);
        check_block(&net, &b, w, net.W[1], g.W[1], (long)net.fw[1] * net.fw[0], name);
        hk_hn_grad_free(&g);
        /* the NTK with A drawn as it is multiplied, against the network redrawn whole */
        double *k1 = malloc((size_t)nb * (nb + 1) * sizeof(double)), *k2 = malloc((size_t)nb * (nb + 1) * sizeof(double));
        hk_hn_reseed(&net, 77);
        hk_hn_entk_outputs(&net, &b, k1, k1 + (size_t)nb * nb);
        double *a_whole = malloc((size_t)net.P * n * sizeof(double));
        memcpy(a_whole, net.A, (size_t)net.P * n * sizeof(double));
        hk_hn_reseed(&net, 5); /* something else in A first */
        hk_hn_reseed_entk(&net, 77, &b, k2, k2 + (size_t)nb * nb);
        CHECK(!memcmp(a_whole, net.A, (size_t)net.P * n * sizeof(double)), "%d distinct x: A drawn in blocks differs", nx);
        CHECK(!memcmp(k1, k2, (size_t)nb * (nb + 1) * sizeof(double)),
              "%d distinct x: NTK with A drawn as it is multiplied differs from the whole network's", nx);
        free(k1); free(k2); free(a_whole);
        hk_hn_free(&net);
        hk_dataset_free(&data);
    }
}

int main(void)
{
    test_gradients(2, 3, 2, 0, 0);
    test_gradients(1, 1, 1, 0, 0);
    test_gradients(3, 2, 3, 0, 0);
    test_gradients(1, 4, 1, 0, 0);
    test_gradients(2, 3, 2, 3, 0);   /* with a bottleneck in f */
    test_gradients(2, 3, 1, 0, 12);  /* z through a Fourier embedding */
    test_mse_gradient();
    test_cross_entropy_gradient();
    test_many_x_path();
    test_skinny_products();
    test_entk_explicit(2, 3, 0);
    test_entk_explicit(1, 1, 0);
    test_entk_explicit(3, 4, 0);
    test_entk_explicit(2, 3, 4);
    return check_summary("test_hypernet");
}
