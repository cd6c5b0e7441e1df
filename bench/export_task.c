/* export_task: writes the synthetic regression task of a hyperkernel-
 * regression config's first point (the data hksweep fits for that point) to
 * TRAIN.h5 (/x, /z, /y; one row per point) and TEST.h5, so that a numpy
 * baseline in bench/ fits exactly the same data:
 *   export_task CONFIG TRAIN.h5 TEST.h5 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk/config.h"
#include "hk/experiment.h"
#include "hk/store.h"
#include "hk/sweep.h"
#include "hk/tasks.h"
#include "hk/util.h"

static int write_set(const struct hk_dataset *d, const char *path)
{
    const int n = d->in.n, dx = d->in.dx, dz = d->in.dz;
    double *x = hk_malloc((size_t)n * dx * sizeof(double));
    for (int i = 0; i < n; i++) memcpy(x + (size_t)i * dx, d->x + (size_t)d->xid[i] * dx, (size_t)dx * sizeof(double));
    long dims_x[2] = {n, dx}, dims_z[2] = {n, dz}, dims_y[1] = {n};
    struct hk_pfile *f = hk_pfile_create(MPI_COMM_WORLD, path);
    int rc = !f || hk_pfile_write_replicated(f, "x", 2, dims_x, x) || hk_pfile_write_replicated(f, "z", 2, dims_z, d->z) ||
             hk_pfile_write_replicated(f, "y", 1, dims_y, d->y);
    if (f) rc = rc ? (hk_pfile_abort(f), 1) : hk_pfile_commit(f);
    free(x);
    return rc;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    hk_store_init();
    if (argc != 4) {
        fprintf(stderr, "usage: export_task CONFIG TRAIN.h5 TEST.h5\n");
        MPI_Finalize();
        return 2;
    }
    size_t len;
    char *text = hk_read_file(argv[1], &len);
    struct hk_config cfg;
    struct hk_sweep sw;
    if (!text || hk_config_parse(argv[1], text, hk_experiment_schema, &cfg) || hk_sweep_expand(&cfg, &sw)) {
        fprintf(stderr, "export_task: %s\n", hk_error_message());
        MPI_Finalize();
        return 2;
    }
    if (strcmp(cfg.experiment, "hyperkernel-regression")) {
        fprintf(stderr, "export_task: %s is a %s config, not hyperkernel-regression\n", argv[1], cfg.experiment);
        MPI_Finalize();
        return 2;
    }
    /* the task group's parameters, from its first (depth_f) on */
    struct hk_regression_task_params t;
    hk_regression_task_params_read(sw.points[0].values + hk_config_param_index(&cfg, "depth_f"), &t);
    long seed = (long)sw.points[0].values[hk_config_param_index(&cfg, "seed")].num;
    struct hk_dataset train, test;
    hk_regression_task(&t, seed, &train, &test);
    int rc = write_set(&train, argv[2]) || write_set(&test, argv[3]);
    if (rc) fprintf(stderr, "export_task: %s\n", hk_error_message());
    else printf("wrote %s (N = %d) and %s (M = %d)\n", argv[2], train.in.n, argv[3], test.in.n);
    hk_dataset_free(&train), hk_dataset_free(&test);
    hk_sweep_free(&sw);
    hk_config_free(&cfg);
    free(text);
    MPI_Finalize();
    return rc;
}
