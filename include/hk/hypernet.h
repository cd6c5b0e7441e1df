/* hypernet: the finite hypernetwork of docs/hyperkernel-math.md section 1,
 * h(x, z) = g(z; f(x; w)), with its forward and backward passes, gradient
 * descent, and the empirical NTK of section 7. NTK parameterisation: every
 * weight is iid N(0, 1) and the 1/sqrt(fan_in) factors live in the forward
 * pass. No MPI, no HDF5.
 *
 * Shapes (row-major), with f's widths w_0 = dx, w_1..w_L = n and, with a
 * bottleneck b > 0, one more hidden layer w_{L+1} = b (the rotation model):
 *   f:  W_l w_l x w_{l-1}, A P x w_last                   (the trained parameters)
 *   g:  V1 m x dz, V_l m x m (l = 2..H-1), V_H k x m    (cut from f(x), length P)
 * With H = 1, V1 is k x dz. */
#ifndef HK_HYPERNET_H
#define HK_HYPERNET_H

#include "hk/kernels.h"

struct hk_hn_shape {
    int dx, dz;
    int n, L;       /* width and hidden layers of f */
    int bottleneck; /* 0, or the width of an extra last hidden layer of f */
    int m, H, k;    /* width, layers and outputs of g */
};

struct hk_hypernet {
    struct hk_hn_shape s;
    long P;                          /* f's output size = g's parameter count */
    long v_off[HK_MAX_DEPTH + 1];    /* where V_l starts inside f(x) */
    int v_rows[HK_MAX_DEPTH + 1], v_cols[HK_MAX_DEPTH + 1];
    int nf;                          /* hidden layers of f: L, or L + 1 with a bottleneck */
    int fw[HK_MAX_DEPTH + 2];        /* f's widths, fw[0] = dx */
    double *W[HK_MAX_DEPTH + 2];     /* W[1..nf] */
    double *A;
    long nparams;
    float *W32[HK_MAX_DEPTH + 2], *A32; /* the float32 copy that precision: float32 trains, or NULL */
};

/* A batch: distinct x shared by samples, as the kernels see inputs. */
struct hk_hn_batch {
    const struct hk_inputs *in;
    const int *samples;   /* which points of `in` are in the batch */
    int nb;
};

/* Activations of a forward pass, kept for backward (in double, and in
 * float for precision: float32). */
#define HK_HN_CACHE_STRUCT(NAME, REAL)                                                                          \
    struct NAME {                                                                                               \
        int nx, nb;                                                                                             \
        int *xs;              /* distinct x of the batch (indices into in->x) */                                \
        int *slot;            /* per sample: its x's position in xs */                                          \
        int *order;           /* samples sorted by slot, and group starts */                                    \
        int *group_start;                                                                                       \
        REAL *y[HK_MAX_DEPTH + 2], *a[HK_MAX_DEPTH + 2];   /* f: nx x fw[l]; a[0] = gathered x */               \
        REAL *V;              /* nx x P: g's weights for each distinct x */                                     \
        REAL *gpre[HK_MAX_DEPTH + 1], *gin[HK_MAX_DEPTH + 1]; /* g, per sample in sorted order */               \
        REAL *out;            /* nb x k, in batch order */                                                      \
    }
HK_HN_CACHE_STRUCT(hk_hn_cache, double);
HK_HN_CACHE_STRUCT(hk_hn_cache32, float);

struct hk_hn_grad {
    double *W[HK_MAX_DEPTH + 2];
    double *A;
};

long hk_hn_param_count(const struct hk_hn_shape *s);
int hk_hn_init(struct hk_hypernet *net, const struct hk_hn_shape *s, long seed);
void hk_hn_free(struct hk_hypernet *net);
/* Redraws an initialised network's parameters from another seed in place:
 * the values hk_hn_init(net, &net->s, seed) gives, without allocating, so
 * a loop over seeds of one shape reuses one network's memory. */
void hk_hn_reseed(struct hk_hypernet *net, long seed);
/* hk_hn_reseed(net, seed) then hk_hn_entk_outputs: the same network and the
 * same numbers, bit for bit. With at most 8 inputs A is drawn a block of
 * rows at a time and multiplied while in cache, one pass over A (the
 * largest array) fewer. */
void hk_hn_reseed_entk(struct hk_hypernet *net, long seed, const struct hk_hn_batch *b, double *ntk, double *out);

void hk_hn_forward(const struct hk_hypernet *net, const struct hk_hn_batch *b, struct hk_hn_cache *c);
void hk_hn_cache_free(struct hk_hn_cache *c);

/* Gradient of sum_b dout[b] . out[b] with respect to W and A (accumulated into g). */
void hk_hn_backward(const struct hk_hypernet *net, const struct hk_hn_batch *b, const struct hk_hn_cache *c,
                    const double *dout, struct hk_hn_grad *g);
/* precision: float32. hk_hn_make_f32 rounds the network's weights into
 * W32 and A32 (allocated once, freed by hk_hn_free); the float passes use
 * those and leave the double weights alone. dout is in double. */
int hk_hn_make_f32(struct hk_hypernet *net);
void hk_hn_forward32(const struct hk_hypernet *net, const struct hk_hn_batch *b, struct hk_hn_cache32 *c);
void hk_hn_cache32_free(struct hk_hn_cache32 *c);
void hk_hn_backward32(const struct hk_hypernet *net, const struct hk_hn_cache32 *c, const double *dout, float **dW,
                      float *dA);

void hk_hn_grad_alloc(const struct hk_hypernet *net, struct hk_hn_grad *g);
void hk_hn_grad_zero(const struct hk_hypernet *net, struct hk_hn_grad *g);
void hk_hn_grad_free(struct hk_hn_grad *g);
/* net -= lr * g */
void hk_hn_step(struct hk_hypernet *net, const struct hk_hn_grad *g, double lr);
/* SGD with momentum: v = momentum v + g; net -= lr v (v zeroed by grad_alloc) */
void hk_hn_momentum_step(struct hk_hypernet *net, const struct hk_hn_grad *g, struct hk_hn_grad *v, double lr,
                         double momentum);
/* The gradient's arrays (W_1..W_nf, A) and their lengths, e.g. to sum them
 * over the ranks of a data-parallel team; returns how many. */
int hk_hn_grad_views(const struct hk_hypernet *net, struct hk_hn_grad *g, double **arrays, long *counts);

/* MSE loss 1/(2 nb) sum (out - y)^2 (k = 1) and its gradient with respect to out. */
double hk_hn_mse(const struct hk_hn_cache *c, const double *y, double *dout);
/* Softmax cross-entropy mean_b -log softmax(out_b)[label_b] over k outputs,
 * its gradient (softmax - onehot) / nb, and the count of correct argmaxes. */
double hk_hn_cross_entropy(const struct hk_hn_cache *c, int k, const int *labels, double *dout, int *correct);
/* The same on nb x k outputs; dout (if not NULL) and correct (if not NULL). */
double hk_softmax_cross_entropy(const double *out, int nb, int k, const int *labels, double *dout, int *correct);

/* Empirical NTK of output 0, ntk[i + j nb], over all of f's parameters,
 * computed as in section 7 without materialising per-sample gradients of A. */
void hk_hn_entk(const struct hk_hypernet *net, const struct hk_hn_batch *b, double *ntk);
/* The same, and the outputs h(u) of the batch (nb x k, batch order) from the
 * same forward pass, when out is not NULL. */
void hk_hn_entk_outputs(const struct hk_hypernet *net, const struct hk_hn_batch *b, double *ntk, double *out);

#endif
