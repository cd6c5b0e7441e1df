/* store: per-point records, merge into results.h5, parallel matrix files. */
#define _GNU_SOURCE
#include "hk/store.h"
#include "hk/blas.h"
#include "hk/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <setjmp.h>
#include <sys/wait.h>
#include <unistd.h>

void hk_store_init(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* ---- attributes ---------------------------------------------------------- */

static hid_t text_type(void)
{
    /* variable-length UTF-8: h5py reads these as str */
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    return type;
}

static int attr_write_text(hid_t loc, const char *name, const char *text)
{
    hid_t type = text_type();
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr >= 0 ? H5Awrite(attr, type, &text) : -1;
    if (attr >= 0) H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
    return rc < 0 ? -1 : 0;
}

static int attr_write_num(hid_t loc, const char *name, double value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(loc, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr >= 0 ? H5Awrite(attr, H5T_NATIVE_DOUBLE, &value) : -1;
    if (attr >= 0) H5Aclose(attr);
    H5Sclose(space);
    return rc < 0 ? -1 : 0;
}

static int attrs_write(hid_t loc, const struct hk_attrs *l)
{
    for (int i = 0; i < l->n; i++) {
        const struct hk_attr *a = &l->items[i];
        int rc = a->is_text ? attr_write_text(loc, a->name, a->text) : attr_write_num(loc, a->name, a->num);
        if (rc) return hk_fail("cannot write attribute '%s'", a->name);
    }
    return 0;
}

static herr_t attr_read_cb(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    struct hk_attrs *l = data;
    hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
    if (attr < 0) return -1;
    hid_t type = H5Aget_type(attr);
    herr_t rc = 0;
    if (H5Tget_class(type) == H5T_STRING) {
        if (H5Tis_variable_str(type) > 0) {
            char *s = NULL;
            rc = H5Aread(attr, type, &s); /* the file's own type: same cset, no conversion */
            if (rc >= 0) hk_attrs_text(l, name, s ? s : "");
            if (s) H5free_memory(s);
        } else {
            size_t size = H5Tget_size(type);
            char *buf = hk_calloc(size + 1, 1);
            rc = H5Aread(attr, type, buf);
            if (rc >= 0) hk_attrs_text(l, name, buf);
            free(buf);
        }
    } else {
        double v = NAN;
        hid_t space = H5Aget_space(attr);
        if (H5Sget_simple_extent_npoints(space) == 1) rc = H5Aread(attr, H5T_NATIVE_DOUBLE, &v);
        H5Sclose(space);
        if (rc >= 0) hk_attrs_num(l, name, v);
    }
    H5Tclose(type);
    H5Aclose(attr);
    return rc < 0 ? -1 : 0;
}

static int attrs_read(hid_t loc, const char *path, struct hk_attrs *l)
{
    hid_t obj = H5Oopen(loc, path, H5P_DEFAULT);
    if (obj < 0) return -1;
    herr_t rc = H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, NULL, attr_read_cb, l);
    H5Oclose(obj);
    return rc < 0 ? -1 : 0;
}

/* ---- atomic small files --------------------------------------------------
 * Small files are built in memory (HDF5's core driver) and their bytes
 * written with write(2): a full disk is then an ordinary error return, not a
 * half-closed HDF5 file, and the file appears under its final name only
 * complete (temporary name, fsync, rename, fsync of the directory). */

static hid_t memory_file_create(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 16, 0);
    /* default format bounds: an image taken from an open file with the
     * newest superblock fails its metadata checksum when read back */
    static unsigned counter = 0;
    char name[64];
    snprintf(name, sizeof name, "hksweep-memory-%u", counter++);
    hid_t f = H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    return f;
}

static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Closes the in-memory file f and stores it durably as final (in dir). */
static int memory_file_commit(hid_t f, const char *final, const char *dir)
{
    ssize_t size = H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 ? -1 : H5Fget_file_image(f, NULL, 0);
    char *image = size > 0 ? malloc((size_t)size) : NULL;
    if (image && H5Fget_file_image(f, image, (size_t)size) != size) size = -1;
    H5Fclose(f);
    if (size <= 0 || !image) {
        free(image);
        return hk_fail("cannot assemble %s in memory", final);
    }
    /* hidden temporary name beside the final one: .NAME.tmp.PID */
    const char *base = strrchr(final, '/');
    base = base ? base + 1 : final;
    char tmp[2 * PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%d", dir, base, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        free(image);
        return hk_fail("cannot create %s: %s", tmp, strerror(errno));
    }
    int rc = write_all(fd, image, (size_t)size) || fsync(fd);
    int err = errno;
    free(image);
    if (close(fd) != 0 && !rc) { rc = 1; err = errno; }
    if (rc) {
        unlink(tmp);
        return hk_fail("cannot write %s: %s", final, strerror(err));
    }
    if (rename(tmp, final) != 0) {
        err = errno;
        unlink(tmp);
        return hk_fail("cannot rename %s to %s: %s", tmp, final, strerror(err));
    }
    return hk_fsync_dir(dir);
}

/* For files written collectively by MPI-IO, which cannot go through memory. */
static int durable_rename(const char *tmp, const char *final, const char *dir)
{
    int fd = open(tmp, O_RDONLY);
    if (fd < 0) return hk_fail("cannot reopen %s: %s", tmp, strerror(errno));
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return hk_fail("cannot fsync %s: %s", tmp, strerror(e));
    }
    close(fd);
    if (rename(tmp, final) != 0) return hk_fail("cannot rename %s to %s: %s", tmp, final, strerror(errno));
    return hk_fsync_dir(dir);
}

static int write_array(hid_t group, const struct hk_array *a)
{
    hsize_t dims[3];
    for (int d = 0; d < a->rank; d++) dims[d] = (hsize_t)a->dims[d];
    hid_t space = H5Screate_simple(a->rank, dims, NULL);
    hid_t ds = H5Dcreate2(group, a->name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = ds >= 0 ? H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a->data) : -1;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(space);
    return rc < 0 ? -1 : 0;
}

/* ---- record digests --------------------------------------------------------
 * A record's checksum is an FNV-1a digest of everything in it (attributes in
 * name order, arrays with their shapes), stored as its `checksum` attribute:
 * resume and merge recompute it, so a record damaged on disk is found before
 * it is trusted. The result digest leaves out where, when and how fast a
 * point ran, to tell whether two records of one point agree. */

static int is_timing(const char *name)
{
    return !strncmp(name, "time_", 5) || !strncmp(name, "peak_rss", 8) || strstr(name, "seconds") ||
           !strcmp(name, "run") || !strcmp(name, "host") || !strcmp(name, "started") || !strcmp(name, "config") ||
           !strcmp(name, "checksum") || !strcmp(name, "team_size");
}

static int cmp_attr_names(const void *a, const void *b)
{
    return strcmp(((const struct hk_attr *const *)a)[0]->name, ((const struct hk_attr *const *)b)[0]->name);
}

static uint64_t attrs_digest(const struct hk_attrs *l, int results_only, uint64_t h)
{
    const struct hk_attr **sorted = hk_malloc((size_t)(l->n + 1) * sizeof *sorted);
    for (int i = 0; i < l->n; i++) sorted[i] = &l->items[i];
    qsort(sorted, (size_t)l->n, sizeof *sorted, cmp_attr_names);
    for (int i = 0; i < l->n; i++) {
        const struct hk_attr *a = sorted[i];
        if (!strcmp(a->name, "checksum") || (results_only && is_timing(a->name))) continue;
        char value[64];
        const char *text = a->is_text ? a->text : value;
        if (!a->is_text) snprintf(value, sizeof value, "%.17g", a->num);
        h = hk_fnv1a(a->name, strlen(a->name) + 1, h);
        h = hk_fnv1a(text ? text : "", strlen(text ? text : "") + 1, h);
    }
    free(sorted);
    return h;
}

