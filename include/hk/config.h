/* config: reads a sweep config (YAML, via libyaml), checks it against the
 * parameter schema of its experiment kind and resolves defaults. Every error
 * names file:line:column, the key, and what was expected. Knows nothing of MPI
 * and nothing of what an experiment computes: the schema comes from a lookup
 * function the caller passes in. */
#ifndef HK_CONFIG_H
#define HK_CONFIG_H

#include <stddef.h>

enum hk_type { HK_T_INT, HK_T_REAL, HK_T_BOOL, HK_T_STRING, HK_T_LIST, HK_T_REALS };

struct hk_param_spec {
    const char *key;
    enum hk_type type;
    const char *default_value; /* text, parsed as a config value would be */
    double min, max;           /* inclusive range for INT and REAL */
    const char *choices;       /* "a|b|c" for STRING and each LIST item; NULL = any */
    const char *help;
    int resource;              /* 1: how to run (team size, block size), not what to compute:
                                  left out of the point id; HK_ID_UNLESS_DEFAULT: in the id only
                                  when set to another value than its default, so that adding the
                                  parameter left the ids of earlier results as they were */
};

#define HK_ID_UNLESS_DEFAULT 2
#define HK_VALUE_TEXT 160
#define HK_MAX_REALS 16            /* numbers in a REALS parameter */
struct hk_value {
    enum hk_type type;
    double num;                /* INT, REAL, BOOL */
    char text[HK_VALUE_TEXT];  /* STRING; LIST and REALS as comma-joined items */
};

#define HK_MAX_PARAMS 64
#define HK_MAX_AXES 16
/* Bounds on what a config may ask for: points (each holds HK_MAX_PARAMS
 * values, about 11 KB, so at most 1 GiB of points), file size, nesting. */
#define HK_MAX_POINTS ((int)((1u << 30) / (sizeof(struct hk_value) * HK_MAX_PARAMS)))
#define HK_MAX_CONFIG_BYTES (1 << 20)
#define HK_MAX_NESTING 64

struct hk_axis {
    int param;                 /* index into specs */
    int nvalues;
    struct hk_value *values;
    int line;
};

struct hk_config {
    char path[1024];
    char *text;                /* the config text, kept for provenance */
    char experiment[64];
    char name[64];
    const struct hk_param_spec *specs;
    int nspecs;
    struct hk_value base[HK_MAX_PARAMS];   /* params: merged over the defaults */
    int ngrid;
    struct hk_axis grid[HK_MAX_AXES];
    int nzip, zip_len;
    struct hk_axis zip[HK_MAX_AXES];
};

typedef const struct hk_param_spec *(*hk_schema_lookup)(const char *kind, int *nspecs);

/* Parses text (read from path, which is only used in messages). Returns 0, or
 * -1 with hk_error_message() set to one line "path:line:col: ...". */
int hk_config_parse(const char *path, const char *text, hk_schema_lookup lookup,
                    struct hk_config *out);
void hk_config_free(struct hk_config *cfg);
int hk_config_param_index(const struct hk_config *cfg, const char *key);

/* Parses one value of the given spec from text; 0 or -1 with a message
 * describing what was expected (without a location). */
int hk_value_parse(const struct hk_param_spec *spec, const char *text, struct hk_value *out);
/* Canonical text of a value: integers without a decimal point, reals with
 * %.17g, so equal values always print the same (point ids hash this). */
void hk_value_format(const struct hk_value *v, char *buf, size_t n);
/* For people: reals with %g (0.05, not 0.050000000000000003). */
void hk_value_display(const struct hk_value *v, char *buf, size_t n);
const char *hk_type_name(enum hk_type t);

#endif
