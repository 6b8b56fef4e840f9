/* apidef: see apidef.h. */
#include "common/apidef.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xmem.h"

/* ---- definitions ---- */

const char *apidef_str(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : dflt;
}

bool apidef_bool(const json_t *o, const char *key, bool dflt)
{
    const json_t *v = json_object_get(o, key);

    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

void apidef_parse(struct apidef *d, const json_t *def, const char *api_id)
{
    const json_t *tok = json_object_get(json_object_get(def, "auth_configs"), "authToken");
    const char *hdr;

    memset(d, 0, sizeof(*d));
    d->api_id = apidef_str(def, "api_id", api_id != NULL ? api_id : "");
    d->org_id = apidef_str(def, "org_id", "");
    d->active = apidef_bool(def, "active", true);
    d->use_keyless = apidef_bool(def, "use_keyless", false);
    d->use_standard_auth = apidef_bool(def, "use_standard_auth", false);
    d->use_mutual_tls_auth = apidef_bool(def, "use_mutual_tls_auth", false);
    d->client_certificates = json_object_get(def, "client_certificates");
    d->use_certificate = apidef_bool(tok, "use_certificate", false);
    hdr = apidef_str(tok, "auth_header_name", "");
    d->auth_header_name = hdr[0] != '\0' ? hdr : "Authorization";
    d->param_name = apidef_str(tok, "param_name", "");
    d->use_param = apidef_bool(tok, "use_param", false) || d->param_name[0] != '\0';
    if (d->param_name[0] == '\0')
        d->param_name = d->auth_header_name;
    d->cookie_name = apidef_str(tok, "cookie_name", "");
    d->use_cookie = apidef_bool(tok, "use_cookie", false) || d->cookie_name[0] != '\0';
    if (d->cookie_name[0] == '\0')
        d->cookie_name = d->auth_header_name;
}

/* ---- token extraction (spec §4.3) ---- */

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Go's QueryUnescape: '+' is a space, %XX a byte; a bad escape refuses the pair. */
static char *query_unescape(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            int hi = n - i >= 3 ? hexval(s[i + 1]) : -1;
            int lo = n - i >= 3 ? hexval(s[i + 2]) : -1;

            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static char *query_get(const char *q, size_t qn, const char *name)
{
    const char *p = q, *end = q + qn;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq != NULL ? eq : pe;
        char *k, *v;

        /* Go 1.17+ refuses pairs with ';'. */
        if (pe > p && memchr(p, ';', (size_t)(pe - p)) == NULL &&
            (k = query_unescape(p, (size_t)(ke - p))) != NULL) {
            bool match = strcmp(k, name) == 0;

            free(k);
            if (match) {
                v = eq != NULL ? query_unescape(eq + 1, (size_t)(pe - eq - 1)) : xstrdup("");
                if (v != NULL)
                    return v;
            }
        }
        p = pe + 1;
    }
    return NULL;
}

static char *cookie_get(apidef_header_cb header, void *arg, const char *name)
{
    size_t nl = strlen(name), len;
    const char *p;

    for (size_t i = 0; (p = header(arg, "Cookie", i, &len)) != NULL; i++) {
        const char *end = p + len;

        while (p < end) {
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *pe = semi != NULL ? semi : end;
            const char *part = p, *eq;
            size_t n = (size_t)(pe - p);

            trim(&part, &n);
            eq = memchr(part, '=', n);
            if (eq != NULL && (size_t)(eq - part) == nl && memcmp(part, name, nl) == 0) {
                const char *v = eq + 1;
                size_t vn = n - nl - 1;

                if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
                    v++;
                    vn -= 2;
                }
                return xstrndup(v, vn);
            }
            p = pe + 1;
        }
    }
    return NULL;
}

/* A later non-empty source replaces the token. */
static void take(char **tok, char *v)
{
    if (v != NULL && v[0] != '\0') {
        free(*tok);
        *tok = v;
    } else {
        free(v);
    }
}

char *apidef_token(const struct apidef *d, apidef_header_cb header, void *arg, const char *query,
                   size_t query_len)
{
    char *tok = NULL;
    const char *val;
    size_t vn;

    val = header(arg, d->auth_header_name, 0, &vn);
    if (val != NULL) {
        trim(&val, &vn);
        tok = xstrndup(val, vn);
    }
    if (d->use_param && query != NULL)
        take(&tok, query_get(query, query_len, d->param_name));
    if (d->use_cookie)
        take(&tok, cookie_get(header, arg, d->cookie_name));
    if (tok != NULL && strncasecmp(tok, "Bearer ", 7) == 0)
        memmove(tok, tok + 7, strlen(tok + 7) + 1);
    if (tok != NULL && tok[0] == '\0')
        CB_FREE(tok);
    return tok;
}
