# certbound-proxy operations end to end: store outages under requests, workers, server
# certificates from the store. One CTest entry per test, fresh servers for each.
cb_integration_test(test_proxy_ops ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_proxy_ops.c
    ${CMAKE_CURRENT_SOURCE_DIR}/e2e/e2e_util.c LIBS Threads::Threads)
add_dependencies(test_proxy_ops certbound-authd certbound-proxy cb-echo-upstream)
set_tests_properties(integration.test_proxy_ops PROPERTIES DISABLED TRUE)
foreach(t redis_down_fails_closed workers_all_revoke server_certs_from_store
        upstream_errors_502_504 large_bodies_streamed)
    add_test(NAME proxy.${t} COMMAND test_proxy_ops ${t})
    set_tests_properties(proxy.${t} PROPERTIES LABELS "e2e" FIXTURES_REQUIRED "services;pki"
        TIMEOUT 120
        ENVIRONMENT "CB_TEST_ENV=${CB_TESTENV}/env;CB_TEST_SRCDIR=${PROJECT_SOURCE_DIR};CB_TEST_BINDIR=${CMAKE_BINARY_DIR}")
endforeach()
