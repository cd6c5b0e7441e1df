/* tasks: the shared regression task and the image data check. */
#include "hk/tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk/images.h"
#include "hk/util.h"

void hk_regression_task(const struct hk_regression_task_params *t, long seed, struct hk_dataset *train,
                        struct hk_dataset *test)
{
    struct hk_synthetic_spec spec = {
        .seed = seed,
        .dx = t->dx,
        .dz = t->dz,
        .distinct_x = t->distinct_x,
        .samples_per_x = t->samples_per_x,
        .test_distinct_x = t->test_distinct_x,
        .test_samples_per_x = t->test_samples_per_x,
        .noise = t->noise,
    };
    hk_synthetic_regression(&spec, train, test);
    if (!strcmp(t->z_embedding, "fourier")) {
        hk_embed_fourier(train, t->embedding_width, t->embedding_lengthscale, seed);
        hk_embed_fourier(test, t->embedding_width, t->embedding_lengthscale, seed);
    }
    if (!strcmp(t->x_embedding, "fourier")) {
        hk_embed_fourier_x(train, t->x_embedding_width, t->x_embedding_lengthscale, seed);
        hk_embed_fourier_x(test, t->x_embedding_width, t->x_embedding_lengthscale, seed);
    }
}

struct hk_task_dims hk_regression_task_dims(const struct hk_regression_task_params *t)
{
    struct hk_task_dims d = {
        .n_train = (double)t->distinct_x * t->samples_per_x,
        .n_test = (double)t->test_distinct_x * t->test_samples_per_x,
        .dx = !strcmp(t->x_embedding, "fourier") ? t->x_embedding_width : t->dx,
        .dz = !strcmp(t->z_embedding, "fourier") ? t->embedding_width : t->dz,
    };
    return d;
}

/* Every image of a source file read once and checked (pixels finite and in
 * [0, 1], labels 0..9) before any point runs; sources already checked in
 * this process are remembered. */
static int check_all_images(const char *source, long n)
{
    static char checked[8][1024];
    static int nchecked = 0;
    if (!strncmp(source, "synthetic", 9)) return 0; /* generated here, in range by construction */
    for (int i = 0; i < nchecked; i++)
        if (!strcmp(checked[i], source)) return 0;
    const long chunk = 4096;
    long *idx = hk_malloc((size_t)chunk * sizeof(long));
    int rc = 0;
    for (long first = 0; first < n && rc == 0; first += chunk) {
        int count = (int)(n - first < chunk ? n - first : chunk);
        for (int i = 0; i < count; i++) idx[i] = first + i;
        struct hk_image_set set = {0};
        rc = hk_images_read(source, idx, count, &set);
        for (int i = 0; i < count && rc == 0; i++)
            if (set.labels[i] > 9) rc = hk_fail("data file %s: image %ld has label %d; labels are 0..9", source, first + i, set.labels[i]);
        hk_image_set_free(&set);
    }
    free(idx);
    if (rc == 0 && nchecked < 8) snprintf(checked[nchecked++], sizeof checked[0], "%s", source);
    return rc;
}

int hk_image_data_check(const char *source, long needed, int point_index)
{
    long n = hk_images_count(source);
    if (n < 0) return -1;
    if (check_all_images(source, n)) return -1;
    if (n < needed)
        return hk_fail("data %s has %ld images, but point %d needs %ld (train_images + test_images)", source, n,
                       point_index, needed);
    return 0;
}
