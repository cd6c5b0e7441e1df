/* The plain MLP on (x, z) and the trainer's validation machinery:
 *   - the MLP's outputs against a direct evaluation of its formula (no
 *     distinct-x grouping, no BLAS);
 *   - every layer's gradient against finite differences;
 *   - its empirical NTK at initialisation, averaged over seeds, against the
 *     kernel Tmlp (z-scores), and shown to reject Tmlp of one layer less;
 *   - early stopping keeps the epoch of the least validation loss, the lr
 *     search keeps the run of the least validation loss, and the
 *     still-improving flag follows the loss (run on 1 and 2 ranks: the
 *     data-parallel sums must not change the choices);
 *   - precision: float32 follows float64 (gradients and training paths). */
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hk/data.h"
#include "hk/kernels.h"
#include "hk/model.h"
#include "hk/train.h"
#include "hk/util.h"

/* n points over nx distinct x (drawn from seed), with z in [-1, 1]^dz
 * (from seed and zstream) */
static void make_points_z(struct hk_dataset *d, int n, int nx, int dx, int dz, long seed, int zstream)
{
    struct hk_rng rng, rz;
    hk_rng_seed(&rng, (uint64_t)seed, 0);
    hk_rng_seed(&rz, (uint64_t)seed, 1 + (uint64_t)zstream);
    double *xs = hk_malloc((size_t)nx * dx * sizeof(double)), *x = hk_malloc((size_t)n * dx * sizeof(double));
    double *z = hk_malloc((size_t)n * dz * sizeof(double));
    for (int i = 0; i < nx * dx; i++) xs[i] = hk_rng_normal(&rng);
    for (int i = 0; i < n; i++) {
        memcpy(x + (size_t)i * dx, xs + (size_t)((i * 7 + 3) % nx) * dx, dx * sizeof(double));
        for (int j = 0; j < dz; j++) z[(size_t)i * dz + j] = 2 * hk_rng_uniform(&rz) - 1;
    }
    hk_dataset_from_points(n, dx, x, dz, z, d);
    d->y = hk_malloc((size_t)n * sizeof(double));
    for (int i = 0; i < n; i++) {
        const double *xi = d->x + (size_t)d->xid[i] * dx, *zi = d->z + (size_t)i * dz;
        d->y[i] = sin(2 * xi[0] + zi[0]) + 0.5 * zi[dz - 1] * xi[dx - 1];
    }
    free(xs), free(x), free(z);
}

static void make_points(struct hk_dataset *d, int n, int nx, int dx, int dz, long seed)
{
    make_points_z(d, n, nx, dx, dz, seed, 0);
}

/* The formula: y1 = W1 (x, z) / sqrt(dx + dz), a = s(y), y' = W a / sqrt(n). */
static void mlp_direct(const struct hk_mlp *net, const struct hk_inputs *in, int i, double *out)
{
    const struct hk_mlp_shape *s = &net->s;
    const int d = s->dx + s->dz;
    double *u = malloc((size_t)d * sizeof(double)), *h = malloc((size_t)s->n * sizeof(double));
    double *a = malloc((size_t)s->n * sizeof(double));
    memcpy(u, in->x + (size_t)in->xid[i] * s->dx, s->dx * sizeof(double));
    memcpy(u + s->dx, in->z + (size_t)i * s->dz, s->dz * sizeof(double));
    for (int r = 0; r < s->n; r++) {
        double acc = 0;
        for (int c = 0; c < d; c++) acc += net->W[1][(size_t)r * d + c] * u[c];
        h[r] = acc / sqrt(d);
    }
    for (int l = 1; l <= s->depth; l++) {
        for (int r = 0; r < s->n; r++) a[r] = h[r] > 0 ? sqrt(2.0) * h[r] : 0;
        const int w = net->w[l + 1];
        double *dst = l < s->depth ? h : out;
        for (int r = 0; r < w; r++) {
            double acc = 0;
            for (int c = 0; c < s->n; c++) acc += net->W[l + 1][(size_t)r * s->n + c] * a[c];
            dst[r] = acc / sqrt(s->n);
        }
    }
    free(u), free(h), free(a);
}

