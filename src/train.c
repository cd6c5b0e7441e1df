/* train: minibatch SGD with momentum (or full-batch GD) for a finite
 * hypernetwork, data-parallel over a team, shared by the experiment kinds.
 * Every rank holds the same network and takes a slice of each minibatch;
 * the gradients are summed with MPI_Allreduce, so every rank takes the same
 * step. MSE (one output, targets y) or softmax cross-entropy (k outputs,
 * labels). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hk/team.h"
#include "hk/train.h"
#include "hk/util.h"

void hk_hn_evaluate(const struct hk_hypernet *net, const struct hk_inputs *in, const double *y, const int *labels,
                    const double *offset, MPI_Comm team, double *loss, double *accuracy, double *out)
{
    int trank, tsize;
    MPI_Comm_rank(team, &trank);
    MPI_Comm_size(team, &tsize);
    const int n = in->n, k = net->s.k, lo = (int)((long)n * trank / tsize), hi = (int)((long)n * (trank + 1) / tsize);
    /* outputs of a chunk need its generated weights, P per distinct x: keep them near 64 MB */
    const int step = (int)fmin(2048, fmax(16, 8e6 / (double)net->P));
    int *idx = hk_malloc(step * sizeof(int)), *correct_lab = labels ? hk_malloc(step * sizeof(int)) : NULL;
    double *dout = hk_malloc((size_t)step * k * sizeof(double));
    double sums[2] = {0, 0};
    if (out) memset(out, 0, (size_t)n * k * sizeof(double));
    for (int s0 = lo; s0 < hi; s0 += step) {
        int cnt = hi - s0 < step ? hi - s0 : step;
        for (int i = 0; i < cnt; i++) idx[i] = s0 + i;
        struct hk_hn_batch b = {.in = in, .samples = idx, .nb = cnt};
        struct hk_hn_cache c;
        hk_hn_forward(net, &b, &c);
        if (offset)
            for (int i = 0; i < cnt * k; i++) c.out[i] -= offset[(size_t)s0 * k + i];
        if (labels) {
            int correct = 0;
            for (int i = 0; i < cnt; i++) correct_lab[i] = labels[s0 + i];
            sums[0] += hk_hn_cross_entropy(&c, k, correct_lab, dout, &correct) * cnt;
            sums[1] += correct;
        } else {
            for (int i = 0; i < cnt; i++) sums[0] += pow(c.out[i] - y[s0 + i], 2);
        }
        if (out) memcpy(out + (size_t)s0 * k, c.out, (size_t)cnt * k * sizeof(double));
        hk_hn_cache_free(&c);
    }
    MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, team);
    if (out) MPI_Allreduce(MPI_IN_PLACE, out, n * k, MPI_DOUBLE, MPI_SUM, team);
    *loss = sums[0] / n;
    if (accuracy) *accuracy = labels ? sums[1] / n : NAN;
    free(idx);
    free(correct_lab);
    free(dout);
}

long hk_train_hypernet(struct hk_hypernet *net, const struct hk_inputs *in, const double *y, const int *labels,
                       const struct hk_train_opts *o, MPI_Comm team, hk_train_epoch_fn on_epoch, void *ctx,
                       long *steps_out)
{
    int trank, tsize;
    MPI_Comm_rank(team, &trank);
    MPI_Comm_size(team, &tsize);
    const int N = in->n, k = net->s.k;
    const int batch = o->full_batch ? N : (o->batch_size < N ? o->batch_size : N);
    const double momentum = o->full_batch ? 0 : o->momentum;
    struct hk_hn_grad g, v;
    hk_hn_grad_alloc(net, &g);
    hk_hn_grad_alloc(net, &v);
    double *arrays[HK_MAX_DEPTH + 3];
    long counts[HK_MAX_DEPTH + 3];
    int narrays = hk_hn_grad_views(net, &g, arrays, counts);
    int *order = hk_malloc((size_t)N * sizeof(int)), *slice = hk_malloc((size_t)batch * sizeof(int));
    int *lab = hk_malloc((size_t)batch * sizeof(int));
    for (int i = 0; i < N; i++) order[i] = i;
    double *dout = hk_malloc((size_t)batch * k * sizeof(double));
    struct hk_rng shuffle;
    hk_rng_seed(&shuffle, (uint64_t)o->shuffle_seed, 11);
    long step = 0, diverged_at = -1;
    int stopped = 0;
    const double *h0 = o->offset;
    if (on_epoch) on_epoch(0, net, ctx);
    for (int e = 0; e < o->epochs && diverged_at < 0; e++) {
        if (hk_team_should_stop(team)) { stopped = 1; break; }
        for (int i = N - 1; i > 0 && !o->full_batch; i--) { /* the same shuffle on every rank */
            int j = (int)(hk_rng_next(&shuffle) % (uint64_t)(i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int b0 = 0; b0 < N && diverged_at < 0; b0 += batch, step++) {
            int bsize = N - b0 < batch ? N - b0 : batch;
            int lo = (int)((long)bsize * trank / tsize), hi = (int)((long)bsize * (trank + 1) / tsize), cnt = hi - lo;
            for (int i = 0; i < cnt; i++) slice[i] = order[b0 + lo + i];
            hk_hn_grad_zero(net, &g);
            double loss = 0;
            if (cnt > 0) {
                struct hk_hn_batch hb = {.in = in, .samples = slice, .nb = cnt};
                struct hk_hn_cache c;
                hk_hn_forward(net, &hb, &c);
                if (h0)
                    for (int i = 0; i < cnt; i++)
                        for (int j = 0; j < k; j++) c.out[(size_t)i * k + j] -= h0[(size_t)slice[i] * k + j];
                if (labels) {
                    /* the mean over the whole minibatch, not this rank's slice */
                    int correct;
                    for (int i = 0; i < cnt; i++) lab[i] = labels[slice[i]];
                    loss = hk_hn_cross_entropy(&c, k, lab, dout, &correct) * cnt / bsize;
                    for (int i = 0; i < cnt * k; i++) dout[i] *= (double)cnt / bsize;
                } else {
                    /* gradient of 1/(2 bsize) sum over the whole minibatch */
                    for (int i = 0; i < cnt; i++) {
                        double err = c.out[i] - y[slice[i]];
                        loss += err * err / (2.0 * bsize);
                        dout[i] = err / bsize;
                    }
                }
                hk_hn_backward(net, &hb, &c, dout, &g);
                hk_hn_cache_free(&c);
            }
            if (tsize > 1) {
                for (int a = 0; a < narrays; a++)
                    MPI_Allreduce(MPI_IN_PLACE, arrays[a], (int)counts[a], MPI_DOUBLE, MPI_SUM, team);
                MPI_Allreduce(MPI_IN_PLACE, &loss, 1, MPI_DOUBLE, MPI_SUM, team);
            }
            if (!isfinite(loss) || loss > 1e12) {
                diverged_at = step;
                break;
            }
            hk_hn_momentum_step(net, &g, &v, o->lr, momentum);
        }
        if (diverged_at < 0 && on_epoch) on_epoch(e + 1, net, ctx);
    }
    free(order); free(slice); free(lab); free(dout);
    hk_hn_grad_free(&g);
    hk_hn_grad_free(&v);
    if (steps_out) *steps_out = step;
    return stopped ? -2 : diverged_at;
}
