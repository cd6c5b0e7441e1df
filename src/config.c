/* config: libyaml document -> struct hk_config, with located errors. */
#include "hk/config.h"
#include "hk/util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

struct parse_state {
    const char *path;
    yaml_document_t doc;
    struct hk_config *cfg;
};

/* Reports an error located at a node; 1-based line and column. */
static int fail_at(struct parse_state *st, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct parse_state *st, const yaml_node_t *node, const char *fmt, ...)
{
    char msg[1500];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = node ? (int)node->start_mark.line + 1 : 1;
    int col = node ? (int)node->start_mark.column + 1 : 1;
    return hk_fail("%s:%d:%d: %s", st->path, line, col, msg);
}

const char *hk_type_name(enum hk_type t)
{
    switch (t) {
    case HK_T_INT: return "an integer";
    case HK_T_REAL: return "a number";
    case HK_T_BOOL: return "true or false";
    case HK_T_STRING: return "a string";
    case HK_T_LIST: return "a list of names";
    case HK_T_REALS: return "a list of numbers";
    }
    return "?";
}

static int in_choices(const char *choices, const char *word)
{
    if (!choices) return 1;
    size_t wl = strlen(word);
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == wl && strncmp(p, word, len) == 0) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

static int describe_range(const struct hk_param_spec *spec, char *buf, size_t n)
{
    if (spec->type == HK_T_INT)
        return snprintf(buf, n, "an integer in [%.0f, %.0f]", spec->min, spec->max);
    if (spec->type == HK_T_REAL)
        return snprintf(buf, n, "a number in [%g, %g]", spec->min, spec->max);
    if (spec->type == HK_T_REALS)
        return snprintf(buf, n, "a list of numbers in [%g, %g]", spec->min, spec->max);
    if (spec->choices)
        return snprintf(buf, n, "%s from {%s}", spec->type == HK_T_LIST ? "a list of names" : "one of", spec->choices);
    return snprintf(buf, n, "%s", hk_type_name(spec->type));
}

/* One number of a REALS list: within the spec's range, spaces around it
 * allowed (*item is moved past the leading ones, for the message). */
static int real_item_in_range(const struct hk_param_spec *spec, char **item)
{
    char *end;
    while (**item == ' ') (*item)++;
    errno = 0;
    double v = strtod(*item, &end);
    while (*end == ' ') end++;
    return **item && !*end && !errno && isfinite(v) && v >= spec->min && v <= spec->max;
}

int hk_value_parse(const struct hk_param_spec *spec, const char *text, struct hk_value *out)
{
    char want[400];
    describe_range(spec, want, sizeof want);
    memset(out, 0, sizeof *out);
    out->type = spec->type;
    switch (spec->type) {
    case HK_T_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (!*text || *end || errno) return hk_fail("expected %s, got '%s'", want, text);
        if (v < spec->min || v > spec->max) return hk_fail("expected %s, got %lld", want, v);
        out->num = (double)v;
        break;
    }
    case HK_T_REAL: {
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (!*text || *end || errno || !isfinite(v)) return hk_fail("expected %s, got '%s'", want, text);
        if (v < spec->min || v > spec->max) return hk_fail("expected %s, got %g", want, v);
        out->num = v;
        break;
    }
    case HK_T_BOOL:
        if (!strcasecmp(text, "true") || !strcasecmp(text, "yes") || !strcasecmp(text, "on")) out->num = 1;
        else if (!strcasecmp(text, "false") || !strcasecmp(text, "no") || !strcasecmp(text, "off")) out->num = 0;
        else return hk_fail("expected true or false, got '%s'", text);
        break;
    case HK_T_STRING:
        if (!in_choices(spec->choices, text)) return hk_fail("expected %s, got '%s'", want, text);
        if (strlen(text) >= HK_VALUE_TEXT) return hk_fail("value longer than %d characters", HK_VALUE_TEXT - 1);
        snprintf(out->text, sizeof out->text, "%s", text);
        break;
    case HK_T_LIST:
    case HK_T_REALS: {
        /* comma-separated items (the default text, or a joined YAML list):
         * names from the choices, or numbers in range, at most HK_MAX_REALS */
        char buf[HK_VALUE_TEXT];
        if (strlen(text) >= sizeof buf) return hk_fail("list longer than %d characters", HK_VALUE_TEXT - 1);
        snprintf(buf, sizeof buf, "%s", text);
        int nitems = 0;
        for (char *save = NULL, *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
            int ok = spec->type == HK_T_LIST ? in_choices(spec->choices, item) : real_item_in_range(spec, &item);
            if (!ok) return hk_fail("expected %s, got item '%s'", want, item);
            if (++nitems > HK_MAX_REALS && spec->type == HK_T_REALS)
                return hk_fail("expected at most %d numbers", HK_MAX_REALS);
        }
        if (nitems == 0) return hk_fail("expected %s, got an empty list", want);
        snprintf(out->text, sizeof out->text, "%s", text);
        break;
    }
    }
    return 0;
}

