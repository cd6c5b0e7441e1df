/* hypernet: finite hypernetwork, forward/backward, GD step, empirical NTK.
 * f runs once per distinct x of a batch; g's products are DGEMMs over the
 * samples that share an x (they share g's weights). */
#include "hk/hypernet.h"
#include "hk/blas.h"
#include "hk/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int f_layers(const struct hk_hn_shape *s) { return s->L + (s->bottleneck > 0); }

static int f_width(const struct hk_hn_shape *s, int l)
{
    return l == 0 ? s->dx : l <= s->L ? s->n : s->bottleneck;
}

long hk_hn_param_count(const struct hk_hn_shape *s)
{
    long P = s->H == 1 ? (long)s->k * s->dz : (long)s->m * s->dz + (long)(s->H - 2) * s->m * s->m + (long)s->k * s->m;
    int nf = f_layers(s);
    long total = P * f_width(s, nf);
    for (int l = 1; l <= nf; l++) total += (long)f_width(s, l) * f_width(s, l - 1);
    return total;
}

static void normal_fill(double *a, long count, long seed, int stream)
{
    struct hk_rng rng;
    hk_rng_seed(&rng, (uint64_t)seed, (uint64_t)stream);
    hk_rng_normal_fill(&rng, a, count);
}

int hk_hn_init(struct hk_hypernet *net, const struct hk_hn_shape *s, long seed)
{
    memset(net, 0, sizeof *net);
    if (s->L < 1 || s->H < 1 || s->L > HK_MAX_DEPTH || s->H > HK_MAX_DEPTH || s->n < 1 || s->m < 1 || s->k < 1 ||
        s->dx < 1 || s->dz < 1 || s->bottleneck < 0)
        return hk_fail("hypernetwork shape out of range: n=%d L=%d m=%d H=%d k=%d dx=%d dz=%d", s->n, s->L, s->m, s->H,
                       s->k, s->dx, s->dz);
    net->s = *s;
    long off = 0;
    for (int l = 1; l <= s->H; l++) {
        net->v_rows[l] = l == s->H ? s->k : s->m;
        net->v_cols[l] = l == 1 ? s->dz : s->m;
        net->v_off[l] = off;
        off += (long)net->v_rows[l] * net->v_cols[l];
    }
    net->P = off;
    net->nf = f_layers(s);
    for (int l = 0; l <= net->nf; l++) net->fw[l] = f_width(s, l);
    for (int l = 1; l <= net->nf; l++) {
        long count = (long)net->fw[l] * net->fw[l - 1];
        net->W[l] = malloc((size_t)count * sizeof(double));
        if (!net->W[l]) return hk_fail("cannot allocate W%d (%ld doubles)", l, count);
    }
    const int last = net->fw[net->nf];
    net->A = malloc((size_t)net->P * last * sizeof(double));
    if (!net->A) return hk_fail("cannot allocate the output layer A: %ld x %d doubles", net->P, last);
    net->nparams = hk_hn_param_count(s);
    hk_hn_reseed(net, seed);
    return 0;
}

/* f's layers W_l from streams 100 + l; A comes from stream HK_STREAM_A */
enum { HK_STREAM_A = 200 };
static void reseed_f_layers(struct hk_hypernet *net, long seed)
{
    for (int l = 1; l <= net->nf; l++) normal_fill(net->W[l], (long)net->fw[l] * net->fw[l - 1], seed, 100 + l);
}

void hk_hn_reseed(struct hk_hypernet *net, long seed)
{
    reseed_f_layers(net, seed);
    normal_fill(net->A, net->P * net->fw[net->nf], seed, HK_STREAM_A);
}

void hk_hn_free(struct hk_hypernet *net)
{
    for (int l = 0; l <= HK_MAX_DEPTH + 1; l++) {
        free(net->W[l]);
        free(net->W32[l]);
    }
    free(net->A);
    free(net->A32);
    memset(net, 0, sizeof *net);
}

/* Draws for forward's fused path: double only (A in float is rounded from the double one). */
static void draw_rows_f64(struct hk_rng *rng, double *a, long count) { hk_rng_normal_fill(rng, a, count); }
static void draw_rows_f32(struct hk_rng *rng, float *a, long count)
{
    (void)rng, (void)a, (void)count;
    abort();
}

/* The passes, once in double (the default, and the NTK below) and once in
 * float (precision: float32). */
