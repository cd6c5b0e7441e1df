/* model: the trainer's view of a finite network (model.h): the
 * hypernetwork's adapter, and the plain MLP on (x, z). The MLP's first
 * layer runs x's part once per distinct x of a batch (the pixels of an
 * image share it) and z's part per sample. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hk/blas.h"
#include "hk/model.h"
#include "hk/util.h"

/* ---- the hypernetwork ---- */

static void *hn_forward(const void *net, const struct hk_hn_batch *b, double *out)
{
    const struct hk_hypernet *hn = net;
    struct hk_hn_cache *c = hk_malloc(sizeof *c);
    hk_hn_forward(hn, b, c);
    memcpy(out, c->out, (size_t)b->nb * hn->s.k * sizeof(double));
    return c;
}

static void hn_backward(const void *net, const struct hk_hn_batch *b, void *saved, const double *dout, void **grad)
{
    const struct hk_hypernet *hn = net;
    struct hk_hn_grad g;
    memset(&g, 0, sizeof g);
    for (int l = 1; l <= hn->nf; l++) g.W[l] = grad[l - 1];
    g.A = grad[hn->nf];
    hk_hn_backward(hn, b, saved, dout, &g);
}

static void hn_release(void *saved)
{
    hk_hn_cache_free(saved);
    free(saved);
}

static void *hn_forward32(const void *net, const struct hk_hn_batch *b, double *out)
{
    const struct hk_hypernet *hn = net;
    struct hk_hn_cache32 *c = hk_malloc(sizeof *c);
    hk_hn_forward32(hn, b, c);
    for (long i = 0; i < (long)b->nb * hn->s.k; i++) out[i] = c->out[i];
    return c;
}

static void hn_backward32(const void *net, const struct hk_hn_batch *b, void *saved, const double *dout, void **grad)
{
    (void)b;
    const struct hk_hypernet *hn = net;
    float *dW[HK_MAX_DEPTH + 2] = {0};
    for (int l = 1; l <= hn->nf; l++) dW[l] = grad[l - 1];
    hk_hn_backward32(hn, saved, dout, dW, grad[hn->nf]);
}

static void hn_release32(void *saved)
{
    hk_hn_cache32_free(saved);
    free(saved);
}

int hk_model_of_hypernet32(struct hk_model *m, struct hk_hypernet *net)
{
    hk_model_of_hypernet(m, net);
    if (hk_hn_make_f32(net)) return -1;
    for (int l = 1; l <= net->nf; l++) m->params32[l - 1] = net->W32[l], m->params[l - 1] = NULL;
    m->params32[net->nf] = net->A32, m->params[net->nf] = NULL;
    m->f32 = 1;
    /* float halves the bytes of a chunk's generated weights */
    m->chunk_x = (int)fmin(4096, fmax(16, 16e6 / (double)net->P));
    m->forward = hn_forward32;
    m->backward = hn_backward32;
    m->release = hn_release32;
    return 0;
}

void hk_model_of_hypernet(struct hk_model *m, struct hk_hypernet *net)
{
    memset(m, 0, sizeof *m);
    m->name = "hypernet";
    m->k = net->s.k;
    m->nparams = net->nparams;
    m->net = net;
    /* a chunk's generated weights, P per distinct x: keep them near 64 MB; g's activations per point
     * (a few times its width) bound the points */
    m->chunk_x = (int)fmin(2048, fmax(16, 8e6 / (double)net->P));
    m->chunk = 8192;
    for (int l = 1; l <= net->nf; l++) {
        m->params[m->narrays] = net->W[l];
        m->counts[m->narrays++] = (long)net->fw[l] * net->fw[l - 1];
    }
    m->params[m->narrays] = net->A;
    m->counts[m->narrays++] = net->P * net->fw[net->nf];
    m->forward = hn_forward;
    m->backward = hn_backward;
    m->release = hn_release;
}

/* ---- the plain MLP on (x, z) ---- */

long hk_mlp_param_count(const struct hk_mlp_shape *s)
{
    return (long)s->n * (s->dx + s->dz) + (long)(s->depth - 1) * s->n * s->n + (long)s->k * s->n;
}

