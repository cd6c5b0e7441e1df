/* result: what an experiment reports for one point (status, metrics, small
 * arrays), and the name -> number-or-text lists used for metrics, parameters
 * and provenance alike. */
#ifndef HK_RESULT_H
#define HK_RESULT_H

struct hk_attr {
    char name[64];
    int is_text;
    double num;
    char *text;
};

struct hk_attrs {
    int n, cap;
    struct hk_attr *items;
};

void hk_attrs_num(struct hk_attrs *l, const char *name, double value);     /* replaces a same-named entry */
void hk_attrs_text(struct hk_attrs *l, const char *name, const char *text);
const struct hk_attr *hk_attrs_find(const struct hk_attrs *l, const char *name);
void hk_attrs_free(struct hk_attrs *l);

#define HK_MAX_ARRAYS 32
struct hk_array {
    char name[64];
    int rank;
    long dims[3];
    double *data;   /* owned */
};

enum hk_status { HK_OK, HK_FAILED, HK_ABANDONED, HK_DIVERGED };

struct hk_result {
    enum hk_status status;
    char reason[512];
    struct hk_attrs metrics;
    int narrays;
    struct hk_array arrays[HK_MAX_ARRAYS];
    char snapshot[512];    /* path of a kernel snapshot file, relative to the output directory */
};

void hk_result_init(struct hk_result *r);
/* Appends an array of d0 (x d1 (x d2)) doubles, by rank; the result takes
 * ownership of data, or allocates zeros when data is NULL. */
struct hk_array *hk_result_array(struct hk_result *r, const char *name, int rank, long d0, long d1, long d2,
                                 double *data);
void hk_result_free(struct hk_result *r);
void hk_result_fail(struct hk_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *hk_status_name(enum hk_status s);

#endif
