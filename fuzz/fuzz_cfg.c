/*
 * fuzz_cfg: libFuzzer driver for the cfg engine (STYLE 2.11). The input is JSON config text,
 * optionally followed by a NUL and newline-separated "NAME=value" environment entries; it is
 * loaded with cfg_load_text() against a small sample table. Invariants: the call either
 * succeeds with no message or fails with a bounded message of a known shape; on success a
 * dump redacts the sensitive keys; cfg_free() leaves nothing behind (ASan/LSan check that).
 * Not a test of any daemon's real table.
 */
#include "fuzz_driver.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/cfg.h"

#define FUZZ_ENV_MAX 16
#define FUZZ_ERR_MAX 512

struct fuzz_conf {
    bool flag;
    long long port;
    char *host;
    char *secret;
    struct cfg_strlist list;
    json_t *blob;
};

#define OFF(f) offsetof(struct fuzz_conf, f)
static const struct cfg_key fuzz_table[] = {
    {"flag", CFG_BOOL, OFF(flag), "false", 0, 0, 0, NULL},
    {"listen_port", CFG_INT, OFF(port), "8181", 1, 65535, 0, NULL},
    {"redis.host", CFG_STRING, OFF(host), "localhost", 0, 0, 0, NULL},
    {"security.secret", CFG_STRING, OFF(secret), NULL, 0, 0, CFG_F_SENSITIVE, NULL},
    {"security.certificates.apis", CFG_STRLIST, OFF(list), "[]", 0, 0, 0, NULL},
    {"security.pinned_public_keys", CFG_JSON, OFF(blob), NULL, 0, 0, 0, NULL},
};

static const char *const err_prefixes[] = {
    "configuration key '",
    "unknown configuration key '",
    "invalid JSON in configuration text at line ",
    "configuration text: ",
};

static bool err_shape_ok(const char *err)
{
    if (err == NULL || err[0] == '\0' || strlen(err) > FUZZ_ERR_MAX)
        return false;
    for (size_t i = 0; i < CB_ARRAY_LEN(err_prefixes); i++) {
        if (strncmp(err, err_prefixes[i], strlen(err_prefixes[i])) == 0)
            return true;
    }
    return false;
}

/* Split "NAME=v\nNAME=v" (heap copy in *buf) into a NULL-terminated envp. */
static void split_env(const uint8_t *p, size_t n, char **buf, char **envp)
{
    size_t k = 0;
    char *s;

    *buf = xmemdup(p, n);
    s = *buf;
    while (s != NULL && *s != '\0' && k < FUZZ_ENV_MAX) {
        envp[k++] = s;
        s = strchr(s, '\n');
        if (s != NULL)
            *s++ = '\0';
    }
    envp[k] = NULL;
}

static void check_dump(const struct fuzz_conf *c)
{
    json_t *d = cfg_dump(fuzz_table, CB_ARRAY_LEN(fuzz_table), c);
    const char *s = json_string_value(json_object_get(d, "security.secret"));

    if (s == NULL || strcmp(s, "<redacted>") != 0)
        abort();
    if (json_object_size(d) != CB_ARRAY_LEN(fuzz_table))
        abort();
    json_decref(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_conf c;
    const uint8_t *nul;
    size_t textlen;
    char *envp[FUZZ_ENV_MAX + 1];
    char *envbuf = NULL;
    char *err = NULL;
    int rc;

    if (size == 0)
        data = (const uint8_t *)"";
    nul = memchr(data, '\0', size);
    textlen = nul != NULL ? (size_t)(nul - data) : size;
    if (nul != NULL)
        split_env(nul + 1, size - textlen - 1, &envbuf, envp);
    memset(&c, 0, sizeof(c));
    rc = cfg_load_text(fuzz_table, CB_ARRAY_LEN(fuzz_table), &c, (const char *)data, textlen,
                       nul != NULL ? envp : NULL, &err);
    if (rc == 0) {
        if (err != NULL || c.port < 1 || c.port > 65535 || c.host == NULL)
            abort();
        check_dump(&c);
    } else if (rc != -1 || !err_shape_ok(err)) {
        abort();
    }
    free(err);
    cfg_free(fuzz_table, CB_ARRAY_LEN(fuzz_table), &c);
    if (c.host != NULL || c.secret != NULL || c.list.v != NULL || c.blob != NULL)
        abort();
    free(envbuf);
    return 0;
}
