# Unit tests of the pure PKI modules: certinfo (upload parsing, metadata) and keycrypt.
cb_unit_test(test_certinfo ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_certinfo.c)
cb_unit_test(test_keycrypt ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_keycrypt.c)
