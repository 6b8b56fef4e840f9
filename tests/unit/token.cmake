# Pure modules token (spec §4.2, §7.2) and cfg (STYLE 2.8).
cb_unit_test(test_token ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_token.c)
cb_unit_test(test_cfg ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_cfg.c)
