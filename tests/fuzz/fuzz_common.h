/* fuzz_common: what every fuzz target shares. The input is written to a file
 * in a per-process scratch folder (the readers take paths), and the call runs
 * under an out-of-memory guard, as every command does in main. */
#ifndef HK_FUZZ_COMMON_H
#define HK_FUZZ_COMMON_H

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hk/images.h"
#include "hk/store.h"
#include "hk/util.h"

static char fuzz_dir[256];

/* The scratch folder, made once per process. */
static const char *fuzz_scratch(void)
{
    if (!fuzz_dir[0]) {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/hkfuzz-%d", base, (int)getpid());
        mkdir(fuzz_dir, 0700);
        hk_store_init();
    }
    return fuzz_dir;
}

/* Writes data to scratch/name and returns the path (static buffer). */
__attribute__((unused)) static const char *fuzz_write(const char *name, const uint8_t *data, size_t size)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", fuzz_scratch(), name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return path;
}

/* The MNIST converter on `from`, under a guard, its output thrown away. */
__attribute__((unused)) static void fuzz_convert(const char *from)
{
    char out[512];
    snprintf(out, sizeof out, "%s/out.h5", fuzz_scratch());
    struct hk_oom_guard guard;
    hk_oom_push(&guard);
    if (setjmp(guard.env) == 0) {
        char summary[512];
        hk_mnist_convert(from, out, summary, sizeof summary);
    }
    hk_oom_pop(&guard);
    unlink(out);
}

#endif
