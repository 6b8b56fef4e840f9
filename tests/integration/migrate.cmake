# authd/migrate against the fixture's PostgreSQL (STYLE 2.14): from scratch, re-run,
# concurrent migrators, the change-feed trigger, and schema/schema.sql vs pg_dump.
cb_integration_test(test_migrate ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_migrate.c)
