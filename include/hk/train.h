/* train: training and evaluating a finite hypernetwork, data-parallel over a
 * team of ranks. Beside the model (hypernet.h), which knows no MPI. */
#ifndef HK_TRAIN_H
#define HK_TRAIN_H

#include <mpi.h>

#include "hk/hypernet.h"

/* Training a finite hypernetwork, data-parallel over a team (every rank
 * holds the same network and takes a slice of each minibatch). With labels,
 * softmax cross-entropy over the net's k outputs; otherwise MSE on y. */
struct hk_train_opts {
    int epochs, batch_size, full_batch;
    double lr, momentum;
    long shuffle_seed;
    /* Centred training, h(u; w) - h(u; w_0), whose output starts at 0 as in
     * kernel regression: the initial outputs on the training points (n x k,
     * from hk_hn_evaluate), or NULL for plain training. */
    const double *offset;
};
/* Called on every rank after initialisation (epoch 0) and after each epoch. */
typedef void (*hk_train_epoch_fn)(int epoch, const struct hk_hypernet *net, void *ctx);
/* Returns -1 when all epochs ran, the step at which the loss stopped being
 * finite, or -2 if a signal stopped it; *steps gets the steps taken. */
long hk_train_hypernet(struct hk_hypernet *net, const struct hk_inputs *in, const double *y, const int *labels,
                       const struct hk_train_opts *o, MPI_Comm team, hk_train_epoch_fn on_epoch, void *ctx,
                       long *steps);
/* Mean loss (squared error, or cross-entropy with labels) and accuracy
 * (labels only) over all points of in, split over the team, of the outputs
 * minus offset (n x k, e.g. the initial outputs of a centred net) if not
 * NULL; out (n x k, replicated) gets those outputs if not NULL. Collective. */
void hk_hn_evaluate(const struct hk_hypernet *net, const struct hk_inputs *in, const double *y, const int *labels,
                    const double *offset, MPI_Comm team, double *loss, double *accuracy, double *out);

#endif
