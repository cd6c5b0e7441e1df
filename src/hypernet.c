/* hypernet: finite hypernetwork, forward/backward, GD step, empirical NTK.
 * f runs once per distinct x of a batch; g's products are DGEMMs over the
 * samples that share an x (they share g's weights). */
#include "hk/hypernet.h"
#include "hk/blas.h"
#include "hk/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline double relu(double t) { return t > 0 ? M_SQRT2 * t : 0; }
static inline double relu_d(double t) { return t > 0 ? M_SQRT2 : 0; }

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

void hk_hn_reseed(struct hk_hypernet *net, long seed)
{
    for (int l = 1; l <= net->nf; l++) normal_fill(net->W[l], (long)net->fw[l] * net->fw[l - 1], seed, 100 + l);
    normal_fill(net->A, net->P * net->fw[net->nf], seed, 200);
}

void hk_hn_free(struct hk_hypernet *net)
{
    for (int l = 0; l <= HK_MAX_DEPTH + 1; l++) free(net->W[l]);
    free(net->A);
    memset(net, 0, sizeof *net);
}

void hk_hn_forward(const struct hk_hypernet *net, const struct hk_hn_batch *b, struct hk_hn_cache *c)
{
    const struct hk_hn_shape *s = &net->s;
    const struct hk_inputs *in = b->in;
    memset(c, 0, sizeof *c);
    c->nb = b->nb;
    /* distinct x of the batch, and the samples grouped by them */
    int *mark = hk_malloc((size_t)in->nx * sizeof(int));
    for (int x = 0; x < in->nx; x++) mark[x] = -1;
    c->xs = hk_malloc((size_t)(b->nb + 1) * sizeof(int));
    c->slot = hk_malloc((size_t)(b->nb + 1) * sizeof(int));
    for (int i = 0; i < b->nb; i++) {
        int x = in->xid[b->samples[i]];
        if (mark[x] < 0) { mark[x] = c->nx; c->xs[c->nx++] = x; }
        c->slot[i] = mark[x];
    }
    free(mark);
    c->group_start = hk_calloc((size_t)c->nx + 1, sizeof(int));
    for (int i = 0; i < b->nb; i++) c->group_start[c->slot[i] + 1]++;
    for (int q = 0; q < c->nx; q++) c->group_start[q + 1] += c->group_start[q];
    c->order = hk_malloc((size_t)(b->nb + 1) * sizeof(int));
    int *fill = hk_malloc((size_t)(c->nx + 1) * sizeof(int));
    memcpy(fill, c->group_start, (size_t)c->nx * sizeof(int));
    for (int i = 0; i < b->nb; i++) c->order[fill[c->slot[i]]++] = i;
    free(fill);

    /* f, once per distinct x:  y_l = W_l a_{l-1} / sqrt(fan_in),  a_l = s(y_l) */
    const int nx = c->nx, last = net->fw[net->nf];
    c->a[0] = hk_malloc((size_t)nx * s->dx * sizeof(double));
    for (int q = 0; q < nx; q++)
        memcpy(c->a[0] + (size_t)q * s->dx, in->x + (size_t)c->xs[q] * s->dx, (size_t)s->dx * sizeof(double));
    for (int l = 1; l <= net->nf; l++) {
        int fan = net->fw[l - 1], w = net->fw[l];
        c->y[l] = hk_malloc((size_t)nx * w * sizeof(double));
        c->a[l] = hk_malloc((size_t)nx * w * sizeof(double));
        hk_gemm_rm('N', 'T', nx, w, fan, 1.0 / sqrt(fan), c->a[l - 1], fan, net->W[l], fan, 0, c->y[l], w);
        for (long i = 0; i < (long)nx * w; i++) c->a[l][i] = relu(c->y[l][i]);
    }
    /* f(x) = A phi / sqrt(width): all of g's weights for each distinct x */
    c->V = hk_malloc((size_t)nx * net->P * sizeof(double));
    hk_gemm_rm('N', 'T', nx, (int)net->P, last, 1.0 / sqrt(last), c->a[net->nf], last, net->A, last, 0, c->V, (int)net->P);

    /* g, per group of samples sharing an x:  g_l = V_l in_l / sqrt(fan_in) */
    const int nb = b->nb;
    c->gin[1] = hk_malloc((size_t)nb * s->dz * sizeof(double));
    for (int r = 0; r < nb; r++)
        memcpy(c->gin[1] + (size_t)r * s->dz, in->z + (size_t)b->samples[c->order[r]] * s->dz, (size_t)s->dz * sizeof(double));
    for (int l = 1; l <= s->H; l++) {
        int rows = net->v_rows[l], cols = net->v_cols[l];
        c->gpre[l] = hk_malloc((size_t)nb * rows * sizeof(double));
        for (int q = 0; q < nx; q++) {
            int r0 = c->group_start[q], cnt = c->group_start[q + 1] - r0;
            const double *Vl = c->V + (size_t)q * net->P + net->v_off[l];
            hk_gemm_rm('N', 'T', cnt, rows, cols, 1.0 / sqrt(cols), c->gin[l] + (size_t)r0 * cols, cols, Vl, cols, 0,
                    c->gpre[l] + (size_t)r0 * rows, rows);
        }
        if (l < s->H) {
            c->gin[l + 1] = hk_malloc((size_t)nb * rows * sizeof(double));
            for (long i = 0; i < (long)nb * rows; i++) c->gin[l + 1][i] = relu(c->gpre[l][i]);
        }
    }
    c->out = hk_malloc((size_t)nb * s->k * sizeof(double));
    for (int r = 0; r < nb; r++)
        memcpy(c->out + (size_t)c->order[r] * s->k, c->gpre[s->H] + (size_t)r * s->k, (size_t)s->k * sizeof(double));
}

