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

struct entk_ctx {
    const struct hk_hn_shape *shape;
    struct hk_hn_batch batch;
    long seed0;
};

static int entk_one(int i, double *slot, void *arg)
{
    struct entk_ctx *c = arg;
    const int N = c->batch.nb;
    struct hk_hypernet net;
    if (hk_hn_init(&net, c->shape, c->seed0 + i)) return -1;
    hk_hn_entk(&net, &c->batch, slot);
    struct hk_hn_cache cache;
    hk_hn_forward(&net, &c->batch, &cache);
    memcpy(slot + (size_t)N * N, cache.out, (size_t)N * sizeof(double));
    hk_hn_cache_free(&cache);
    hk_hn_free(&net);
    return 0;
}

int hk_entk_seeds(MPI_Comm comm, const struct hk_hn_shape *shape, const struct hk_inputs *in, long seed0, int nseeds,
                  double **gathered)
{
    const int N = in->n;
    int *all = hk_malloc((size_t)N * sizeof(int));
    for (int i = 0; i < N; i++) all[i] = i;
    struct entk_ctx c = {.shape = shape, .batch = {.in = in, .samples = all, .nb = N}, .seed0 = seed0};
    int rc = hk_seeds_run(comm, nseeds, (size_t)N * N + N, entk_one, &c, gathered);
    free(all);
    return rc;
}
