/* The finite hypernetwork: finite-difference gradients of every parameter
 * block, and the fast empirical NTK against the explicit Jacobian inner
 * product, on tiny networks. */
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

static void make_fixture(struct fixture *f, int dx, int dz)
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
    for (long i = 0; i < count; i++) scale = fmax(scale, fabs(grad[i]));
    for (long i = 0; i < count; i++) {
        double keep = param[i];
        param[i] = keep + h;
        double up = weighted_output(net, b, w);
        param[i] = keep - h;
        double down = weighted_output(net, b, w);
        param[i] = keep;
        double fd = (up - down) / (2 * h);
        double err = fabs(fd - grad[i]) / scale;
        if (err > worst) worst = err;
    }
    CHECK(worst < 1e-6, "%s: finite differences differ by %g (relative)", name, worst);
    return worst;
}

static void test_gradients(int L, int H, int k)
{
    struct fixture f;
    make_fixture(&f, 3, 2);
    struct hk_hn_shape s = {.dx = 3, .dz = 2, .n = 5, .L = L, .m = 4, .H = H, .k = k};
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
    for (int l = 1; l <= L; l++) {
        snprintf(name, sizeof name, "W%d (L=%d H=%d k=%d)", l, L, H, k);
        check_block(&net, &f.batch, w, net.W[l], g.W[l], (long)s.n * (l == 1 ? s.dx : s.n), name);
    }
    snprintf(name, sizeof name, "A (L=%d H=%d k=%d)", L, H, k);
    check_block(&net, &f.batch, w, net.A, g.A, net.P * s.n, name);
    hk_hn_grad_free(&g);
    hk_hn_free(&net);
    hk_dataset_free(&f.data);
}

/* MSE: the loss gradient end to end, by finite differences of the loss. */
static void test_mse_gradient(void)
{
    struct fixture f;
    make_fixture(&f, 3, 2);
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
    for (long i = 0; i < net.P * s.n; i++) scale = fmax(scale, fabs(g.A[i]));
    for (long i = 0; i < net.P * s.n; i += 7) {
        double keep = net.A[i], lu, ld;
        net.A[i] = keep + h;
        hk_hn_forward(&net, &f.batch, &c); lu = hk_hn_mse(&c, y, NULL); hk_hn_cache_free(&c);
        net.A[i] = keep - h;
        hk_hn_forward(&net, &f.batch, &c); ld = hk_hn_mse(&c, y, NULL); hk_hn_cache_free(&c);
        net.A[i] = keep;
        double fd = (lu - ld) / (2 * h);
        worst = fmax(worst, fabs(fd - g.A[i]) / scale);
    }
    CHECK(worst < 1e-6, "MSE gradient of A differs from finite differences by %g", worst);
    hk_hn_grad_free(&g);
    hk_hn_free(&net);
    hk_dataset_free(&f.data);
}

/* The fast empirical NTK against <J(u), J(u')> with J from backward passes. */
static void test_entk_explicit(int L, int H)
{
    struct fixture f;
    make_fixture(&f, 4, 3);
    struct hk_hn_shape s = {.dx = 4, .dz = 3, .n = 7, .L = L, .m = 6, .H = H, .k = 2};
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
        long off = 0;
        for (int l = 1; l <= L; l++) {
            long cnt = (long)s.n * (l == 1 ? s.dx : s.n);
            memcpy(J + (size_t)u * np + off, g.W[l], cnt * sizeof(double));
            off += cnt;
        }
        memcpy(J + (size_t)u * np + off, g.A, net.P * s.n * sizeof(double));
        hk_hn_grad_free(&g);
    }
    hk_hn_cache_free(&c);
    double worst = 0, scale = 0;
    for (int i = 0; i < nb; i++)
        for (int j = 0; j < nb; j++) {
            double e = 0;
            for (long p = 0; p < np; p++) e += J[(size_t)i * np + p] * J[(size_t)j * np + p];
            worst = fmax(worst, fabs(e - fast[i + j * nb]));
            scale = fmax(scale, fabs(e));
        }
    CHECK(worst <= 1e-12 * scale, "fast empirical NTK (L=%d H=%d) differs from the explicit Jacobian product by %g of %g",
          L, H, worst, scale);
    free(J);
    hk_hn_free(&net);
    hk_dataset_free(&f.data);
}

int main(void)
{
    test_gradients(2, 3, 2);
    test_gradients(1, 1, 1);
    test_gradients(3, 2, 3);
    test_gradients(1, 4, 1);
    test_mse_gradient();
    test_entk_explicit(2, 3);
    test_entk_explicit(1, 1);
    test_entk_explicit(3, 4);
    return check_summary("test_hypernet");
}
