/* result: attribute lists and point results. */
#include "hk/result.h"
#include "hk/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hk_attr *slot(struct hk_attrs *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].name, name)) {
            free(l->items[i].text);
            l->items[i].text = NULL;
            return &l->items[i];
        }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->items = hk_realloc(l->items, (size_t)l->cap * sizeof *l->items);
    }
    struct hk_attr *a = &l->items[l->n++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    return a;
}

void hk_attrs_num(struct hk_attrs *l, const char *name, double value)
{
    struct hk_attr *a = slot(l, name);
    a->is_text = 0;
    a->num = value;
}

void hk_attrs_text(struct hk_attrs *l, const char *name, const char *text)
{
    struct hk_attr *a = slot(l, name);
    a->is_text = 1;
    a->text = hk_strdup(text ? text : "");
}

const struct hk_attr *hk_attrs_find(const struct hk_attrs *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].name, name)) return &l->items[i];
    return NULL;
}

void hk_attrs_free(struct hk_attrs *l)
{
    for (int i = 0; i < l->n; i++) free(l->items[i].text);
    free(l->items);
    memset(l, 0, sizeof *l);
}

void hk_result_init(struct hk_result *r) { memset(r, 0, sizeof *r); }

struct hk_array *hk_result_array(struct hk_result *r, const char *name, int rank, long d0, long d1, long d2,
                                 double *data)
{
    if (r->narrays == HK_MAX_ARRAYS) {
        fprintf(stderr, "hksweep: internal error: more than %d arrays in one result (%s)\n", HK_MAX_ARRAYS, name);
        abort();
    }
    struct hk_array *a = &r->arrays[r->narrays++];
    snprintf(a->name, sizeof a->name, "%s", name);
    a->rank = rank;
    a->dims[0] = d0, a->dims[1] = d1, a->dims[2] = d2;
    long count = d0 * (rank > 1 ? d1 : 1) * (rank > 2 ? d2 : 1);
    a->data = data ? data : hk_calloc((size_t)count, sizeof(double));
    return a;
}

void hk_result_free(struct hk_result *r)
{
    hk_attrs_free(&r->metrics);
    for (int i = 0; i < r->narrays; i++) free(r->arrays[i].data);
    memset(r, 0, sizeof *r);
}

void hk_result_fail(struct hk_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    r->status = HK_FAILED;
}

const char *hk_status_name(enum hk_status s)
{
    switch (s) {
    case HK_OK: return "ok";
    case HK_FAILED: return "failed";
    case HK_ABANDONED: return "abandoned";
    case HK_DIVERGED: return "diverged";
    }
    return "?";
}
