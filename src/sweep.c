/* sweep: Cartesian grid x zipped lists -> points; ids; shards. */
#include "hk/sweep.h"
#include "hk/params.h"
#include "hk/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void compute_id(struct hk_point *p)
{
    const struct hk_config *cfg = p->cfg;
    uint64_t h = hk_fnv1a(cfg->experiment, strlen(cfg->experiment), HK_FNV_OFFSET);
    char buf[HK_VALUE_TEXT + 80];
    for (int i = 0; i < cfg->nspecs; i++) {
        if (cfg->specs[i].resource == 1) continue;
        char val[HK_VALUE_TEXT];
        hk_value_format(&p->values[i], val, sizeof val);
        if (cfg->specs[i].resource == HK_ID_UNLESS_DEFAULT && !strcmp(val, cfg->specs[i].default_value)) continue;
        int len = snprintf(buf, sizeof buf, ";%s=%s", cfg->specs[i].key, val);
        h = hk_fnv1a(buf, (size_t)len, h);
    }
    p->id = h;
    snprintf(p->id_hex, sizeof p->id_hex, "%016llx", (unsigned long long)h);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int hk_sweep_expand(const struct hk_config *cfg, struct hk_sweep *out)
{
    int nzip = cfg->nzip ? cfg->zip_len : 1;
    long total = nzip;
    for (int a = 0; a < cfg->ngrid; a++) total *= cfg->grid[a].nvalues;
    out->npoints = (int)total;
    out->points = hk_calloc((size_t)total, sizeof *out->points);
    int counter[HK_MAX_AXES];
    int index = 0;
    for (int z = 0; z < nzip; z++) {
        memset(counter, 0, sizeof counter);
        for (;;) {
            struct hk_point *p = &out->points[index];
            p->index = index;
            p->cfg = cfg;
            memcpy(p->values, cfg->base, sizeof p->values);
            for (int a = 0; a < cfg->nzip; a++) p->values[cfg->zip[a].param] = cfg->zip[a].values[z];
            for (int a = 0; a < cfg->ngrid; a++) p->values[cfg->grid[a].param] = cfg->grid[a].values[counter[a]];
            compute_id(p);
            index++;
            /* odometer: the last grid axis (seeds) turns fastest */
            int a = cfg->ngrid - 1;
            while (a >= 0 && ++counter[a] == cfg->grid[a].nvalues) counter[a--] = 0;
            if (a < 0) break;
        }
    }
    /* Two points with the same id would overwrite each other's record. */
    uint64_t *ids = hk_malloc((size_t)total * sizeof *ids);
    for (int i = 0; i < out->npoints; i++) ids[i] = out->points[i].id;
    qsort(ids, (size_t)total, sizeof *ids, cmp_u64);
    for (int i = 1; i < out->npoints; i++)
        if (ids[i] == ids[i - 1]) {
            int first = -1, second = -1;
            for (int k = 0; k < out->npoints; k++)
                if (out->points[k].id == ids[i]) {
                    if (first < 0) first = k;
                    else if (second < 0) second = k;
                }
            free(ids);
            hk_sweep_free(out); /* a refused sweep leaves nothing allocated */
            return hk_fail("%s: points %d and %d have identical parameters (a value repeated in sweep.grid or "
                           "sweep.zip?)", cfg->path, first, second);
        }
    free(ids);
    return 0;
}

void hk_sweep_free(struct hk_sweep *sw)
{
    free(sw->points);
    sw->points = NULL;
    sw->npoints = 0;
}

int hk_point_in_shard(const struct hk_point *p, int shard, int nshards)
{
    return nshards <= 1 || (int)(p->id % (uint64_t)nshards) == shard;
}

int hk_parse_shard(const char *text, int *shard, int *nshards)
{
    char *end;
    long i = strtol(text, &end, 10);
    if (end == text || *end != '/') return hk_fail("--shard: expected I/N such as 0/4, got '%s'", text);
    const char *rest = end + 1;
    long n = strtol(rest, &end, 10);
    if (end == rest || *end) return hk_fail("--shard: expected I/N such as 0/4, got '%s'", text);
    if (n < 1 || i < 0 || i >= n) return hk_fail("--shard %s: need 0 <= I < N", text);
    *shard = (int)i;
    *nshards = (int)n;
    return 0;
}

int hk_sweep_select(const struct hk_sweep *sw, int shard, int nshards, const uint64_t *finished, int nfinished,
                    int **indices)
{
    uint64_t *sorted = hk_malloc((size_t)(nfinished + 1) * sizeof *sorted);
    if (nfinished) memcpy(sorted, finished, (size_t)nfinished * sizeof *sorted);
    qsort(sorted, (size_t)nfinished, sizeof *sorted, cmp_u64);
    int *sel = hk_malloc((size_t)(sw->npoints + 1) * sizeof *sel);
    int n = 0;
    for (int i = 0; i < sw->npoints; i++) {
        const struct hk_point *p = &sw->points[i];
        if (!hk_point_in_shard(p, shard, nshards)) continue;
        if (nfinished && bsearch(&p->id, sorted, (size_t)nfinished, sizeof *sorted, cmp_u64)) continue;
        sel[n++] = i;
    }
    free(sorted);
    *indices = sel;
    return n;
}

int hk_list_has(const char *s, const char *item)
{
    size_t n = strlen(item);
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == n && !strncmp(s, item, n)) return 1;
        if (!comma) break;
        s = comma + 1;
    }
    return 0;
}

int hk_list_reals(const char *s, double *out)
{
    int n = 0;
    for (char *end; *s && n < HK_MAX_REALS; s = *end == ',' ? end + 1 : end) {
        out[n++] = strtod(s, &end);
        if (end == s) break;
    }
    return n;
}

void hk_point_describe(const struct hk_point *p, char *buf, int n)
{
    const struct hk_config *cfg = p->cfg;
    int used = 0;
    buf[0] = 0;
    const struct hk_axis *sets[2] = {cfg->zip, cfg->grid};
    int counts[2] = {cfg->nzip, cfg->ngrid};
    for (int s = 0; s < 2; s++)
        for (int a = 0; a < counts[s] && used < n; a++) {
            char val[HK_VALUE_TEXT];
            int k = sets[s][a].param;
            hk_value_display(&p->values[k], val, sizeof val);
            used += snprintf(buf + used, (size_t)(n - used), "%s%s=%s", used ? " " : "", cfg->specs[k].key, val);
        }
}

int hk_point_same_except(const struct hk_point *a, const struct hk_point *b, const char *except)
{
    if (a->cfg->specs != b->cfg->specs || a->cfg->nspecs != b->cfg->nspecs) return 0;
    for (int k = 0; k < a->cfg->nspecs; k++) {
        if (hk_list_has(except, a->cfg->specs[k].key)) continue;
        const struct hk_value *u = &a->values[k], *v = &b->values[k];
        if (u->type != v->type || u->num != v->num || strcmp(u->text, v->text)) return 0;
    }
    return 1;
}

uint64_t hk_id_parse(const char *hex) { return strtoull(hex, NULL, 16); }