static uint64_t array_digest(const char *name, int rank, const long *dims, const double *data, uint64_t h)
{
    long count = 1;
    h = hk_fnv1a(name, strlen(name) + 1, h);
    for (int d = 0; d < rank; d++) {
        h = hk_fnv1a(&dims[d], sizeof dims[d], h);
        count *= dims[d];
    }
    return hk_fnv1a(data, (size_t)count * sizeof(double), h);
}

static void hex64(uint64_t v, char out[17]) { snprintf(out, 17, "%016llx", (unsigned long long)v); }

/* The arrays of a record, read back for its digest. */
struct digest_walk {
    uint64_t h;
    int bad;
};

static herr_t array_digest_cb(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    struct digest_walk *w = data;
    hid_t ds = H5Dopen2(group, name, H5P_DEFAULT);
    if (ds < 0) return w->bad = 1, 0;
    hid_t space = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(space);
    hsize_t hd[3] = {0, 0, 0};
    long dims[3] = {0, 0, 0};
    double count = 1;
    if (rank >= 1 && rank <= 3) {
        H5Sget_simple_extent_dims(space, hd, NULL);
        for (int d = 0; d < rank; d++) dims[d] = (long)hd[d], count *= (double)hd[d];
    }
    double *buf = rank >= 1 && rank <= 3 && count * 8 < 1e10 ? hk_try_malloc((size_t)count * sizeof(double)) : NULL;
    if (!buf || H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) w->bad = 1;
    else w->h = array_digest(name, rank, dims, buf, w->h);
    free(buf);
    H5Sclose(space);
    H5Dclose(ds);
    return 0;
}

int hk_store_write_point(const char *dir, const char *id_hex, const struct hk_attrs *info,
                         const struct hk_attrs *params, const struct hk_result *r)
{
    char pdir[PATH_MAX], final[PATH_MAX + 32];
    snprintf(pdir, sizeof pdir, "%s/points", dir);
    if (hk_mkdir_p(pdir)) return -1;
    snprintf(final, sizeof final, "%s/%s.h5", pdir, id_hex);
    hid_t f = memory_file_create();
    if (f < 0) return hk_fail("cannot start the record of point %s", id_hex);
    struct hk_attrs root = {0};
    hk_attrs_text(&root, "format", "hksweep-point-1");
    hk_attrs_text(&root, "id", id_hex);
    hk_attrs_text(&root, "status", hk_status_name(r->status));
    hk_attrs_text(&root, "reason", r->reason);
    hk_attrs_text(&root, "snapshot", r->snapshot);
    for (int i = 0; i < info->n; i++) {
        const struct hk_attr *a = &info->items[i];
        if (a->is_text) hk_attrs_text(&root, a->name, a->text);
        else hk_attrs_num(&root, a->name, a->num);
    }
    uint64_t h = attrs_digest(&root, 0, HK_FNV_OFFSET);
    h = attrs_digest(params, 0, h);
    h = attrs_digest(&r->metrics, 0, h);
    /* arrays in name order, as HDF5 lists them back */
    int order[HK_MAX_ARRAYS];
    for (int i = 0; i < r->narrays; i++) {
        int j = i;
        while (j > 0 && strcmp(r->arrays[order[j - 1]].name, r->arrays[i].name) > 0) order[j] = order[j - 1], j--;
        order[j] = i;
    }
    for (int k = 0; k < r->narrays; k++) {
        const struct hk_array *ar = &r->arrays[order[k]];
        h = array_digest(ar->name, ar->rank, ar->dims, ar->data, h);
    }
    char sum[17];
    hex64(h, sum);
    hk_attrs_text(&root, "checksum", sum);
    int bad = attrs_write(f, &root);
    hk_attrs_free(&root);
    hid_t g = H5Gcreate2(f, "param", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    bad = bad || g < 0 || attrs_write(g, params);
    if (g >= 0) H5Gclose(g);
    g = H5Gcreate2(f, "metric", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    bad = bad || g < 0 || attrs_write(g, &r->metrics);
    if (g >= 0) H5Gclose(g);
    if (r->narrays) {
        g = H5Gcreate2(f, "arrays", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        for (int i = 0; i < r->narrays && !bad; i++) bad = write_array(g, &r->arrays[i]);
        if (g >= 0) H5Gclose(g);
    }
    if (bad) {
        H5Fclose(f);
        return hk_fail("cannot build the record of point %s", id_hex);
    }
    if (memory_file_commit(f, final, pdir)) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s", hk_error_message());
        return hk_fail("cannot store the record of point %s: %s", id_hex, msg);
    }
    return 0;
}

int hk_store_write_arrays(const char *path, const struct hk_attrs *attrs, const struct hk_array *arrays, int narrays)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    hid_t f = memory_file_create();
    int bad = f < 0 || attrs_write(f, attrs);
    for (int i = 0; i < narrays && !bad; i++) bad = write_array(f, &arrays[i]);
    if (bad) {
        if (f >= 0) H5Fclose(f);
        return hk_fail("cannot build %s", path);
    }
    return memory_file_commit(f, path, dir);
}

static int is_record_name(const char *name)
{
    /* 16 hex digits + ".h5"; temporary files start with a dot */
    if (strlen(name) != 19 || strcmp(name + 16, ".h5")) return 0;
    for (int i = 0; i < 16; i++)
        if (!strchr("0123456789abcdef", name[i])) return 0;
    return 1;
}

static int is_record_name_id(const char *id)
{
    char name[32];
    snprintf(name, sizeof name, "%.20s.h5", id);
    return is_record_name(name);
}

static int list_dir(const char *path, int (*accept)(const char *), char ***names)
{
    DIR *d = opendir(path);
    *names = NULL;
    if (!d) return errno == ENOENT ? 0 : hk_fail("cannot read %s: %s", path, strerror(errno));
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!accept(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            *names = hk_realloc(*names, (size_t)cap * sizeof **names);
        }
        (*names)[n++] = hk_strdup(e->d_name);
    }
    closedir(d);
    return n;
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

int hk_store_write_run(const char *dir, const char *run_id, const struct hk_attrs *prov)
{
    char rdir[PATH_MAX], final[PATH_MAX + 80];
    snprintf(rdir, sizeof rdir, "%s/runs", dir);
    if (hk_mkdir_p(rdir)) return -1;
    snprintf(final, sizeof final, "%s/%s.h5", rdir, run_id);
    hid_t f = memory_file_create();
    if (f < 0 || attr_write_text(f, "format", "hksweep-run-1") || attrs_write(f, prov)) {
        if (f >= 0) H5Fclose(f);
        return hk_fail("cannot build the provenance of run %s", run_id);
    }
    return memory_file_commit(f, final, rdir);
}

/* ---- merge ---------------------------------------------------------------- */

struct record {
    char path[2 * PATH_MAX];
    char srcdir[PATH_MAX];
    struct hk_attrs info, params, metrics;
    uint64_t digest;            /* of the results alone: status, parameters, metrics but timings */
    double index;
    int has_arrays;
};

struct column {
    char name[64];
    int is_text;
};

static int find_column(struct column *cols, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(cols[i].name, name)) return i;
    return -1;
}

static void add_columns(struct column **cols, int *n, int *cap, const struct hk_attrs *l)
{
    for (int i = 0; i < l->n; i++) {
        if (find_column(*cols, *n, l->items[i].name) >= 0) continue;
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 32;
            *cols = hk_realloc(*cols, (size_t)*cap * sizeof **cols);
        }
        snprintf((*cols)[*n].name, sizeof(*cols)[*n].name, "%s", l->items[i].name);
        (*cols)[*n].is_text = l->items[i].is_text;
        (*n)++;
    }
}