int hk_mlp_init(struct hk_mlp *net, const struct hk_mlp_shape *s, long seed)
{
    memset(net, 0, sizeof *net);
    if (s->dx < 1 || s->dz < 1 || s->n < 1 || s->k < 1 || s->depth < 1 || s->depth > HK_MLP_MAX_DEPTH)
        return hk_fail("MLP shape out of range: dx=%d dz=%d n=%d depth=%d (1..%d) k=%d", s->dx, s->dz, s->n, s->depth,
                       HK_MLP_MAX_DEPTH, s->k);
    net->s = *s;
    net->w[0] = s->dx + s->dz;
    for (int l = 1; l <= s->depth; l++) net->w[l] = s->n;
    net->w[s->depth + 1] = s->k;
    for (int l = 1; l <= s->depth + 1; l++) {
        long count = (long)net->w[l] * net->w[l - 1];
        net->W[l] = malloc((size_t)count * sizeof(double));
        if (!net->W[l]) {
            hk_mlp_free(net);
            return hk_fail("cannot allocate the MLP's layer %d (%ld doubles)", l, count);
        }
        struct hk_rng rng;
        hk_rng_seed(&rng, (uint64_t)seed, 300 + (uint64_t)l);
        hk_rng_normal_fill(&rng, net->W[l], count);
    }
    net->nparams = hk_mlp_param_count(s);
    return 0;
}

void hk_mlp_free(struct hk_mlp *net)
{
    for (int l = 0; l <= HK_MLP_MAX_DEPTH + 1; l++) {
        free(net->W[l]);
        free(net->W32[l]);
    }
    memset(net, 0, sizeof *net);
}

#define HK_MLP_SAVED_STRUCT(NAME, REAL)                                                                        \
    struct NAME {                                                                                              \
        int nb, nx;                                                                                            \
        int *slot;                      /* per sample: its x's row in xq */                                    \
        REAL *xq, *zb;                  /* distinct x (nx x dx), the samples' z (nb x dz) */                   \
        REAL *y[HK_MLP_MAX_DEPTH + 1], *a[HK_MLP_MAX_DEPTH + 1];   /* nb x n, l = 1..depth */                  \
    }
HK_MLP_SAVED_STRUCT(mlp_saved, double);
HK_MLP_SAVED_STRUCT(mlp_saved32, float);

#define HK_CAT_(a, b) a##b
#define HK_CAT(a, b) HK_CAT_(a, b)
#define REAL double
#define SFX _f64
#define GEMM hk_gemm_rm
#define SAVED struct mlp_saved
#include "mlp_passes.inc"
#undef REAL
#undef SFX
#undef GEMM
#undef SAVED
#define REAL float
#define SFX _f32
#define GEMM hk_sgemm_rm
#define SAVED struct mlp_saved32
#include "mlp_passes.inc"
#undef REAL
#undef SFX
#undef GEMM
#undef SAVED

static void *mlp_forward(const void *netp, const struct hk_hn_batch *b, double *out)
{
    const struct hk_mlp *net = netp;
    return mlp_pass_f64(net, net->W, b, out);
}

static void mlp_backward(const void *netp, const struct hk_hn_batch *b, void *saved, const double *dout, void **grad)
{
    (void)b;
    const struct hk_mlp *net = netp;
    mlp_backprop_f64(net, net->W, saved, dout, (double **)grad);
}

static void *mlp_forward32(const void *netp, const struct hk_hn_batch *b, double *out)
{
    const struct hk_mlp *net = netp;
    return mlp_pass_f32(net, net->W32, b, out);
}

static void mlp_backward32(const void *netp, const struct hk_hn_batch *b, void *saved, const double *dout,
                           void **grad)
{
    (void)b;
    const struct hk_mlp *net = netp;
    mlp_backprop_f32(net, net->W32, saved, dout, (float **)grad);
}

void hk_mlp_outputs(const struct hk_mlp *net, const struct hk_hn_batch *b, double *out)
{
    mlp_release_f64(mlp_forward(net, b, out));
}

void hk_model_of_mlp(struct hk_model *m, struct hk_mlp *net)
{
    memset(m, 0, sizeof *m);
    m->name = "mlp";
    m->k = net->s.k;
    m->nparams = net->nparams;
    m->net = net;
    /* a chunk's activations, 2 x depth x n per point: keep them near 64 MB */
    m->chunk = m->chunk_x = (int)fmin(2048, fmax(16, 4e6 / ((double)net->s.n * net->s.depth)));
    for (int l = 1; l <= net->s.depth + 1; l++) {
        m->params[m->narrays] = net->W[l];
        m->counts[m->narrays++] = (long)net->w[l] * net->w[l - 1];
    }
    m->forward = mlp_forward;
    m->backward = mlp_backward;
    m->release = mlp_release_f64;
}

int hk_model_of_mlp32(struct hk_model *m, struct hk_mlp *net)
{
    hk_model_of_mlp(m, net);
    for (int l = 1; l <= net->s.depth + 1; l++) {
        long count = (long)net->w[l] * net->w[l - 1];
        if (hk_round_to_float(&net->W32[l], net->W[l], count))
            return hk_fail("cannot allocate the MLP's layer %d in float32 (%ld floats)", l, count);
        m->params32[l - 1] = net->W32[l];
        m->params[l - 1] = NULL;
    }
    m->f32 = 1;
    m->forward = mlp_forward32;
    m->backward = mlp_backward32;
    m->release = mlp_release_f32;
    return 0;
}
