/*
 * stores_util: helpers for the redis_client / pg_client integration tests: the env file the
 * services fixture writes, a private services instance (tests/harness/services.sh) for the
 * outage tests, and a loop runner bounded by a deadline. Test code only.
 */
#ifndef CB_TESTS_INTEGRATION_STORES_UTIL_H
#define CB_TESTS_INTEGRATION_STORES_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>

#define SU_ENV_MAX 16

/* KEY=VALUE pairs read from an env file written by services.sh. */
struct su_env {
    int n;
    char *keys[SU_ENV_MAX];
    char *values[SU_ENV_MAX];
};

/* A private redis-server + PostgreSQL under a fresh /tmp directory. */
struct su_services {
    char dir[256];
    struct su_env env;
    bool up;
};

typedef bool (*su_cond_fn)(void *arg);

/* Read path (KEY=VALUE lines; values may hold spaces) into env. 0 or -1. */
int su_env_load(struct su_env *env, const char *path);
/* The value of key, borrowed from env; NULL when absent. */
const char *su_env_get(const struct su_env *env, const char *key);
void su_env_free(struct su_env *env);
/* The shared fixture's value of key (file named by $CB_TEST_ENV, read once); NULL when
 * absent. Borrowed until exit. */
const char *su_fixture(const char *key);

/* Start a private instance (services.sh start) and read its env file. 0 or -1. */
int su_services_start(struct su_services *s);
/* Run `services.sh <cmd> <dir>` on it (stop-redis, start-pg, ...). 0 or -1. */
int su_services_cmd(struct su_services *s, const char *cmd);
/* The same in the background, so the test can keep its loop running (to time a recovery
 * from the moment the server starts). Returns the pid for su_services_reap(), or -1. */
pid_t su_services_spawn(struct su_services *s, const char *cmd);
/* Wait for a spawned command (its own waits are bounded). 0 if it succeeded, else -1. */
int su_services_reap(pid_t pid);
/* Stop it and remove its directory (kept when CB_TEST_KEEP is set). */
void su_services_stop(struct su_services *s);

/* A unix socket at path that listens but never accepts nor answers (a wedged server):
 * connects succeed, nothing comes back. Returns the fd (close it and unlink path), or -1. */
int su_blackhole_listen(const char *path);

/* Run base until cond(arg) holds or timeout_ms have passed; true if cond held. cond is
 * checked before each loop iteration, so a condition already true returns at once. */
bool su_run_until(struct event_base *base, su_cond_fn cond, void *arg, int timeout_ms);
/* Monotonic milliseconds. */
uint64_t su_now_ms(void);
/* Log level from $CB_TEST_LOG (error|warn|info|debug; default info). */
void su_log_init(const char *name);

#endif