void hk_value_format(const struct hk_value *v, char *buf, size_t n)
{
    switch (v->type) {
    case HK_T_INT: snprintf(buf, n, "%lld", (long long)v->num); break;
    case HK_T_REAL: snprintf(buf, n, "%.17g", v->num); break;
    case HK_T_BOOL: snprintf(buf, n, "%s", v->num != 0 ? "true" : "false"); break;
    default: snprintf(buf, n, "%s", v->text); break;
    }
}

void hk_value_display(const struct hk_value *v, char *buf, size_t n)
{
    if (v->type == HK_T_REAL) snprintf(buf, n, "%g", v->num);
    else hk_value_format(v, buf, n);
}

int hk_config_param_index(const struct hk_config *cfg, const char *key)
{
    for (int i = 0; i < cfg->nspecs; i++)
        if (!strcmp(cfg->specs[i].key, key)) return i;
    return -1;
}

static const char *scalar_text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

/* Checks that a mapping has string keys and no key twice. */
static int check_mapping(struct parse_state *st, yaml_node_t *map, const char *where)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&st->doc, p->key);
        if (k->type != YAML_SCALAR_NODE) return fail_at(st, k, "%s: keys must be plain names", where);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = yaml_document_get_node(&st->doc, q->key);
            if (!strcmp(scalar_text(k), scalar_text(k2)))
                return fail_at(st, k, "%s: key '%s' appears twice (first at line %d)", where, scalar_text(k),
                               (int)k2->start_mark.line + 1);
        }
    }
    return 0;
}

/* One value of a parameter from a node: a scalar, or for LIST a sequence. */
static int node_value(struct parse_state *st, const struct hk_param_spec *spec, yaml_node_t *node,
                      const char *where, struct hk_value *out)
{
    char text[HK_VALUE_TEXT * 2] = "";
    const int is_list = spec->type == HK_T_LIST || spec->type == HK_T_REALS;
    if (is_list && node->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++) {
            yaml_node_t *item = yaml_document_get_node(&st->doc, *it);
            if (item->type != YAML_SCALAR_NODE)
                return fail_at(st, item, "%s: expected %s, got %s inside the list", where, hk_type_name(spec->type),
                               node_kind(item));
            if (strlen(text) + strlen(scalar_text(item)) + 2 >= HK_VALUE_TEXT)
                return fail_at(st, node, "%s: list too long", where);
            if (text[0]) strcat(text, ",");
            strcat(text, scalar_text(item));
        }
    } else if (node->type == YAML_SCALAR_NODE) {
        snprintf(text, sizeof text, "%s", scalar_text(node));
        if (is_list && strchr(text, ','))
            return fail_at(st, node, "%s: expected a YAML list like [a, b], got '%s'", where, text);
    } else {
        return fail_at(st, node, "%s: expected %s, got %s", where, hk_type_name(spec->type), node_kind(node));
    }
    if (hk_value_parse(spec, text, out) != 0) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s", hk_error_message());
        return fail_at(st, node, "%s: %s", where, msg);
    }
    return 0;
}

static int parse_params(struct parse_state *st, yaml_node_t *map)
{
    struct hk_config *cfg = st->cfg;
    if (map->type != YAML_MAPPING_NODE)
        return fail_at(st, map, "params: expected a mapping of parameter: value, got %s", node_kind(map));
    if (check_mapping(st, map, "params")) return -1;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&st->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&st->doc, p->value);
        int idx = hk_config_param_index(cfg, scalar_text(k));
        if (idx < 0)
            return fail_at(st, k, "params.%s: unknown parameter for experiment '%s' (see 'hksweep plan --list %s')",
                           scalar_text(k), cfg->experiment, cfg->experiment);
        char where[128];
        snprintf(where, sizeof where, "params.%s", scalar_text(k));
        if (node_value(st, &cfg->specs[idx], v, where, &cfg->base[idx])) return -1;
    }
    return 0;
}

static int axis_has_param(const struct hk_config *cfg, int param)
{
    for (int i = 0; i < cfg->ngrid; i++)
        if (cfg->grid[i].param == param) return 1;
    for (int i = 0; i < cfg->nzip; i++)
        if (cfg->zip[i].param == param) return 1;
    return 0;
}

