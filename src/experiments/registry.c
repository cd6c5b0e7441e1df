/* registry: the experiment kinds this build knows. */
#include <string.h>

#include "hk/experiments.h"

static const struct hk_experiment *const kinds[] = {&hk_exp_hyperkernel_regression, &hk_exp_kernel_convergence};

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
