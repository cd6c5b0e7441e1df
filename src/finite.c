/* finite: a finite network fitted for an experiment kind (finite.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk/finite.h"
#include "hk/config.h"
#include "hk/team.h"
#include "hk/util.h"

static void record(struct hk_result *r, const char *what, const char *method, double v)
{
    char key[96];
    snprintf(key, sizeof key, "%s_%s", what, method);
    hk_attrs_num(&r->metrics, key, v);
}

static void record_array(struct hk_result *r, const char *what, const char *method, long n, const double *v)
{
    char key[96];
    snprintf(key, sizeof key, "%s_%s", what, method);
    memcpy(hk_result_array(r, key, 1, n, 0, 0, NULL)->data, v, (size_t)n * sizeof(double));
}

int hk_finite_train(const struct hk_finite_spec *s, const struct hk_finite_set *train,
                    const struct hk_finite_set *val, const struct hk_finite_set *test, MPI_Comm team,
                    hk_train_epoch_fn on_epoch, void *ctx, struct hk_result *r, struct hk_finite_fit *fit,
                    double *test_out)
{
    memset(fit, 0, sizeof *fit);
    const int is_mlp = !strcmp(s->method, "mlp");
    if (is_mlp) {
        if (hk_mlp_init(&fit->mlp, &s->mlp, s->init_seed)) return -1;
        if (!s->f32) hk_model_of_mlp(&fit->model, &fit->mlp);
        else if (hk_model_of_mlp32(&fit->model, &fit->mlp)) {
            hk_mlp_free(&fit->mlp);
            return -1;
        }
    } else {
        if (hk_hn_init(&fit->hn, &s->hn, s->init_seed) || (s->f32 && hk_model_of_hypernet32(&fit->model, &fit->hn))) {
            hk_hn_free(&fit->hn);
            return -1;
        }
        if (!s->f32) hk_model_of_hypernet(&fit->model, &fit->hn);
    }
    struct hk_model *m = &fit->model;
    const int k = m->k, with_val = val && val->in;
    struct hk_train_opts o = s->o;
    if (s->centered) {
        const struct hk_finite_set *sets[3] = {train, with_val ? val : NULL, test};
        double **h0[3] = {&fit->h0_train, &fit->h0_val, &fit->h0_test}, unused;
        for (int i = 0; i < 3; i++) {
            if (!sets[i] || !sets[i]->in) continue;
            *h0[i] = hk_malloc((size_t)sets[i]->in->n * k * sizeof(double) + 1);
            hk_model_evaluate(m, sets[i]->in, sets[i]->y, sets[i]->labels, NULL, team, &unused, NULL, *h0[i]);
        }
        o.offset = fit->h0_train;
    }
    long steps = 0, rc;
    double by_lr[HK_MAX_REALS];
    int nlr = 1;
    if (with_val && s->nlr < 1) return hk_fail("%s: validation needs at least one learning rate in lr_grid", s->method);
    if (with_val) {
        o.val = val->in, o.val_y = val->y, o.val_labels = val->labels, o.val_offset = fit->h0_val;
        nlr = s->nlr < HK_MAX_REALS ? s->nlr : HK_MAX_REALS;
        rc = hk_train_select(m, train->in, train->y, train->labels, &o, s->lrs, nlr, team, on_epoch, ctx, &steps,
                             &fit->log, by_lr, &fit->chosen);
        fit->lr = fit->chosen >= 0 ? s->lrs[fit->chosen] : NAN;
    } else {
        rc = hk_train_model(m, train->in, train->y, train->labels, &o, team, on_epoch, ctx, &steps, &fit->log);
        fit->lr = o.lr;
        by_lr[0] = fit->log.train_loss[fit->log.best_epoch];
    }
    if (rc == -2) { /* stopped by a signal: the point is abandoned (run again on --resume), nothing recorded; a
                     * stop before the first run ended leaves no log to record from */
        r->status = HK_ABANDONED;
        snprintf(r->reason, sizeof r->reason, "stopped by a signal while training the %s", s->method);
        return 0;
    }
    /* the network kept, on the test and the training set (accuracy: labels only, else NaN) */
    hk_model_evaluate(m, test->in, test->y, test->labels, fit->h0_test, team, &fit->test_loss, &fit->test_accuracy,
                      test_out);
    hk_model_evaluate(m, train->in, train->y, train->labels, fit->h0_train, team, &fit->train_loss,
                      &fit->train_accuracy, NULL);
    const char *name = s->method;
    record(r, "parameters", name, (double)m->nparams);
    record(r, "steps", name, (double)steps);
    record(r, "lr", name, fit->lr);
    record(r, "epochs_run", name, fit->log.epochs_run);
    record(r, "epochs_best", name, fit->log.best_epoch);
    record(r, "still_improving", name, fit->log.still_improving);
    record(r, "loss_train", name, fit->train_loss);
    if (hk_team_rank(team) == 0) {
        record_array(r, "loss_train_per_epoch", name, o.epochs + 1, fit->log.train_loss);
        if (with_val) {
            record_array(r, "loss_val_per_epoch", name, o.epochs + 1, fit->log.val_loss);
            record_array(r, "loss_val_by_lr", name, nlr, by_lr);
        }
    }
    if (rc >= 0) {
        r->status = HK_DIVERGED;
        snprintf(r->reason, sizeof r->reason, "%s diverged at step %ld (loss not finite) at every learning rate tried; "
                 "lower lr", name, rc);
    }
    return 0;
}

void hk_finite_fit_free(struct hk_finite_fit *fit)
{
    if (fit->model.name && !strcmp(fit->model.name, "mlp")) hk_mlp_free(&fit->mlp);
    else hk_hn_free(&fit->hn);
    free(fit->h0_train);
    free(fit->h0_val);
    free(fit->h0_test);
    hk_train_log_free(&fit->log);
    memset(fit, 0, sizeof *fit);
}