/* grid: or zip: -> axes. Each key maps to a non-empty list of values. */
static int parse_axes(struct parse_state *st, yaml_node_t *map, const char *section, struct hk_axis *axes, int *naxes)
{
    struct hk_config *cfg = st->cfg;
    if (map->type != YAML_MAPPING_NODE)
        return fail_at(st, map, "sweep.%s: expected a mapping of parameter: [values], got %s", section, node_kind(map));
    char where[160];
    snprintf(where, sizeof where, "sweep.%s", section);
    if (check_mapping(st, map, where)) return -1;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&st->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&st->doc, p->value);
        const char *key = scalar_text(k);
        snprintf(where, sizeof where, "sweep.%s.%s", section, key);
        int idx = hk_config_param_index(cfg, key);
        if (idx < 0) return fail_at(st, k, "%s: unknown parameter for experiment '%s'", where, cfg->experiment);
        if (axis_has_param(cfg, idx))
            return fail_at(st, k, "%s: parameter already swept in sweep.grid or sweep.zip", where);
        if (cfg->specs[idx].type == HK_T_LIST || cfg->specs[idx].type == HK_T_REALS)
            return fail_at(st, k, "%s: list parameters cannot be swept; set them in params", where);
        if (v->type != YAML_SEQUENCE_NODE)
            return fail_at(st, v, "%s: expected a list of values like [1, 2], got %s", where, node_kind(v));
        int n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (n == 0) return fail_at(st, v, "%s: expected a non-empty list of values, got []", where);
        if (*naxes >= HK_MAX_AXES) return fail_at(st, k, "%s: more than %d swept parameters", where, HK_MAX_AXES);
        struct hk_axis *ax = &axes[(*naxes)++];
        ax->param = idx;
        ax->nvalues = n;
        ax->line = (int)k->start_mark.line + 1;
        ax->values = hk_calloc(n, sizeof *ax->values);
        for (int i = 0; i < n; i++) {
            yaml_node_t *item = yaml_document_get_node(&st->doc, v->data.sequence.items.start[i]);
            if (item->type != YAML_SCALAR_NODE)
                return fail_at(st, item, "%s: expected %s, got %s", where, hk_type_name(cfg->specs[idx].type),
                               node_kind(item));
            if (node_value(st, &cfg->specs[idx], item, where, &ax->values[i])) return -1;
        }
    }
    return 0;
}

static int parse_seeds(struct parse_state *st, yaml_node_t *node)
{
    struct hk_config *cfg = st->cfg;
    int idx = hk_config_param_index(cfg, "seed");
    if (idx < 0) return fail_at(st, node, "sweep.seeds: experiment '%s' has no seed", cfg->experiment);
    if (axis_has_param(cfg, idx))
        return fail_at(st, node, "sweep.seeds: seed is already swept in sweep.grid or sweep.zip");
    if (cfg->ngrid >= HK_MAX_AXES) return fail_at(st, node, "sweep.seeds: too many swept parameters");
    struct hk_axis *ax = &cfg->grid[cfg->ngrid++]; /* counted now, so hk_config_free frees its values */
    ax->param = idx;
    ax->line = (int)node->start_mark.line + 1;
    if (node->type == YAML_SCALAR_NODE) {
        /* seeds: N means seeds 1..N */
        struct hk_param_spec count = {"seeds", HK_T_INT, NULL, 1, 100000, NULL, NULL, 0};
        struct hk_value v;
        if (hk_value_parse(&count, scalar_text(node), &v)) {
            char msg[1200];
            snprintf(msg, sizeof msg, "%s", hk_error_message());
            return fail_at(st, node, "sweep.seeds: %s (a count, or a list of seeds)", msg);
        }
        ax->nvalues = (int)v.num;
        ax->values = hk_calloc(ax->nvalues, sizeof *ax->values);
        for (int i = 0; i < ax->nvalues; i++) {
            ax->values[i].type = HK_T_INT;
            ax->values[i].num = i + 1;
        }
    } else if (node->type == YAML_SEQUENCE_NODE) {
        int n = (int)(node->data.sequence.items.top - node->data.sequence.items.start);
        if (n == 0) return fail_at(st, node, "sweep.seeds: expected a non-empty list of seeds, got []");
        ax->nvalues = n;
        ax->values = hk_calloc(n, sizeof *ax->values);
        for (int i = 0; i < n; i++) {
            yaml_node_t *item = yaml_document_get_node(&st->doc, node->data.sequence.items.start[i]);
            if (item->type != YAML_SCALAR_NODE)
                return fail_at(st, item, "sweep.seeds: expected an integer seed, got %s", node_kind(item));
            if (node_value(st, &cfg->specs[idx], item, "sweep.seeds", &ax->values[i])) return -1;
            for (int j = 0; j < i; j++)
                if (ax->values[j].num == ax->values[i].num)
                    return fail_at(st, item, "sweep.seeds: seed %s appears twice", scalar_text(item));
        }
    } else {
        return fail_at(st, node, "sweep.seeds: expected a count or a list of seeds, got %s", node_kind(node));
    }
    return 0;
}

