/* Fuzz target: the MNIST IDX reader, plain and gzip. The first byte picks the
 * file names (bit 0: images gzipped, bit 1: labels gzipped); the next four
 * give the length of the images file; the rest is the labels file. */
#include <setjmp.h>

#include "fuzz_common.h"
#include "hk/images.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5) return 0;
    const char *dir = fuzz_scratch();
    char folder[300];
    snprintf(folder, sizeof folder, "%s/idx", dir);
    mkdir(folder, 0700);
    /* only the two files of this input in the folder */
    static const char *const names[4] = {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz",
                                         "train-labels-idx1-ubyte", "train-labels-idx1-ubyte.gz"};
    for (int i = 0; i < 4; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", folder, names[i]);
        unlink(p);
    }
    uint32_t nimg = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 | (uint32_t)data[4] << 24;
    size_t rest = size - 5, ni = nimg < rest ? nimg : rest;
    char name[400];
    snprintf(name, sizeof name, "idx/%s", names[(data[0] & 1) ? 1 : 0]);
    fuzz_write(name, data + 5, ni);
    snprintf(name, sizeof name, "idx/%s", names[(data[0] & 2) ? 3 : 2]);
    fuzz_write(name, data + 5 + ni, rest - ni);
    fuzz_convert(folder);
    return 0;
}
