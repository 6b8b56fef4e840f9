/*
 * test_authz_token: the credential a request carries (spec §4.3, Tyk's getAuthToken): the
 * configured header, then the query parameter and the cookie when enabled (a later
 * non-empty source wins), and the "Bearer " prefix. Pure: no network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/apis.h"
#include "proxy/authz_int.h"
#include "proxy/http_head.h"

struct fix {
    struct api api;
    struct http_head h;
};

/* A head from "Name: value" lines (borrowed: the literals outlive the test) and a query. */
static void head(struct http_head *h, const char *query, const char *const *lines)
{
    memset(h, 0, sizeof(*h));
    h->method = "GET";
    h->method_len = 3;
    h->path = "/";
    h->path_len = 1;
    h->query = query;
    h->query_len = query != NULL ? strlen(query) : 0;
    for (; lines != NULL && *lines != NULL; lines++) {
        const char *colon = strchr(*lines, ':');
        struct http_hdr *hd = &h->hdrs[h->nhdrs++];

        hd->name = *lines;
        hd->name_len = (size_t)(colon - *lines);
        hd->value = colon + 1;
        hd->value_len = strlen(colon + 1);
    }
}

static void api_defaults(struct api *api)
{
    memset(api, 0, sizeof(*api));
    api->auth.api_id = "a";
    api->auth.org_id = "";
    api->auth.auth_header_name = "Authorization";
    api->auth.param_name = "Authorization";
    api->auth.cookie_name = "Authorization";
}

static void expect(const struct api *api, const char *query, const char *const *lines,
                   const char *want)
{
    struct http_head h;
    char *tok;

    head(&h, query, lines);
    tok = authz_extract_token(api, &h);
    if (want == NULL) {
        if (tok != NULL)
            fail_msg("want no token, got '%s'", tok);
    } else {
        if (tok == NULL)
            fail_msg("want '%s', got none", want);
        assert_string_equal(tok, want);
    }
    free(tok);
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_header(void **state)
{
    struct api api;

    api_defaults(&api);
    expect(&api, NULL, NULL, NULL);
    expect(&api, NULL, L("Host: x"), NULL);
    expect(&api, NULL, L("Authorization: abc123"), "abc123");
    expect(&api, NULL, L("authorization:   abc123  "), "abc123");
    expect(&api, NULL, L("AUTHORIZATION: Bearer abc"), "abc");
    expect(&api, NULL, L("Authorization: bEaReR abc"), "abc");
    expect(&api, NULL, L("Authorization: Bearer "), "Bearer"); /* OWS trimmed first, as Go */
    expect(&api, NULL, L("Authorization: Bearerabc"), "Bearerabc");
    expect(&api, NULL, L("Authorization: Basic xyz"), "Basic xyz");
    expect(&api, NULL, L("Authorization:"), NULL);
    expect(&api, NULL, L("Authorization: first", "Authorization: second"), "first");
    expect(&api, NULL, L("Authorizations: no"), NULL);

    api.auth.auth_header_name = "X-Api-Key";
    expect(&api, NULL, L("Authorization: abc"), NULL);
    expect(&api, NULL, L("x-api-key: k1"), "k1");
    /* Parameters and cookies are off unless enabled. */
    expect(&api, "X-Api-Key=p", L("Cookie: X-Api-Key=c"), NULL);
}

static void test_param(void **state)
{
    struct api api;

    api_defaults(&api);
    api.auth.use_param = true;
    api.auth.param_name = "key";
    expect(&api, "key=p1", NULL, "p1");
    expect(&api, "a=1&key=p%2Fx+y&key=second", NULL, "p/x y");
    expect(&api, "key=p1", L("Authorization: h1"), "p1"); /* the param overrides */
    expect(&api, "key=", L("Authorization: h1"), "h1");   /* unless empty */
    expect(&api, "key", L("Authorization: h1"), "h1");
    expect(&api, "other=p1", L("Authorization: h1"), "h1");
    expect(&api, "k%65y=enc", NULL, "enc");     /* names are decoded too */
    expect(&api, "key=%zz&key=ok", NULL, "ok"); /* a bad escape drops the pair */
    expect(&api, "key=a;b", NULL, NULL);        /* Go 1.17+ drops ';' pairs */
    expect(&api, "key=Bearer%20tok", NULL, "tok");
    expect(&api, "key=%", NULL, NULL);
    expect(&api, "&&key=x&", NULL, "x");
}

static void test_cookie(void **state)
{
    struct api api;

    api_defaults(&api);
    api.auth.use_param = true;
    api.auth.param_name = "key";
    api.auth.use_cookie = true;
    api.auth.cookie_name = "sess";
    expect(&api, NULL, L("Cookie: sess=c1"), "c1");
    expect(&api, NULL, L("Cookie: a=1; sess=c2; b=2"), "c2");
    expect(&api, NULL, L("Cookie: a=1", "cookie: sess=\"c3\""), "c3");
    expect(&api, "key=p", L("Authorization: h", "Cookie: sess=c4"), "c4"); /* cookie last */
    expect(&api, "key=p", L("Cookie: sess="), "p");
    expect(&api, NULL, L("Cookie: session=x; xsess=y"), NULL);
    expect(&api, NULL, L("Cookie: sess=Bearer c5"), "c5");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_param),
        cmocka_unit_test(test_cookie),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
