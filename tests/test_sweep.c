/* Sweep expansion (grid x zip x seeds), stable ids, shards that partition the
 * points, and the resume filter. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hk/config.h"
#include "hk/experiment.h"
#include "hk/sweep.h"
#include "hk/util.h"

/* A parameter of a point by name (tests only: kinds read theirs by position). */
static double value_of(const struct hk_point *p, const char *key)
{
    int i = hk_config_param_index(p->cfg, key);
    return i < 0 ? NAN : p->values[i].num;
}

static int parse(const char *text, struct hk_config *cfg)
{
    int rc = hk_config_parse("test.yaml", text, hk_experiment_schema, cfg);
    if (rc) fprintf(stderr, "parse: %s\n", hk_error_message());
    return rc;
}

int main(int argc, char **argv)
{
    (void)argc; (void)argv;
    const char *text = "experiment: hyperkernel-regression\n"
                       "params: {dx: 3}\n"
                       "sweep:\n"
                       "  grid: {depth_f: [1, 2, 3], depth_g: [2, 4]}\n"
                       "  zip: {distinct_x: [5, 10], samples_per_x: [2, 3], team_size: [1, 2]}\n"
                       "  seeds: 4\n";
    struct hk_config cfg;
    CHECK(parse(text, &cfg) == 0, "valid config rejected");
    struct hk_sweep sw;
    CHECK(hk_sweep_expand(&cfg, &sw) == 0, "expand failed");
    CHECK(sw.npoints == 3 * 2 * 2 * 4, "grid x zip x seeds: got %d points, want 48", sw.npoints);
    /* zipped values move together; every combination of depth_f x depth_g x
     * zip x seed appears exactly once */
    int combos = 0, seen[3][2][2][4] = {{{{0}}}};
    for (int i = 0; i < sw.npoints; i++) {
        const struct hk_point *p = &sw.points[i];
        long u = value_of(p, "distinct_x"), g = value_of(p, "samples_per_x");
        CHECK((u == 5 && g == 2) || (u == 10 && g == 3), "zip broken at point %d: %ld %ld", i, u, g);
        CHECK(value_of(p, "dx") == 3, "params not applied at %d", i);
        int f = (int)value_of(p, "depth_f"), h = (int)value_of(p, "depth_g"), s = (int)value_of(p, "seed");
        CHECK(f >= 1 && f <= 3 && (h == 2 || h == 4) && s >= 1 && s <= 4, "values at %d: %d %d %d", i, f, h, s);
        if (f >= 1 && f <= 3 && (h == 2 || h == 4) && s >= 1 && s <= 4) seen[f - 1][h == 4][u == 10][s - 1]++;
        CHECK(p->index == i, "index %d at position %d", p->index, i);
        for (int j = 0; j < i; j++) combos += sw.points[j].id == p->id;
    }
    CHECK(combos == 0, "%d duplicate ids", combos);
    int once = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 2; c++)
                for (int d = 0; d < 4; d++) once += seen[a][b][c][d] == 1;
    CHECK(once == 48, "%d of the 48 combinations appear exactly once", once);
    /* ids: independent of key order in the file and of resource parameters */
    const char *reordered = "sweep:\n"
                            "  seeds: [1, 2, 3, 4]\n"
                            "  zip: {team_size: [4, 4], samples_per_x: [2, 3], distinct_x: [5, 10]}\n"
                            "  grid: {depth_g: [2, 4], depth_f: [1, 2, 3]}\n"
                            "params: {dx: 3, block_size: 7}\n"
                            "experiment: hyperkernel-regression\n";
    struct hk_config cfg2;
    struct hk_sweep sw2;
    CHECK(parse(reordered, &cfg2) == 0 && hk_sweep_expand(&cfg2, &sw2) == 0, "reordered config");
    int matched_once = 0;
    CHECK(sw2.npoints == sw.npoints, "reordered: %d points, want %d", sw2.npoints, sw.npoints);
    for (int i = 0; i < sw.npoints; i++) {
        int m = 0;
        for (int j = 0; j < sw2.npoints; j++) m += sw.points[i].id == sw2.points[j].id;
        matched_once += m == 1;
    }
    CHECK(matched_once == sw.npoints, "same points, same ids: %d of %d match exactly one", matched_once, sw.npoints);
    /* the id does change with any value that changes the result */
    const char *other_seed = "experiment: hyperkernel-regression\nparams: {dx: 3, seed: 9}\n";
    const char *base = "experiment: hyperkernel-regression\nparams: {dx: 3}\n";
    struct hk_config c3, c4;
    struct hk_sweep s3, s4;
    parse(other_seed, &c3);
    parse(base, &c4);
    hk_sweep_expand(&c3, &s3);
    hk_sweep_expand(&c4, &s4);
    CHECK(s3.npoints == 1 && s4.npoints == 1 && s3.points[0].id != s4.points[0].id, "seed must change the id");
    /* shards partition the points exactly */
    for (int n = 1; n <= 7; n++) {
        int *owner = calloc(sw.npoints, sizeof(int)), total = 0;
        for (int s = 0; s < n; s++) {
            int *sel;
            int k = hk_sweep_select(&sw, s, n, NULL, 0, &sel);
            for (int i = 0; i < k; i++) owner[sel[i]]++;
            total += k;
            free(sel);
        }
        int once = 1;
        for (int i = 0; i < sw.npoints; i++) once &= owner[i] == 1;
        CHECK(once && total == sw.npoints, "%d shards do not partition the sweep (total %d)", n, total);
        free(owner);
    }
    /* resume filter: finished ids are skipped */
    uint64_t done[3] = {sw.points[0].id, sw.points[17].id, sw.points[47].id};
    int *sel;
    int k = hk_sweep_select(&sw, 0, 1, done, 3, &sel);
    CHECK(k == sw.npoints - 3, "resume filter kept %d, want %d", k, sw.npoints - 3);
    for (int i = 0; i < k; i++) CHECK(sel[i] != 0 && sel[i] != 17 && sel[i] != 47, "finished point %d kept", sel[i]);
    free(sel);
    int shard, nshards;
    CHECK(hk_parse_shard("2/5", &shard, &nshards) == 0 && shard == 2 && nshards == 5, "parse 2/5");
    CHECK(hk_parse_shard("5/5", &shard, &nshards) != 0, "5/5 must be rejected");
    CHECK(hk_parse_shard("x/2", &shard, &nshards) != 0, "x/2 must be rejected");
    hk_sweep_free(&sw);
    hk_sweep_free(&sw2);
    hk_sweep_free(&s3);
    hk_sweep_free(&s4);
    hk_config_free(&cfg);
    hk_config_free(&cfg2);
    hk_config_free(&c3);
    hk_config_free(&c4);
    return check_summary("test_sweep");
}
