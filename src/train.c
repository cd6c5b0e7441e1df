/* train: minibatch SGD with momentum (or full-batch GD) for a finite
 * network (model.h), data-parallel over a team, shared by the experiment
 * kinds. Every rank holds the same network and takes a slice of each
 * minibatch; the gradients are summed with MPI_Allreduce, so every rank
 * takes the same step. MSE (one output, targets y) or softmax
 * cross-entropy (k outputs, labels). Optional validation with early
 * stopping, and a log of the losses per epoch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hk/team.h"
#include "hk/train.h"
#include "hk/util.h"

/* The end of the evaluation chunk that starts at point s0 (< hi): at most
 * m->chunk points and m->chunk_x distinct x. seen[] (one per x) is all zero
 * before and after. */
static int chunk_end(const struct hk_model *m, const struct hk_inputs *in, int s0, int hi, char *seen)
{
    int s = s0, distinct = 0;
    for (; s < hi && s - s0 < m->chunk; s++) {
        const int x = in->xid[s];
        if (seen[x]) continue;
        if (distinct == m->chunk_x) break;
        seen[x] = 1;
        distinct++;
    }
    for (int i = s0; i < s; i++) seen[in->xid[i]] = 0;
    return s;
}

void hk_model_evaluate(const struct hk_model *m, const struct hk_inputs *in, const double *y, const int *labels,
                       const double *offset, MPI_Comm team, double *loss, double *accuracy, double *out)
{
    int trank, tsize;
    MPI_Comm_rank(team, &trank);
    MPI_Comm_size(team, &tsize);
    const int n = in->n, k = m->k, lo = (int)((long)n * trank / tsize), hi = (int)((long)n * (trank + 1) / tsize);
    const int step = m->chunk;
    int *idx = hk_malloc(step * sizeof(int)), *correct_lab = labels ? hk_malloc(step * sizeof(int)) : NULL;
    double *o = hk_malloc((size_t)step * k * sizeof(double));
    double sums[2] = {0, 0};
    char *seen = hk_calloc((size_t)in->nx + 1, 1);
    if (out) memset(out, 0, (size_t)n * k * sizeof(double));
    for (int s0 = lo, s1; s0 < hi; s0 = s1) {
        s1 = chunk_end(m, in, s0, hi, seen);
        const int cnt = s1 - s0;
        for (int i = 0; i < cnt; i++) idx[i] = s0 + i;
        struct hk_hn_batch b = {.in = in, .samples = idx, .nb = cnt};
        m->release(m->forward(m->net, &b, o));
        if (offset)
            for (int i = 0; i < cnt * k; i++) o[i] -= offset[(size_t)s0 * k + i];
        if (labels) {
            int correct = 0;
            for (int i = 0; i < cnt; i++) correct_lab[i] = labels[s0 + i];
            sums[0] += hk_softmax_cross_entropy(o, cnt, k, correct_lab, NULL, &correct) * cnt;
            sums[1] += correct;
        } else {
            for (int i = 0; i < cnt; i++) sums[0] += pow(o[i] - y[s0 + i], 2);
        }
        if (out) memcpy(out + (size_t)s0 * k, o, (size_t)cnt * k * sizeof(double));
    }
    MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, team);
    if (out) MPI_Allreduce(MPI_IN_PLACE, out, n * k, MPI_DOUBLE, MPI_SUM, team);
    *loss = sums[0] / n;
    if (accuracy) *accuracy = labels ? sums[1] / n : NAN;
    free(idx);
    free(correct_lab);
    free(o);
    free(seen);
}

void hk_train_log_free(struct hk_train_log *log)
{
    free(log->train_loss);
    free(log->val_loss);
    memset(log, 0, sizeof *log);
}

/* Bytes of one parameter, and parameter array a, in the model's precision. */
static size_t param_bytes(const struct hk_model *m) { return m->f32 ? sizeof(float) : sizeof(double); }
static void *param_array(const struct hk_model *m, int a) { return m->f32 ? (void *)m->params32[a] : (void *)m->params[a]; }

/* A buffer for all the parameters at once (the best epoch's copy). */
static void *params_buffer(const struct hk_model *m) { return hk_malloc((size_t)m->nparams * param_bytes(m) + 1); }