static void test_forward_direct(int depth, int k)
{
    struct hk_dataset d;
    make_points(&d, 9, 3, 4, 3, 1);
    struct hk_mlp net;
    struct hk_mlp_shape s = {.dx = 4, .dz = 3, .n = 6, .depth = depth, .k = k};
    CHECK(hk_mlp_init(&net, &s, 5) == 0, "init");
    CHECK(net.nparams == 6L * 7 + (depth - 1) * 36L + 6L * k, "parameter count %ld", net.nparams);
    int samples[9] = {4, 0, 8, 1, 5, 2, 7, 3, 6};
    struct hk_hn_batch b = {.in = &d.in, .samples = samples, .nb = 9};
    double out[9 * 4], want[4], worst = 0;
    hk_mlp_outputs(&net, &b, out);
    for (int i = 0; i < 9; i++) {
        mlp_direct(&net, &d.in, samples[i], want);
        for (int j = 0; j < k; j++) worst = worst_of(worst, fabs(out[i * k + j] - want[j]));
    }
    CHECK(worst <= 1e-12, "MLP depth %d k %d: outputs differ from the formula by %g", depth, k, worst);
    hk_mlp_free(&net);
    hk_dataset_free(&d);
}

/* sum_b w[b] . out[b] */
static double weighted(const struct hk_model *m, const struct hk_hn_batch *b, const double *w)
{
    double out[64], s = 0;
    m->release(m->forward(m->net, b, out));
    for (int i = 0; i < b->nb * m->k; i++) s += w[i] * out[i];
    return s;
}

