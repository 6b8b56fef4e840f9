/*
 * Integration tests of authd/migrate against the fixture's PostgreSQL (STYLE 2.10, 2.14):
 * from scratch, idempotent re-run, two concurrent migrators, the store_revision trigger and
 * its NOTIFY, and schema/schema.sql against a fresh pg_dump. Each test works in its own
 * database (cb_migrate_<pid>_<n>), all dropped at the end.
 *
 * CB_UPDATE_SCHEMA=1 makes test_schema_snapshot rewrite schema/schema.sql instead of failing.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "authd/migrate.h"
#include "common/xmem.h"

#define MAX_DBS 16
#define NOTIFY_WAIT_MS 10000
#define MIGRATE_TIMEOUT_MS 30000

extern const size_t cb_migrations_count;

static char *g_admin;  /* conninfo of the fixture's maintenance database */
static char *g_bindir; /* PostgreSQL binaries (pg_dump) */
static char *g_dbs[MAX_DBS];
static size_t g_ndbs;

/* ---- fixture helpers ---- */

static char *env_file_get(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    size_t klen = strlen(key);
    char line[4096];
    char *val = NULL;
    char *p;
    size_t n;

    if (f == NULL)
        return NULL;
    while (val == NULL && fgets(line, sizeof(line), f) != NULL) {
        n = strcspn(line, "\r\n");
        line[n] = '\0';
        p = line;
        if (strncmp(p, "export ", 7) == 0)
            p += 7;
        if (strncmp(p, key, klen) != 0 || p[klen] != '=')
            continue;
        p += klen + 1;
        n = strlen(p);
        if (n >= 2 && (p[0] == '\'' || p[0] == '"') && p[n - 1] == p[0]) {
            p[n - 1] = '\0';
            p++;
        }
        val = xstrdup(p);
    }
    fclose(f);
    return val;
}

static PGconn *connect_ok(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);

    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to PostgreSQL: %s", PQerrorMessage(c));
    return c;
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        print_error("SQL failed: %s\n%s", sql, PQresultErrorMessage(r));
        PQclear(r);
        fail();
    }
    PQclear(r);
}

static long long query_ll(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    long long v;

    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) {
        print_error("query failed: %s\n%s", sql, PQresultErrorMessage(r));
        PQclear(r);
        fail();
    }
    v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* A new empty database; returns its conninfo (heap). */
static char *fresh_db(void)
{
    PGconn *c;
    char *sql;
    char *name;

    assert_true(g_ndbs < MAX_DBS);
    name = xasprintf("cb_migrate_%ld_%zu", (long)getpid(), g_ndbs);
    c = connect_ok(g_admin);
    sql = xasprintf("CREATE DATABASE %s", name);
    exec_ok(c, sql);
    free(sql);
    PQfinish(c);
    g_dbs[g_ndbs++] = name;
    return xasprintf("%s dbname=%s", g_admin, name);
}

/* A fresh database with every migration applied. */
static char *migrated_db(void)
{
    char *conninfo = fresh_db();
    char *err = NULL;
    int applied = -1;

    if (migrate_run(conninfo, MIGRATE_TIMEOUT_MS, &applied, &err) != 0)
        fail_msg("migrate_run: %s", err);
    assert_int_equal(applied, (int)cb_migrations_count);
    return conninfo;
}