void hk_hn_cache_free(struct hk_hn_cache *c)
{
    free(c->xs); free(c->slot); free(c->order); free(c->group_start); free(c->V); free(c->out);
    for (int l = 0; l <= HK_MAX_DEPTH + 1; l++) {
        free(c->y[l]); free(c->a[l]);
    }
    for (int l = 0; l <= HK_MAX_DEPTH; l++) {
        free(c->gpre[l]); free(c->gin[l]);
    }
    memset(c, 0, sizeof *c);
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

/* Backward through g for every sample at once: B_l = d(sum dout.out)/d g_l
 * (sorted order, nb x rows_l). With dV, also accumulates dV per distinct x. */
static void g_backward(const struct hk_hypernet *net, const struct hk_hn_cache *c, const double *dout_sorted,
                       double **B, double *dV)
{
    const struct hk_hn_shape *s = &net->s;
    const int nb = c->nb;
    B[s->H] = hk_malloc((size_t)nb * s->k * sizeof(double));
    memcpy(B[s->H], dout_sorted, (size_t)nb * s->k * sizeof(double));
    for (int l = s->H; l >= 1; l--) {
        int rows = net->v_rows[l], cols = net->v_cols[l];
        if (l > 1) B[l - 1] = hk_malloc((size_t)nb * cols * sizeof(double));
        for (int q = 0; q < c->nx; q++) {
            int r0 = c->group_start[q], cnt = c->group_start[q + 1] - r0;
            const double *Vl = c->V + (size_t)q * net->P + net->v_off[l];
            if (dV) /* dV_l += B_l^T in_l / sqrt(cols) */
                hk_gemm_rm('T', 'N', rows, cols, cnt, 1.0 / sqrt(cols), B[l] + (size_t)r0 * rows, rows,
                        c->gin[l] + (size_t)r0 * cols, cols, 1.0, dV + (size_t)q * net->P + net->v_off[l], cols);
            if (l > 1) /* B_{l-1} = (B_l V_l / sqrt(cols)) * s'(g_{l-1}) */
                hk_gemm_rm('N', 'N', cnt, cols, rows, 1.0 / sqrt(cols), B[l] + (size_t)r0 * rows, rows, Vl, cols, 0,
                        B[l - 1] + (size_t)r0 * cols, cols);
        }
        if (l > 1)
            for (long i = 0; i < (long)nb * cols; i++) B[l - 1][i] *= relu_d(c->gpre[l - 1][i]);
    }
}

/* Backward through f from dphi (rows x w_last, each row using the
 * activations of x act_row[r]): accumulates dW when dW != NULL, and leaves
 * delta_l per row in D[l] when D != NULL. dphi is overwritten. */
static void f_backward(const struct hk_hypernet *net, const struct hk_hn_cache *c, int rows, const int *act_row,
                       double *dphi, double **dW, double **D)
{
    double *delta = dphi;
    int w = net->fw[net->nf];
    for (long r = 0; r < rows; r++)
        for (int i = 0; i < w; i++) delta[r * w + i] *= relu_d(c->y[net->nf][(size_t)act_row[r] * w + i]);
    double *prev_act = NULL;
    for (int l = net->nf; l >= 1; l--) {
        int fan = net->fw[l - 1];
        w = net->fw[l];
        /* the activations a_{l-1} of each row's x */
        prev_act = hk_realloc(prev_act, (size_t)rows * fan * sizeof(double));
        for (int r = 0; r < rows; r++)
            memcpy(prev_act + (size_t)r * fan, c->a[l - 1] + (size_t)act_row[r] * fan, (size_t)fan * sizeof(double));
        if (D) {
            D[l] = hk_malloc((size_t)rows * w * sizeof(double));
            memcpy(D[l], delta, (size_t)rows * w * sizeof(double));
        }
        if (dW) /* dW_l += delta^T a_{l-1} / sqrt(fan) */
            hk_gemm_rm('T', 'N', w, fan, rows, 1.0 / sqrt(fan), delta, w, prev_act, fan, 1.0, dW[l], fan);
        if (l > 1) { /* delta_{l-1} = (delta W_l / sqrt(fan)) * s'(y_{l-1}) */
            double *next = hk_malloc((size_t)rows * fan * sizeof(double));
            hk_gemm_rm('N', 'N', rows, fan, w, 1.0 / sqrt(fan), delta, w, net->W[l], fan, 0, next, fan);
            for (long r = 0; r < rows; r++)
                for (int i = 0; i < fan; i++) next[r * fan + i] *= relu_d(c->y[l - 1][(size_t)act_row[r] * fan + i]);
            if (delta != dphi) free(delta);
            delta = next;
        }
    }
    if (delta != dphi) free(delta);
    free(prev_act);
}

void hk_hn_backward(const struct hk_hypernet *net, const struct hk_hn_batch *b, const struct hk_hn_cache *c,
                    const double *dout, struct hk_hn_grad *g)
{
    (void)b;
    const struct hk_hn_shape *s = &net->s;
    const int nb = c->nb, nx = c->nx, n = net->fw[net->nf];
    double *dout_sorted = hk_malloc((size_t)nb * s->k * sizeof(double));
    for (int r = 0; r < nb; r++)
        memcpy(dout_sorted + (size_t)r * s->k, dout + (size_t)c->order[r] * s->k, (size_t)s->k * sizeof(double));
    double *B[HK_MAX_DEPTH + 1] = {0};
    double *dV = hk_calloc((size_t)nx * net->P, sizeof(double));
    g_backward(net, c, dout_sorted, B, dV);
    /* through f's output layer: dA += dV^T phi / sqrt(n), dphi = dV A / sqrt(n) */
    hk_gemm_rm('T', 'N', (int)net->P, n, nx, 1.0 / sqrt(n), dV, (int)net->P, c->a[net->nf], n, 1.0, g->A, n);
    double *dphi = hk_malloc((size_t)nx * n * sizeof(double));
    hk_gemm_rm('N', 'N', nx, n, (int)net->P, 1.0 / sqrt(n), dV, (int)net->P, net->A, n, 0, dphi, n);
    int *rows = hk_malloc((size_t)nx * sizeof(int));
    for (int q = 0; q < nx; q++) rows[q] = q;
    f_backward(net, c, nx, rows, dphi, g->W, NULL);
    free(rows);
    free(dphi);
    free(dV);
    free(dout_sorted);
    for (int l = 0; l <= HK_MAX_DEPTH; l++) free(B[l]);
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

void hk_hn_entk_outputs(const struct hk_hypernet *net, const struct hk_hn_batch *b, double *ntk, double *out)
{
    const struct hk_hn_shape *s = &net->s;
    struct hk_hn_cache c;
    hk_hn_forward(net, b, &c);
    if (out) memcpy(out, c.out, (size_t)c.nb * s->k * sizeof(double));
    const int nb = c.nb, n = net->fw[net->nf];
    /* c(u) = dout_0/dV: per layer b_l (x) in_l / sqrt(fan), with b_H = e_0 */
    double *e0 = hk_calloc((size_t)nb * s->k, sizeof(double));
    for (int r = 0; r < nb; r++) e0[(size_t)r * s->k] = 1;
    double *B[HK_MAX_DEPTH + 1] = {0};
    g_backward(net, &c, e0, B, NULL);
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
        hk_gemm_rm('N', 'N', cnt, n, (int)net->P, 1.0 / sqrt(n), cvec, (int)net->P, net->A, n, 0, dphi + (size_t)r0 * n, n);
    }
    free(cvec);
    double *D[HK_MAX_DEPTH + 2] = {0};
    f_backward(net, &c, nb, act_row, dphi, NULL, D);
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
