/*
 * test_allowlist: the shared static-allowlist decision (common/allowlist.h) on the test
 * PKI: hash entries, CA entries with the client-sent chain as intermediates, the
 * clientAuth-only leaf, an expired entry, and the spec's messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "common/allowlist.h"
#include "common/certinfo.h"
#include "tests/harness/testutil.h"

static void expect(const struct allowlist *al, bool tls, X509 *leaf, STACK_OF(X509) *chain,
                   int want, const char *want_msg)
{
    char *msg = NULL;
    int got = allowlist_check(al, tls, leaf, NULL, chain, time(NULL), &msg);

    assert_int_equal(got, want);
    if (want_msg != NULL)
        assert_string_equal(msg, want_msg);
    free(msg);
}

static void hash_entries_and_messages(void **state)
{
    struct allowlist *al = allowlist_new();
    X509 *c1 = tu_pki_x509("client1.crt"), *c2 = tu_pki_x509("client2.crt"), *exp = tu_pki_x509("expired.crt");
    char sha[CERT_SHA_HEX_LEN + 1], *want;

    assert_int_equal(allowlist_add(al, c1), 0);
    assert_int_equal(allowlist_add(al, exp), 0);
    assert_int_equal(allowlist_count(al), 2);
    expect(al, true, c1, NULL, 0, NULL);
    expect(al, false, c1, NULL, 403, "TLS not enabled");
    expect(al, true, NULL, NULL, 403, "Client TLS certificate is required");
    expect(al, true, exp, NULL, 403, "Certificate has expired");
    certinfo_x509_sha256_hex(c2, sha);
    want = xasprintf("Certificate with SHA256 %s not allowed", sha);
    expect(al, true, c2, NULL, 403, want);
    /* An empty (NULL) list allows nothing. */
    expect(NULL, true, c1, NULL, 403, NULL);
    free(want);
    X509_free(c1);
    X509_free(c2);
    X509_free(exp);
    allowlist_free(al);
}

static void ca_entries_verify_the_leaf_only(void **state)
{
    struct allowlist *al = allowlist_new();
    X509 *ca = tu_pki_x509("ca.crt"), *c1 = tu_pki_x509("client1.crt"), *cao = tu_pki_x509("clientauth_only.crt");
    X509 *other = tu_pki_x509("other_ca_client.crt"), *ca2 = tu_pki_x509("ca2.crt");
    X509 *exp = tu_pki_x509("expired.crt");
    STACK_OF(X509) *chain = sk_X509_new_null();

    assert_int_equal(allowlist_add(al, ca), 0);
    expect(al, true, c1, NULL, 0, NULL);
    expect(al, true, cao, NULL, 0, NULL); /* clientAuth-only leaf accepted (DESIGN §6) */
    expect(al, true, other, NULL, 403, NULL);
    /* A leaf past notAfter does not verify against a CA entry: "not allowed". */
    expect(al, true, exp, NULL, 403, NULL);
    /* Sending the allowlisted CA (or another CA) after a foreign leaf does not help. */
    X509_up_ref(ca);
    sk_X509_push(chain, ca);
    X509_up_ref(ca2);
    sk_X509_push(chain, ca2);
    expect(al, true, other, chain, 403, NULL);
    sk_X509_pop_free(chain, X509_free);
    X509_free(ca);
    X509_free(c1);
    X509_free(cao);
    X509_free(other);
    X509_free(ca2);
    X509_free(exp);
    allowlist_free(al);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_entries_and_messages),
        cmocka_unit_test(ca_entries_verify_the_leaf_only),
    };

    return cmocka_run_group_tests_name("allowlist", tests, NULL, NULL);
}