#define HK_CAT_(a, b) a##b
#define HK_CAT(a, b) HK_CAT_(a, b)
#define REAL double
#define SFX _f64
#define GEMM hk_gemm_rm
#define CACHE struct hk_hn_cache
#include "hypernet_passes.inc"
#undef REAL
#undef SFX
#undef GEMM
#undef CACHE
#define REAL float
#define SFX _f32
#define GEMM hk_sgemm_rm
#define CACHE struct hk_hn_cache32
#include "hypernet_passes.inc"
#undef REAL
#undef SFX
#undef GEMM
#undef CACHE

void hk_hn_forward(const struct hk_hypernet *net, const struct hk_hn_batch *b, struct hk_hn_cache *c)
{
    forward_f64(net, net->W, net->A, b, c, NULL);
}

void hk_hn_cache_free(struct hk_hn_cache *c) { cache_free_f64(c); }

void hk_hn_backward(const struct hk_hypernet *net, const struct hk_hn_batch *b, const struct hk_hn_cache *c,
                    const double *dout, struct hk_hn_grad *g)
{
    (void)b;
    backward_f64(net, net->W, net->A, c, dout, g->W, g->A);
}

int hk_hn_make_f32(struct hk_hypernet *net)
{
    for (int l = 1; l <= net->nf; l++) {
        long count = (long)net->fw[l] * net->fw[l - 1];
        if (hk_round_to_float(&net->W32[l], net->W[l], count))
            return hk_fail("cannot allocate W%d in float32 (%ld floats)", l, count);
    }
    const long count = net->P * net->fw[net->nf];
    if (hk_round_to_float(&net->A32, net->A, count))
        return hk_fail("cannot allocate the output layer A in float32: %ld floats", count);
    return 0;
}

void hk_hn_forward32(const struct hk_hypernet *net, const struct hk_hn_batch *b, struct hk_hn_cache32 *c)
{
    forward_f32(net, net->W32, net->A32, b, c, NULL);
}

void hk_hn_cache32_free(struct hk_hn_cache32 *c) { cache_free_f32(c); }

void hk_hn_backward32(const struct hk_hypernet *net, const struct hk_hn_cache32 *c, const double *dout, float **dW,
                      float *dA)
{
    backward_f32(net, net->W32, net->A32, c, dout, dW, dA);
}

int hk_hn_grad_views(const struct hk_hypernet *net, struct hk_hn_grad *g, double **arrays, long *counts)
{
    int k = 0;
    for (int l = 1; l <= net->nf; l++) {
        arrays[k] = g->W[l];
        counts[k++] = (long)net->fw[l] * net->fw[l - 1];
    }
    arrays[k] = g->A;
    counts[k++] = net->P * net->fw[net->nf];
    return k;
}

static int param_views(struct hk_hypernet *net, double **arrays, long *counts)
{
    struct hk_hn_grad as_grad;
    memcpy(as_grad.W, net->W, sizeof as_grad.W);
    as_grad.A = net->A;
    return hk_hn_grad_views(net, &as_grad, arrays, counts);
}

void hk_hn_grad_alloc(const struct hk_hypernet *net, struct hk_hn_grad *g)
{
    memset(g, 0, sizeof *g);
    for (int l = 1; l <= net->nf; l++) g->W[l] = hk_calloc((size_t)net->fw[l] * net->fw[l - 1], sizeof(double));
    g->A = hk_calloc((size_t)net->P * net->fw[net->nf], sizeof(double));
}

void hk_hn_grad_zero(const struct hk_hypernet *net, struct hk_hn_grad *g)
{
    double *arrays[HK_MAX_DEPTH + 3];
    long counts[HK_MAX_DEPTH + 3];
    int k = hk_hn_grad_views(net, g, arrays, counts);
    for (int i = 0; i < k; i++) memset(arrays[i], 0, (size_t)counts[i] * sizeof(double));
}

void hk_hn_grad_free(struct hk_hn_grad *g)
{
    for (int l = 0; l <= HK_MAX_DEPTH + 1; l++) free(g->W[l]);
    free(g->A);
    memset(g, 0, sizeof *g);
}

void hk_hn_step(struct hk_hypernet *net, const struct hk_hn_grad *g, double lr)
{
    double *p[HK_MAX_DEPTH + 3], *d[HK_MAX_DEPTH + 3];
    long counts[HK_MAX_DEPTH + 3];
    int k = param_views(net, p, counts);
    hk_hn_grad_views(net, (struct hk_hn_grad *)g, d, counts);
    for (int a = 0; a < k; a++)
        for (long i = 0; i < counts[a]; i++) p[a][i] -= lr * d[a][i];
}

