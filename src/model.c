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

static inline double relu(double t) { return t > 0 ? M_SQRT2 * t : 0; }
static inline double relu_d(double t) { return t > 0 ? M_SQRT2 : 0; }

/* ---- the hypernetwork ---- */

static void *hn_forward(const void *net, const struct hk_hn_batch *b, double *out)
{
    const struct hk_hypernet *hn = net;
    struct hk_hn_cache *c = hk_malloc(sizeof *c);
    hk_hn_forward(hn, b, c);
    memcpy(out, c->out, (size_t)b->nb * hn->s.k * sizeof(double));
    return c;
}

static void hn_backward(const void *net, const struct hk_hn_batch *b, void *saved, const double *dout, double **grad)
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

void hk_model_of_hypernet(struct hk_model *m, struct hk_hypernet *net)
{
    memset(m, 0, sizeof *m);
    m->name = "hypernet";
    m->k = net->s.k;
    m->nparams = net->nparams;
    m->net = net;
    /* a chunk's generated weights, P per distinct x: keep them near 64 MB */
    m->chunk = (int)fmin(2048, fmax(16, 8e6 / (double)net->P));
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
    for (int l = 0; l <= HK_MLP_MAX_DEPTH + 1; l++) free(net->W[l]);
    memset(net, 0, sizeof *net);
}

struct mlp_saved {
    int nb, nx;
    int *slot;                      /* per sample: its x's row in xq */
    double *xq, *zb;                /* distinct x (nx x dx), the samples' z (nb x dz) */
    double *y[HK_MLP_MAX_DEPTH + 1], *a[HK_MLP_MAX_DEPTH + 1];   /* nb x n, l = 1..depth */
};

static void mlp_release(void *p)
{
    struct mlp_saved *sv = p;
    free(sv->slot); free(sv->xq); free(sv->zb);
    for (int l = 0; l <= HK_MLP_MAX_DEPTH; l++) {
        free(sv->y[l]); free(sv->a[l]);
    }
    free(sv);
}

static void *mlp_forward(const void *netp, const struct hk_hn_batch *b, double *out)
{
    const struct hk_mlp *net = netp;
    const struct hk_mlp_shape *s = &net->s;
    const struct hk_inputs *in = b->in;
    const int nb = b->nb, d = s->dx + s->dz, n = s->n;
    struct mlp_saved *sv = hk_calloc(1, sizeof *sv);
    sv->nb = nb;
    sv->slot = hk_malloc((size_t)(nb + 1) * sizeof(int));
    int *mark = hk_malloc((size_t)in->nx * sizeof(int)), *xs = hk_malloc((size_t)(nb + 1) * sizeof(int));
    for (int x = 0; x < in->nx; x++) mark[x] = -1;
    for (int i = 0; i < nb; i++) {
        int x = in->xid[b->samples[i]];
        if (mark[x] < 0) { mark[x] = sv->nx; xs[sv->nx++] = x; }
        sv->slot[i] = mark[x];
    }
    sv->xq = hk_malloc((size_t)(sv->nx + 1) * s->dx * sizeof(double));
    for (int q = 0; q < sv->nx; q++)
        memcpy(sv->xq + (size_t)q * s->dx, in->x + (size_t)xs[q] * s->dx, (size_t)s->dx * sizeof(double));
    sv->zb = hk_malloc((size_t)(nb + 1) * s->dz * sizeof(double));
    for (int i = 0; i < nb; i++)
        memcpy(sv->zb + (size_t)i * s->dz, in->z + (size_t)b->samples[i] * s->dz, (size_t)s->dz * sizeof(double));
    free(mark);
    free(xs);
    /* y_1 = (W_1x x + W_1z z) / sqrt(dx + dz): x's part once per distinct x */
    const double c1 = 1.0 / sqrt(d);
    double *px = hk_malloc((size_t)(sv->nx + 1) * n * sizeof(double));
    hk_gemm_rm('N', 'T', sv->nx, n, s->dx, c1, sv->xq, s->dx, net->W[1], d, 0, px, n);
    sv->y[1] = hk_malloc((size_t)(nb + 1) * n * sizeof(double));
    hk_gemm_rm('N', 'T', nb, n, s->dz, c1, sv->zb, s->dz, net->W[1] + s->dx, d, 0, sv->y[1], n);
    for (int i = 0; i < nb; i++)
        for (int j = 0; j < n; j++) sv->y[1][(size_t)i * n + j] += px[(size_t)sv->slot[i] * n + j];
    free(px);
    for (int l = 1; l <= s->depth; l++) {
        sv->a[l] = hk_malloc((size_t)(nb + 1) * n * sizeof(double));
        for (long i = 0; i < (long)nb * n; i++) sv->a[l][i] = relu(sv->y[l][i]);
        const int w = net->w[l + 1];
        double *next = l < s->depth ? (sv->y[l + 1] = hk_malloc((size_t)(nb + 1) * w * sizeof(double))) : out;
        hk_gemm_rm('N', 'T', nb, w, n, 1.0 / sqrt(n), sv->a[l], n, net->W[l + 1], n, 0, next, w);
    }
    return sv;
}

