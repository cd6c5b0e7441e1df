/* finite: fitting a finite network for an experiment kind, the hypernetwork
 * or the plain MLP on (x, z), with the learning rate and the epochs chosen
 * on a validation set when there is one (never on test), and a record of
 * what the fit did: the loss curves, the choices, and whether the loss was
 * still falling at the end. Above train and model, below the kinds. */
#ifndef HK_FINITE_H
#define HK_FINITE_H

#include <mpi.h>

#include "hk/result.h"
#include "hk/train.h"

struct hk_finite_spec {
    const char *method;           /* "hypernet" or "mlp": the metrics' suffix */
    struct hk_hn_shape hn;        /* the hypernetwork's shape */
    struct hk_mlp_shape mlp;      /* the MLP's */
    long init_seed;
    int centered;                 /* train h(w) - h(w0) */
    int f32;                      /* precision: float32 (the network rounded from its double init), else float64 */
    struct hk_train_opts o;       /* epochs, batch, momentum, patience, shuffle seed; lr without validation */
    const double *lrs;            /* with validation: the learning rates tried */
    int nlr;
};
/* Points with MSE targets y, or labels. in NULL: no such set. */
struct hk_finite_set {
    const struct hk_inputs *in;
    const double *y;
    const int *labels;
};
struct hk_finite_fit {
    struct hk_model model;
    struct hk_hypernet hn;
    struct hk_mlp mlp;
    double *h0_train, *h0_val, *h0_test;   /* centred: the initial outputs, n x k; else NULL */
    struct hk_train_log log;               /* of the run kept */
    double lr;                             /* its learning rate */
    double train_loss, train_accuracy;     /* of the network kept (accuracy: with labels, else NaN) */
    double test_loss, test_accuracy;
    int chosen;                            /* its index in lrs (0 without validation) */
};
/* Initialises the network, trains it on train (choosing on val when val.in
 * is set), leaves its outputs on test minus h0_test (M x k, replicated) in
 * test_out (if not NULL), and its loss and accuracy on test and train in
 * fit. Records in r: parameters_<m>, steps_<m>, lr_<m>, epochs_run_<m>,
 * epochs_best_<m>, still_improving_<m>, loss_train_<m> and, on rank 0, the
 * arrays loss_train_per_epoch_<m>, loss_val_per_epoch_<m> and
 * loss_val_by_lr_<m>; marks r diverged (no usable epoch) or abandoned (a
 * signal). on_epoch (may be NULL) runs after every epoch of every run, with
 * ctx; fit's h0 arrays are set before the first call. Collective. Returns
 * 0, or -1 with a message (the network cannot be allocated). */
int hk_finite_train(const struct hk_finite_spec *s, const struct hk_finite_set *train,
                    const struct hk_finite_set *val, const struct hk_finite_set *test, MPI_Comm team,
                    hk_train_epoch_fn on_epoch, void *ctx, struct hk_result *r, struct hk_finite_fit *fit,
                    double *test_out);
void hk_finite_fit_free(struct hk_finite_fit *fit);

#endif