static int group_setup(void **state)
{
    const char *env = getenv("CB_TEST_ENV");
    PGconn *c;

    if (env == NULL) {
        print_error("CB_TEST_ENV is not set (run through ctest: the services fixture)\n");
        return -1;
    }
    g_admin = env_file_get(env, "CB_TEST_PG_CONNINFO");
    g_bindir = env_file_get(env, "CB_TEST_PG_BINDIR");
    if (g_admin == NULL) {
        print_error("no CB_TEST_PG_CONNINFO in %s\n", env);
        return -1;
    }
    c = PQconnectdb(g_admin);
    if (PQstatus(c) != CONNECTION_OK) {
        print_error("cannot reach the fixture's PostgreSQL: %s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    PQfinish(c);
    return 0;
}

static int group_teardown(void **state)
{
    PGconn *c = PQconnectdb(g_admin);
    PGresult *r;
    char *sql;

    for (size_t i = 0; i < g_ndbs; i++) {
        sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", g_dbs[i]);
        r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            print_error("cannot drop %s: %s", g_dbs[i], PQresultErrorMessage(r));
        PQclear(r);
        free(sql);
        free(g_dbs[i]);
    }
    PQfinish(c);
    free(g_admin);
    free(g_bindir);
    return 0;
}

/* ---- (a) + (b): from scratch, then nothing to do ---- */

static void test_fresh_then_rerun(void **state)
{
    static const char *tables[] = {"schema_migrations", "certificates", "api_definitions",
                                   "store_revision"};
    char *conninfo = fresh_db();
    char *err = NULL;
    int applied = -1;
    PGconn *c;
    char *sql;

    assert_int_equal(migrate_run(conninfo, MIGRATE_TIMEOUT_MS, &applied, &err), 0);
    assert_null(err);
    assert_int_equal(applied, (int)cb_migrations_count);
    c = connect_ok(conninfo);
    for (size_t i = 0; i < CB_ARRAY_LEN(tables); i++) {
        sql = xasprintf("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND "
                        "tablename = '%s'",
                        tables[i]);
        assert_int_equal(query_ll(c, sql), 1);
        free(sql);
    }
    assert_int_equal(query_ll(c, "SELECT count(*) FROM schema_migrations"),
                     (long long)cb_migrations_count);
    assert_int_equal(query_ll(c, "SELECT max(version) FROM schema_migrations"),
                     migrate_latest_version());
    assert_int_equal(query_ll(c, "SELECT revision FROM store_revision"), 0);

    applied = -1;
    assert_int_equal(migrate_run(conninfo, MIGRATE_TIMEOUT_MS, &applied, &err), 0);
    assert_int_equal(applied, 0);
    assert_int_equal(query_ll(c, "SELECT count(*) FROM schema_migrations"),
                     (long long)cb_migrations_count);
    /* applied may be NULL. */
    assert_int_equal(migrate_run(conninfo, MIGRATE_TIMEOUT_MS, NULL, &err), 0);
    PQfinish(c);
    free(conninfo);
}

/* ---- (c): two migrators at once ---- */

struct racer {
    const char *conninfo;
    pthread_barrier_t *start;
    int rc;
    int applied;
    char *err;
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;

    pthread_barrier_wait(r->start);
    r->rc = migrate_run(r->conninfo, MIGRATE_TIMEOUT_MS, &r->applied, &r->err);
    return NULL;
}

static void test_concurrent(void **state)
{
    char *conninfo = fresh_db();
    pthread_barrier_t start;
    struct racer r[2];
    pthread_t t[2];
    PGconn *c;

    assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
    for (int i = 0; i < 2; i++) {
        r[i] = (struct racer){conninfo, &start, -2, -1, NULL};
        assert_int_equal(pthread_create(&t[i], NULL, racer_main, &r[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < 2; i++) {
        if (r[i].rc != 0)
            fail_msg("migrator %d failed: %s", i, r[i].err);
    }
    /* The schema was applied once: one migrator did it all, the other found nothing to do. */
    assert_int_equal(r[0].applied + r[1].applied, (int)cb_migrations_count);
    assert_true(r[0].applied == 0 || r[1].applied == 0);
    c = connect_ok(conninfo);
    assert_int_equal(query_ll(c, "SELECT count(*) FROM schema_migrations"),
                     (long long)cb_migrations_count);
    assert_int_equal(query_ll(c, "SELECT count(*) FROM store_revision"), 1);
    PQfinish(c);
    free(conninfo);
}

/* ---- (d): the change feed ---- */

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The next certbound_changes payload as JSON, waiting at most NOTIFY_WAIT_MS. */
static json_t *next_notify(PGconn *listener)
{
    long long deadline = now_ms() + NOTIFY_WAIT_MS;
    struct pollfd pfd;
    PGnotify *n;
    json_t *j;

    for (;;) {
        assert_int_equal(PQconsumeInput(listener), 1);
        n = PQnotifies(listener);
        if (n != NULL) {
            assert_string_equal(n->relname, "certbound_changes");
            j = json_loads(n->extra, 0, NULL);
            if (j == NULL)
                fail_msg("notification payload is not JSON: %s", n->extra);
            PQfreemem(n);
            return j;
        }
        if (now_ms() >= deadline)
            fail_msg("no notification within %d ms", NOTIFY_WAIT_MS);
        pfd.fd = PQsocket(listener);
        pfd.events = POLLIN;
        pfd.revents = 0;
        (void)poll(&pfd, 1, (int)(deadline - now_ms()));
    }
}

static void expect_notify(PGconn *listener, const char *table, const char *op, const char *id,
                          long long revision)
{
    json_t *j = next_notify(listener);

    assert_int_equal(json_object_size(j), 4);
    assert_string_equal(json_string_value(json_object_get(j, "table")), table);
    assert_string_equal(json_string_value(json_object_get(j, "op")), op);
    assert_string_equal(json_string_value(json_object_get(j, "id")), id);
    assert_int_equal(json_integer_value(json_object_get(j, "revision")), revision);
    json_decref(j);
}

#define CERT_INSERT(id)                                                                            \
    "INSERT INTO certificates (id, org_id, kind, pem, meta) VALUES ('" id "', 'org1', "            \
    "'certificate', '-----BEGIN CERTIFICATE-----', '{}')"

static void test_trigger_and_notify(void **state)
{
    char *conninfo = migrated_db();
    PGconn *listener = connect_ok(conninfo);
    PGconn *w = connect_ok(conninfo);
    PGresult *r;

    exec_ok(listener, "LISTEN certbound_changes");
    exec_ok(w, CERT_INSERT("org1aaa"));
    expect_notify(listener, "certificates", "insert", "org1aaa", 1);
    assert_int_equal(query_ll(w, "SELECT revision FROM store_revision"), 1);

    exec_ok(w, "UPDATE certificates SET subject_cn = 'x' WHERE id = 'org1aaa'");
    expect_notify(listener, "certificates", "update", "org1aaa", 2);

    exec_ok(w, "INSERT INTO api_definitions (api_id, listen_path, definition, revision) VALUES "
               "('api1', '/a/', '{}', 3), ('api2', '/b/', '{}', 4)");
    expect_notify(listener, "api_definitions", "insert", "api1", 3);
    expect_notify(listener, "api_definitions", "insert", "api2", 4);

    /* A rolled-back change bumps nothing and announces nothing. */
    exec_ok(w, "BEGIN");
    exec_ok(w, CERT_INSERT("org1bbb"));
    exec_ok(w, "ROLLBACK");
    exec_ok(w, "DELETE FROM api_definitions WHERE api_id = 'api2'");
    expect_notify(listener, "api_definitions", "delete", "api2", 5);
    exec_ok(w, "DELETE FROM certificates");
    expect_notify(listener, "certificates", "delete", "org1aaa", 6);
    assert_int_equal(query_ll(w, "SELECT revision FROM store_revision"), 6);

    /* The store never holds a private key in clear, and store_revision has one row. */
    r = PQexec(w, "INSERT INTO certificates (id, kind, pem, meta) VALUES ('k', 'certificate', "
                  "'-----BEGIN PRIVATE KEY-----', '{}')");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    r = PQexec(w, "INSERT INTO store_revision (id, revision) VALUES (false, 0)");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    PQfinish(w);
    PQfinish(listener);
    free(conninfo);
}

/* ---- (e): schema/schema.sql is pg_dump of a migrated database ---- */

static char *find_pg_dump(void)
{
    char *p;
    char line[1024];
    FILE *f;

    if (g_bindir != NULL && g_bindir[0] != '\0') {
        p = xasprintf("%s/pg_dump", g_bindir);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    f = popen("pg_config --bindir 2>/dev/null", "r");
    if (f != NULL) {
        p = NULL;
        if (fgets(line, sizeof(line), f) != NULL) {
            line[strcspn(line, "\r\n")] = '\0';
            p = xasprintf("%s/pg_dump", line);
        }
        pclose(f);
        if (p != NULL && access(p, X_OK) == 0)
            return p;
        free(p);
    }
    for (int v = 30; v >= 10; v--) {
        p = xasprintf("/usr/lib/postgresql/%d/bin/pg_dump", v);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

static void run_pg_dump(const char *pg_dump, const char *conninfo, const char *out)
{
    int status = 0;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        execl(pg_dump, pg_dump, "--schema-only", "--no-owner", "--no-privileges", "-d", conninfo,
              "-f", out, (char *)NULL);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s failed (status %d)", pg_dump, status);
}

/* Lines that vary between runs or versions: comments, SETs, blank lines, \restrict keys. */
static bool line_is_noise(const char *l)
{
    return l[strspn(l, " \t\r\n")] == '\0' || strncmp(l, "--", 2) == 0 ||
           strncmp(l, "SET ", 4) == 0 || strncmp(l, "SELECT pg_catalog.set_config(", 29) == 0 ||
           strncmp(l, "\\restrict", 9) == 0 || strncmp(l, "\\unrestrict", 11) == 0;
}

/* The significant lines of a SQL file, each without its newline; NULL if unreadable. */
static char **sql_lines(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    char **v = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    *n = 0;
    if (f == NULL)
        return NULL;
    while ((len = getline(&line, &cap, f)) >= 0) {
        if (line_is_noise(line))
            continue;
        line[strcspn(line, "\r\n")] = '\0';
        v = xrealloc(v, (*n + 1) * sizeof(char *));
        v[(*n)++] = xstrdup(line);
    }
    free(line);
    fclose(f);
    return v != NULL ? v : xcalloc(1, sizeof(char *));
}

static void free_lines(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void write_schema(const char *dump, const char *dest)
{
    static const char header[] =
        "-- schema/schema.sql: the database schema after every migration (STYLE 2.14).\n"
        "-- Generated, do not edit: pg_dump --schema-only --no-owner --no-privileges of a\n"
        "-- database migrated from scratch by authd/migrate.c. Regenerate after adding a\n"
        "-- migration with:\n"
        "--   CB_UPDATE_SCHEMA=1 ctest --test-dir <build> -R integration.test_migrate\n"
        "-- integration.test_migrate fails while this file and migrations/ disagree.\n"
        "-- (pg_dump's \\restrict lines, which carry a random key, are left out.)\n\n";
    FILE *in = fopen(dump, "r");
    FILE *out = fopen(dest, "w");
    char *line = NULL;
    size_t cap = 0;

    assert_non_null(in);
    assert_non_null(out);
    fputs(header, out);
    while (getline(&line, &cap, in) >= 0) {
        if (strncmp(line, "\\restrict", 9) != 0 && strncmp(line, "\\unrestrict", 11) != 0)
            fputs(line, out);
    }
    free(line);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void test_schema_snapshot(void **state)
{
    const char *src = getenv("CB_TEST_SRCDIR");
    const char *bin = getenv("CB_TEST_BINDIR");
    char *conninfo = migrated_db();
    char *pg_dump = find_pg_dump();
    char *want_path;
    char *got_path;
    char **want;
    char **got;
    size_t nwant;
    size_t ngot;
    size_t i;

    assert_non_null(src);
    if (pg_dump == NULL)
        fail_msg("pg_dump not found (CB_TEST_PG_BINDIR, pg_config --bindir, /usr/lib/postgresql)");
    want_path = xasprintf("%s/schema/schema.sql", src);
    got_path = xasprintf("%s/schema.generated.sql", bin != NULL ? bin : ".");
    run_pg_dump(pg_dump, conninfo, got_path);
    if (getenv("CB_UPDATE_SCHEMA") != NULL && strcmp(getenv("CB_UPDATE_SCHEMA"), "1") == 0)
        write_schema(got_path, want_path);
    want = sql_lines(want_path, &nwant);
    got = sql_lines(got_path, &ngot);
    if (want == NULL)
        fail_msg("cannot read %s", want_path);
    i = 0;
    while (i < nwant && i < ngot && strcmp(want[i], got[i]) == 0)
        i++;
    if (i < nwant || i < ngot) {
        print_error("schema/schema.sql differs from pg_dump of a freshly migrated database "
                    "(significant line %zu):\n  schema.sql: %s\n  pg_dump:    %s\n"
                    "See: diff -u %s %s\nIf the migrations are right, regenerate: "
                    "CB_UPDATE_SCHEMA=1 ctest --test-dir %s -R integration.test_migrate\n",
                    i + 1, i < nwant ? want[i] : "<end>", i < ngot ? got[i] : "<end>", want_path,
                    got_path, bin != NULL ? bin : "<build>");
        fail();
    }
    free_lines(want, nwant);
    free_lines(got, ngot);
    free(want_path);
    free(got_path);
    free(pg_dump);
    free(conninfo);
}

/* ---- errors ---- */

static void test_lock_timeout(void **state)
{
    char *conninfo = migrated_db();
    PGconn *holder = connect_ok(conninfo);
    char *lock = xasprintf("SELECT pg_advisory_lock(%lld)", (long long)MIGRATE_LOCK_KEY);
    char *unlock = xasprintf("SELECT pg_advisory_unlock(%lld)", (long long)MIGRATE_LOCK_KEY);
    char *err = NULL;
    long long t0;

    /* Someone else migrating: we wait for the lock, bounded by the timeout. */
    exec_ok(holder, lock);
    t0 = now_ms();
    assert_int_equal(migrate_run(conninfo, 300, NULL, &err), -1);
    assert_true(now_ms() - t0 < 10000);
    assert_non_null(err);
    assert_non_null(strstr(err, "migration lock"));
    assert_non_null(strstr(err, "statement timeout"));
    free(err);
    exec_ok(holder, unlock);
    assert_int_equal(migrate_run(conninfo, 300, NULL, &err), 0);
    PQfinish(holder);
    free(lock);
    free(unlock);
    free(conninfo);
}

static void test_connect_errors(void **state)
{
    char *conninfo =
        xasprintf("%s dbname=cb_no_such_db_%ld password=hunter2", g_admin, (long)getpid());
    char *err = NULL;
    int applied = 7;

    assert_int_equal(migrate_run(conninfo, 2000, &applied, &err), -1);
    assert_int_equal(applied, 0);
    assert_non_null(err);
    assert_non_null(strstr(err, "migrate: connecting to PostgreSQL"));
    assert_non_null(strstr(err, "cb_no_such_db_"));
    assert_null(strstr(err, "hunter2"));
    free(err);
    free(conninfo);
    /* A conninfo libpq cannot parse. */
    assert_int_equal(migrate_run("host=/x password=hunter2 bogus", 2000, NULL, &err), -1);
    assert_null(strstr(err, "hunter2"));
    free(err);
    assert_int_equal(migrate_run(NULL, 2000, NULL, &err), -1);
    free(err);
}

static void scrub_is(const char *in, const char *want)
{
    char *out = migrate_scrub_password(in);

    assert_string_equal(out, want);
    free(out);
}

static void test_scrub(void **state)
{
    scrub_is("host=/x password=hunter2 user=u", "host=/x password=*** user=u");
    scrub_is("password = 'a b\\' c' dbname=x", "password = *** dbname=x");
    scrub_is("invalid: \"PASSWORD=x\"", "invalid: \"PASSWORD=***\"");
    scrub_is("postgresql://u:hunter2@host/db", "postgresql://u:***@host/db");
    scrub_is("postgresql://host:5432/db", "postgresql://host:5432/db");
    scrub_is("password authentication failed for user \"u\"",
             "password authentication failed for user \"u\"");
    scrub_is("password=", "password=***");
    scrub_is("", "");
    assert_true(migrate_latest_version() >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrub),           cmocka_unit_test(test_fresh_then_rerun),
        cmocka_unit_test(test_concurrent),      cmocka_unit_test(test_trigger_and_notify),
        cmocka_unit_test(test_schema_snapshot), cmocka_unit_test(test_lock_timeout),
        cmocka_unit_test(test_connect_errors),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
