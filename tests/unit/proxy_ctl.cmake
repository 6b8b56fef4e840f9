# Unit tests of the proxy's control plane: apis (snapshot, routing, TLS policy, allowlist,
# server certificates), authz token extraction, and authd_client + authz against an
# in-process fake authd on a unix socket. Certificates come from the `pki` fixture.
if(TARGET cb_proxy)
    set(CB_PROXY_CTL_SRCS)
    set(CB_PROXY_CTL_LIBS cb_proxy)
else()
    # Without the proxy target (CB_BUILD_PROXY=OFF) the three modules build on their own.
    set(CB_PROXY_CTL_SRCS ${PROJECT_SOURCE_DIR}/proxy/apis.c ${PROJECT_SOURCE_DIR}/proxy/ups_tls.c
        ${PROJECT_SOURCE_DIR}/proxy/authd_client.c ${PROJECT_SOURCE_DIR}/proxy/authz.c)
    set(CB_PROXY_CTL_LIBS)
endif()

cb_unit_test(test_apis unit/test_apis.c ${CB_PROXY_CTL_SRCS} LIBS ${CB_PROXY_CTL_LIBS})
cb_unit_test(test_authz_token unit/test_authz_token.c ${CB_PROXY_CTL_SRCS} LIBS ${CB_PROXY_CTL_LIBS})
cb_unit_test(test_authd_client unit/test_authd_client.c ${CB_PROXY_CTL_SRCS}
    LIBS ${CB_PROXY_CTL_LIBS})
set_tests_properties(unit.test_apis unit.test_authd_client PROPERTIES FIXTURES_REQUIRED pki)
