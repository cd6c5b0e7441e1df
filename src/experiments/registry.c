/* registry: the experiment kinds this build knows. Adding a kind is one line
 * here (its file defines `const struct hk_experiment hk_exp_<name>`) and one
 * entry in the build list. */
#include <string.h>

#include "hk/experiment.h"

#define HK_KINDS(X)                                                                                               \
    X(hyperkernel_regression)                                                                                     \
    X(kernel_convergence)                                                                                         \
    X(hypernet_training)                                                                                          \
    X(image_completion)                                                                                           \
    X(image_inpainting)                                                                                           \
    X(rotation)                                                                                                   \
    X(dynamics_convergence)

#define HK_KIND_DECLARE(name) extern const struct hk_experiment hk_exp_##name;
#define HK_KIND_ADDRESS(name) &hk_exp_##name,
HK_KINDS(HK_KIND_DECLARE)
static const struct hk_experiment *const kinds[] = {HK_KINDS(HK_KIND_ADDRESS)};
enum { NKINDS = sizeof kinds / sizeof kinds[0] };

const struct hk_experiment *const *hk_experiment_list(int *n)
{
    *n = NKINDS;
    return kinds;
}

const struct hk_experiment *hk_experiment_find(const char *kind)
{
    for (int i = 0; i < NKINDS; i++)
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

int hk_experiment_check(const struct hk_experiment *e, const struct hk_sweep *sweep)
{
    if (!e->check) return 0;
    for (int i = 0; i < sweep->npoints; i++)
        if (e->check(&sweep->points[i])) return -1;
    return 0;
}
