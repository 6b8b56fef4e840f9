/*
 * cfg: the table-driven configuration engine (STYLE 2.8, DESIGN §3). Fills a daemon's config
 * struct from a key table: defaults, then a JSON file, then CERTBOUND_* environment variables.
 * Pure apart from reading the file; never logs. Not the place for a daemon's cross-key rules
 * or for reload/apply logic: those live in the daemon's *_cfg.c.
 *
 * Error messages name keys and environment variables, never values of sensitive keys; parse
 * errors come from our own fixed texts (not jansson's "near '...'" excerpts, which could quote
 * a secret).
 */
#include "common/cfg.h"

#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* A config file larger than this is certainly a mistake (wrong path, binary file). */
#define CFG_FILE_MAX (4u << 20)
/* Unknown key names come from the input: quote at most this much of them in errors. */
#define CFG_NAME_QUOTE_MAX 80

struct cfg_loader {
    const struct cfg_key *table;
    size_t ntable;
    void *conf;
    bool *seen;    /* [ntable]: the key got a value from a default, the file or the env */
    bool defaults; /* applying the table's defaults (an error is the table's bug) */
    char *err;     /* first error (heap), NULL while all is well */
};

static void *field_of(void *conf, const struct cfg_key *k);
static void field_clear(const struct cfg_key *k, void *field);
static int fail(struct cfg_loader *ld, const struct cfg_key *k, const char *env, const char *fmt,
                ...) CB_PRINTF(4, 5);
static char *quote_name(const char *s);
static const char *json_err_text(const json_error_t *e);
static const struct cfg_key *find_key(const struct cfg_loader *ld, const char *path);
static bool is_key_prefix(const struct cfg_loader *ld, const char *path);
static int set_int(struct cfg_loader *ld, const struct cfg_key *k, long long v, const char *env);
static int set_strlist_json(struct cfg_loader *ld, const struct cfg_key *k, json_t *v,
                            const char *env);
static int set_from_json(struct cfg_loader *ld, const struct cfg_key *k, json_t *v,
                         const char *env);
static int parse_ll(const char *s, long long *out);
static int set_strlist_csv(struct cfg_loader *ld, const struct cfg_key *k, const char *s);
static int set_from_text(struct cfg_loader *ld, const struct cfg_key *k, const char *s,
                         const char *env);
static int walk_object(struct cfg_loader *ld, const char *prefix, json_t *obj);
static int apply_defaults(struct cfg_loader *ld);
static int apply_text(struct cfg_loader *ld, const char *text, size_t len, const char *path);
static int apply_env(struct cfg_loader *ld, char *const *envp);
static bool field_is_empty(const struct cfg_key *k, const void *field);
static bool msg_leaks(const struct cfg_key *k, const void *field, const char *msg);
static int check_final(struct cfg_loader *ld);
static int load_common(struct cfg_loader *ld, const char *text, size_t len, const char *path,
                       char *const *envp, char **err);
static int read_file(const char *path, char **out, size_t *outlen, char **err);
static json_t *dump_value(const struct cfg_key *k, const void *field);

/* ---- public functions ---- */

int cfg_load(const struct cfg_key *table, size_t ntable, void *conf, const char *path,
             char *const *envp, char **err)
{
    struct cfg_loader ld = {table, ntable, conf, NULL, false, NULL};
    char *text = NULL;
    size_t len = 0;
    int rc;

    *err = NULL;
    if (path != NULL && read_file(path, &text, &len, err) < 0)
        return -1;
    rc = load_common(&ld, text, len, path, envp, err);
    free(text);
    return rc;
}

int cfg_load_text(const struct cfg_key *table, size_t ntable, void *conf, const char *text,
                  size_t len, char *const *envp, char **err)
{
    struct cfg_loader ld = {table, ntable, conf, NULL, false, NULL};

    *err = NULL;
    return load_common(&ld, text, len, NULL, envp, err);
}

void cfg_free(const struct cfg_key *table, size_t ntable, void *conf)
{
    for (size_t i = 0; i < ntable; i++)
        field_clear(&table[i], field_of(conf, &table[i]));
}

json_t *cfg_dump(const struct cfg_key *table, size_t ntable, const void *conf)
{
    json_t *out = json_object();
    json_t *v;

    for (size_t i = 0; i < ntable; i++) {
        if (table[i].flags & CFG_F_SENSITIVE)
            v = json_string("<redacted>");
        else
            v = dump_value(&table[i], field_of((void *)conf, &table[i]));
        json_object_set_new(out, table[i].path, v != NULL ? v : json_null());
    }
    return out;
}