static void test_gradients(int depth, int k)
{
    struct hk_dataset d;
    make_points(&d, 8, 3, 3, 2, 2);
    struct hk_mlp net;
    struct hk_mlp_shape s = {.dx = 3, .dz = 2, .n = 6, .depth = depth, .k = k};
    CHECK(hk_mlp_init(&net, &s, 3) == 0, "init");
    struct hk_model m;
    hk_model_of_mlp(&m, &net);
    int samples[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    struct hk_hn_batch b = {.in = &d.in, .samples = samples, .nb = 8};
    double w[64], out[64];
    struct hk_rng rng;
    hk_rng_seed(&rng, 4, 0);
    for (int i = 0; i < 8 * k; i++) w[i] = hk_rng_normal(&rng);
    double *g[HK_MODEL_MAX_ARRAYS];
    for (int a = 0; a < m.narrays; a++) g[a] = hk_calloc((size_t)m.counts[a], sizeof(double));
    void *saved = m.forward(m.net, &b, out);
    m.backward(m.net, &b, saved, w, (void **)g);
    m.release(saved);
    CHECK(m.narrays == depth + 1, "%d arrays", m.narrays);
    for (int a = 0; a < m.narrays; a++) {
        double worst = 0, scale = 0, h = 1e-6;
        for (long i = 0; i < m.counts[a]; i++) scale = worst_of(scale, fabs(g[a][i]));
        for (long i = 0; i < m.counts[a]; i++) {
            double keep = m.params[a][i];
            m.params[a][i] = keep + h;
            double up = weighted(&m, &b, w);
            m.params[a][i] = keep - h;
            double down = weighted(&m, &b, w);
            m.params[a][i] = keep;
            worst = worst_of(worst, fabs((up - down) / (2 * h) - g[a][i]) / scale);
        }
        CHECK(scale > 0 && worst <= 1e-6, "MLP depth %d k %d: gradient of layer %d off by %g (relative)", depth, k,
              a + 1, worst);
        free(g[a]);
    }
    hk_mlp_free(&net);
    hk_dataset_free(&d);
}

/* The empirical NTK of the MLP of depth_f + depth_g hidden layers, over
 * seeds, against Tmlp: each entry's mean with its standard error. */
static void test_ntk_monte_carlo(void)
{
    const int P = 5, S = 24, n = 384, dx = 3, dz = 2;
    struct hk_dataset d;
    make_points(&d, P, 3, dx, dz, 7);
    struct hk_depths depths = {1, 2, 0};
    int idx[5] = {0, 1, 2, 3, 4};
    double want[25], wrong[25], sum[25] = {0}, sq[25] = {0};
    CHECK(hk_kernel_eval(HK_TMLP, &depths, &d.in, idx, P, &d.in, idx, P, 0, want, P) == 0, "Tmlp");
    struct hk_depths fewer = {1, 1, 0};
    CHECK(hk_kernel_eval(HK_TMLP, &fewer, &d.in, idx, P, &d.in, idx, P, 0, wrong, P) == 0, "Tmlp, one layer less");
    struct hk_mlp_shape s = {.dx = dx, .dz = dz, .n = n, .depth = 3, .k = 1};
    for (int seed = 0; seed < S; seed++) {
        struct hk_mlp net;
        hk_mlp_init(&net, &s, 100 + seed);
        struct hk_model m;
        hk_model_of_mlp(&m, &net);
        double *grads = hk_calloc((size_t)P * m.nparams, sizeof(double)), one = 1, out;
        for (int i = 0; i < P; i++) {
            double *g[HK_MODEL_MAX_ARRAYS];
            long off = 0;
            for (int a = 0; a < m.narrays; a++) g[a] = grads + (size_t)i * m.nparams + off, off += m.counts[a];
            struct hk_hn_batch b = {.in = &d.in, .samples = &idx[i], .nb = 1};
            void *saved = m.forward(m.net, &b, &out);
            m.backward(m.net, &b, saved, &one, (void **)g);
            m.release(saved);
        }
        for (int i = 0; i < P; i++)
            for (int j = 0; j < P; j++) {
                double dot = 0;
                for (long q = 0; q < m.nparams; q++) dot += grads[(size_t)i * m.nparams + q] * grads[(size_t)j * m.nparams + q];
                sum[i + j * P] += dot;
                sq[i + j * P] += dot * dot;
            }
        free(grads);
        hk_mlp_free(&net);
    }
    double zmax = 0, zwrong = 0;
    for (int e = 0; e < P * P; e++) {
        double mean = sum[e] / S, se = sqrt(fmax(sq[e] / S - mean * mean, 0) / (S - 1));
        zmax = worst_of(zmax, fabs(mean - want[e]) / se);
        zwrong = worst_of(zwrong, fabs(mean - wrong[e]) / se);
    }
    /* 25 entries, 24 seeds: each z is t-distributed with 23 degrees of freedom, so |z| > 4.5 by chance
     * in about 4 of 1,000 draws of the seeds (the seeds are fixed: the outcome does not change run to run) */
    CHECK(zmax <= 4.5, "MLP empirical NTK vs Tmlp: largest |z| %g", zmax);
    CHECK(zwrong >= 10, "the test cannot tell Tmlp from Tmlp with one layer less: largest |z| %g", zwrong);
    hk_dataset_free(&d);
}

static void test_early_stopping(MPI_Comm comm)
{
    struct hk_dataset tr, va;
    /* validation: the same x, other z */
    make_points_z(&tr, 60, 6, 3, 2, 11, 0);
    make_points_z(&va, 30, 6, 3, 2, 11, 1);
    struct hk_mlp_shape s = {.dx = 3, .dz = 2, .n = 24, .depth = 2, .k = 1};
    struct hk_mlp net;
    hk_mlp_init(&net, &s, 13);
    struct hk_model m;
    hk_model_of_mlp(&m, &net);
    struct hk_train_opts o = {.epochs = 40, .batch_size = 8, .lr = 0.3, .momentum = 0.9, .shuffle_seed = 1,
                              .val = &va.in, .val_y = va.y, .patience = 4};
    struct hk_train_log lg;
    long steps;
    long rc = hk_train_model(&m, &tr.in, tr.y, NULL, &o, comm, NULL, NULL, &steps, &lg);
    double vl, tl;
    hk_model_evaluate(&m, &va.in, va.y, NULL, NULL, comm, &vl, NULL, NULL);
    double least = INFINITY;
    int at = -1;
    for (int e = 0; e <= lg.epochs_run; e++)
        if (lg.val_loss[e] < least) least = lg.val_loss[e], at = e;
    CHECK(rc == -1, "training ended with %ld", rc);
    CHECK(at == lg.best_epoch, "best epoch %d, least validation loss at %d", lg.best_epoch, at);
    CHECK_CLOSE(vl, least, 1e-12, "validation loss of the network kept vs the least of its curve");
    CHECK(lg.epochs_run < 40 && lg.epochs_run - lg.best_epoch == 4,
          "patience 4: stopped after %d epochs, best %d", lg.epochs_run, lg.best_epoch);
    CHECK(!lg.still_improving, "a stopped run is not still improving");
    hk_train_log_free(&lg);
    /* the lr search: the run kept has the least validation loss */
    hk_mlp_free(&net);
    hk_mlp_init(&net, &s, 13);
    hk_model_of_mlp(&m, &net);
    const double lrs[3] = {0.0001, 0.05, 30.0};
    double by_lr[3];
    int chosen;
    o.epochs = 12;
    rc = hk_train_select(&m, &tr.in, tr.y, NULL, &o, lrs, 3, comm, NULL, NULL, &steps, &lg, by_lr, &chosen);
    hk_model_evaluate(&m, &va.in, va.y, NULL, NULL, comm, &vl, NULL, NULL);
    int argmin = 0;
    for (int r = 1; r < 3; r++) if (by_lr[r] < by_lr[argmin]) argmin = r;
    CHECK(chosen == argmin && chosen == 1, "chose lr %d, least validation loss at %d (%g %g %g)", chosen, argmin,
          by_lr[0], by_lr[1], by_lr[2]);
    CHECK_CLOSE(vl, by_lr[chosen], 1e-12, "validation loss of the network kept vs its run's best");
    CHECK(rc == -1, "the search ended with %ld", rc);
    hk_train_log_free(&lg);
    /* each run of the search starts from the initial parameters: lr 0.05 alone gives the same best loss */
    hk_mlp_free(&net);
    hk_mlp_init(&net, &s, 13);
    hk_model_of_mlp(&m, &net);
    struct hk_train_opts alone = o;
    alone.lr = lrs[1];
    hk_train_model(&m, &tr.in, tr.y, NULL, &alone, comm, NULL, NULL, &steps, &lg);
    CHECK_CLOSE(lg.val_loss[lg.best_epoch], by_lr[1], 1e-12, "lr 0.05 alone vs its run in the search");
    hk_train_log_free(&lg);
    /* the flag: a slow lr is still improving after 3 epochs, lr 0 is not */
    hk_mlp_free(&net);
    hk_mlp_init(&net, &s, 13);
    hk_model_of_mlp(&m, &net);
    struct hk_train_opts slow = {.epochs = 3, .batch_size = 8, .lr = 0.01, .momentum = 0, .shuffle_seed = 1};
    hk_train_model(&m, &tr.in, tr.y, NULL, &slow, comm, NULL, NULL, &steps, &lg);
    CHECK(lg.still_improving == 1, "lr 0.01, 3 epochs: training loss %g -> %g, flag %d", lg.train_loss[0],
          lg.train_loss[3], lg.still_improving);
    hk_model_evaluate(&m, &tr.in, tr.y, NULL, NULL, comm, &tl, NULL, NULL);
    CHECK(tl < lg.train_loss[0], "training loss fell: %g -> %g", lg.train_loss[0], tl);
    hk_train_log_free(&lg);
    slow.lr = 0;
    hk_train_model(&m, &tr.in, tr.y, NULL, &slow, comm, NULL, NULL, &steps, &lg);
    CHECK(lg.still_improving == 0, "lr 0: the flag is %d", lg.still_improving);
    CHECK_CLOSE(lg.train_loss[3], lg.train_loss[0], 1e-12, "lr 0 leaves the loss where it was");
    hk_train_log_free(&lg);
    hk_mlp_free(&net);
    hk_dataset_free(&tr);
    hk_dataset_free(&va);
}

/* batch_by_x: every minibatch of samples_per_x samples holds exactly one
 * distinct x, each epoch visits every x once, in an order that changes */
static const struct hk_model *spied;
static int seen_batches, whole_groups, first_x[64];
static void *spy_forward(const void *net, const struct hk_hn_batch *b, double *out)
{
    int one = 1;
    for (int i = 1; i < b->nb; i++) one &= b->in->xid[b->samples[i]] == b->in->xid[b->samples[0]];
    if (seen_batches < 64) first_x[seen_batches] = b->in->xid[b->samples[0]];
    seen_batches++;
    whole_groups += one && b->nb == 10;
    return spied->forward(net, b, out);
}

static void test_batches_by_x(void)
{
    struct hk_dataset tr;
    make_points(&tr, 60, 6, 3, 2, 21);      /* 6 distinct x, 10 samples each */
    struct hk_mlp_shape s = {.dx = 3, .dz = 2, .n = 8, .depth = 1, .k = 1};
    struct hk_mlp net;
    hk_mlp_init(&net, &s, 1);
    struct hk_model inner, m;
    hk_model_of_mlp(&inner, &net);
    m = inner;
    spied = &inner;
    m.forward = spy_forward;
    struct hk_train_opts o = {.epochs = 3, .batch_size = 10, .lr = 0.01, .shuffle_seed = 5, .batch_by_x = 1};
    long steps;
    hk_train_model(&m, &tr.in, tr.y, NULL, &o, MPI_COMM_SELF, NULL, NULL, &steps, NULL);
    CHECK(steps == 18 && seen_batches == 18 && whole_groups == 18, "%ld steps, %d batches, %d of one whole x",
          steps, seen_batches, whole_groups);
    int same_order = 1;
    for (int e = 0; e < 3; e++) {
        int seen[6] = {0};
        for (int b = 0; b < 6; b++) seen[first_x[e * 6 + b]]++;
        for (int q = 0; q < 6; q++) CHECK(seen[q] == 1, "epoch %d visits x %d %d times", e, q, seen[q]);
    }
    for (int b = 0; b < 6; b++) same_order &= first_x[b] == first_x[6 + b] && first_x[b] == first_x[12 + b];
    CHECK(!same_order, "the order of the x is shuffled each epoch");
    hk_mlp_free(&net);
    hk_dataset_free(&tr);
}

/* precision: float32 against float64, for both models. A network and its
 * float32 copy (the same initialisation, rounded) must give the same
 * gradient to float32 rounding, and train along the same path: with the
 * same data, shuffles and lr, the training loss of every epoch within a
 * relative 1e-4 of float64's, and the final outputs on held-out points
 * within 1e-4 of their rms (measured here: under 1e-6). The same comparison
 * between two float64 runs whose lr differs by 2 % is 100 times over the
 * tolerance, so it tells a real difference of training from rounding. The
 * lr keeps SGD away from the edge of stability: there (lr 0.05 for the MLP)
 * a ReLU that flips in one precision and not the other is amplified, and
 * float32 and float64 runs part after a dozen epochs, as any two runs that
 * differ by rounding do. */
struct precision_pair {
    struct hk_hypernet hn;
    struct hk_mlp mlp;
    struct hk_model m;
};

static void pair_init(struct precision_pair *p, int is_mlp, int f32)
{
    memset(p, 0, sizeof *p);
    if (is_mlp) {
        struct hk_mlp_shape s = {.dx = 3, .dz = 2, .n = 48, .depth = 3, .k = 1};
        hk_mlp_init(&p->mlp, &s, 29);
        if (f32) CHECK(hk_model_of_mlp32(&p->m, &p->mlp) == 0, "float32 MLP");
        else hk_model_of_mlp(&p->m, &p->mlp);
    } else {
        struct hk_hn_shape s = {.dx = 3, .dz = 2, .n = 48, .L = 2, .m = 16, .H = 3, .k = 1};
        hk_hn_init(&p->hn, &s, 29);
        if (f32) CHECK(hk_model_of_hypernet32(&p->m, &p->hn) == 0, "float32 hypernetwork");
        else hk_model_of_hypernet(&p->m, &p->hn);
    }
}

static void pair_free(struct precision_pair *p, int is_mlp)
{
    if (is_mlp) hk_mlp_free(&p->mlp);
    else hk_hn_free(&p->hn);
}

/* relative L2 difference of float32 arrays from double ones */
static double rel_diff32(const float *a, const double *b, long n)
{
    double d = 0, nb = 0;
    for (long i = 0; i < n; i++) d += pow(a[i] - b[i], 2), nb += b[i] * b[i];
    return sqrt(d / nb);
}

static void train_curve(struct precision_pair *p, const struct hk_dataset *tr, const struct hk_dataset *te, double lr,
                        double *curve, double *test_out, double *test_loss)
{
    struct hk_train_opts o = {.epochs = 25, .batch_size = 10, .lr = lr, .momentum = 0.9, .shuffle_seed = 3};
    struct hk_train_log lg;
    long steps;
    hk_train_model(&p->m, &tr->in, tr->y, NULL, &o, MPI_COMM_SELF, NULL, NULL, &steps, &lg);
    memcpy(curve, lg.train_loss, 26 * sizeof(double));
    hk_train_log_free(&lg);
    hk_model_evaluate(&p->m, &te->in, te->y, NULL, NULL, MPI_COMM_SELF, test_loss, NULL, test_out);
}

static void test_float32(int is_mlp)
{
    const char *name = is_mlp ? "MLP" : "hypernetwork";
    struct hk_dataset tr, te;
    make_points_z(&tr, 120, 12, 3, 2, 31, 0);
    make_points_z(&te, 60, 12, 3, 2, 31, 1);
    /* the gradient of one batch */
    struct precision_pair d64, d32;
    pair_init(&d64, is_mlp, 0);
    pair_init(&d32, is_mlp, 1);
    int idx[40];
    for (int i = 0; i < 40; i++) idx[i] = i;
    struct hk_hn_batch b = {.in = &tr.in, .samples = idx, .nb = 40};
    double out64[40], out32[40], w[40];
    void *s64 = d64.m.forward(d64.m.net, &b, out64), *s32 = d32.m.forward(d32.m.net, &b, out32);
    double worst_out = 0, scale = 0;
    for (int i = 0; i < 40; i++) {
        w[i] = tr.y[i] - out64[i];
        worst_out = worst_of(worst_out, fabs(out32[i] - out64[i]));
        scale = fmax(scale, fabs(out64[i]));
    }
    CHECK(worst_out <= 1e-5 * scale, "%s float32 outputs: largest difference %g (outputs up to %g)", name, worst_out,
          scale);
    void *g64[HK_MODEL_MAX_ARRAYS], *g32[HK_MODEL_MAX_ARRAYS];
    for (int a = 0; a < d64.m.narrays; a++) {
        g64[a] = calloc((size_t)d64.m.counts[a], sizeof(double));
        g32[a] = calloc((size_t)d64.m.counts[a], sizeof(float));
    }
    d64.m.backward(d64.m.net, &b, s64, w, g64);
    d32.m.backward(d32.m.net, &b, s32, w, g32);
    d64.m.release(s64);
    d32.m.release(s32);
    double worst_grad = 0;
    for (int a = 0; a < d64.m.narrays; a++) {
        worst_grad = worst_of(worst_grad, rel_diff32(g32[a], g64[a], d64.m.counts[a]));
        free(g64[a]);
        free(g32[a]);
    }
    CHECK(worst_grad <= 2e-5, "%s float32 gradient: relative difference %g from float64", name, worst_grad);
    /* training: float64 at lr, float32 at lr, float64 at 1.02 lr */
    const double lr = 0.02;
    double c64[26], c32[26], cwrong[26], t64[60], t32[60], twrong[60], l64, l32, lwrong;
    train_curve(&d64, &tr, &te, lr, c64, t64, &l64);
    train_curve(&d32, &tr, &te, lr, c32, t32, &l32);
    struct precision_pair other;
    pair_init(&other, is_mlp, 0);
    train_curve(&other, &tr, &te, 1.02 * lr, cwrong, twrong, &lwrong);
    double curve32 = 0, curve_wrong = 0, test32 = 0, test_wrong = 0, rms = 0;
    for (int e = 0; e <= 25; e++) {
        curve32 = worst_of(curve32, fabs(c32[e] - c64[e]) / c64[e]);
        curve_wrong = worst_of(curve_wrong, fabs(cwrong[e] - c64[e]) / c64[e]);
    }
    for (int i = 0; i < 60; i++) {
        test32 = worst_of(test32, fabs(t32[i] - t64[i]));
        test_wrong = worst_of(test_wrong, fabs(twrong[i] - t64[i]));
        rms += t64[i] * t64[i] / 60;
    }
    rms = sqrt(rms);
    CHECK(c64[25] < 0.5 * c64[0], "%s trained: loss %g -> %g", name, c64[0], c64[25]);
    CHECK(curve32 <= 1e-4, "%s float32 training loss: relative difference up to %g from float64", name, curve32);
    CHECK(test32 <= 1e-4 * rms, "%s float32 trained outputs: largest difference %g (rms %g)", name, test32, rms);
    CHECK(curve_wrong > 1e-2 && test_wrong > 1e-2 * rms,
          "%s: a 2 %% change of lr moves the curve by only %g and the outputs by %g: the tolerance cannot tell", name,
          curve_wrong, test_wrong / rms);
    printf("%s float32 vs float64: gradient %.2g, loss curve %.2g, outputs %.2g of rms (lr + 2 %%: %.2g, %.2g)\n",
           name, worst_grad, curve32, test32 / rms, curve_wrong, test_wrong / rms);
    /* the lr search with early stopping in float32 (what the paper-scale configs run): the same
     * choice and best epoch as float64, and a validation loss within 1e-4 */
    struct precision_pair q64, q32;
    pair_init(&q64, is_mlp, 0);
    pair_init(&q32, is_mlp, 1);
    const double lrs[3] = {0.002, 0.02, 0.2};
    struct hk_train_opts so = {.epochs = 15, .batch_size = 10, .momentum = 0.9, .shuffle_seed = 3, .val = &te.in,
                               .val_y = te.y, .patience = 3};
    struct hk_train_log lg64, lg32;
    double by64[3], by32[3], v64, v32;
    int ch64, ch32;
    long st;
    hk_train_select(&q64.m, &tr.in, tr.y, NULL, &so, lrs, 3, MPI_COMM_SELF, NULL, NULL, &st, &lg64, by64, &ch64);
    hk_train_select(&q32.m, &tr.in, tr.y, NULL, &so, lrs, 3, MPI_COMM_SELF, NULL, NULL, &st, &lg32, by32, &ch32);
    hk_model_evaluate(&q64.m, &te.in, te.y, NULL, NULL, MPI_COMM_SELF, &v64, NULL, NULL);
    hk_model_evaluate(&q32.m, &te.in, te.y, NULL, NULL, MPI_COMM_SELF, &v32, NULL, NULL);
    CHECK(ch64 == ch32 && lg64.best_epoch == lg32.best_epoch, "%s lr search: float64 chose lr %d epoch %d, float32 %d, %d",
          name, ch64, lg64.best_epoch, ch32, lg32.best_epoch);
    double worst_by = 0;
    for (int r = 0; r < 3; r++) worst_by = worst_of(worst_by, fabs(by32[r] - by64[r]) / by64[r]);
    CHECK(worst_by <= 1e-4, "%s lr search: validation losses differ by up to %g", name, worst_by);
    /* the network kept is the best epoch's, in either precision */
    CHECK(fabs(v32 - by32[ch32]) <= 1e-6 * by32[ch32] && fabs(v64 - by64[ch64]) <= 1e-12 * by64[ch64],
          "%s lr search: kept network's validation loss %g (float32), %g (float64) vs the best %g, %g", name, v32, v64,
          by32[ch32], by64[ch64]);
    hk_train_log_free(&lg64);
    hk_train_log_free(&lg32);
    pair_free(&q64, is_mlp);
    pair_free(&q32, is_mlp);
    pair_free(&d64, is_mlp);
    pair_free(&d32, is_mlp);
    pair_free(&other, is_mlp);
    hk_dataset_free(&tr);
    hk_dataset_free(&te);
}

/* Evaluation runs in chunks of at most chunk points and chunk_x distinct x
 * (a test image's pixels share one pass over A): the outputs and loss must not
 * depend on the chunking, here against every point evaluated alone; a spy on
 * the forward pass checks each call's points and distinct x. */
static const struct hk_model *chunk_spied;
static int chunk_calls, chunk_most_points, chunk_most_x;
static void *chunk_spy(const void *net, const struct hk_hn_batch *b, double *out)
{
    int distinct = 0;
    for (int i = 0; i < b->nb; i++) {
        int fresh = 1;
        for (int j = 0; j < i; j++) fresh &= b->in->xid[b->samples[j]] != b->in->xid[b->samples[i]];
        distinct += fresh;
    }
    chunk_calls++;
    if (b->nb > chunk_most_points) chunk_most_points = b->nb;
    if (distinct > chunk_most_x) chunk_most_x = distinct;
    return chunk_spied->forward(net, b, out);
}

static void test_evaluation_chunks(void)
{
    struct hk_dataset d;
    make_points(&d, 50, 10, 3, 2, 33);   /* 10 distinct x, not contiguous */
    struct hk_hn_shape s = {.dx = 3, .dz = 2, .n = 7, .L = 2, .m = 5, .H = 3, .k = 1};
    struct hk_hypernet net;
    CHECK(hk_hn_init(&net, &s, 3) == 0, "init");
    struct hk_model m;
    hk_model_of_hypernet(&m, &net);
    double ref_loss, loss, ref[50], out[50];
    m.chunk = m.chunk_x = 1;
    hk_model_evaluate(&m, &d.in, d.y, NULL, NULL, MPI_COMM_SELF, &ref_loss, NULL, ref);
    const int settings[3][2] = {{7, 2}, {1000, 3}, {1000, 1000}};
    struct hk_model plain = m, spied = m;
    chunk_spied = &plain;
    spied.forward = chunk_spy;
    for (int t = 0; t < 3; t++) {
        spied.chunk = settings[t][0];
        spied.chunk_x = settings[t][1];
        chunk_calls = chunk_most_points = chunk_most_x = 0;
        hk_model_evaluate(&spied, &d.in, d.y, NULL, NULL, MPI_COMM_SELF, &loss, NULL, out);
        /* 10 x spread over 50 points: chunks fill up to either limit */
        const int want_most_x = settings[t][1] < 10 ? settings[t][1] : 10;
        CHECK(chunk_most_points <= settings[t][0] && chunk_most_x == want_most_x,
              "chunks of %d points / %d x: calls held up to %d points and %d x", settings[t][0], settings[t][1],
              chunk_most_points, chunk_most_x);
        CHECK(t != 2 || chunk_calls == 1, "everything in one chunk: %d calls", chunk_calls);
        double worst = 0;
        for (int i = 0; i < 50; i++) worst = worst_of(worst, fabs(out[i] - ref[i]) / (fabs(ref[i]) + 1e-300));
        CHECK(worst < 1e-13 && fabs(loss - ref_loss) <= 1e-13 * ref_loss,
              "chunks of %d points / %d x: outputs differ by %g, loss %.17g vs %.17g", settings[t][0], settings[t][1],
              worst, loss, ref_loss);
    }
    hk_hn_free(&net);
    hk_dataset_free(&d);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) {
        test_forward_direct(1, 1);
        test_forward_direct(3, 4);
        test_gradients(1, 1);
        test_gradients(2, 3);
        test_gradients(3, 2);
        test_ntk_monte_carlo();
        test_batches_by_x();
        test_evaluation_chunks();
        test_float32(0);
        test_float32(1);
    }
    test_early_stopping(MPI_COMM_WORLD);
    int failed = check_failures;
    MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    check_failures = rank == 0 ? failed : 0;
    int rc = rank == 0 ? check_summary("test_model") : 0;
    MPI_Finalize();
    return rc;
}
