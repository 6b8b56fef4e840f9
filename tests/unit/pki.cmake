# Unit tests of the pure PKI modules: certinfo (upload parsing, metadata) and keycrypt.
cb_unit_test(test_certinfo ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_certinfo.c)
cb_unit_test(test_keycrypt ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_keycrypt.c)
# The static-allowlist decision shared by the proxy and authd's /check (reads the test PKI).
cb_unit_test(test_allowlist ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_allowlist.c)
set_tests_properties(unit.test_allowlist PROPERTIES FIXTURES_REQUIRED pki)
