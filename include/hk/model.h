/* model: a finite network as the trainer (train.h) sees it: parameter
 * arrays and a forward/backward pair. Two models:
 *   - the hypernetwork h(x, z) = g(z; f(x)) of hypernet.h;
 *   - a plain MLP on the concatenated input (x, z), the finite network
 *     whose NTK is Tmlp (kernels.c, column_mlp): input u = (x, z) with
 *     y_1 = W_1 u / sqrt(dx + dz), then `depth` hidden layers of width n
 *     with the scaled ReLU, y_{l+1} = W_{l+1} s(y_l) / sqrt(n), and a
 *     linear readout of k outputs, every weight N(0, 1) (NTK
 *     parameterisation, no biases, as the hypernetwork).
 * No MPI, no HDF5. */
#ifndef HK_MODEL_H
#define HK_MODEL_H

#include "hk/hypernet.h"

#define HK_MLP_MAX_DEPTH (2 * HK_MAX_DEPTH)
#define HK_MODEL_MAX_ARRAYS (HK_MLP_MAX_DEPTH + 2)

struct hk_model {
    const char *name;       /* "hypernet" or "mlp" */
    int k;                  /* outputs */
    long nparams;
    int chunk;              /* points per forward pass when evaluating (memory bound) */
    int chunk_x;            /* and distinct x per pass: the hypernetwork generates P weights per x, and
                             * each pass reads all of A, so a test image's pixels share one pass */
    int narrays;            /* the parameters, as arrays the trainer steps and sums */
    int f32;                /* 1: the parameters are float (params32; precision: float32), else double (params) */
    double *params[HK_MODEL_MAX_ARRAYS];
    float *params32[HK_MODEL_MAX_ARRAYS];
    long counts[HK_MODEL_MAX_ARRAYS];
    void *net;
    /* outputs of a batch (nb x k, batch order) into out; returns what
     * backward needs, freed by release */
    void *(*forward)(const void *net, const struct hk_hn_batch *b, double *out);
    /* grad[a] += d(sum_b dout[b] . out[b]) / d params[a] (arrays of the parameters' type) */
    void (*backward)(const void *net, const struct hk_hn_batch *b, void *saved, const double *dout, void **grad);
    void (*release)(void *saved);
};

/* The model of an initialised hypernetwork (which it does not own). */
void hk_model_of_hypernet(struct hk_model *m, struct hk_hypernet *net);
/* The same trained in float32: the network's weights rounded into its W32
 * and A32, which the model then trains (the double weights stay as they
 * were); inputs, outputs and losses stay double. 0, or -1 (no memory). */
int hk_model_of_hypernet32(struct hk_model *m, struct hk_hypernet *net);

struct hk_mlp_shape {
    int dx, dz;
    int n, depth;           /* width and number of hidden layers */
    int k;
};
struct hk_mlp {
    struct hk_mlp_shape s;
    int w[HK_MLP_MAX_DEPTH + 2];        /* widths: w[0] = dx + dz, w[1..depth] = n, w[depth + 1] = k */
    double *W[HK_MLP_MAX_DEPTH + 2];    /* W[l]: w[l] x w[l-1], row-major, l = 1..depth + 1 */
    float *W32[HK_MLP_MAX_DEPTH + 2];   /* the float32 copy hk_model_of_mlp32 trains, or NULL */
    long nparams;
};
long hk_mlp_param_count(const struct hk_mlp_shape *s);
/* 0, or -1 with a message (shape out of range, no memory). */
int hk_mlp_init(struct hk_mlp *net, const struct hk_mlp_shape *s, long seed);
void hk_mlp_free(struct hk_mlp *net);
/* Outputs of a batch (nb x k, batch order), without keeping activations. */
void hk_mlp_outputs(const struct hk_mlp *net, const struct hk_hn_batch *b, double *out);
void hk_model_of_mlp(struct hk_model *m, struct hk_mlp *net);
/* The same in float32, as hk_model_of_hypernet32. */
int hk_model_of_mlp32(struct hk_model *m, struct hk_mlp *net);

#endif