static void mlp_backward(const void *netp, const struct hk_hn_batch *b, void *saved, const double *dout, double **grad)
{
    (void)b;
    const struct hk_mlp *net = netp;
    const struct hk_mlp_shape *s = &net->s;
    const struct mlp_saved *sv = saved;
    const int nb = sv->nb, n = s->n, d = s->dx + s->dz;
    /* delta of layer l (nb x w[l]), from the readout down */
    double *delta = hk_malloc((size_t)(nb + 1) * s->k * sizeof(double));
    memcpy(delta, dout, (size_t)nb * s->k * sizeof(double));
    for (int l = s->depth + 1; l >= 2; l--) {
        const int w = net->w[l];
        const double c = 1.0 / sqrt(n);
        /* dW_l += delta^T a_{l-1} / sqrt(n) */
        hk_gemm_rm('T', 'N', w, n, nb, c, delta, w, sv->a[l - 1], n, 1.0, grad[l - 1], n);
        /* delta_{l-1} = (delta W_l / sqrt(n)) * s'(y_{l-1}) */
        double *prev = hk_malloc((size_t)(nb + 1) * n * sizeof(double));
        hk_gemm_rm('N', 'N', nb, n, w, c, delta, w, net->W[l], n, 0, prev, n);
        for (long i = 0; i < (long)nb * n; i++) prev[i] *= relu_d(sv->y[l - 1][i]);
        free(delta);
        delta = prev;
    }
    /* layer 1: z's columns per sample, x's columns per distinct x */
    const double c1 = 1.0 / sqrt(d);
    hk_gemm_rm('T', 'N', n, s->dz, nb, c1, delta, n, sv->zb, s->dz, 1.0, grad[0] + s->dx, d);
    double *dq = hk_calloc((size_t)(sv->nx + 1) * n, sizeof(double));
    for (int i = 0; i < nb; i++)
        for (int j = 0; j < n; j++) dq[(size_t)sv->slot[i] * n + j] += delta[(size_t)i * n + j];
    hk_gemm_rm('T', 'N', n, s->dx, sv->nx, c1, dq, n, sv->xq, s->dx, 1.0, grad[0], d);
    free(dq);
    free(delta);
}

void hk_mlp_outputs(const struct hk_mlp *net, const struct hk_hn_batch *b, double *out)
{
    mlp_release(mlp_forward(net, b, out));
}

void hk_model_of_mlp(struct hk_model *m, struct hk_mlp *net)
{
    memset(m, 0, sizeof *m);
    m->name = "mlp";
    m->k = net->s.k;
    m->nparams = net->nparams;
    m->net = net;
    /* a chunk's activations, 2 x depth x n per point: keep them near 64 MB */
    m->chunk = (int)fmin(2048, fmax(16, 4e6 / ((double)net->s.n * net->s.depth)));
    for (int l = 1; l <= net->s.depth + 1; l++) {
        m->params[m->narrays] = net->W[l];
        m->counts[m->narrays++] = (long)net->w[l] * net->w[l - 1];
    }
    m->forward = mlp_forward;
    m->backward = mlp_backward;
    m->release = mlp_release;
}
