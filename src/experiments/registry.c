/* registry: the experiment kinds this build knows. */
#include <string.h>

#include "hk/data.h"
#include "hk/experiments.h"
#include "hk/images.h"
#include "hk/util.h"
#include <stdio.h>

static const struct hk_experiment *const kinds[] = {&hk_exp_hyperkernel_regression, &hk_exp_kernel_convergence,
                                                    &hk_exp_hypernet_training, &hk_exp_image_completion,
                                                    &hk_exp_image_inpainting, &hk_exp_rotation};

const struct hk_experiment *const *hk_experiment_list(int *n)
{
    *n = (int)(sizeof kinds / sizeof kinds[0]);
    return kinds;
}

const struct hk_experiment *hk_experiment_find(const char *kind)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kinds[i]->kind, kind)) return kinds[i];
    return NULL;
}

const struct hk_param_spec *hk_experiment_schema(const char *kind, int *nparams)
{
    const struct hk_experiment *e = hk_experiment_find(kind);
    if (!e) return NULL;
    *nparams = e->nparams;
    return e->params;
}

void hk_regression_task(const struct hk_point *p, struct hk_dataset *train, struct hk_dataset *test)
{
    struct hk_synthetic_spec spec = {
        .seed = hk_point_int(p, "seed"),
        .dx = (int)hk_point_int(p, "dx"),
        .dz = (int)hk_point_int(p, "dz"),
        .distinct_x = (int)hk_point_int(p, "distinct_x"),
        .samples_per_x = (int)hk_point_int(p, "samples_per_x"),
        .test_distinct_x = (int)hk_point_int(p, "test_distinct_x"),
        .test_samples_per_x = (int)hk_point_int(p, "test_samples_per_x"),
        .noise = hk_point_num(p, "noise"),
    };
    hk_synthetic_regression(&spec, train, test);
    if (!strcmp(hk_point_str(p, "z_embedding"), "fourier")) {
        int width = (int)hk_point_int(p, "embedding_width");
        double ell = hk_point_num(p, "embedding_lengthscale");
        hk_embed_fourier(train, width, ell, spec.seed);
        hk_embed_fourier(test, width, ell, spec.seed);
    }
    if (!strcmp(hk_point_str(p, "x_embedding"), "fourier")) {
        int width = (int)hk_point_int(p, "x_embedding_width");
        double ell = hk_point_num(p, "x_embedding_lengthscale");
        hk_embed_fourier_x(train, width, ell, spec.seed);
        hk_embed_fourier_x(test, width, ell, spec.seed);
    }
}

int hk_experiment_check(const struct hk_experiment *e, const struct hk_sweep *sweep)
{
    if (!e->check) return 0;
    for (int i = 0; i < sweep->npoints; i++)
        if (e->check(&sweep->points[i])) return -1;
    return 0;
}

int hk_check_image_data(const struct hk_point *p)
{
    const long needed = hk_point_int(p, "train_images") + hk_point_int(p, "test_images");
    const char *source = hk_point_str(p, "data");
    long n = hk_images_count(source);
    if (n < 0) return -1;
    if (n < needed)
        return hk_fail("data %s has %ld images, but point %d needs %ld (train_images + test_images)", source, n,
                       p->index, needed);
    return 0;
}

double hk_estimate_seconds(const struct hk_rates *rates, int team_size, double kernel_gflop, double la_gflop,
                           double train_gflop)
{
    double t = 0;
    if (rates->kernel_gflops > 0) t += kernel_gflop / (rates->kernel_gflops * team_size);
    if (rates->dgemm_gflops > 0) t += (la_gflop / 0.7 + train_gflop / 0.3) / (rates->dgemm_gflops * team_size);
    return t;
}
