/* team: the stop flag and the small collectives of a team of ranks. */
#define _GNU_SOURCE
#include "hk/team.h"
#include "hk/util.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig)
{
    if (stop_signal) { /* a second signal: stop now */
        signal(sig, SIG_DFL);
        raise(sig);
    }
    stop_signal = sig;
}

void hk_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

int hk_stop_requested(void) { return stop_signal != 0; }

int hk_team_should_stop(MPI_Comm team)
{
    int mine = stop_signal, any = 0;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, team);
    return any;
}

int hk_stop_signal(void) { return (int)stop_signal; }

int hk_all_ok(MPI_Comm comm, int ok)
{
    int all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    return all;
}

int hk_round_robin_count(MPI_Comm comm, int nitems)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    return nitems > rank ? (nitems - rank + size - 1) / size : 0;
}

double *hk_round_robin_gather(MPI_Comm comm, const double *local, int nitems, size_t per)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int *counts = hk_malloc((size_t)size * sizeof(int)), *displs = hk_malloc((size_t)size * sizeof(int));
    for (int r = 0; r < size; r++) {
        counts[r] = (int)((nitems > r ? (nitems - r + size - 1) / size : 0) * per);
        displs[r] = r ? displs[r - 1] + counts[r - 1] : 0;
    }
    double *rank_major = rank == 0 ? hk_malloc((size_t)nitems * per * sizeof(double) + 8) : NULL;
    MPI_Gatherv(local, counts[rank], MPI_DOUBLE, rank_major, counts, displs, MPI_DOUBLE, 0, comm);
    double *ordered = NULL;
    if (rank == 0) { /* item i is the (i / size)-th item of rank i % size */
        ordered = hk_malloc((size_t)nitems * per * sizeof(double) + 8);
        for (int i = 0; i < nitems; i++)
            memcpy(ordered + (size_t)i * per, rank_major + displs[i % size] + (size_t)(i / size) * per,
                   per * sizeof(double));
        free(rank_major);
    }
    free(counts);
    free(displs);
    return ordered;
}

int hk_ranks_on_node(MPI_Comm comm)
{
    MPI_Comm node;
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    int n;
    MPI_Comm_size(node, &n);
    MPI_Comm_free(&node);
    return n;
}

int hk_team_rank(MPI_Comm comm)
{
    int r;
    MPI_Comm_rank(comm, &r);
    return r;
}