static const char *info_text(const struct record *r, const char *name)
{
    const struct hk_attr *a = hk_attrs_find(&r->info, name);
    return a && a->is_text ? a->text : "";
}

static int cmp_records(const void *pa, const void *pb)
{
    const struct record *a = pa, *b = pb;
    if (a->index != b->index) return a->index < b->index ? -1 : 1;
    return strcmp(info_text(a, "id"), info_text(b, "id"));
}

static int read_record(const char *path, const char *srcdir, struct record *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    snprintf(r->srcdir, sizeof r->srcdir, "%s", srcdir);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return hk_fail("%s: not a readable HDF5 point record", path);
    int bad = attrs_read(f, "/", &r->info) || attrs_read(f, "param", &r->params) || attrs_read(f, "metric", &r->metrics);
    r->has_arrays = H5Lexists(f, "arrays", H5P_DEFAULT) > 0;
    H5Fclose(f);
    const struct hk_attr *fmt = hk_attrs_find(&r->info, "format");
    if (bad || !fmt || !fmt->is_text || strcmp(fmt->text, "hksweep-point-1"))
        return hk_fail("%s: not an hksweep point record (missing groups or format attribute)", path);
    const struct hk_attr *idx = hk_attrs_find(&r->info, "index");
    r->index = idx && !idx->is_text ? idx->num : 0;
    return 0;
}

