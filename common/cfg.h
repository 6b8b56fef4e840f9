/*
 * cfg: table-driven configuration engine (STYLE 2.8). A daemon describes its keys in a
 * static table; cfg_load() fills a config struct from defaults, then a JSON file, then
 * CERTBOUND_* environment variables, and validates every value. Not for runtime lookups:
 * after loading, modules read the struct directly.
 */
#ifndef CB_COMMON_CFG_H
#define CB_COMMON_CFG_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/xmem.h"

enum cfg_type {
    CFG_STRING = 0, /* char * (heap, owned by the struct; NULL when unset and no default) */
    CFG_INT,        /* long long, bounded by [min, max] */
    CFG_BOOL,       /* bool; JSON true/false; env "true"/"false"/"1"/"0" */
    CFG_STRLIST,    /* struct cfg_strlist; JSON array of strings; env: JSON array or comma list */
    CFG_JSON        /* json_t * (owned reference) of any JSON type; env: JSON text */
};

enum cfg_flags {
    CFG_F_NONE = 0,
    CFG_F_SENSITIVE = 1 << 0, /* never printed, redacted in dumps */
    CFG_F_REQUIRED = 1 << 1   /* must end up non-empty */
};

struct cfg_strlist {
    char **v; /* heap array of heap strings */
    size_t n;
};

struct cfg_key {
    const char *path;     /* dotted JSON path, e.g. "redis.host"; also names the env var */
    enum cfg_type type;
    size_t offset;        /* offsetof(struct daemon_config, field) */
    const char *defval;   /* default as text (JSON text for CFG_JSON/CFG_STRLIST), or NULL */
    long long min, max;   /* bounds for CFG_INT */
    unsigned flags;       /* enum cfg_flags */
    /* Optional extra validation of the loaded value; return -1 and set *err (heap) to
     * reject it. The message should not repeat the key name: cfg prefixes it. */
    int (*validate)(const void *field, char **err);
};

/*
 * Fill *conf (zeroed by the caller) from the table: defaults, then the JSON file at path
 * (NULL = none), then the environment (envp, NULL-terminated "NAME=value" strings;
 * NULL = no environment). Env name = "CERTBOUND_" + path upper-cased with '.' → '_'.
 * A JSON object whose dotted path prefixes table keys is descended into; any other key
 * not in the table is an error ("unknown configuration key 'a.b'"). Type mismatches,
 * out-of-bounds ints, missing required keys and validate() failures are errors naming the
 * key. Returns 0, or -1 with *err set to a heap message (the caller frees it) and *conf
 * left for cfg_free().
 */
int cfg_load(const struct cfg_key *table, size_t ntable, void *conf, const char *path,
             char *const *envp, char **err) CB_WARN_UNUSED;

/* Same, from JSON text in memory instead of a file (used by tests and fuzzing); text need
 * not be NUL-terminated; NULL = none (defaults and environment only). */
int cfg_load_text(const struct cfg_key *table, size_t ntable, void *conf, const char *text,
                  size_t len, char *const *envp, char **err) CB_WARN_UNUSED;

/* Free every heap value the table owns in *conf; safe on a partially loaded struct. */
void cfg_free(const struct cfg_key *table, size_t ntable, void *conf);

/* JSON object of every key and its effective value, sensitive ones as "<redacted>". */
json_t *cfg_dump(const struct cfg_key *table, size_t ntable, const void *conf);

/* Validators for the log_level and log_format keys both daemons have. */
int cfg_validate_log_level(const void *field, char **err);
int cfg_validate_log_format(const void *field, char **err);

/* Env var name for a key path, e.g. "redis.host" → "CERTBOUND_REDIS_HOST" (heap). */
char *cfg_env_name(const char *path);

#endif
