/*
 * migrate: applies migrations/NNNN_*.sql (embedded in the binary at build time) in order,
 * under a PostgreSQL advisory lock so several authds may start at once; each file in its
 * own transaction, recorded in schema_migrations. Blocking libpq: start-up and the
 * `migrate` subcommand only, never on the loop.
 */
#ifndef CB_AUTHD_MIGRATE_H
#define CB_AUTHD_MIGRATE_H

#include "common/xmem.h"

/* Apply pending migrations. *applied (may be NULL) = how many were applied now.
 * 0, or -1 with *err a heap message (never containing the conninfo password). */
int migrate_run(const char *conninfo, int timeout_ms, int *applied, char **err) CB_WARN_UNUSED;

/* Number of embedded migrations and the highest version. */
int migrate_latest_version(void);

#endif