/* The parameters as one vector, or back. */
static void params_copy(struct hk_model *m, void *flat, int to_flat)
{
    char *at = flat;
    for (int a = 0; a < m->narrays; a++) {
        size_t bytes = (size_t)m->counts[a] * param_bytes(m);
        if (to_flat) memcpy(at, param_array(m, a), bytes);
        else memcpy(param_array(m, a), at, bytes);
        at += bytes;
    }
}

/* SGD with momentum on every array: v = momentum v + g; w -= lr v, in the
 * model's precision. */
static void momentum_step(struct hk_model *m, void **g, void **v, double lr, double momentum)
{
    for (int a = 0; a < m->narrays; a++) {
        const long n = m->counts[a];
        if (m->f32) {
            float *p = m->params32[a], *va = v[a], *ga = g[a];
            const float mo = (float)momentum, rate = (float)lr;
            for (long i = 0; i < n; i++) {
                va[i] = mo * va[i] + ga[i];
                p[i] -= rate * va[i];
            }
        } else {
            double *p = m->params[a], *va = v[a], *ga = g[a];
            for (long i = 0; i < n; i++) {
                va[i] = momentum * va[i] + ga[i];
                p[i] -= lr * va[i];
            }
        }
    }
}

static int still_improving(const double *curve, int last)
{
    if (last < 2) return last == 1 && curve[1] < curve[0] * (1 - 1e-3);
    const int tail = last / 10 > 1 ? last / 10 : 1;
    double before = INFINITY, recent = INFINITY;
    for (int e = 0; e <= last; e++) {
        if (isnan(curve[e])) continue;
        if (e <= last - tail) before = fmin(before, curve[e]);
        else recent = fmin(recent, curve[e]);
    }
    return recent < before * (1 - 1e-3);
}