static int write_text_column(hid_t g, const char *name, const char **values, int n)
{
    hid_t type = text_type();
    hsize_t dims[1] = {(hsize_t)n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t ds = H5Dcreate2(g, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = ds >= 0 ? (n ? H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) : 0) : -1;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(space);
    H5Tclose(type);
    return rc < 0 ? -1 : 0;
}

static int write_num_column(hid_t g, const char *name, const double *values, int n)
{
    hsize_t dims[1] = {(hsize_t)n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t ds = H5Dcreate2(g, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = ds >= 0 ? (n ? H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) : 0) : -1;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(space);
    return rc < 0 ? -1 : 0;
}

/* Writes one table group: a dataset per column, a row per record. */
static int write_columns(hid_t g, struct record *recs, int n, struct column *cols, int ncols, int which)
{
    const char **texts = hk_calloc((size_t)n + 1, sizeof *texts);
    double *nums = hk_calloc((size_t)n + 1, sizeof *nums);
    int bad = 0;
    for (int c = 0; c < ncols && !bad; c++) {
        for (int i = 0; i < n; i++) {
            const struct hk_attrs *l = which == 0 ? &recs[i].info : which == 1 ? &recs[i].params : &recs[i].metrics;
            const struct hk_attr *a = hk_attrs_find(l, cols[c].name);
            if (cols[c].is_text) texts[i] = a && a->is_text ? a->text : "";
            else nums[i] = a && !a->is_text ? a->num : NAN;
        }
        bad = cols[c].is_text ? write_text_column(g, cols[c].name, texts, n) : write_num_column(g, cols[c].name, nums, n);
    }
    free(texts);
    free(nums);
    return bad ? hk_fail("cannot write results column") : 0;
}

static int is_run_name(const char *name) { return name[0] != '.' && strlen(name) > 3 && !strcmp(name + strlen(name) - 3, ".h5"); }


static int copy_runs(hid_t out, int ndirs, char *const *dirs)
{
    hid_t prov = H5Gcreate2(out, "provenance", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (prov < 0) return hk_fail("cannot create /provenance");
    int bad = 0;
    for (int d = 0; d < ndirs && !bad; d++) {
        char rdir[PATH_MAX];
        snprintf(rdir, sizeof rdir, "%s/runs", dirs[d]);
        char **names;
        int n = list_dir(rdir, is_run_name, &names);
        if (n < 0) { bad = 1; break; }
        for (int i = 0; i < n && !bad; i++) {
            char path[PATH_MAX + 300], gname[300];
            snprintf(path, sizeof path, "%s/%s", rdir, names[i]);
            snprintf(gname, sizeof gname, "%.*s", (int)strlen(names[i]) - 3, names[i]);
            if (H5Lexists(prov, gname, H5P_DEFAULT) > 0) continue;
            struct hk_attrs a = {0};
            hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
            if (f < 0 || attrs_read(f, "/", &a)) {
                if (f >= 0) H5Fclose(f);
                bad = hk_fail("%s: unreadable run provenance file", path);
                break;
            }
            H5Fclose(f);
            hid_t g = H5Gcreate2(prov, gname, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            bad = g < 0 || attrs_write(g, &a);
            if (g >= 0) H5Gclose(g);
            hk_attrs_free(&a);
        }
        free_names(names, n);
    }
    H5Gclose(prov);
    return bad ? -1 : 0;
}

static int link_extras(hid_t out, struct record *recs, int n, const char *out_dir)
{
    hid_t arrays = -1, snaps = -1;
    for (int i = 0; i < n; i++) {
        const char *id = info_text(&recs[i], "id");
        if (recs[i].has_arrays) {
            if (arrays < 0) arrays = H5Gcreate2(out, "arrays", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            hid_t src = H5Fopen(recs[i].path, H5F_ACC_RDONLY, H5P_DEFAULT);
            if (src < 0 || H5Ocopy(src, "arrays", arrays, id, H5P_DEFAULT, H5P_DEFAULT) < 0) {
                if (src >= 0) H5Fclose(src);
                return hk_fail("%s: cannot copy its arrays", recs[i].path);
            }
            H5Fclose(src);
        }
        const char *snap = info_text(&recs[i], "snapshot");
        if (snap[0]) {
            if (snaps < 0) snaps = H5Gcreate2(out, "snapshots", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            char target[2 * PATH_MAX + 2], abs_src[PATH_MAX], abs_out[PATH_MAX];
            /* relative to results.h5 when it sits in the point's own directory */
            if (realpath(recs[i].srcdir, abs_src) && realpath(out_dir, abs_out) && !strcmp(abs_src, abs_out))
                snprintf(target, sizeof target, "%s", snap);
            else
                snprintf(target, sizeof target, "%s/%s", realpath(recs[i].srcdir, abs_src) ? abs_src : recs[i].srcdir, snap);
            H5Lcreate_external(target, "/", snaps, id, H5P_DEFAULT, H5P_DEFAULT);
        }
    }
    if (arrays >= 0) H5Gclose(arrays);
    if (snaps >= 0) H5Gclose(snaps);
    return 0;
}

static void record_free(struct record *r)
{
    hk_attrs_free(&r->info);
    hk_attrs_free(&r->params);
    hk_attrs_free(&r->metrics);
}

/* Reads a record whole and checks it: HDF5 readable, the required fields,
 * and its checksum (records written before checksums existed have none).
 * On success fills r (with its result digest); -1 with what is wrong. */
static int verify_record(const char *path, const char *srcdir, const char *want_id, struct record *r)
{
    if (read_record(path, srcdir, r)) return -1;
    const char *id = info_text(r, "id"), *status = info_text(r, "status"), *kind = info_text(r, "experiment");
    if (want_id && strcmp(id, want_id))
        return hk_fail("%s: holds point '%s', not the point its name says", path, id);
    if (!status[0] || !kind[0]) return hk_fail("%s: no status or experiment attribute", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    struct digest_walk w = {0, 0};
    uint64_t h = attrs_digest(&r->info, 0, HK_FNV_OFFSET);
    h = attrs_digest(&r->params, 0, h);
    h = attrs_digest(&r->metrics, 0, h);
    w.h = h;
    if (f >= 0 && r->has_arrays) {
        hid_t g = H5Gopen2(f, "arrays", H5P_DEFAULT);
        hsize_t idx = 0; /* name order, as the writer took them */
        if (g < 0 || H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, array_digest_cb, &w) < 0) w.bad = 1;
        if (g >= 0) H5Gclose(g);
    }
    if (f >= 0) H5Fclose(f);
    if (f < 0 || w.bad) return hk_fail("%s: its arrays cannot be read (damaged?)", path);
    const char *sum = info_text(r, "checksum");
    char got[17];
    hex64(w.h, got);
    if (sum[0] && strcmp(sum, got))
        return hk_fail("%s: checksum %s does not match its content (%s): the record is damaged", path, sum, got);
    r->digest = attrs_digest(&r->metrics, 1, attrs_digest(&r->params, 1, hk_fnv1a(status, strlen(status), HK_FNV_OFFSET)));
    return 0;
}

int hk_store_finished_ids(const char *dir, uint64_t **ids)
{
    char pdir[PATH_MAX];
    snprintf(pdir, sizeof pdir, "%s/points", dir);
    char **names;
    int n = list_dir(pdir, is_record_name, &names), good = 0;
    *ids = n > 0 ? hk_malloc((size_t)n * sizeof **ids) : NULL;
    for (int i = 0; i < n; i++) {
        /* a record counts as finished only if it reads back whole and its
         * checksum matches; a damaged one is set aside and its point runs again */
        char path[2 * PATH_MAX], id[17];
        snprintf(path, sizeof path, "%s/%s", pdir, names[i]);
        snprintf(id, sizeof id, "%.16s", names[i]);
        struct record *r = hk_calloc(1, sizeof *r);
        if (verify_record(path, dir, id, r) == 0) {
            (*ids)[good++] = strtoull(names[i], NULL, 16);
        } else {
            char aside[2 * PATH_MAX + 16];
            snprintf(aside, sizeof aside, "%s/.damaged-%s", pdir, names[i]);
            fprintf(stderr, "hksweep: warning: %s; it is moved to %s and its point will be computed again\n",
                    hk_error_message(), aside);
            if (rename(path, aside) != 0)
                fprintf(stderr, "hksweep: warning: cannot move it aside: %s\n", strerror(errno));
        }
        record_free(r);
        free(r);
    }
    if (n > 0) free_names(names, n);
    return n < 0 ? n : good;
}

int hk_store_merge(int ndirs, char *const *dirs, const char *out_path, int verbose)
{
    int n = 0, cap = 0, dup = 0, rc = -1;
    struct record *recs = NULL;
    for (int d = 0; d < ndirs; d++) {
        struct stat st;
        if (stat(dirs[d], &st) != 0 || !S_ISDIR(st.st_mode)) {
            hk_fail("%s: not a directory of hksweep results", dirs[d]);
            goto done;
        }
        char pdir[PATH_MAX];
        snprintf(pdir, sizeof pdir, "%s/points", dirs[d]);
        char **names;
        int nn = list_dir(pdir, is_record_name, &names);
        if (nn < 0) goto done;
        for (int i = 0; i < nn; i++) {
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                recs = hk_realloc(recs, (size_t)cap * sizeof *recs);
            }
            char path[2 * PATH_MAX], id[17];
            snprintf(path, sizeof path, "%s/%s", pdir, names[i]);
            snprintf(id, sizeof id, "%.16s", names[i]);
            struct record *r = &recs[n];
            if (verify_record(path, dirs[d], id, r)) {
                record_free(r);
                free_names(names, nn);
                goto done;
            }
            /* one sweep: one kind, and one config name where records carry it */
            const struct record *first = n ? &recs[0] : NULL;
            const char *name0 = first ? info_text(first, "config_name") : "", *name1 = info_text(r, "config_name");
            if (first && (strcmp(info_text(first, "experiment"), info_text(r, "experiment")) ||
                          (name0[0] && name1[0] && strcmp(name0, name1)))) {
                hk_fail("%s is of config '%s' (%s) but %s is of config '%s' (%s): merge the directories of one "
                        "sweep only", path, name1, info_text(r, "experiment"), first->path, name0,
                        info_text(first, "experiment"));
                record_free(r);
                free_names(names, nn);
                goto done;
            }
            int seen = -1;
            for (int k = 0; k < n && seen < 0; k++)
                if (!strcmp(info_text(&recs[k], "id"), id)) seen = k;
            if (seen >= 0) {
                /* the same point in two directories: fine if the results agree */
                if (recs[seen].digest != r->digest) {
                    hk_fail("point %s differs between %s and %s (status, parameters or metrics): keep one of them",
                            id, recs[seen].path, path);
                    record_free(r);
                    free_names(names, nn);
                    goto done;
                }
                record_free(r);
                dup++;
                continue;
            }
            n++;
        }
        free_names(names, nn);
    }
    qsort(recs, (size_t)n, sizeof *recs, cmp_records);

    struct column *cols[3] = {NULL, NULL, NULL};
    int ncols[3] = {0, 0, 0}, caps[3] = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        add_columns(&cols[0], &ncols[0], &caps[0], &recs[i].info);
        add_columns(&cols[1], &ncols[1], &caps[1], &recs[i].params);
        add_columns(&cols[2], &ncols[2], &caps[2], &recs[i].metrics);
    }
    char out_dir[PATH_MAX];
    snprintf(out_dir, sizeof out_dir, "%s", out_path);
    char *slash = strrchr(out_dir, '/');
    if (slash) *slash = 0; else snprintf(out_dir, sizeof out_dir, ".");
    hid_t f = memory_file_create();
    if (f < 0) {
        hk_fail("cannot start %s in memory", out_path);
        goto free_cols;
    }
    int bad = attr_write_text(f, "format", "hksweep-results-1") || attr_write_num(f, "npoints", n);
    char created[64];
    time_t now = time(NULL);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    bad = bad || attr_write_text(f, "created", created);
    hid_t pts = H5Gcreate2(f, "points", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t gp = H5Gcreate2(pts, "param", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t gm = H5Gcreate2(pts, "metric", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    bad = bad || write_columns(pts, recs, n, cols[0], ncols[0], 0) || write_columns(gp, recs, n, cols[1], ncols[1], 1) ||
          write_columns(gm, recs, n, cols[2], ncols[2], 2);
    H5Gclose(gp);
    H5Gclose(gm);
    H5Gclose(pts);
    bad = bad || copy_runs(f, ndirs, dirs) || link_extras(f, recs, n, out_dir);
    if (bad) {
        H5Fclose(f);
        goto free_cols;
    }
    if (memory_file_commit(f, out_path, out_dir)) goto free_cols;
    if (verbose)
        printf("merged %d points from %d director%s into %s%s\n", n, ndirs, ndirs == 1 ? "y" : "ies", out_path,
               dup ? " (points found in several directories, with the same results, taken once)" : "");
    rc = n;
free_cols:
    for (int k = 0; k < 3; k++) free(cols[k]);
done:
    for (int i = 0; i < n; i++) record_free(&recs[i]);
    free(recs);
    return rc;
}

/* ---- split ---------------------------------------------------------------- */

/* One column of a results table, read whole: text or numbers. */
struct table_column {
    char name[64];
    int is_text;
    char **texts;
    double *nums;
};

struct column_walk {
    struct table_column *cols;
    int n, cap, rows, bad;
    const char *where;
};

static herr_t read_column_cb(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    struct column_walk *w = data;
    H5O_info_t oi;
    if (H5Oget_info_by_name2(group, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return w->bad = 1, 0;
    if (oi.type != H5O_TYPE_DATASET) return 0; /* points/param and points/metric are read on their own */
    hid_t ds = H5Dopen2(group, name, H5P_DEFAULT);
    hid_t space = ds >= 0 ? H5Dget_space(ds) : -1;
    hsize_t len = 0;
    if (space < 0 || H5Sget_simple_extent_ndims(space) != 1 || (H5Sget_simple_extent_dims(space, &len, NULL), (int)len != w->rows)) {
        if (space >= 0) H5Sclose(space);
        if (ds >= 0) H5Dclose(ds);
        hk_fail("column %s/%s is not a vector of %d rows", w->where, name, w->rows);
        return w->bad = 1, 0;
    }
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->cols = hk_realloc(w->cols, (size_t)w->cap * sizeof *w->cols);
    }
    struct table_column *c = &w->cols[w->n];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    hid_t type = H5Dget_type(ds);
    c->is_text = H5Tget_class(type) == H5T_STRING;
    herr_t rc;
    if (c->is_text) {
        hid_t mem = text_type();
        char **raw = hk_calloc((size_t)w->rows + 1, sizeof *raw);
        rc = H5Tis_variable_str(type) > 0 ? H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) : -1;
        c->texts = hk_calloc((size_t)w->rows + 1, sizeof *c->texts);
        for (int i = 0; i < w->rows && rc >= 0; i++) c->texts[i] = hk_strdup(raw[i] ? raw[i] : "");
        if (rc >= 0) H5Dvlen_reclaim(mem, space, H5P_DEFAULT, raw);
        free(raw);
        H5Tclose(mem);
    } else {
        c->nums = hk_malloc(((size_t)w->rows + 1) * sizeof(double));
        rc = H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, c->nums);
    }
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(ds);
    w->n++;
    if (rc < 0) {
        hk_fail("cannot read column %s/%s", w->where, name);
        w->bad = 1;
    }
    return 0;
}

static void free_table_columns(struct column_walk *w)
{
    for (int c = 0; c < w->n; c++) {
        if (w->cols[c].texts)
            for (int i = 0; i < w->rows; i++) free(w->cols[c].texts[i]);
        free(w->cols[c].texts);
        free(w->cols[c].nums);
    }
    free(w->cols);
}

static int read_table(hid_t f, const char *group, int rows, struct column_walk *w)
{
    memset(w, 0, sizeof *w);
    w->rows = rows;
    w->where = group;
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
    if (g < 0) return hk_fail("no group %s", group);
    hsize_t idx = 0;
    herr_t rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, read_column_cb, w);
    H5Gclose(g);
    if (rc < 0 && !w->bad) hk_fail("cannot list %s", group);
    if (rc >= 0 && !w->bad) return 0;
    free_table_columns(w);
    return -1;
}

static void row_attrs(const struct column_walk *w, int row, struct hk_attrs *out, int skip_record_fields)
{
    for (int c = 0; c < w->n; c++) {
        const struct table_column *col = &w->cols[c];
        if (skip_record_fields && (!strcmp(col->name, "checksum") || !strcmp(col->name, "format"))) continue;
        if (col->is_text) hk_attrs_text(out, col->name, col->texts[row]);
        else hk_attrs_num(out, col->name, col->nums[row]);
    }
}

/* Writes the record of row `row` into dir/points/<id>.h5: the same fields a
 * run writes, its arrays copied from the results file, a fresh checksum. */
static int split_write_record(hid_t src, const char *pdir, const char *id, const struct hk_attrs *info,
                              const struct hk_attrs *params, const struct hk_attrs *metrics)
{
    char final[PATH_MAX + 32], apath[64];
    snprintf(final, sizeof final, "%s/%s.h5", pdir, id);
    hid_t f = memory_file_create();
    if (f < 0) return hk_fail("cannot start the record of point %s", id);
    struct hk_attrs root = {0};
    hk_attrs_text(&root, "format", "hksweep-point-1");
    for (int i = 0; i < info->n; i++) {
        const struct hk_attr *a = &info->items[i];
        if (a->is_text) hk_attrs_text(&root, a->name, a->text);
        else hk_attrs_num(&root, a->name, a->num);
    }
    uint64_t h = attrs_digest(metrics, 0, attrs_digest(params, 0, attrs_digest(&root, 0, HK_FNV_OFFSET)));
    hid_t g = H5Gcreate2(f, "param", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int bad = g < 0 || attrs_write(g, params);
    if (g >= 0) H5Gclose(g);
    g = H5Gcreate2(f, "metric", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    bad = bad || g < 0 || attrs_write(g, metrics);
    if (g >= 0) H5Gclose(g);
    snprintf(apath, sizeof apath, "arrays/%s", id);
    if (!bad && H5Lexists(src, "arrays", H5P_DEFAULT) > 0 && H5Lexists(src, apath, H5P_DEFAULT) > 0) {
        struct digest_walk w = {h, 0};
        hsize_t idx = 0;
        bad = H5Ocopy(src, apath, f, "arrays", H5P_DEFAULT, H5P_DEFAULT) < 0;
        hid_t ga = bad ? -1 : H5Gopen2(f, "arrays", H5P_DEFAULT);
        if (ga < 0 || H5Literate(ga, H5_INDEX_NAME, H5_ITER_INC, &idx, array_digest_cb, &w) < 0 || w.bad) bad = 1;
        if (ga >= 0) H5Gclose(ga);
        h = w.h;
    }
    char sum[17];
    hex64(h, sum);
    hk_attrs_text(&root, "checksum", sum);
    bad = bad || attrs_write(f, &root);
    hk_attrs_free(&root);
    if (bad) {
        H5Fclose(f);
        return hk_fail("cannot build the record of point %s (its arrays unreadable?)", id);
    }
    return memory_file_commit(f, final, pdir);
}

int hk_store_split(const char *results_path, const char *dir, int verbose)
{
    hid_t f = H5Fopen(results_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return hk_fail("%s: not a readable HDF5 file", results_path);
    struct hk_attrs top = {0};
    const struct hk_attr *fmt = NULL;
    if (attrs_read(f, "/", &top) == 0) fmt = hk_attrs_find(&top, "format");
    int ok = fmt && fmt->is_text && !strcmp(fmt->text, "hksweep-results-1") &&
             H5Lexists(f, "points", H5P_DEFAULT) > 0 && H5Lexists(f, "points/id", H5P_DEFAULT) > 0;
    hk_attrs_free(&top);
    if (!ok) {
        H5Fclose(f);
        return hk_fail("%s: not an hksweep results file (no format hksweep-results-1 or no /points/id); "
                       "split reads what 'hksweep merge' writes", results_path);
    }
    int rows = 0;
    {
        hid_t ds = H5Dopen2(f, "points/id", H5P_DEFAULT), space = H5Dget_space(ds);
        hsize_t len = 0;
        H5Sget_simple_extent_dims(space, &len, NULL);
        rows = (int)len;
        H5Sclose(space);
        H5Dclose(ds);
    }
    struct column_walk info, params, metrics;
    int rc = -1;
    int got_info = read_table(f, "points", rows, &info) == 0;
    int got_params = got_info && read_table(f, "points/param", rows, &params) == 0;
    int got_metrics = got_params && read_table(f, "points/metric", rows, &metrics) == 0;
    if (!got_metrics) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s", hk_error_message());
        hk_fail("%s: %s", results_path, msg);
        goto tables;
    }
    int id_col = -1, status_col = -1;
    for (int c = 0; c < info.n; c++) {
        if (!strcmp(info.cols[c].name, "id") && info.cols[c].is_text) id_col = c;
        if (!strcmp(info.cols[c].name, "status") && info.cols[c].is_text) status_col = c;
    }
    if (id_col < 0 || status_col < 0) {
        hk_fail("%s: the points table has no id or status column", results_path);
        goto tables;
    }
    /* nothing is written unless every id is sound and none is already there */
    char pdir[PATH_MAX];
    snprintf(pdir, sizeof pdir, "%s/points", dir);
    for (int i = 0; i < rows; i++) {
        const char *id = info.cols[id_col].texts[i];
        if (!is_record_name_id(id)) {
            hk_fail("%s: row %d has the id '%s', not 16 hex digits", results_path, i, id);
            goto tables;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(id, info.cols[id_col].texts[j])) {
                hk_fail("%s: point %s is in rows %d and %d", results_path, id, j, i);
                goto tables;
            }
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/%s.h5", pdir, id);
        if (access(path, F_OK) == 0) {
            hk_fail("%s already exists: split writes into a directory that does not hold these points yet", path);
            goto tables;
        }
    }
    if (hk_mkdir_p(pdir)) goto tables;
    int written = 0;
    for (int i = 0; i < rows; i++) {
        struct hk_attrs a = {0}, p = {0}, m = {0};
        row_attrs(&info, i, &a, 1);
        row_attrs(&params, i, &p, 0);
        row_attrs(&metrics, i, &m, 0);
        int bad = split_write_record(f, pdir, info.cols[id_col].texts[i], &a, &p, &m);
        hk_attrs_free(&a), hk_attrs_free(&p), hk_attrs_free(&m);
        if (bad) goto tables;
        written++;
    }
    /* the runs' provenance */
    int runs = 0;
    if (H5Lexists(f, "provenance", H5P_DEFAULT) > 0) {
        hid_t prov = H5Gopen2(f, "provenance", H5P_DEFAULT);
        H5G_info_t gi;
        H5Gget_info(prov, &gi);
        for (hsize_t k = 0; k < gi.nlinks; k++) {
            char name[256];
            if (H5Lget_name_by_idx(prov, ".", H5_INDEX_NAME, H5_ITER_INC, k, name, sizeof name, H5P_DEFAULT) < 0) continue;
            struct hk_attrs pa = {0}, keep = {0};
            int bad = attrs_read(prov, name, &pa);
            for (int j = 0; j < pa.n && !bad; j++) {
                if (!strcmp(pa.items[j].name, "format")) continue;
                if (pa.items[j].is_text) hk_attrs_text(&keep, pa.items[j].name, pa.items[j].text);
                else hk_attrs_num(&keep, pa.items[j].name, pa.items[j].num);
            }
            bad = bad || hk_store_write_run(dir, name, &keep);
            hk_attrs_free(&pa), hk_attrs_free(&keep);
            if (bad) {
                H5Gclose(prov);
                goto tables;
            }
            runs++;
        }
        H5Gclose(prov);
    }
    if (verbose)
        printf("split %s into %d point records and %d run%s in %s\n", results_path, written, runs, runs == 1 ? "" : "s",
               dir);
    rc = written;
tables:
    if (got_metrics) free_table_columns(&metrics);
    if (got_params) free_table_columns(&params);
    if (got_info) free_table_columns(&info);
    H5Fclose(f);
    return rc;
}

/* ---- parallel files ------------------------------------------------------- */

struct hk_pfile {
    MPI_Comm comm;
    hid_t file;
    char path[PATH_MAX];
    char tmp[PATH_MAX + 32];
};

struct hk_pfile *hk_pfile_create(MPI_Comm comm, const char *path)
{
    struct hk_pfile *f = hk_calloc(1, sizeof *f);
    f->comm = comm;
    snprintf(f->path, sizeof f->path, "%s", path);
    snprintf(f->tmp, sizeof f->tmp, "%s.tmp", path);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
    f->file = H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    int ok = f->file >= 0, all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm);
    if (!all_ok) {
        if (f->file >= 0) H5Fclose(f->file);
        hk_fail("cannot create %s (directory missing, disk full or no permission?)", f->tmp);
        free(f);
        return NULL;
    }
    return f;
}

/* Selects in a file space of m x n the rows this process owns block-cyclically
 * (row blocks of mb over nprow processes) and the columns [c0, c0 + w). */
static void select_rows_cols(hid_t space, int m, int mb, int nprow, int myrow, int c0, int w)
{
    H5Sselect_none(space);
    for (int b0 = myrow * mb; b0 < m; b0 += mb * nprow) {
        hsize_t start[2] = {(hsize_t)b0, (hsize_t)c0}, count[2] = {(hsize_t)(b0 + mb < m ? mb : m - b0), (hsize_t)w};
        H5Sselect_hyperslab(space, H5S_SELECT_OR, start, NULL, count, NULL);
    }
}

int hk_pfile_write_blockcyclic(struct hk_pfile *f, const char *name, const int *desc, const double *local)
{
    /* desc is a ScaLAPACK descriptor: [1] context, [2] m, [3] n, [4] mb,
     * [5] nb, [6] first process row, [7] first process column, [8] lld */
    const int m = desc[2], n = desc[3], mb = desc[4], nb = desc[5], lld = desc[8], zero = 0;
    int nprow, npcol, myrow, mycol;
    Cblacs_gridinfo(desc[1], &nprow, &npcol, &myrow, &mycol);
    if (desc[6] != 0 || desc[7] != 0) return hk_fail("%s: dataset %s: blocks must start on process (0, 0)", f->tmp, name);
    hsize_t fdims[2] = {(hsize_t)m, (hsize_t)n};
    hid_t fspace = H5Screate_simple(2, fdims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk[2] = {(hsize_t)(m < 512 ? m : 512), (hsize_t)(n < 512 ? n : 512)};
    if (chunk[0] > 0 && chunk[1] > 0) H5Pset_chunk(dcpl, 2, chunk);
    hid_t ds = H5Dcreate2(f->file, name, H5T_IEEE_F64LE, fspace, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    if (ds < 0) {
        H5Sclose(fspace);
        return hk_fail("%s: cannot create dataset %s", f->tmp, name);
    }
    /* The local part is column-major and the file row-major: each local
     * column block is transposed into a buffer of mloc x nb and written as
     * the rows this process owns times that block's columns, one collective
     * write per column block (the same count on every rank). */
    int mloc = numroc_(&m, &mb, &myrow, &zero, &nprow), nloc = numroc_(&n, &nb, &mycol, &zero, &npcol);
    int my_blocks = nloc > 0 && mloc > 0 ? (nloc + nb - 1) / nb : 0, blocks = 0;
    MPI_Allreduce(&my_blocks, &blocks, 1, MPI_INT, MPI_MAX, f->comm);
    double *buf = malloc((size_t)(mloc > 0 ? mloc : 1) * nb * sizeof(double));
    int ok = buf != NULL, all_ok;
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, f->comm);
    herr_t rc = ok ? 0 : -1;
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    for (int lb = 0; ok && lb < blocks; lb++) {
        int w = 0, c0 = 0;
        if (lb < my_blocks) {
            w = nloc - lb * nb < nb ? nloc - lb * nb : nb;
            c0 = (lb * npcol + mycol) * nb; /* global column of the block's first column */
            for (int i = 0; i < mloc; i++)
                for (int j = 0; j < w; j++) buf[(size_t)i * w + j] = local[i + (size_t)(lb * nb + j) * lld];
        }
        hsize_t mdims[1] = {(hsize_t)(w > 0 ? (size_t)mloc * w : 1)};
        hid_t mspace = H5Screate_simple(1, mdims, NULL);
        if (w > 0) {
            select_rows_cols(fspace, m, mb, nprow, myrow, c0, w);
        } else {
            H5Sselect_none(mspace);
            H5Sselect_none(fspace);
        }
        if (H5Dwrite(ds, H5T_NATIVE_DOUBLE, mspace, fspace, dxpl, buf) < 0) rc = -1;
        H5Sclose(mspace);
    }
    free(buf);
    H5Pclose(dxpl);
    H5Sclose(fspace);
    if (rc >= 0) rc = attr_write_text(ds, "layout", "file[i][j] = A(i, j)");
    H5Dclose(ds);
    ok = rc >= 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, f->comm);
    return all_ok ? 0 : hk_fail("%s: writing dataset %s failed (disk full, or out of memory)", f->tmp, name);
}

int hk_pfile_attr_text(struct hk_pfile *f, const char *name, const char *text)
{
    return attr_write_text(f->file, name, text) ? hk_fail("%s: cannot write attribute %s", f->tmp, name) : 0;
}

int hk_pfile_attr_num(struct hk_pfile *f, const char *name, double value)
{
    return attr_write_num(f->file, name, value) ? hk_fail("%s: cannot write attribute %s", f->tmp, name) : 0;
}

int hk_pfile_commit(struct hk_pfile *f)
{
    int ok = H5Fclose(f->file) >= 0, all_ok, rank;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, f->comm);
    MPI_Comm_rank(f->comm, &rank);
    int rc = 0;
    if (rank == 0) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", f->path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
        if (!all_ok) {
            unlink(f->tmp);
            rc = hk_fail("%s: closing failed (disk full?); nothing was written", f->tmp);
        } else if (durable_rename(f->tmp, f->path, dir)) {
            unlink(f->tmp);
            rc = -1;
        }
    }
    MPI_Bcast(&rc, 1, MPI_INT, 0, f->comm);
    if (rc && rank != 0) hk_fail("%s: writing failed on rank 0", f->path);
    free(f);
    return rc;
}

void hk_pfile_abort(struct hk_pfile *f)
{
    int rank;
    H5Fclose(f->file);
    MPI_Comm_rank(f->comm, &rank);
    if (rank == 0) unlink(f->tmp);
    free(f);
}

/* Whether a file's type is one of the standard number types. A damaged file
 * can declare a float or integer of odd precision or offset, and HDF5 1.10's
 * conversion of such types reads out of bounds (found by fuzzing). */
static int is_standard_number(hid_t type)
{
    const hid_t standard[] = {H5T_IEEE_F64LE, H5T_IEEE_F64BE, H5T_IEEE_F32LE, H5T_IEEE_F32BE, H5T_STD_I8LE,
                              H5T_STD_I8BE,   H5T_STD_U8LE,   H5T_STD_U8BE,   H5T_STD_I16LE,  H5T_STD_I16BE,
                              H5T_STD_U16LE,  H5T_STD_U16BE,  H5T_STD_I32LE,  H5T_STD_I32BE,  H5T_STD_U32LE,
                              H5T_STD_U32BE,  H5T_STD_I64LE,  H5T_STD_I64BE,  H5T_STD_U64LE,  H5T_STD_U64BE};
    for (size_t i = 0; i < sizeof standard / sizeof standard[0]; i++)
        if (H5Tequal(type, standard[i]) > 0) return 1;
    return 0;
}

static int read_matrix_here(const char *path, const char *name, int allow_vector, double **data, long *rows, long *cols)
{
    *data = NULL;
    *rows = *cols = 0;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return hk_fail("%s: cannot open as HDF5 (missing or not an HDF5 file)", path);
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0) {
        H5Fclose(f);
        return hk_fail("%s: has no dataset %s", path, name);
    }
    hid_t space = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(space);
    hsize_t dims[2] = {0, 0};
    int rc = 0;
    if (rank != 2 && !(allow_vector && rank == 1)) {
        rc = hk_fail("%s: dataset %s has rank %d; expected a matrix of one row per point (rank 2)", path, name, rank);
    } else {
        H5Sget_simple_extent_dims(space, dims, NULL);
        if (rank == 1) dims[1] = 1;
        hid_t type = H5Dget_type(ds);
        int standard = is_standard_number(type);
        H5Tclose(type);
        /* the shape comes from the file: check it before allocating anything */
        const double budget = hk_memory_budget_bytes(1) / 2;
        if (!standard)
            rc = hk_fail("%s: dataset %s is not stored as a standard number type (IEEE float, or integer of 8 to 64 "
                         "bits)", path, name);
        else if (dims[0] < 1 || dims[1] < 1)
            rc = hk_fail("%s: dataset %s is %llu x %llu; it needs at least one row and one column", path, name,
                         (unsigned long long)dims[0], (unsigned long long)dims[1]);
        else if (dims[0] > (hsize_t)INT_MAX || dims[1] > (hsize_t)INT_MAX)
            rc = hk_fail("%s: dataset %s is %llu x %llu; at most %d rows and columns", path, name,
                         (unsigned long long)dims[0], (unsigned long long)dims[1], INT_MAX);
        else if ((double)dims[0] * (double)dims[1] * 8 > budget)
            rc = hk_fail("%s: dataset %s is %llu x %llu: %.3g GB as doubles, more than the %.3g GB this process "
                         "may use for its inputs", path, name, (unsigned long long)dims[0],
                         (unsigned long long)dims[1], (double)dims[0] * (double)dims[1] * 8 / 1e9, budget / 1e9);
    }
    if (!rc) {
        double *buf = hk_try_malloc((size_t)dims[0] * dims[1] * sizeof(double));
        if (!buf)
            rc = hk_fail("%s: out of memory reading dataset %s (%llu x %llu)", path, name,
                         (unsigned long long)dims[0], (unsigned long long)dims[1]);
        else if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            free(buf);
            rc = hk_fail("%s: cannot read dataset %s (damaged file?)", path, name);
        } else {
            *data = buf;
            *rows = (long)dims[0];
            *cols = (long)dims[1];
        }
    }
    H5Sclose(space);
    H5Dclose(ds);
    H5Fclose(f);
    return rc;
}

static int read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        p += got, n -= (size_t)got;
    }
    return 0;
}

