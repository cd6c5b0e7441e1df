/* scheduler: teams, dynamic hand-out from rank 0, signals. */
#define _GNU_SOURCE
#include "hk/scheduler.h"
#include "hk/team.h"
#include "hk/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { TAG_REQUEST = 101, TAG_ASSIGN = 102 };

/* What a team leader tells rank 0 when it asks for work. */
struct request {
    int team;
    int last_item;      /* -1 on the first request */
    int last_outcome;
    int stop;           /* a rank of the team saw this signal number */
    double seconds;
    struct hk_point_report point;
};

struct manager {
    MPI_Comm comm;
    const int *queue;
    int nqueue, next;
    int nteams, teams_finished;
    int total_items;             /* across all phases, for progress */
    struct hk_schedule_report *report;
    const char *const *labels;
    struct hk_point_report *reports;
    int quiet;
    double t0;
};

static void print_progress(struct manager *m, const struct request *rq)
{
    if (m->quiet) return;
    struct hk_schedule_report *r = m->report;
    double elapsed = hk_now() - m->t0;
    int finished = r->done + r->failed;
    int left = m->total_items - finished - r->abandoned;
    double eta = finished ? elapsed / finished * left : 0;
    const char *status = rq->last_outcome == HK_POINT_OK ? "ok" : rq->last_outcome == HK_POINT_FAILED ? "FAILED"
                         : rq->last_outcome == HK_POINT_ABANDONED ? "abandoned" : "FATAL";
    printf("[%d/%d] %s  %s (team %d, %.2f s)%s%s\n", finished, m->total_items, status,
           m->labels ? m->labels[rq->last_item] : "", rq->team, rq->seconds, rq->point.summary[0] ? "  " : "",
           rq->point.summary);
    printf("        done %d / %d, failed %d, elapsed %.1f s, about %.1f s left\n", finished, m->total_items, r->failed,
           elapsed, eta);
    fflush(stdout);
}

/* Books a finished item and picks the next one (-1: no more for this team). */
static int handle_request(struct manager *m, const struct request *rq)
{
    struct hk_schedule_report *r = m->report;
    if (rq->last_item >= 0) {
        if (rq->last_outcome == HK_POINT_OK) r->done++;
        else if (rq->last_outcome == HK_POINT_FAILED) r->failed++;
        else if (rq->last_outcome == HK_POINT_ABANDONED) r->abandoned++;
        else r->fatal = 1;
        if (m->reports) m->reports[rq->last_item] = rq->point;
        print_progress(m, rq);
    }
    if (rq->stop && !r->signal) r->signal = rq->stop;
    if (hk_stop_signal() && !r->signal) r->signal = hk_stop_signal();
    int next = -1;
    if (!r->signal && !r->fatal && m->next < m->nqueue) next = m->queue[m->next++];
    if (next < 0) m->teams_finished++;
    return next;
}

/* Serves one request if one is waiting; returns 1 if it served. */
static int serve_one(struct manager *m)
{
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, TAG_REQUEST, m->comm, &flag, &st);
    if (!flag) return 0;
    struct request rq;
    MPI_Recv(&rq, sizeof rq, MPI_BYTE, st.MPI_SOURCE, TAG_REQUEST, m->comm, MPI_STATUS_IGNORE);
    int next = handle_request(m, &rq);
    MPI_Send(&next, 1, MPI_INT, st.MPI_SOURCE, TAG_ASSIGN, m->comm);
    return 1;
}

static void *manager_thread(void *arg)
{
    struct manager *m = arg;
    struct timespec pause = {0, 1000000}; /* 1 ms: idle polling costs no core */
    while (m->teams_finished < m->nteams)
        if (!serve_one(m)) nanosleep(&pause, NULL);
    return NULL;
}

/* The leader's side of one phase: ask, broadcast, run, report. */
static void team_loop(MPI_Comm sched, MPI_Comm team, int team_id, hk_point_fn fn, void *ctx, int *fatal,
                      struct manager *direct)
{
    int trank;
    MPI_Comm_rank(team, &trank);
    struct request rq;
    memset(&rq, 0, sizeof rq);
    rq.team = team_id;
    rq.last_item = -1;
    for (;;) {
        int item = -1;
        if (direct) {
            item = handle_request(direct, &rq); /* one rank: no messages needed */
        } else if (trank == 0) {
            MPI_Send(&rq, sizeof rq, MPI_BYTE, 0, TAG_REQUEST, sched);
            MPI_Recv(&item, 1, MPI_INT, 0, TAG_ASSIGN, sched, MPI_STATUS_IGNORE);
        }
        MPI_Bcast(&item, 1, MPI_INT, 0, team);
        if (item < 0) break;
        memset(&rq.point, 0, sizeof rq.point);
        double t0 = hk_now();
        int outcome = fn(item, team, ctx, &rq.point);
        int worst = outcome;
        MPI_Allreduce(&outcome, &worst, 1, MPI_INT, MPI_MAX, team);
        if (worst == HK_POINT_FATAL) *fatal = 1;
        rq.last_item = item;
        rq.last_outcome = worst;
        rq.seconds = hk_now() - t0;
        int sig = hk_stop_signal(), any = 0;
        MPI_Allreduce(&sig, &any, 1, MPI_INT, MPI_MAX, team);
        rq.stop = any;
    }
}