long hk_train_model(struct hk_model *m, const struct hk_inputs *in, const double *y, const int *labels,
                    const struct hk_train_opts *o, MPI_Comm team, hk_train_epoch_fn on_epoch, void *ctx,
                    long *steps_out, struct hk_train_log *log)
{
    int trank, tsize;
    MPI_Comm_rank(team, &trank);
    MPI_Comm_size(team, &tsize);
    const int N = in->n, k = m->k;
    const int batch = o->full_batch ? N : (o->batch_size < N ? o->batch_size : N);
    const double momentum = o->full_batch ? 0 : o->momentum;
    void *g[HK_MODEL_MAX_ARRAYS], *v[HK_MODEL_MAX_ARRAYS];
    const size_t pb = param_bytes(m);
    const MPI_Datatype ptype = m->f32 ? MPI_FLOAT : MPI_DOUBLE;
    for (int a = 0; a < m->narrays; a++) {
        g[a] = hk_calloc((size_t)m->counts[a], pb);
        v[a] = hk_calloc((size_t)m->counts[a], pb);
    }
    int *order = hk_malloc((size_t)N * sizeof(int)), *slice = hk_malloc((size_t)batch * sizeof(int));
    int *lab = hk_malloc((size_t)batch * sizeof(int));
    for (int i = 0; i < N; i++) order[i] = i;
    /* with batch_by_x: the samples of each distinct x, in order (a counting sort) */
    const int nx = in->nx;
    int *xstart = NULL, *xsamples = NULL, *xorder = NULL;
    if (o->batch_by_x && !o->full_batch) {
        xstart = hk_calloc((size_t)nx + 1, sizeof(int));
        xsamples = hk_malloc((size_t)N * sizeof(int) + 1);
        xorder = hk_malloc((size_t)nx * sizeof(int) + 1);
        for (int i = 0; i < N; i++) xstart[in->xid[i] + 1]++;
        for (int q = 0; q < nx; q++) xstart[q + 1] += xstart[q];
        int *fill = hk_malloc((size_t)nx * sizeof(int) + 1);
        memcpy(fill, xstart, (size_t)nx * sizeof(int));
        for (int i = 0; i < N; i++) xsamples[fill[in->xid[i]]++] = i;
        free(fill);
        for (int q = 0; q < nx; q++) xorder[q] = q;
    }
    double *dout = hk_malloc((size_t)batch * k * sizeof(double)), *out = hk_malloc((size_t)batch * k * sizeof(double));
    struct hk_rng shuffle;
    hk_rng_seed(&shuffle, (uint64_t)o->shuffle_seed, 11);
    long step = 0, diverged_at = -1;
    int stopped = 0, early = 0;
    const double *h0 = o->offset;
    /* the log: losses per epoch, the best validation epoch and its parameters */
    struct hk_train_log lg = {.diverged_at = -1, .train_loss = hk_malloc((size_t)(o->epochs + 1) * sizeof(double)),
                              .val_loss = hk_malloc((size_t)(o->epochs + 1) * sizeof(double))};
    for (int e = 0; e <= o->epochs; e++) lg.train_loss[e] = lg.val_loss[e] = NAN;
    double loss0, best = INFINITY;
    void *best_params = NULL;
    const double halve = labels ? 1.0 : 2.0; /* the minibatch loss is halved MSE: log it whole */
    if (log) {
        hk_model_evaluate(m, in, y, labels, h0, team, &loss0, NULL, NULL);
        lg.train_loss[0] = loss0;
    }
    if (o->val) {
        hk_model_evaluate(m, o->val, o->val_y, o->val_labels, o->val_offset, team, &lg.val_loss[0], NULL, NULL);
        best = lg.val_loss[0];
        best_params = params_buffer(m);
        params_copy(m, best_params, 1);
    }
    if (on_epoch) on_epoch(0, m, ctx);
    for (int e = 0; e < o->epochs && diverged_at < 0 && !early; e++) {
        if (hk_team_should_stop(team)) { stopped = 1; break; }
        if (xorder) { /* the same shuffle of the distinct x on every rank; their samples follow */
            for (int i = nx - 1; i > 0; i--) {
                int j = (int)(hk_rng_next(&shuffle) % (uint64_t)(i + 1)), t = xorder[i];
                xorder[i] = xorder[j];
                xorder[j] = t;
            }
            for (int q = 0, at = 0; q < nx; q++)
                for (int r = xstart[xorder[q]]; r < xstart[xorder[q] + 1]; r++) order[at++] = xsamples[r];
        }
        for (int i = N - 1; i > 0 && !o->full_batch && !xorder; i--) { /* the same shuffle on every rank */
            int j = (int)(hk_rng_next(&shuffle) % (uint64_t)(i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        double epoch_loss = 0;
        for (int b0 = 0; b0 < N && diverged_at < 0; b0 += batch, step++) {
            int bsize = N - b0 < batch ? N - b0 : batch;
            int lo = (int)((long)bsize * trank / tsize), hi = (int)((long)bsize * (trank + 1) / tsize), cnt = hi - lo;
            for (int i = 0; i < cnt; i++) slice[i] = order[b0 + lo + i];
            for (int a = 0; a < m->narrays; a++) memset(g[a], 0, (size_t)m->counts[a] * pb);
            double loss = 0;
            if (cnt > 0) {
                struct hk_hn_batch hb = {.in = in, .samples = slice, .nb = cnt};
                void *saved = m->forward(m->net, &hb, out);
                if (h0)
                    for (int i = 0; i < cnt; i++)
                        for (int j = 0; j < k; j++) out[(size_t)i * k + j] -= h0[(size_t)slice[i] * k + j];
                if (labels) {
                    /* the mean over the whole minibatch, not this rank's slice */
                    for (int i = 0; i < cnt; i++) lab[i] = labels[slice[i]];
                    loss = hk_softmax_cross_entropy(out, cnt, k, lab, dout, NULL) * cnt / bsize;
                    for (int i = 0; i < cnt * k; i++) dout[i] *= (double)cnt / bsize;
                } else {
                    /* gradient of 1/(2 bsize) sum over the whole minibatch */
                    for (int i = 0; i < cnt; i++) {
                        double err = out[i] - y[slice[i]];
                        loss += err * err / (2.0 * bsize);
                        dout[i] = err / bsize;
                    }
                }
                m->backward(m->net, &hb, saved, dout, g);
                m->release(saved);
            }
            if (tsize > 1) {
                for (int a = 0; a < m->narrays; a++)
                    MPI_Allreduce(MPI_IN_PLACE, g[a], (int)m->counts[a], ptype, MPI_SUM, team);
                MPI_Allreduce(MPI_IN_PLACE, &loss, 1, MPI_DOUBLE, MPI_SUM, team);
            }
            if (!isfinite(loss) || loss > 1e12) {
                diverged_at = step;
                break;
            }
            epoch_loss += loss * halve * bsize / N;
            momentum_step(m, g, v, o->lr, momentum);
        }
        if (diverged_at >= 0) break;
        lg.epochs_run = e + 1;
        lg.train_loss[e + 1] = epoch_loss;
        if (o->val) {
            double vl;
            hk_model_evaluate(m, o->val, o->val_y, o->val_labels, o->val_offset, team, &vl, NULL, NULL);
            lg.val_loss[e + 1] = vl;
            if (vl < best) {
                best = vl;
                lg.best_epoch = e + 1;
                params_copy(m, best_params, 1);
            } else if (o->patience > 0 && e + 1 - lg.best_epoch >= o->patience) {
                early = 1;
            }
        }
        if (on_epoch) on_epoch(e + 1, m, ctx);
    }
    lg.diverged_at = diverged_at;
    const double *followed = o->val ? lg.val_loss : lg.train_loss;
    if (!o->val)
        for (int e = 1; e <= lg.epochs_run; e++)
            if (followed[e] < followed[lg.best_epoch]) lg.best_epoch = e;
    lg.still_improving = !early && log && still_improving(followed, lg.epochs_run);
    /* early stopping keeps the best epoch's parameters (also after a divergence) */
    if (best_params && !stopped && lg.best_epoch < lg.epochs_run + (diverged_at >= 0)) params_copy(m, best_params, 0);
    free(best_params);
    free(xstart); free(xsamples); free(xorder);
    free(order); free(slice); free(lab); free(dout); free(out);
    for (int a = 0; a < m->narrays; a++) {
        free(g[a]);
        free(v[a]);
    }
    if (log) *log = lg;
    else hk_train_log_free(&lg);
    if (steps_out) *steps_out = step;
    return stopped ? -2 : diverged_at;
}

long hk_train_select(struct hk_model *m, const struct hk_inputs *in, const double *y, const int *labels,
                     const struct hk_train_opts *o, const double *lrs, int nlr, MPI_Comm team,
                     hk_train_epoch_fn on_epoch, void *ctx, long *steps, struct hk_train_log *log, double *val_by_lr,
                     int *chosen)
{
    void *init = params_buffer(m), *best_params = NULL;
    double best = INFINITY;
    for (int r = 0; r < nlr; r++) val_by_lr[r] = NAN;
    params_copy(m, init, 1);
    struct hk_train_log best_log = {0};
    long best_steps = 0, rc = -1, total = 0;
    *chosen = -1;
    for (int r = 0; r < nlr; r++) {
        struct hk_train_opts or = *o;
        or.lr = lrs[r];
        if (r > 0) params_copy(m, init, 0);
        struct hk_train_log lg;
        long st = 0, div = hk_train_model(m, in, y, labels, &or, team, on_epoch, ctx, &st, &lg);
        total += st;
        /* a diverged run keeps its best epoch before the divergence */
        val_by_lr[r] = o->val ? lg.val_loss[lg.best_epoch] : lg.train_loss[lg.best_epoch];
        if (div == -2) {
            hk_train_log_free(&lg);
            rc = -2;
            break;
        }
        if (val_by_lr[r] < best) {
            best = val_by_lr[r];
            *chosen = r;
            hk_train_log_free(&best_log);
            best_log = lg;
            best_steps = st;
            if (!best_params) best_params = params_buffer(m);
            params_copy(m, best_params, 1);
            /* with validation, a run that diverged after a good epoch ended there */
            rc = o->val && div >= 0 && lg.best_epoch > 0 ? -1 : div;
        } else {
            hk_train_log_free(&lg);
        }
    }
    if (best_params) params_copy(m, best_params, 0);
    free(best_params);
    free(init);
    if (log) *log = best_log;
    else hk_train_log_free(&best_log);
    if (steps) *steps = rc == -2 ? total : best_steps;
    return rc == -2 ? -2 : (*chosen < 0 ? 0 : rc);
}
