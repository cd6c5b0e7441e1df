/* params: the typed parameters of an experiment kind, declared once.
 *
 * A kind lists its parameters in one X-macro taking two arguments, P for a
 * parameter and G for a group of shared parameters:
 *
 *   #define MY_PARAMS(P, G)                                                   \
 *       G(task, hk_regression_task, HK_REGRESSION_TASK_PARAMS)                 \
 *       P(REAL, ridge, "1e-4", 0, 1e12, NULL, "ridge added to the diagonal", 0) \
 *       G(common, hk_common, HK_COMMON_PARAMS)
 *   HK_PARAMS_DEFINE(my, MY_PARAMS)
 *
 * which gives
 *   - `my_specs[]`, the config schema (key, type, default, range, choices, help,
 *     resource flag), in the order listed;
 *   - `struct my_params`, one typed field per parameter, a group as a nested
 *     struct (`prm.ridge`, `prm.task.dx`, `prm.common.seed`);
 *   - `my_params_read(point, &prm)`, which reads a validated point by position:
 *     no parameter is looked up by its name after the config is checked, and a
 *     misspelt field is a compile error.
 *
 * A group is declared once with HK_PARAM_GROUP(name, LIST) and gives
 * `struct name_params` and its reader, so code shared by several kinds (the
 * synthetic task, the image data) takes the group's struct.
 *
 * Types: INT -> int, REAL -> double, BOOL -> int (0/1), STRING -> const char *
 * LIST -> const char * (items joined by commas; test one with
 * hk_list_has) and REALS -> const char * (numbers joined by commas; read
 * them with hk_list_reals). Strings point into the point's values, which outlive a run. */
#ifndef HK_PARAMS_H
#define HK_PARAMS_H

#include "hk/config.h"
#include "hk/sweep.h"

#define HK_CTYPE_INT int
#define HK_CTYPE_REAL double
#define HK_CTYPE_BOOL int
#define HK_CTYPE_STRING const char *
#define HK_CTYPE_LIST const char *
#define HK_CTYPE_REALS const char *

#define HK_GET_INT(v) ((int)(v).num)
#define HK_GET_REAL(v) ((v).num)
#define HK_GET_BOOL(v) ((v).num != 0)
#define HK_GET_STRING(v) ((v).text)
#define HK_GET_LIST(v) ((v).text)
#define HK_GET_REALS(v) ((v).text)

#define HK_P_SPEC(T, name, def, lo, hi, choices, help, res) {#name, HK_T_##T, def, lo, hi, choices, help, res},
#define HK_P_FIELD(T, name, ...) HK_CTYPE_##T name;
#define HK_P_READ(T, name, ...) o->name = HK_GET_##T(v[i]), i++;
#define HK_P_COUNT(T, name, ...) +1
#define HK_G_SPEC(member, group, LIST) LIST(HK_P_SPEC)
#define HK_G_FIELD(member, group, LIST) struct group##_params member;
#define HK_G_READ(member, group, LIST) i += group##_params_read(v + i, &o->member);
#define HK_G_COUNT(member, group, LIST) LIST(HK_P_COUNT)

#define HK_PARAM_GROUP(group, LIST)                                                                               \
    struct group##_params {                                                                                       \
        LIST(HK_P_FIELD)                                                                                          \
    };                                                                                                            \
    static inline int group##_params_read(const struct hk_value *v, struct group##_params *o)                    \
    {                                                                                                             \
        int i = 0;                                                                                                \
        LIST(HK_P_READ)                                                                                           \
        return i;                                                                                                 \
    }

#define HK_PARAMS_DEFINE(prefix, LIST)                                                                            \
    static const struct hk_param_spec prefix##_specs[] = {LIST(HK_P_SPEC, HK_G_SPEC)};                            \
    enum { prefix##_nspecs = 0 LIST(HK_P_COUNT, HK_G_COUNT) };                                                    \
    struct prefix##_params {                                                                                      \
        LIST(HK_P_FIELD, HK_G_FIELD)                                                                              \
    };                                                                                                            \
    static inline void prefix##_params_read(const struct hk_point *p, struct prefix##_params *o)                 \
    {                                                                                                             \
        const struct hk_value *v = p->values;                                                                    \
        int i = 0;                                                                                                \
        LIST(HK_P_READ, HK_G_READ)                                                                                \
        (void)i;                                                                                                  \
    }

/* The schema fields of a struct hk_experiment for a HK_PARAMS_DEFINE prefix. */
#define HK_PARAMS_OF(prefix) .params = prefix##_specs, .nparams = prefix##_nspecs

/* Parameters every kind has. team_size 0 means all ranks. */
#define HK_COMMON_PARAMS(P)                                                                                       \
    P(INT, seed, "1", 0, 2147483647, NULL, "random seed of data and initialisation", 0)                          \
    P(INT, team_size, "0", 0, 1000000, NULL, "ranks per point (0: all ranks)", 1)                                 \
    P(INT, block_size, "128", 1, 4096, NULL, "ScaLAPACK block size (the eigensolver takes at most 64)", 1)        \
    P(INT, grid_rows, "0", 0, 1000000, NULL, "process grid rows (0: most square)", 1)                             \
    P(STRING, solver, "mixed", 0, 0, "mixed|float64",                                                             \
      "kernel solves: float32 factor refined to float64 accuracy, or float64 factor", 1)                          \
    P(BOOL, snapshot, "false", 0, 1, NULL, "write the training Gram matrices to snapshots/", 1)
HK_PARAM_GROUP(hk_common, HK_COMMON_PARAMS)

/* Whether the kernel solves run in mixed precision (solver, validated to mixed or float64). */
static inline int hk_solver_mixed(const struct hk_common_params *c) { return c->solver[0] == 'm'; }

/* Whether the comma-joined list holds item. */
int hk_list_has(const char *list, const char *item);
/* The numbers of a REALS parameter (validated by the config) into out
 * (room for HK_MAX_REALS); returns how many. */
int hk_list_reals(const char *list, double *out);

#endif