static int parse_sweep(struct parse_state *st, yaml_node_t *map)
{
    struct hk_config *cfg = st->cfg;
    if (map->type != YAML_MAPPING_NODE)
        return fail_at(st, map, "sweep: expected a mapping with grid:, zip: or seeds:, got %s", node_kind(map));
    if (check_mapping(st, map, "sweep")) return -1;
    yaml_node_t *seeds = NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&st->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&st->doc, p->value);
        const char *key = scalar_text(k);
        if (!strcmp(key, "grid")) {
            if (parse_axes(st, v, "grid", cfg->grid, &cfg->ngrid)) return -1;
        } else if (!strcmp(key, "zip")) {
            if (parse_axes(st, v, "zip", cfg->zip, &cfg->nzip)) return -1;
            for (int i = 1; i < cfg->nzip; i++)
                if (cfg->zip[i].nvalues != cfg->zip[0].nvalues)
                    return hk_fail("%s:%d:1: sweep.zip.%s: has %d values but sweep.zip.%s has %d; zipped lists "
                                   "must have the same length",
                                   st->path, cfg->zip[i].line, cfg->specs[cfg->zip[i].param].key, cfg->zip[i].nvalues,
                                   cfg->specs[cfg->zip[0].param].key, cfg->zip[0].nvalues);
            cfg->zip_len = cfg->nzip ? cfg->zip[0].nvalues : 0;
        } else if (!strcmp(key, "seeds")) {
            seeds = v;
        } else {
            return fail_at(st, k, "sweep.%s: unknown key; expected grid, zip or seeds", key);
        }
    }
    if (seeds && parse_seeds(st, seeds)) return -1;
    return 0;
}

static int parse_document(struct parse_state *st, hk_schema_lookup lookup)
{
    struct hk_config *cfg = st->cfg;
    yaml_node_t *root = yaml_document_get_root_node(&st->doc);
    if (!root) return hk_fail("%s:1:1: empty config: expected a mapping with 'experiment:'", st->path);
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(st, root, "top level: expected a mapping with 'experiment:', got %s", node_kind(root));
    if (check_mapping(st, root, "top level")) return -1;

    yaml_node_t *params = NULL, *sweep = NULL, *kind = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&st->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&st->doc, p->value);
        const char *key = scalar_text(k);
        if (!strcmp(key, "experiment")) kind = v;
        else if (!strcmp(key, "params")) params = v;
        else if (!strcmp(key, "sweep")) sweep = v;
        else if (!strcmp(key, "name")) {
            if (v->type != YAML_SCALAR_NODE || strlen(scalar_text(v)) >= sizeof cfg->name || !scalar_text(v)[0])
                return fail_at(st, v, "name: expected a short non-empty string (< %zu characters)", sizeof cfg->name);
            /* it names the output folder results/<name>: a plain file name, no path */
            const char *nm = scalar_text(v);
            int plain = nm[0] != '.' && nm[0] != '-';
            for (const char *c = nm; *c && plain; c++)
                plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                        *c == '_' || *c == '-' || *c == '.';
            if (!plain)
                return fail_at(st, v, "name: '%s' is not a plain file name; use letters, digits, '_', '-' and '.', "
                                      "not starting with '.' or '-' (it names the folder results/<name>)", nm);
            snprintf(cfg->name, sizeof cfg->name, "%s", scalar_text(v));
        } else
            return fail_at(st, k, "%s: unknown top-level key; expected experiment, name, params or sweep", key);
    }
    if (!kind) return fail_at(st, root, "experiment: missing; every config names its experiment kind");
    if (kind->type != YAML_SCALAR_NODE)
        return fail_at(st, kind, "experiment: expected the name of an experiment kind, got %s", node_kind(kind));
    snprintf(cfg->experiment, sizeof cfg->experiment, "%s", scalar_text(kind));
    cfg->specs = lookup(cfg->experiment, &cfg->nspecs);
    if (!cfg->specs)
        return fail_at(st, kind, "experiment: unknown kind '%s' (see 'hksweep plan --list')", cfg->experiment);
    if (cfg->nspecs > HK_MAX_PARAMS) return fail_at(st, kind, "experiment: schema too large");
    for (int i = 0; i < cfg->nspecs; i++) {
        if (hk_value_parse(&cfg->specs[i], cfg->specs[i].default_value, &cfg->base[i]) != 0) {
            char msg[1200];
            snprintf(msg, sizeof msg, "%s", hk_error_message());
            return hk_fail("internal: default of %s.%s: %s", cfg->experiment, cfg->specs[i].key, msg);
        }
    }
    if (params && parse_params(st, params)) return -1;
    if (sweep && parse_sweep(st, sweep)) return -1;

    double npoints = 1;
    for (int i = 0; i < cfg->ngrid; i++) npoints *= cfg->grid[i].nvalues;
    if (cfg->nzip) npoints *= cfg->zip_len;
    if (npoints > HK_MAX_POINTS)
        return fail_at(st, sweep, "sweep: expands to %.0f points, more than the limit of %d (a point takes %zu bytes: "
                                  "at most 1 GiB of points); split it into several configs or shards", npoints,
                       HK_MAX_POINTS, sizeof(struct hk_value) * HK_MAX_PARAMS);
    return 0;
}