/* The read runs in a child process: HDF5 1.10 itself crashes on some damaged
 * files (fuzzing found a NULL write in its metadata cache and an out-of-bounds
 * read in its type conversion), and a crash there must be an error message,
 * not the end of every rank. The child sends its verdict, message and data
 * through a pipe; the parent reports a child that died as a damaged file. */
static int read_values(const char *path, const char *name, int allow_vector, double **data, long *rows, long *cols)
{
    *data = NULL;
    *rows = *cols = 0;
    int fds[2];
    if (pipe(fds) != 0) return read_matrix_here(path, name, allow_vector, data, rows, cols);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]), close(fds[1]);
        return read_matrix_here(path, name, allow_vector, data, rows, cols);
    }
    if (pid == 0) {
        close(fds[0]);
        double *d = NULL;
        long r = 0, c = 0;
        int rc;
        struct hk_oom_guard guard; /* out of memory in the child stays in the child */
        hk_oom_push(&guard);
        if (setjmp(guard.env) == 0) rc = read_matrix_here(path, name, allow_vector, &d, &r, &c);
        else rc = -1;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", rc ? hk_error_message() : "");
        long head[3] = {rc, r, c};
        int bad = write_all(fds[1], (const char *)head, sizeof head) || write_all(fds[1], msg, sizeof msg) ||
                  (rc == 0 && write_all(fds[1], (const char *)d, (size_t)r * c * sizeof(double)));
        _exit(bad ? 3 : 0);
    }
    close(fds[1]);
    long head[3] = {-1, 0, 0};
    char msg[1024] = "";
    int rc = -1;
    if (read_full(fds[0], head, sizeof head) == 0 && read_full(fds[0], msg, sizeof msg) == 0) {
        msg[sizeof msg - 1] = 0;
        if (head[0] != 0) {
            rc = hk_fail("%s", msg);
        } else {
            double *d = hk_try_malloc((size_t)head[1] * head[2] * sizeof(double));
            if (!d) rc = hk_fail("%s: out of memory reading dataset %s", path, name);
            else if (read_full(fds[0], d, (size_t)head[1] * head[2] * sizeof(double)) != 0) free(d);
            else *data = d, *rows = head[1], *cols = head[2], rc = 0;
        }
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (rc != 0 && !(head[0] != 0 && msg[0])) {
        if (WIFSIGNALED(status))
            rc = hk_fail("%s: the HDF5 library crashed reading dataset %s (signal %d): the file is damaged", path,
                         name, WTERMSIG(status));
        else
            rc = hk_fail("%s: dataset %s cannot be read: the file is damaged (the reader stopped with status %d)",
                         path, name, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    return rc;
}

int hk_h5_read_matrix(const char *path, const char *name, double **data, long *rows, long *cols)
{
    return read_values(path, name, 0, data, rows, cols);
}

int hk_h5_read_columns(const char *path, const char *name, double **data, long *rows, long *cols)
{
    return read_values(path, name, 1, data, rows, cols);
}

int hk_pfile_write_replicated(struct hk_pfile *f, const char *name, int rank, const long *dims, const double *data)
{
    hsize_t d[3] = {1, 1, 1};
    for (int i = 0; i < rank; i++) d[i] = (hsize_t)dims[i];
    hid_t space = H5Screate_simple(rank, d, NULL);
    hid_t ds = H5Dcreate2(f->file, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int me;
    MPI_Comm_rank(f->comm, &me);
    hid_t mspace = H5Scopy(space);
    if (me != 0) { /* rank 0 writes the values; the others take part with nothing */
        H5Sselect_none(space);
        H5Sselect_none(mspace);
    }
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    double dummy = 0;
    herr_t rc = ds >= 0 ? H5Dwrite(ds, H5T_NATIVE_DOUBLE, mspace, space, dxpl, me == 0 ? data : &dummy) : -1;
    H5Pclose(dxpl);
    H5Sclose(mspace);
    H5Sclose(space);
    if (ds >= 0) H5Dclose(ds);
    int ok = rc >= 0, all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, f->comm);
    return all_ok ? 0 : hk_fail("%s: writing dataset %s failed (disk full?)", f->tmp, name);
}

void hk_store_library_version(char *buf, size_t n)
{
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    snprintf(buf, n, "%u.%u.%u (parallel)", maj, min, rel);
}

/* ---- inspect: a readable summary of any of our files -------------------- */

static herr_t inspect_object(hid_t loc, const char *name, const H5O_info_t *info, void *data)
{
    (void)data;
    if (info->type != H5O_TYPE_DATASET) return 0;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t space = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(space);
    hsize_t dims[8] = {0};
    H5Sget_simple_extent_dims(space, dims, NULL);
    printf("  /%s  [", name);
    for (int i = 0; i < rank; i++) printf("%s%llu", i ? " x " : "", (unsigned long long)dims[i]);
    printf("]");
    hid_t type = H5Dget_type(ds);
    if (H5Tget_class(type) == H5T_FLOAT && rank == 2 && dims[0] == dims[1] && dims[0] <= 20000) {
        size_t n = (size_t)dims[0];
        double *a = malloc(n * n * sizeof(double));
        if (a && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a) >= 0) {
            double mn = INFINITY, mx = -INFINITY, asym = 0, diag = 0, scale = 0;
            for (size_t i = 0; i < n; i++) {
                diag += a[i * n + i];
                for (size_t j = 0; j < n; j++) {
                    double v = a[i * n + j];
                    if (v < mn) mn = v;
                    if (v > mx) mx = v;
                    if (fabs(v) > scale) scale = fabs(v);
                    if (fabs(v - a[j * n + i]) > asym) asym = fabs(v - a[j * n + i]);
                }
            }
            printf("  min %.4g max %.4g mean diagonal %.4g, max |A - A^T| / max |A| = %.2g", mn, mx, diag / n,
                   scale > 0 ? asym / scale : 0);
        }
        free(a);
    } else if (H5Tget_class(type) == H5T_FLOAT && rank == 1 && dims[0] > 0 && dims[0] <= 1000000) {
        double *a = malloc(dims[0] * sizeof(double));
        if (a && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a) >= 0) {
            double mn = INFINITY, mx = -INFINITY;
            size_t nan = 0;
            for (size_t i = 0; i < dims[0]; i++) {
                if (isnan(a[i])) { nan++; continue; }
                if (a[i] < mn) mn = a[i];
                if (a[i] > mx) mx = a[i];
            }
            if (nan < dims[0]) printf("  min %.4g max %.4g", mn, mx);
            if (nan) printf("  (%zu missing)", nan);
        }
        free(a);
    }
    printf("\n");
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(ds);
    return 0;
}