char *cfg_env_name(const char *path)
{
    static const char prefix[] = "CERTBOUND_";
    size_t n = strlen(path);
    char *out = xmalloc(sizeof(prefix) + n);
    char *p = out + sizeof(prefix) - 1;
    char c;

    memcpy(out, prefix, sizeof(prefix) - 1);
    for (size_t i = 0; i < n; i++) {
        c = path[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            c = '_';
        *p++ = c;
    }
    *p = '\0';
    return out;
}

/* ---- loading ---- */

static int load_common(struct cfg_loader *ld, const char *text, size_t len, const char *path,
                       char *const *envp, char **err)
{
    int rc = -1;

    ld->seen = xcalloc(ld->ntable ? ld->ntable : 1, sizeof(bool));
    if (apply_defaults(ld) < 0)
        goto out;
    if (text != NULL && apply_text(ld, text, len, path) < 0)
        goto out;
    if (envp != NULL && apply_env(ld, envp) < 0)
        goto out;
    if (check_final(ld) < 0)
        goto out;
    rc = 0;
out:
    free(ld->seen);
    ld->seen = NULL;
    *err = ld->err;
    return rc;
}

static int apply_defaults(struct cfg_loader *ld)
{
    const struct cfg_key *k;
    int rc = 0;

    ld->defaults = true;
    for (size_t i = 0; i < ld->ntable && rc == 0; i++) {
        k = &ld->table[i];
        if (k->defval != NULL)
            rc = set_from_text(ld, k, k->defval, NULL);
    }
    ld->defaults = false;
    return rc;
}

static int apply_text(struct cfg_loader *ld, const char *text, size_t len, const char *path)
{
    json_error_t e;
    json_t *root;
    int rc;

    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
    if (root == NULL) {
        if (path != NULL)
            ld->err = xasprintf("invalid JSON in configuration file '%s' at line %d, column %d: %s",
                                path, e.line, e.column, json_err_text(&e));
        else
            ld->err = xasprintf("invalid JSON in configuration text at line %d, column %d: %s",
                                e.line, e.column, json_err_text(&e));
        return -1;
    }
    if (!json_is_object(root)) {
        ld->err = xasprintf("configuration %s%s%s: the top level must be a JSON object",
                            path != NULL ? "file '" : "text", path != NULL ? path : "",
                            path != NULL ? "'" : "");
        json_decref(root);
        return -1;
    }
    rc = walk_object(ld, NULL, root);
    json_decref(root);
    return rc;
}

/*
 * Objects are descended into only along table paths, so the recursion depth is bounded by
 * the table, not by the input; a CFG_JSON key takes its whole subtree.
 */
static int walk_object(struct cfg_loader *ld, const char *prefix, json_t *obj)
{
    const struct cfg_key *k;
    const char *name;
    json_t *v;
    char *path;
    char *q;
    int rc = 0;

    for (void *it = json_object_iter(obj); it != NULL; it = json_object_iter_next(obj, it)) {
        name = json_object_iter_key(it);
        v = json_object_iter_value(it);
        path = prefix != NULL ? xasprintf("%s.%s", prefix, name) : xstrdup(name);
        k = strchr(name, '.') == NULL ? find_key(ld, path) : NULL;
        if (k != NULL) {
            rc = set_from_json(ld, k, v, NULL);
        } else if (strchr(name, '.') == NULL && name[0] != '\0' && is_key_prefix(ld, path)) {
            if (json_is_object(v)) {
                rc = walk_object(ld, path, v);
            } else {
                q = quote_name(path);
                ld->err = xasprintf("configuration key '%s': expected an object", q);
                free(q);
                rc = -1;
            }
        } else {
            q = quote_name(path);
            ld->err = xasprintf("unknown configuration key '%s'", q);
            free(q);
            rc = -1;
        }
        free(path);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int apply_env(struct cfg_loader *ld, char *const *envp)
{
    const struct cfg_key *k;
    const char *val;
    char *name;
    size_t nlen;
    int rc = 0;

    for (size_t i = 0; i < ld->ntable && rc == 0; i++) {
        k = &ld->table[i];
        name = cfg_env_name(k->path);
        nlen = strlen(name);
        val = NULL;
        /* First match wins, as getenv(). */
        for (char *const *e = envp; *e != NULL && val == NULL; e++) {
            if (strncmp(*e, name, nlen) == 0 && (*e)[nlen] == '=')
                val = *e + nlen + 1;
        }
        if (val != NULL)
            rc = set_from_text(ld, k, val, name);
        free(name);
    }
    return rc;
}

static bool field_is_empty(const struct cfg_key *k, const void *field)
{
    const char *s;
    const json_t *j;

    switch (k->type) {
    case CFG_STRING:
        s = *(char *const *)field;
        return s == NULL || s[0] == '\0';
    case CFG_STRLIST:
        return ((const struct cfg_strlist *)field)->n == 0;
    case CFG_JSON:
        j = *(json_t *const *)field;
        return j == NULL || json_is_null(j) || (json_is_object(j) && json_object_size(j) == 0) ||
               (json_is_array(j) && json_array_size(j) == 0) ||
               (json_is_string(j) && json_string_length(j) == 0);
    case CFG_INT:
    case CFG_BOOL:
    default:
        return false;
    }
}

/* Whether a validate() message quotes (part of) a sensitive value. */
static bool msg_leaks(const struct cfg_key *k, const void *field, const char *msg)
{
    const struct cfg_strlist *l;
    const char *s;

    if (!(k->flags & CFG_F_SENSITIVE))
        return false;
    switch (k->type) {
    case CFG_STRING:
        s = *(char *const *)field;
        return s != NULL && s[0] != '\0' && strstr(msg, s) != NULL;
    case CFG_STRLIST:
        l = field;
        for (size_t i = 0; i < l->n; i++) {
            if (l->v[i][0] != '\0' && strstr(msg, l->v[i]) != NULL)
                return true;
        }
        return false;
    case CFG_INT:
    case CFG_BOOL:
    case CFG_JSON:
    default:
        /* Cannot tell reliably: withhold the detail. */
        return true;
    }
}

static int check_final(struct cfg_loader *ld)
{
    const struct cfg_key *k;
    void *field;
    char *msg;

    for (size_t i = 0; i < ld->ntable; i++) {
        k = &ld->table[i];
        field = field_of(ld->conf, k);
        if ((k->flags & CFG_F_REQUIRED) && (!ld->seen[i] || field_is_empty(k, field))) {
            ld->err = xasprintf("configuration key '%s' is required", k->path);
            return -1;
        }
        if (k->validate == NULL || !ld->seen[i])
            continue;
        msg = NULL;
        if (k->validate(field, &msg) < 0) {
            if (msg == NULL || msg_leaks(k, field, msg))
                ld->err = xasprintf("configuration key '%s': invalid value", k->path);
            else
                ld->err = xasprintf("configuration key '%s': %s", k->path, msg);
            free(msg);
            return -1;
        }
        free(msg);
    }
    return 0;
}

/* ---- setters ---- */

static int set_int(struct cfg_loader *ld, const struct cfg_key *k, long long v, const char *env)
{
    if (v < k->min || v > k->max) {
        if (k->flags & CFG_F_SENSITIVE)
            return fail(ld, k, env, "value is out of range [%lld, %lld]", k->min, k->max);
        return fail(ld, k, env, "%lld is out of range [%lld, %lld]", v, k->min, k->max);
    }
    *(long long *)field_of(ld->conf, k) = v;
    return 0;
}

static int set_strlist_json(struct cfg_loader *ld, const struct cfg_key *k, json_t *v,
                            const char *env)
{
    struct cfg_strlist *l = field_of(ld->conf, k);
    size_t n;

    if (!json_is_array(v))
        return fail(ld, k, env, "expected an array of strings");
    n = json_array_size(v);
    for (size_t i = 0; i < n; i++) {
        if (!json_is_string(json_array_get(v, i)))
            return fail(ld, k, env, "expected an array of strings");
    }
    field_clear(k, l);
    l->v = xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        l->v[i] = xstrdup(json_string_value(json_array_get(v, i)));
    l->n = n;
    return 0;
}

static int set_from_json(struct cfg_loader *ld, const struct cfg_key *k, json_t *v, const char *env)
{
    void *field = field_of(ld->conf, k);
    int rc = 0;

    switch (k->type) {
    case CFG_STRING:
        if (!json_is_string(v))
            return fail(ld, k, env, "expected a string");
        field_clear(k, field);
        *(char **)field = xstrdup(json_string_value(v));
        break;
    case CFG_INT:
        if (!json_is_integer(v))
            return fail(ld, k, env, "expected an integer");
        rc = set_int(ld, k, json_integer_value(v), env);
        break;
    case CFG_BOOL:
        if (!json_is_boolean(v))
            return fail(ld, k, env, "expected true or false");
        *(bool *)field = json_is_true(v);
        break;
    case CFG_STRLIST:
        rc = set_strlist_json(ld, k, v, env);
        break;
    case CFG_JSON:
        field_clear(k, field);
        *(json_t **)field = json_incref(v);
        break;
    default:
        return fail(ld, k, env, "unsupported key type");
    }
    if (rc == 0)
        ld->seen[k - ld->table] = true;
    return rc;
}

/* Decimal, optional '-', nothing else; -1 on syntax, -2 on overflow. */
static int parse_ll(const char *s, long long *out)
{
    const char *p = s[0] == '-' ? s + 1 : s;
    char *end;

    if (*p < '0' || *p > '9')
        return -1;
    errno = 0;
    *out = strtoll(s, &end, 10);
    if (*end != '\0')
        return -1;
    return errno == ERANGE ? -2 : 0;
}

/* "a, b,c": items trimmed of spaces and tabs; empty items are dropped. */
static int set_strlist_csv(struct cfg_loader *ld, const struct cfg_key *k, const char *s)
{
    struct cfg_strlist *l = field_of(ld->conf, k);
    size_t cap = 1;
    const char *end;
    const char *b;
    const char *e;

    for (const char *p = s; *p != '\0'; p++)
        cap += *p == ',';
    field_clear(k, l);
    l->v = xcalloc(cap, sizeof(char *));
    for (const char *p = s;; p = end + 1) {
        end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        b = p;
        e = end;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > b)
            l->v[l->n++] = xstrndup(b, (size_t)(e - b));
        if (*end == '\0')
            break;
    }
    ld->seen[k - ld->table] = true;
    return 0;
}

/* A default (env == NULL) or an environment value (env = the variable's name). */
static int set_from_text(struct cfg_loader *ld, const struct cfg_key *k, const char *s,
                         const char *env)
{
    json_error_t e;
    json_t *j;
    long long v;
    int rc;

    switch (k->type) {
    case CFG_STRING:
        j = json_string(s);
        if (j == NULL)
            return fail(ld, k, env, "expected a UTF-8 string");
        break;
    case CFG_INT:
        rc = parse_ll(s, &v);
        if (rc == -1)
            return fail(ld, k, env, "expected an integer");
        if (rc == -2)
            return fail(ld, k, env, "value is out of range [%lld, %lld]", k->min, k->max);
        j = json_integer(v);
        break;
    case CFG_BOOL:
        if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
            j = json_true();
        else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
            j = json_false();
        else
            return fail(ld, k, env, "expected true, false, 1 or 0");
        break;
    case CFG_STRLIST:
        if (s[strspn(s, " \t")] != '[')
            return set_strlist_csv(ld, k, s);
        j = json_loads(s, JSON_REJECT_DUPLICATES, &e);
        if (j == NULL)
            return fail(ld, k, env, "invalid JSON at column %d: %s", e.column, json_err_text(&e));
        break;
    case CFG_JSON:
    default:
        j = json_loads(s, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
        if (j == NULL)
            return fail(ld, k, env, "invalid JSON at column %d: %s", e.column, json_err_text(&e));
        break;
    }
    rc = set_from_json(ld, k, j, env);
    json_decref(j);
    return rc;
}

/* ---- helpers ---- */

static void *field_of(void *conf, const struct cfg_key *k)
{
    return (char *)conf + k->offset;
}

static void field_clear(const struct cfg_key *k, void *field)
{
    struct cfg_strlist *l;

    switch (k->type) {
    case CFG_STRING:
        CB_FREE(*(char **)field);
        break;
    case CFG_STRLIST:
        l = field;
        for (size_t i = 0; i < l->n; i++)
            free(l->v[i]);
        CB_FREE(l->v);
        l->n = 0;
        break;
    case CFG_JSON:
        json_decref(*(json_t **)field);
        *(json_t **)field = NULL;
        break;
    case CFG_INT:
    case CFG_BOOL:
    default:
        break;
    }
}

static int fail(struct cfg_loader *ld, const struct cfg_key *k, const char *env, const char *fmt,
                ...)
{
    va_list ap;
    char *what;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&what, fmt, ap);
    va_end(ap);
    if (n < 0)
        what = xstrdup("invalid value");
    if (env != NULL)
        ld->err =
            xasprintf("configuration key '%s' (environment variable %s): %s", k->path, env, what);
    else if (ld->defaults)
        ld->err = xasprintf("configuration key '%s': invalid default: %s", k->path, what);
    else
        ld->err = xasprintf("configuration key '%s': %s", k->path, what);
    free(what);
    return -1;
}

/* Printable ASCII only, capped: unknown names are attacker/typo-controlled. */
static char *quote_name(const char *s)
{
    size_t n = strlen(s);
    size_t m = n > CFG_NAME_QUOTE_MAX ? CFG_NAME_QUOTE_MAX : n;
    char *out = xmalloc(m + 4);

    for (size_t i = 0; i < m; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'') ? s[i] : '?';
    strcpy(out + m, n > m ? "..." : "");
    return out;
}

/* Our own text per jansson error code: jansson's messages may quote the input. */
static const char *json_err_text(const json_error_t *e)
{
    switch (json_error_code(e)) {
    case json_error_out_of_memory:
        return "out of memory";
    case json_error_stack_overflow:
        return "nesting too deep";
    case json_error_invalid_utf8:
        return "invalid UTF-8";
    case json_error_premature_end_of_input:
        return "unexpected end of input";
    case json_error_end_of_input_expected:
        return "unexpected text after the JSON value";
    case json_error_null_character:
    case json_error_null_byte_in_key:
        return "NUL character not allowed";
    case json_error_duplicate_key:
        return "duplicate object key";
    case json_error_numeric_overflow:
        return "number out of range";
    case json_error_invalid_syntax:
    default:
        return "syntax error";
    }
}

static const struct cfg_key *find_key(const struct cfg_loader *ld, const char *path)
{
    for (size_t i = 0; i < ld->ntable; i++) {
        if (strcmp(ld->table[i].path, path) == 0)
            return &ld->table[i];
    }
    return NULL;
}

static bool is_key_prefix(const struct cfg_loader *ld, const char *path)
{
    size_t n = strlen(path);

    for (size_t i = 0; i < ld->ntable; i++) {
        if (strncmp(ld->table[i].path, path, n) == 0 && ld->table[i].path[n] == '.')
            return true;
    }
    return false;
}

static int read_file(const char *path, char **out, size_t *outlen, char **err)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 4096;
    size_t len = 0;
    char *buf;
    int saved;

    if (f == NULL) {
        saved = errno;
        *err = xasprintf("cannot open configuration file '%s': %s", path, strerror(saved));
        return -1;
    }
    buf = xmalloc(cap);
    for (;;) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap || len > CFG_FILE_MAX)
            break;
        cap *= 2;
        buf = xrealloc(buf, cap);
    }
    saved = errno;
    if (ferror(f) || len > CFG_FILE_MAX) {
        *err = len > CFG_FILE_MAX
                   ? xasprintf("configuration file '%s' is too large", path)
                   : xasprintf("cannot read configuration file '%s': %s", path, strerror(saved));
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    *out = buf;
    *outlen = len;
    return 0;
}

static json_t *dump_value(const struct cfg_key *k, const void *field)
{
    const struct cfg_strlist *l;
    const char *s;
    json_t *a;

    switch (k->type) {
    case CFG_STRING:
        s = *(char *const *)field;
        return s != NULL ? json_string(s) : json_null();
    case CFG_INT:
        return json_integer(*(const long long *)field);
    case CFG_BOOL:
        return json_boolean(*(const bool *)field);
    case CFG_STRLIST:
        l = field;
        a = json_array();
        for (size_t i = 0; i < l->n; i++)
            json_array_append_new(a, json_string(l->v[i]));
        return a;
    case CFG_JSON:
        return *(json_t *const *)field != NULL ? json_deep_copy(*(json_t *const *)field)
                                               : json_null();
    default:
        return json_null();
    }
}

int cfg_validate_log_level(const void *field, char **err)
{
    enum log_level l;

    if (log_parse_level(*(char *const *)field, &l) == 0)
        return 0;
    *err = xstrdup("must be one of error, warn, info, debug");
    return -1;
}

int cfg_validate_log_format(const void *field, char **err)
{
    enum log_format f;

    if (log_parse_format(*(char *const *)field, &f) == 0)
        return 0;
    *err = xstrdup("must be text or json");
    return -1;
}
