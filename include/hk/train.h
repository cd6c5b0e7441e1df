/* train: training and evaluating a finite network (model.h: the
 * hypernetwork, or the plain MLP on (x, z)), data-parallel over a team of
 * ranks. Beside the models, which know no MPI. */
#ifndef HK_TRAIN_H
#define HK_TRAIN_H

#include <mpi.h>

#include "hk/model.h"

/* Training a finite network, data-parallel over a team (every rank holds
 * the same network and takes a slice of each minibatch). With labels,
 * softmax cross-entropy over the model's k outputs; otherwise MSE on y. */
struct hk_train_opts {
    int epochs, batch_size, full_batch;
    double lr, momentum;
    long shuffle_seed;
    /* Minibatches of whole groups: each epoch shuffles the distinct x and
     * takes every sample of each in turn (the pixels of an image together,
     * so f runs once per image of a batch), instead of shuffling samples. */
    int batch_by_x;
    /* Centred training, h(u; w) - h(u; w_0), whose output starts at 0 as in
     * kernel regression: the initial outputs on the training points (n x k,
     * from hk_model_evaluate), or NULL for plain training. */
    const double *offset;
    /* Validation, optional: points never trained on, with targets val_y
     * (or val_labels) and the initial outputs val_offset when centred. Their
     * loss is taken after every epoch; training stops after `patience`
     * epochs without a new best (0: never) and the parameters of the best
     * epoch are restored at the end (early stopping). */
    const struct hk_inputs *val;
    const double *val_y, *val_offset;
    const int *val_labels;
    int patience;
};
/* What a training run did, epoch by epoch (index 0: at initialisation). */
struct hk_train_log {
    double *train_loss;   /* epochs + 1: the mean minibatch loss of each epoch (MSE, not halved, or
                           * cross-entropy); [0] the whole training set's at initialisation */
    double *val_loss;     /* epochs + 1, NaN without validation or after a stop */
    int epochs_run;       /* epochs completed */
    long diverged_at;     /* the step where the loss stopped being finite, or -1 */
    int best_epoch;       /* of the validation loss (of the train loss without validation) */
    int still_improving;  /* the loss followed (validation, else training) was still falling at the end:
                           * the best of the last max(1, epochs_run / 10) epochs beats every earlier
                           * epoch by more than 0.1 %, and training was not stopped early */
};
/* Called on every rank after initialisation (epoch 0) and after each epoch
 * (each step with full_batch). */
typedef void (*hk_train_epoch_fn)(int epoch, const struct hk_model *m, void *ctx);
/* Returns -1 when training ended normally (all epochs, or early stopping),
 * the step at which the loss stopped being finite, or -2 if a signal
 * stopped it; *steps gets the steps taken; log (if not NULL) is filled,
 * its arrays allocated here (free with hk_train_log_free). */
long hk_train_model(struct hk_model *m, const struct hk_inputs *in, const double *y, const int *labels,
                    const struct hk_train_opts *o, MPI_Comm team, hk_train_epoch_fn on_epoch, void *ctx,
                    long *steps, struct hk_train_log *log);
void hk_train_log_free(struct hk_train_log *log);
/* Trains from the same initial parameters at each learning rate of lrs,
 * with o's validation and early stopping, and keeps the run whose best
 * epoch has the least validation loss (training loss without validation):
 * its parameters (of that epoch), its log and steps. val_by_lr (nlr) gets
 * each run's best loss, *chosen the index kept (-1 if none was finite).
 * on_epoch is called in every run. Returns as hk_train_model for the run
 * kept (-2 as soon as a signal stops any run; 0 if no run had a finite
 * loss). */
long hk_train_select(struct hk_model *m, const struct hk_inputs *in, const double *y, const int *labels,
                     const struct hk_train_opts *o, const double *lrs, int nlr, MPI_Comm team,
                     hk_train_epoch_fn on_epoch, void *ctx, long *steps, struct hk_train_log *log, double *val_by_lr,
                     int *chosen);
/* Mean loss (squared error, or cross-entropy with labels) and accuracy
 * (labels only) over all points of in, split over the team, of the outputs
 * minus offset (n x k, e.g. the initial outputs of a centred net) if not
 * NULL; out (n x k, replicated) gets those outputs if not NULL. Collective. */
void hk_model_evaluate(const struct hk_model *m, const struct hk_inputs *in, const double *y, const int *labels,
                       const double *offset, MPI_Comm team, double *loss, double *accuracy, double *out);

#endif
