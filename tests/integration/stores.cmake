# Integration tests of the store clients (redis_client, pg_client) against the real servers
# of the `services` fixture; the outage tests start private instances of their own.
cb_integration_test(test_redis_client
    integration/test_redis_client.c integration/stores_util.c)
cb_integration_test(test_pg_client
    integration/test_pg_client.c integration/stores_util.c)