void hk_hn_momentum_step(struct hk_hypernet *net, const struct hk_hn_grad *g, struct hk_hn_grad *v, double lr,
                         double momentum)
{
    double *p[HK_MAX_DEPTH + 3], *d[HK_MAX_DEPTH + 3], *vel[HK_MAX_DEPTH + 3];
    long counts[HK_MAX_DEPTH + 3];
    int k = param_views(net, p, counts);
    hk_hn_grad_views(net, (struct hk_hn_grad *)g, d, counts);
    hk_hn_grad_views(net, v, vel, counts);
    for (int a = 0; a < k; a++)
        for (long i = 0; i < counts[a]; i++) {
            vel[a][i] = momentum * vel[a][i] + d[a][i];
            p[a][i] -= lr * vel[a][i];
        }
}

double hk_hn_mse(const struct hk_hn_cache *c, const double *y, double *dout)
{
    double loss = 0;
    for (int i = 0; i < c->nb; i++) {
        double e = c->out[i] - y[i];
        loss += e * e;
        if (dout) dout[i] = e / c->nb;
    }
    return loss / (2.0 * c->nb);
}

double hk_softmax_cross_entropy(const double *out, int nb, int k, const int *labels, double *dout, int *correct)
{
    double loss = 0;
    int right = 0;
    for (int i = 0; i < nb; i++) {
        const double *o = out + (size_t)i * k;
        int best = 0;
        double top = o[0];
        for (int j = 1; j < k; j++)
            if (o[j] > top) { top = o[j]; best = j; }
        double z = 0;
        for (int j = 0; j < k; j++) z += exp(o[j] - top);
        double logz = top + log(z);
        loss += logz - o[labels[i]];
        right += best == labels[i];
        if (dout)
            for (int j = 0; j < k; j++) dout[(size_t)i * k + j] = (exp(o[j] - logz) - (j == labels[i])) / nb;
    }
    if (correct) *correct = right;
    return loss / nb;
}

double hk_hn_cross_entropy(const struct hk_hn_cache *c, int k, const int *labels, double *dout, int *correct)
{
    return hk_softmax_cross_entropy(c->out, c->nb, k, labels, dout, correct);
}

void hk_hn_entk(const struct hk_hypernet *net, const struct hk_hn_batch *b, double *ntk)
{
    hk_hn_entk_outputs(net, b, ntk, NULL);
}

static void entk_outputs(const struct hk_hypernet *net, const struct hk_hn_batch *b, double *ntk, double *out,
                         struct hk_rng *draw_a);

void hk_hn_entk_outputs(const struct hk_hypernet *net, const struct hk_hn_batch *b, double *ntk, double *out)
{
    entk_outputs(net, b, ntk, out, NULL);
}

void hk_hn_reseed_entk(struct hk_hypernet *net, long seed, const struct hk_hn_batch *b, double *ntk, double *out)
{
    reseed_f_layers(net, seed);
    struct hk_rng rng;
    hk_rng_seed(&rng, (uint64_t)seed, HK_STREAM_A);
    entk_outputs(net, b, ntk, out, &rng);
}

