# The built certbound-authd over HTTP and RPC: one CTest entry per spec scenario (the
# cmocka filter picks the test), so `ctest -R s36` runs exactly that scenario.
cb_integration_test(test_authd_api ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_authd_api.c)
add_dependencies(test_authd_api certbound-authd)
set_tests_properties(integration.test_authd_api PROPERTIES DISABLED TRUE)
foreach(t
        s01_upload_single_cert s02_upload_with_org s03_upload_cert_and_key
        s04_upload_mismatched_key s05_duplicate_upload s06_not_pem s07_invalid_x509
        s08_expired_cert s09_public_key s10_combinations s11_chain_fingerprint s12_list_by_org
        s13_list_detailed s14_get_unknown_and_multi s15_delete s16_admin_secret_required
        s17_key_encryption_at_rest s17_legacy_encrypted_key_import
        s18_encoding_secret_required s19_wrong_secret_then_rotation
        s36_create_key_for_certificate s37_create_key_twice s45_put_certificate_rules
        s64_create_with_bindings s65_put_bindings s68_unhashed_redis_name
        s69_murmur64_hashed_name s70_legacy_key_hash s71_short_token_never_found
        keys_crud_and_unknown_fields keys_access_rights_required bad_input_errors
        apis_crud_and_validation rpc_methods rpc_authorize_and_push rpc_malformed_frames config_errors_name_the_key
        hello_metrics_migrate api_tls_and_plain_refused s79_control_api_mtls
        apis_enforce_upstream_tls_verify pg_tls_verify_full)
    add_test(NAME authd.${t} COMMAND test_authd_api ${t})
    set_tests_properties(authd.${t} PROPERTIES LABELS "integration;e2e"
        FIXTURES_REQUIRED "services;pki" TIMEOUT 120
        ENVIRONMENT "CB_TEST_ENV=${CB_TESTENV}/env;CB_TEST_SRCDIR=${PROJECT_SOURCE_DIR};CB_TEST_BINDIR=${CMAKE_BINARY_DIR}")
endforeach()

# Store outages: its own Redis and PostgreSQL, stopped and started under load.
cb_integration_test(test_authd_outage ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_authd_outage.c
    LIBS pthread)
add_dependencies(test_authd_outage certbound-authd)
set_tests_properties(integration.test_authd_outage PROPERTIES FIXTURES_REQUIRED "services;pki")

# authd's key table against etc/authd.example.json and the README (no network).
cb_unit_test(test_authd_cfg ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_authd_cfg.c LIBS cb_authd)

# The edge check endpoint (DESIGN §8) over HTTP, and paired with a real nginx.
cb_integration_test(test_check ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_check.c)
add_dependencies(test_check certbound-authd certbound-proxy)
set_tests_properties(integration.test_check PROPERTIES DISABLED TRUE)
foreach(t
        certificate_auth binding static_allowlist inputs_and_paths definition_changes
        legacy_mode listen_loopback_only nginx_pairing store_down_503)
    add_test(NAME check.${t} COMMAND test_check check_${t})
    set_tests_properties(check.${t} PROPERTIES LABELS "integration;e2e"
        FIXTURES_REQUIRED "services;pki" TIMEOUT 120
        ENVIRONMENT "CB_TEST_ENV=${CB_TESTENV}/env;CB_TEST_SRCDIR=${PROJECT_SOURCE_DIR};CB_TEST_BINDIR=${CMAKE_BINARY_DIR}")
endforeach()
