# Unit tests of the proxy's data path: the config table (proxy_cfg) and the pure HTTP
# helpers (http_util, http_head).
if(TARGET cb_proxy)
    cb_unit_test(test_proxy_cfg ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_proxy_cfg.c LIBS cb_proxy)
endif()
