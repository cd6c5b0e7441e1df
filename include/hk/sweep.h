/* sweep: expands a config into numbered points with stable ids; shards and
 * resume filters. Reads nothing but the parsed config. */
#ifndef HK_SWEEP_H
#define HK_SWEEP_H

#include <stdint.h>

#include "hk/config.h"

struct hk_point {
    int index;                 /* position in the expanded sweep */
    uint64_t id;               /* hash of experiment and resolved non-resource values */
    char id_hex[17];
    const struct hk_config *cfg;
    struct hk_value values[HK_MAX_PARAMS];
};

struct hk_sweep {
    int npoints;
    struct hk_point *points;
};

int hk_sweep_expand(const struct hk_config *cfg, struct hk_sweep *out);
void hk_sweep_free(struct hk_sweep *sw);

/* Shard i of n (0 <= i < n) holds the points with id % n == i: shards
 * partition any sweep exactly, and agree across configs and machines. */
int hk_point_in_shard(const struct hk_point *p, int shard, int nshards);
int hk_parse_shard(const char *text, int *shard, int *nshards);

/* Points to run: in the shard and not among the finished ids (sorted). */
int hk_sweep_select(const struct hk_sweep *sw, int shard, int nshards, const uint64_t *finished, int nfinished,
                    int **indices);

/* A point's parameters are read through its kind's typed reader (params.h),
 * by position, never by name. */

/* "key=value key=value" of the swept parameters, for progress lines. */
void hk_point_describe(const struct hk_point *p, char *buf, int n);
uint64_t hk_id_parse(const char *hex);

/* Whether two points of one kind agree on every parameter, resources
 * included, except the comma-separated names in `except`: for a kind that
 * reuses work its points share (dynamics-convergence's kernel trajectory). */
int hk_point_same_except(const struct hk_point *a, const struct hk_point *b, const char *except);

#endif
