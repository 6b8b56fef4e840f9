/*
 * fuzz_apidef_token: libFuzzer driver for common/apidef — the parsing both the proxy and
 * authd's /check apply to attacker-controlled requests. The input is split at NUL bytes:
 *
 *   <API definition JSON> \0 <query string> \0 <header lines "Name: value\n"...>
 *
 * A definition that does not parse is replaced by one using every token source. Invariants:
 * apidef_token returns NULL or a non-empty NUL-terminated string no longer than the input
 * (decoding only shrinks); no read outside the buffers (ASan); nothing leaks (LSan).
 */
#include "fuzz_driver.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "common/apidef.h"

#define FUZZ_MAX_HEADERS 32

struct fuzz_hdr {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct fuzz_req {
    struct fuzz_hdr h[FUZZ_MAX_HEADERS];
    size_t n;
};

static const char *header(void *arg, const char *name, size_t i, size_t *len)
{
    const struct fuzz_req *r = arg;

    for (size_t k = 0; k < r->n; k++) {
        if (strlen(name) == r->h[k].name_len &&
            strncasecmp(name, r->h[k].name, r->h[k].name_len) == 0 && i-- == 0) {
            *len = r->h[k].value_len;
            return r->h[k].value;
        }
    }
    return NULL;
}

/* "Name: value" lines of buf[0..len) into r (pointers into buf). */
static void split_headers(const char *buf, size_t len, struct fuzz_req *r)
{
    const char *p = buf, *end = buf + len;

    while (p < end && r->n < FUZZ_MAX_HEADERS) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *line_end = nl != NULL ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));

        if (colon != NULL) {
            const char *v = colon + 1;

            while (v < line_end && *v == ' ')
                v++;
            r->h[r->n++] = (struct fuzz_hdr){p, (size_t)(colon - p), v, (size_t)(line_end - v)};
        }
        p = nl != NULL ? nl + 1 : end;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data, *end = in + size;
    const char *nul1 = memchr(in, '\0', size), *query = NULL, *hdrs = NULL;
    size_t qlen = 0, hlen = 0;
    struct fuzz_req req = {0};
    struct apidef d;
    json_t *def;
    char *tok;

    def = json_loadb(in, nul1 != NULL ? (size_t)(nul1 - in) : size, JSON_DECODE_ANY, NULL);
    if (!json_is_object(def)) {
        json_decref(def);
        def = json_pack("{s:s, s:{s:{s:s, s:b, s:s, s:b, s:s}}}", "api_id", "a",
                        "auth_configs", "authToken", "auth_header_name", "Authorization",
                        "use_param", 1, "param_name", "key", "use_cookie", 1, "cookie_name",
                        "session");
    }
    if (nul1 != NULL) {
        const char *nul2;

        query = nul1 + 1;
        nul2 = memchr(query, '\0', (size_t)(end - query));
        qlen = nul2 != NULL ? (size_t)(nul2 - query) : (size_t)(end - query);
        if (nul2 != NULL) {
            hdrs = nul2 + 1;
            hlen = (size_t)(end - hdrs);
        }
    }
    if (hdrs != NULL)
        split_headers(hdrs, hlen, &req);
    apidef_parse(&d, def, NULL);
    tok = apidef_token(&d, header, &req, query, qlen);
    if (tok != NULL) {
        size_t n = strlen(tok);

        if (n == 0 || n > size)
            abort();
        free(tok);
    }
    json_decref(def);
    return 0;
}
