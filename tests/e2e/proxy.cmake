# certbound-proxy end to end: proxy + authd + Redis + PostgreSQL + echo upstream, real TLS.
# One CTest entry per spec scenario (the cmocka filter picks the test); each gets fresh
# servers. Scenarios 48-56 run against an authd with allow_unsafe_dynamic_mtls_token.
cb_integration_test(test_proxy ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_proxy.c
    ${CMAKE_CURRENT_SOURCE_DIR}/e2e/e2e_util.c)
add_dependencies(test_proxy certbound-authd certbound-proxy cb-echo-upstream)
set_tests_properties(integration.test_proxy PROPERTIES DISABLED TRUE)

set(CB_PROXY_E2E
    s20_allowlisted_cert s21_no_cert_fails_handshake s22_unknown_cert_fails_handshake
    s23_shared_domain_no_cert s24_empty_allowlist s25_two_apis_one_domain
    s26_expired_allowlist_entry s27_ca_allowlist s28_clientauth_only_leaf_accepted
    s29_chain_entry_announces_only_ca s30_plain_http_tls_not_enabled
    s31_public_key_never_matches s32_skip_ca_announcement s33_gateway_wide_allowlist
    s34_management_api_separate s35_mtls_plus_auth_token s38_cert_session_allows
    s39_no_cert_401 s40_cert_without_session s41_expired_cert s42_cert_deleted_from_store
    s43_cert_wins_over_token s44_session_checks s46_cert_uploaded_without_org
    s57_bound_cert_allows s58_other_allowlisted_cert_401 s59_bound_key_without_cert
    s60_unbound_key_any_allowlisted s61_binding_never_widens_allowlist s62_several_bindings
    s63_binding_ignored_without_static_mtls s66_bound_cert_expired
    s67_bound_cert_without_token revoke_key_on_keepalive allowlist_change_on_keepalive
    identity_headers misdirected_421 routing_404_and_strip authd_down_fails_closed
    bad_input_tls bad_input_http chunked_body_reframed header_names_are_tokens
    absolute_form_host path_dot_segments_refused upstream_304_has_no_body tls_versions
    up_tls_verified up_tls_skip_verify
    s76_upstream_cert_mapping s77_upstream_cert_missing s78_pinning up_enforce_verify)
set(CB_PROXY_E2E_LEGACY
    s48_legacy_derived_key_alone s49_legacy_cert_id_as_token s50_legacy_cert_alone
    s51_legacy_unregistered_cert_with_key s52_legacy_cert_with_invalid_token
    s53_legacy_session_cert_not_in_store s54_legacy_nothing_401
    s55_legacy_token_of_other_session s56_legacy_expired_cert_with_token)

set(CB_E2E_ENV "CB_TEST_ENV=${CB_TESTENV}/env;CB_TEST_SRCDIR=${PROJECT_SOURCE_DIR};CB_TEST_BINDIR=${CMAKE_BINARY_DIR}")
foreach(t ${CB_PROXY_E2E})
    add_test(NAME proxy.${t} COMMAND test_proxy ${t})
    set_tests_properties(proxy.${t} PROPERTIES LABELS "e2e" FIXTURES_REQUIRED "services;pki"
        TIMEOUT 120 ENVIRONMENT "${CB_E2E_ENV}")
endforeach()
foreach(t ${CB_PROXY_E2E_LEGACY})
    add_test(NAME proxy.${t} COMMAND test_proxy ${t})
    set_tests_properties(proxy.${t} PROPERTIES LABELS "e2e" FIXTURES_REQUIRED "services;pki"
        TIMEOUT 120 ENVIRONMENT "${CB_E2E_ENV};CB_TEST_LEGACY=1")
endforeach()