int hk_schedule(MPI_Comm world, int nitems, const int *team_sizes, hk_point_fn fn, void *ctx,
                const char *const *labels, int quiet, struct hk_schedule_report *report,
                struct hk_point_report *reports)
{
    int rank, size, provided;
    MPI_Comm_rank(world, &rank);
    MPI_Comm_size(world, &size);
    MPI_Query_thread(&provided);
    /* Without thread support rank 0 only hands out work. */
    int serial = size == 1;
    int threaded = provided >= MPI_THREAD_MULTIPLE || serial;
    MPI_Comm sched;
    MPI_Comm_dup(world, &sched);
    memset(report, 0, sizeof *report);
    double t0 = hk_now();
    int worker_ranks = threaded ? size : size - 1, worker_rank = threaded ? rank : rank - 1;

    /* Phases: one per distinct team size, largest first. */
    int *sizes = hk_malloc((size_t)(nitems + 1) * sizeof(int));
    for (int i = 0; i < nitems; i++) {
        int t = team_sizes[i] < 1 ? 1 : team_sizes[i];
        sizes[i] = t > worker_ranks ? worker_ranks : t;
    }
    int *queue = hk_malloc((size_t)(nitems + 1) * sizeof(int));
    int fatal_local = 0;
    int current = worker_ranks + 1;
    for (;;) {
        int ts = 0;
        for (int i = 0; i < nitems; i++)
            if (sizes[i] < current && sizes[i] > ts) ts = sizes[i];
        if (ts == 0) break;
        current = ts;
        int nq = 0;
        for (int i = 0; i < nitems; i++)
            if (sizes[i] == ts) queue[nq++] = i;
        int nteams = worker_ranks / ts;
        int color = (worker_rank >= 0 && worker_rank < nteams * ts) ? worker_rank / ts : MPI_UNDEFINED;
        MPI_Comm team;
        MPI_Comm_split(world, color, rank, &team);

        struct manager m = {.comm = sched, .queue = queue, .nqueue = nq, .nteams = nteams, .total_items = nitems,
.report = report, .labels = labels, .reports = reports, .quiet = quiet, .t0 = t0};
        /* One team (a point over all ranks, as the paper-scale configs run on
         * one node): its leader, rank 0, hands out its own points, as a lone
         * rank does, with no manager thread waking every millisecond to probe
         * for requests beside the team's ScaLAPACK calls. */
        const int one_team = threaded && !serial && nteams == 1;
        pthread_t thread;
        if (rank == 0 && threaded && !serial && !one_team) pthread_create(&thread, NULL, manager_thread, &m);
        if (team != MPI_COMM_NULL) {
            team_loop(sched, team, color, fn, ctx, &fatal_local, serial || (one_team && rank == 0) ? &m : NULL);
            MPI_Comm_free(&team);
        }
        if (rank == 0 && !serial && !one_team) {
            if (threaded) pthread_join(thread, NULL);
            else manager_thread(&m);
        }
        /* Everyone learns whether to go on to the next phase. */
        int stop[2] = {report->signal, report->fatal};
        MPI_Bcast(stop, 2, MPI_INT, 0, world);
        if (stop[0] || stop[1]) break;
    }
    free(queue);
    free(sizes);
    MPI_Bcast(report, sizeof *report, MPI_BYTE, 0, world);
    int any_fatal = fatal_local, any_signal = hk_stop_signal();
    MPI_Allreduce(MPI_IN_PLACE, &any_fatal, 1, MPI_INT, MPI_MAX, world);
    MPI_Allreduce(MPI_IN_PLACE, &any_signal, 1, MPI_INT, MPI_MAX, world);
    report->fatal |= any_fatal;
    if (!report->signal) report->signal = any_signal;
    report->interrupted = report->signal != 0;
    report->elapsed = hk_now() - t0;
    MPI_Comm_free(&sched);
    return 0;
}
