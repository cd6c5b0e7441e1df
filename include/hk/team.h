/* team: what every layer above MPI shares about the ranks it runs on. The
 * stop flag set by signals (SIGTERM from Slurm at the time limit, SIGINT,
 * SIGUSR1), and the small collectives of a team: whether every rank is ok,
 * whether any rank saw a signal, and items dealt round-robin over the ranks
 * and gathered back in item order. Knows nothing of points or experiments:
 * the scheduler and the experiments both call down into it. */
#ifndef HK_TEAM_H
#define HK_TEAM_H

#include <mpi.h>
#include <stddef.h>

void hk_signals_install(void);
int hk_stop_requested(void);            /* this rank saw a signal */
int hk_stop_signal(void);               /* its number, 0 if none */
int hk_team_should_stop(MPI_Comm team); /* collective: any rank of the team saw one */

/* This rank's number in comm. */
int hk_team_rank(MPI_Comm comm);

/* How many ranks of comm share this rank's node (collective). */
int hk_ranks_on_node(MPI_Comm comm);

/* Whether ok holds on every rank of comm (collective). */
int hk_all_ok(MPI_Comm comm, int ok);

/* Items dealt round-robin over the ranks of comm (item i on rank i % size):
 * how many this rank holds, and, on rank 0, all of them gathered back in item
 * order (nitems x per doubles; NULL elsewhere, and NULL on rank 0 with a
 * message if memory runs out). local holds this rank's items in order.
 * Collective. */
int hk_round_robin_count(MPI_Comm comm, int nitems);
double *hk_round_robin_gather(MPI_Comm comm, const double *local, int nitems, size_t per);

#endif
