/* tasks: the parameter groups shared by several experiment kinds and what
 * they build: the synthetic hyper-sine regression task (README, "The
 * synthetic task"), so kinds on it see the same data for the same values,
 * and the check of an image data source. Data layer: no MPI. */
#ifndef HK_TASKS_H
#define HK_TASKS_H

#include "hk/data.h"
#include "hk/kernels.h"
#include "hk/params.h"

#define HK_REGRESSION_TASK_PARAMS(P)                                                                              \
    P(INT, depth_f, "2", 1, HK_MAX_DEPTH, NULL, "hidden layers L of the meta-network f", 0)                      \
    P(INT, depth_g, "3", 1, HK_MAX_DEPTH, NULL, "layers H of the primary network g", 0)                          \
    P(INT, dx, "16", 1, 1000000, NULL, "dimension of x (input of f)", 0)                                         \
    P(INT, dz, "2", 1, 100000, NULL, "dimension of z (input of g)", 0)                                           \
    P(INT, distinct_x, "50", 1, 10000000, NULL, "distinct x in the training set", 0)                             \
    P(INT, samples_per_x, "10", 1, 1000000, NULL, "z samples per training x", 0)                                 \
    P(INT, test_distinct_x, "20", 1, 10000000, NULL, "distinct x in the test set", 0)                            \
    P(INT, test_samples_per_x, "10", 1, 1000000, NULL, "z samples per test x", 0)                                \
    P(REAL, noise, "0", 0, 100, NULL, "std of Gaussian noise added to training and test targets", 0)             \
    P(STRING, z_embedding, "none", 0, 0, "none|fourier", "fixed embedding of z: none, or random Fourier features", 0) \
    P(INT, embedding_width, "64", 1, 1000000, NULL, "width D of the Fourier embedding", 0)                       \
    P(REAL, embedding_lengthscale, "0.5", 1e-6, 1e6, NULL, "length scale of the Fourier embedding", 0)          \
    P(STRING, x_embedding, "none", 0, 0, "none|fourier", "fixed embedding of x: none, or random Fourier features", 0) \
    P(INT, x_embedding_width, "256", 1, 1000000, NULL, "width of x's Fourier embedding", 0)                     \
    P(REAL, x_embedding_lengthscale, "1", 1e-6, 1e6, NULL, "length scale of x's Fourier embedding", 0)
HK_PARAM_GROUP(hk_regression_task, HK_REGRESSION_TASK_PARAMS)

/* The data of a point of the regression task from its seed: x and z embedded
 * when asked (the same map for both splits). */
void hk_regression_task(const struct hk_regression_task_params *t, long seed, struct hk_dataset *train,
                        struct hk_dataset *test);
/* Sizes as the kernels and networks see them, after any embedding: training
 * and test points, and the widths of x and z. */
struct hk_task_dims {
    double n_train, n_test;
    int dx, dz;
};
struct hk_task_dims hk_regression_task_dims(const struct hk_regression_task_params *t);

/* An image data source (a file from `hksweep data mnist`, or synthetic[:N])
 * holds at least `needed` images; -1 with a message naming the source and the
 * point otherwise. */
int hk_image_data_check(const char *source, long needed, int point_index);

#endif
