/* scheduler: runs a list of points on teams of ranks. Points are grouped by
 * the team size they need; for each size the world is split into teams
 * (MPI_Comm_split) and rank 0 hands points out one at a time as teams ask
 * (a polling thread on rank 0, so rank 0 computes too). A signal (the stop
 * flag of team.h) stops the hand-out; points in flight finish or abandon.
 * Knows nothing of what a point computes. */
#ifndef HK_SCHEDULER_H
#define HK_SCHEDULER_H

#include <mpi.h>

enum hk_point_outcome { HK_POINT_OK = 0, HK_POINT_FAILED = 1, HK_POINT_ABANDONED = 2, HK_POINT_FATAL = 3 };

/* Numbers a point's leader reports to rank 0 with its outcome (opaque here). */
#define HK_REPORT_VALUES 8
struct hk_point_report {
    int status;                        /* the point's status (result.h's enum hk_status), -1 if it did not run */
    char summary[240];                 /* a one-line summary for the progress output */
    double values[HK_REPORT_VALUES];   /* e.g. headline metrics, NAN where absent */
};

/* Called on every rank of the team; returns an outcome (the leader's counts)
 * and fills the report on the leader. */
typedef int (*hk_point_fn)(int item, MPI_Comm team, void *ctx, struct hk_point_report *report);

struct hk_schedule_report {
    int done, failed, abandoned;
    int interrupted;        /* a signal stopped the hand-out */
    int fatal;              /* a point could not be stored: stop */
    int signal;
    double elapsed;
};

/* items[i] runs on a team of team_sizes[i] ranks (capped at the world size).
 * The report is valid on every rank. */
/* reports (rank 0 only, may be NULL): nitems entries, filled as points finish. */
int hk_schedule(MPI_Comm world, int nitems, const int *team_sizes, hk_point_fn fn, void *ctx,
                const char *const *labels, int quiet, struct hk_schedule_report *report,
                struct hk_point_report *reports);

#endif
