/*
 * migrate: applies migrations/NNNN_*.sql (embedded in the binary at build time) in order,
 * under a PostgreSQL advisory lock so several authds may start at once; each file in its
 * own transaction, recorded in schema_migrations. Blocking libpq: start-up and the
 * `migrate` subcommand only, never on the loop.
 */
#ifndef CB_AUTHD_MIGRATE_H
#define CB_AUTHD_MIGRATE_H

#include <libpq-fe.h>

#include "common/xmem.h"

/* pg_advisory_lock key (per database) held while migrating: "cbmigrat" in ASCII. */
#define MIGRATE_LOCK_KEY 7161406656947052916LL

/* Apply pending migrations. *applied (may be NULL) = how many were applied now.
 * 0, or -1 with *err a heap message (never containing the conninfo password). */
int migrate_run(const char *conninfo, int timeout_ms, int *applied, char **err) CB_WARN_UNUSED;

/* A blocking connection (start-up only) with connect_timeout from timeout_ms unless the
 * conninfo sets one. NULL with *err (heap, password scrubbed) on failure; PQfinish it. */
PGconn *migrate_connect(const char *conninfo, int timeout_ms, char **err) CB_WARN_UNUSED;

/* The highest embedded migration version. */
int migrate_latest_version(void);

/* Copy of a libpq message with password values ("password=…", "password='…'",
 * "scheme://user:…@") replaced by "***" (heap). For error texts that may quote a conninfo. */
char *migrate_scrub_password(const char *msg);

#endif