static int inspect_text_attr(hid_t obj, const char *name, char *buf, size_t n)
{
    buf[0] = 0;
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    int rc = -1;
    if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0) {
        char *s = NULL;
        if (H5Aread(a, t, &s) >= 0 && s) { snprintf(buf, n, "%s", s); rc = 0; }
        if (s) H5free_memory(s);
    } else if (H5Tget_class(t) == H5T_STRING) {
        size_t size = H5Tget_size(t);
        char *tmp = calloc(size + 1, 1);
        if (H5Aread(a, t, tmp) >= 0) { snprintf(buf, n, "%s", tmp); rc = 0; }
        free(tmp);
    }
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

int hk_store_inspect(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return hk_fail("inspect: %s: cannot open as HDF5 (missing, truncated or not an HDF5 file)", path);
    char format[128];
    inspect_text_attr(f, "format", format, sizeof format);
    printf("%s: %s\n", path, format[0] ? format : "HDF5 file");
    if (!strcmp(format, "hksweep-results-1")) {
        hid_t prov = H5Gopen2(f, "provenance", H5P_DEFAULT);
        if (prov >= 0) {
            H5G_info_t gi;
            H5Gget_info(prov, &gi);
            printf("runs: %llu\n", (unsigned long long)gi.nlinks);
            for (hsize_t i = 0; i < gi.nlinks; i++) {
                char name[256], host[256], git[128], core[128], conf[512];
                H5Lget_name_by_idx(prov, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
                hid_t g = H5Gopen2(prov, name, H5P_DEFAULT);
                inspect_text_attr(g, "host", host, sizeof host);
                inspect_text_attr(g, "git_commit", git, sizeof git);
                inspect_text_attr(g, "blas_core", core, sizeof core);
                inspect_text_attr(g, "config_path", conf, sizeof conf);
                printf("  %s: %s on %s, git %s, BLAS core %s\n", name, conf, host, git, core);
                H5Gclose(g);
            }
            H5Gclose(prov);
        }
    }
    printf("datasets:\n");
    H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_INC, inspect_object, NULL, H5O_INFO_BASIC);
    if (!strcmp(format, "hksweep-results-1")) {
        /* status counts */
        hid_t ds = H5Dopen2(f, "points/status", H5P_DEFAULT);
        if (ds >= 0) {
            hid_t space = H5Dget_space(ds);
            hssize_t n = H5Sget_simple_extent_npoints(space);
            char **st = calloc((size_t)n + 1, sizeof(char *));
            hid_t t = H5Dget_type(ds);
            int ok = 0, failed = 0;
            if (n > 0 && H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, st) >= 0)
                for (hssize_t i = 0; i < n; i++) {
                    if (st[i] && !strcmp(st[i], "ok")) ok++;
                    else failed++;
                    H5free_memory(st[i]);
                }
            printf("points: %lld (%d ok, %d failed)\n", (long long)n, ok, failed);
            free(st);
            H5Tclose(t);
            H5Sclose(space);
            H5Dclose(ds);
        }
    }
    H5Fclose(f);
    return 0;
}

