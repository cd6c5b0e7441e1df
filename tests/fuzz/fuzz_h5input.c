/* Fuzz target: the HDF5 input reader of `kernel` and `ntk` (/x and /z, their
 * shapes checked before anything is allocated, values checked finite). */
#include <setjmp.h>

#include "fuzz_common.h"
#include "hk/data.h"
#include "hk/tools.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = fuzz_write("in.h5", data, size);
    char path[1024];
    snprintf(path, sizeof path, "%s", in);
    struct hk_oom_guard guard;
    hk_oom_push(&guard);
    if (setjmp(guard.env) == 0) {
        struct hk_dataset d;
        if (hk_tool_read_inputs("fuzz", path, &d) == 0) hk_dataset_free(&d);
    }
    hk_oom_pop(&guard);
    return 0;
}
