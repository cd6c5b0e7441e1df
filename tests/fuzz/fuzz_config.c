/* Fuzz target: the YAML config loader (size and nesting bounds, libyaml,
 * the schema checks of every kind) and the expansion of what it accepts. */
#include <setjmp.h>

#include "fuzz_common.h"
#include "hk/config.h"
#include "hk/experiment.h"
#include "hk/sweep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    struct hk_oom_guard guard;
    hk_oom_push(&guard);
    if (setjmp(guard.env) == 0) {
        struct hk_config cfg;
        if (hk_config_parse("fuzz.yaml", text, hk_experiment_schema, &cfg) == 0) {
            struct hk_sweep sw;
            if (hk_sweep_expand(&cfg, &sw) == 0) hk_sweep_free(&sw);
            hk_config_free(&cfg);
        }
    }
    hk_oom_pop(&guard);
    free(text);
    return 0;
}