/* With draw_a, the forward pass draws A (net->A) as it goes. */
static void entk_outputs(const struct hk_hypernet *net, const struct hk_hn_batch *b, double *ntk, double *out,
                         struct hk_rng *draw_a)
{
    const struct hk_hn_shape *s = &net->s;
    struct hk_hn_cache c;
    forward_f64(net, net->W, net->A, b, &c, draw_a);
    if (out) memcpy(out, c.out, (size_t)c.nb * s->k * sizeof(double));
    const int nb = c.nb, n = net->fw[net->nf];
    /* c(u) = dout_0/dV: per layer b_l (x) in_l / sqrt(fan), with b_H = e_0 */
    double *e0 = hk_calloc((size_t)nb * s->k, sizeof(double));
    for (int r = 0; r < nb; r++) e0[(size_t)r * s->k] = 1;
    double *B[HK_MAX_DEPTH + 1] = {0};
    g_backward_f64(net, &c, e0, B, NULL);
    free(e0);
    double *theta = hk_calloc((size_t)nb * nb, sizeof(double));  /* sorted order */
    double *t1 = hk_malloc((size_t)nb * nb * sizeof(double)), *t2 = hk_malloc((size_t)nb * nb * sizeof(double));
    /* A part: (c.c') (phi.phi') / n with c.c' = sum_l (b_l.b_l')(in_l.in_l') / fan_l */
    double *cc = hk_calloc((size_t)nb * nb, sizeof(double));
    for (int l = 1; l <= s->H; l++) {
        int rows = net->v_rows[l], cols = net->v_cols[l];
        hk_gemm_rm('N', 'T', nb, nb, rows, 1.0, B[l], rows, B[l], rows, 0, t1, nb);
        hk_gemm_rm('N', 'T', nb, nb, cols, 1.0 / cols, c.gin[l], cols, c.gin[l], cols, 0, t2, nb);
        for (long i = 0; i < (long)nb * nb; i++) cc[i] += t1[i] * t2[i];
    }
    int *act_row = hk_malloc((size_t)nb * sizeof(int));
    for (int r = 0; r < nb; r++) act_row[r] = c.slot[c.order[r]];
    double *phi = hk_malloc((size_t)nb * n * sizeof(double));
    for (int r = 0; r < nb; r++)
        memcpy(phi + (size_t)r * n, c.a[net->nf] + (size_t)act_row[r] * n, (size_t)n * sizeof(double));
    hk_gemm_rm('N', 'T', nb, nb, n, 1.0 / n, phi, n, phi, n, 0, t2, nb);
    for (long i = 0; i < (long)nb * nb; i++) theta[i] = cc[i] * t2[i];
    free(phi);
    free(cc);
    /* W parts: dphi(u) = A^T c(u) / sqrt(n), c(u) built a chunk of samples at a time */
    double *dphi = hk_malloc((size_t)nb * n * sizeof(double));
    long chunk = 16000000 / net->P;
    if (chunk < 1) chunk = 1;
    double *cvec = hk_malloc((size_t)(chunk < nb ? chunk : nb) * net->P * sizeof(double));
    for (int r0 = 0; r0 < nb; r0 += (int)chunk) {
        int cnt = nb - r0 < chunk ? nb - r0 : (int)chunk;
        for (int r = 0; r < cnt; r++) {
            double *cv = cvec + (size_t)r * net->P;
            for (int l = 1; l <= s->H; l++) {
                int rows = net->v_rows[l], cols = net->v_cols[l];
                double scale = 1.0 / sqrt(cols);
                const double *bl = B[l] + (size_t)(r0 + r) * rows, *il = c.gin[l] + (size_t)(r0 + r) * cols;
                for (int i = 0; i < rows; i++)
                    for (int j = 0; j < cols; j++) cv[net->v_off[l] + (long)i * cols + j] = bl[i] * il[j] * scale;
            }
        }
        backward_a_f64(cnt, net->P, n, 1.0 / sqrt(n), cvec, NULL, net->A, NULL, dphi + (size_t)r0 * n);
    }
    free(cvec);
    double *D[HK_MAX_DEPTH + 2] = {0};
    f_backward_f64(net, net->W, &c, nb, act_row, dphi, NULL, D);
    for (int l = 1; l <= net->nf; l++) {
        int fan = net->fw[l - 1], w = net->fw[l];
        double *act = hk_malloc((size_t)nb * fan * sizeof(double));
        for (int r = 0; r < nb; r++)
            memcpy(act + (size_t)r * fan, c.a[l - 1] + (size_t)act_row[r] * fan, (size_t)fan * sizeof(double));
        hk_gemm_rm('N', 'T', nb, nb, w, 1.0, D[l], w, D[l], w, 0, t1, nb);
        hk_gemm_rm('N', 'T', nb, nb, fan, 1.0 / fan, act, fan, act, fan, 0, t2, nb);
        for (long i = 0; i < (long)nb * nb; i++) theta[i] += t1[i] * t2[i];
        free(act);
        free(D[l]);
    }
    /* back to batch order */
    for (int r = 0; r < nb; r++)
        for (int q = 0; q < nb; q++) ntk[(size_t)c.order[r] + (size_t)c.order[q] * nb] = theta[(size_t)r * nb + q];
    free(dphi); free(act_row); free(theta); free(t1); free(t2);
    for (int l = 0; l <= HK_MAX_DEPTH; l++) free(B[l]);
    hk_hn_cache_free(&c);
}
