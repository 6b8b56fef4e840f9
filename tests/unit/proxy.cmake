# Unit tests of the proxy's data path: the config table (proxy_cfg), the pure HTTP
# helpers (http_util, http_head), and the upstream TLS lookups and profiles (ups_tls).
if(TARGET cb_proxy)
    cb_unit_test(test_proxy_cfg ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_proxy_cfg.c LIBS cb_proxy)
    cb_unit_test(test_ups_tls ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_ups_tls.c LIBS cb_proxy)
endif()