/* Flow nesting ([ and {) outside quotes and comments, before libyaml sees the
 * text: a config of 100,000 nested [ kept libyaml busy for 37 s. */
static int check_nesting(const char *path, const char *text)
{
    int depth = 0, line = 1, col = 0;
    char quote = 0;
    for (const char *c = text; *c; c++) {
        col++;
        if (*c == '\n') { line++, col = 0; continue; }
        if (quote) {
            if (quote == '"' && *c == '\\' && c[1]) c++, col++;
            else if (*c == quote) quote = 0;
            continue;
        }
        if (*c == '#' && (c == text || c[-1] == ' ' || c[-1] == '\t' || c[-1] == '\n')) {
            while (c[1] && c[1] != '\n') c++;
            continue;
        }
        if (*c == '"' || *c == '\'') quote = *c;
        else if (*c == '[' || *c == '{') {
            if (++depth > HK_MAX_NESTING)
                return hk_fail("%s:%d:%d: nested more than %d levels deep; a config needs a few", path, line, col,
                               HK_MAX_NESTING);
        } else if ((*c == ']' || *c == '}') && depth > 0) depth--;
    }
    return 0;
}

int hk_config_parse(const char *path, const char *text, hk_schema_lookup lookup, struct hk_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    size_t len = strlen(text);
    if (len > HK_MAX_CONFIG_BYTES)
        return hk_fail("%s: %zu bytes; a config is at most %d bytes", path, len, HK_MAX_CONFIG_BYTES);
    if (check_nesting(path, text)) return -1;
    snprintf(cfg->path, sizeof cfg->path, "%s", path);
    cfg->text = hk_strdup(text);
    struct parse_state st = {.path = path, .cfg = cfg};

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return hk_fail("%s: cannot start the YAML parser", path);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    if (!yaml_parser_load(&parser, &st.doc)) {
        int line = (int)parser.problem_mark.line + 1, col = (int)parser.problem_mark.column + 1;
        hk_fail("%s:%d:%d: not valid YAML: %s%s%s", path, line, col, parser.problem ? parser.problem : "syntax error",
                parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        hk_config_free(cfg);
        return -1;
    }
    int rc = parse_document(&st, lookup);
    /* A second document in the same file is almost always a mistake. */
    if (rc == 0) {
        yaml_document_t extra;
        if (yaml_parser_load(&parser, &extra)) {
            yaml_node_t *r = yaml_document_get_root_node(&extra);
            if (r) rc = hk_fail("%s:%d:1: a second YAML document; a config holds exactly one", path,
                                (int)r->start_mark.line + 1);
            yaml_document_delete(&extra);
        }
    }
    yaml_document_delete(&st.doc);
    yaml_parser_delete(&parser);
    if (rc) hk_config_free(cfg); /* nothing of a refused config stays allocated */
    return rc;
}

void hk_config_free(struct hk_config *cfg)
{
    free(cfg->text);
    for (int i = 0; i < cfg->ngrid; i++) free(cfg->grid[i].values);
    for (int i = 0; i < cfg->nzip; i++) free(cfg->zip[i].values);
    memset(cfg, 0, sizeof *cfg);
}
