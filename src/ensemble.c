/* ensemble: seeds over ranks, and the empirical NTK over seeds. */
#include "hk/ensemble.h"

#include <stdlib.h>
#include <string.h>

#include "hk/team.h"
#include "hk/util.h"

int hk_seeds_run(MPI_Comm comm, int nseeds, size_t per, hk_seed_fn fn, void *ctx, double **gathered)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    *gathered = NULL;
    int mine = hk_round_robin_count(comm, nseeds);
    double *local = hk_malloc((size_t)(mine + 1) * per * sizeof(double));
    int rc = 0;
    for (int i = rank, j = 0; i < nseeds && !rc; i += size, j++) rc = fn(i, local + (size_t)j * per, ctx);
    if (!hk_all_ok(comm, rc == 0)) {
        free(local);
        if (!rc) hk_fail("an initialisation failed on another rank");
        return -1;
    }
    *gathered = hk_round_robin_gather(comm, local, nseeds, per);
    free(local);
    return 0;
}

/* One network per rank, redrawn for each of its seeds (hk_hn_reseed): a
 * network of n = 1024, m = 256 is 0.5 GB, and allocating and freeing it per
 * seed made the kernel zero and map it again every time. */
struct entk_ctx {
    const struct hk_hn_shape *shape;
    struct hk_hn_batch batch;
    long seed0;
    struct hk_hypernet net;
    int have_net;
};

static int entk_one(int i, double *slot, void *arg)
{
    struct entk_ctx *c = arg;
    const int N = c->batch.nb;
    if (!c->have_net) {
        if (hk_hn_init(&c->net, c->shape, c->seed0 + i)) return -1;
        c->have_net = 1;
        hk_hn_entk_outputs(&c->net, &c->batch, slot, slot + (size_t)N * N);
    } else {
        hk_hn_reseed_entk(&c->net, c->seed0 + i, &c->batch, slot, slot + (size_t)N * N);
    }
    return 0;
}

int hk_entk_seeds(MPI_Comm comm, const struct hk_hn_shape *shape, const struct hk_inputs *in, long seed0, int nseeds,
                  double **gathered)
{
    const int N = in->n;
    if (shape->k != 1) return hk_fail("hk_entk_seeds: the empirical NTK is of output 0 of a 1-output network (k = %d)",
                                      shape->k);
    int *all = hk_malloc((size_t)N * sizeof(int));
    for (int i = 0; i < N; i++) all[i] = i;
    struct entk_ctx c = {.shape = shape, .batch = {.in = in, .samples = all, .nb = N}, .seed0 = seed0};
    int rc = hk_seeds_run(comm, nseeds, (size_t)N * N + N, entk_one, &c, gathered);
    if (c.have_net) hk_hn_free(&c.net);
    free(all);
    return rc;
}
