#!/usr/bin/env bash
#
# services.sh: a private redis-server and a private PostgreSQL cluster under one directory, for
# the `services` CTest fixture, for tests that need their own instance to kill, and for
# developers. Not for production: no persistence, trust auth, fsync off.
#
#   services.sh start DIR          (re)create both servers from scratch under DIR, write DIR/env
#   services.sh stop DIR           stop both (logs and data stay in DIR for post-mortem)
#   services.sh stop-redis DIR     stop / start one server, keeping its data and socket path
#   services.sh start-redis DIR
#   services.sh restart-redis DIR
#   services.sh stop-pg DIR        (shutdown mode: $CB_PG_STOP_MODE, default immediate)
#   services.sh start-pg DIR
#   services.sh start-pg-tls DIR PORT CERT KEY   a separate PostgreSQL under DIR (not the
#                                  fixture's) on 127.0.0.1:PORT with ssl=on and that server
#                                  certificate; trust auth; its socket in DIR/sock
#   services.sh set-pg-tls-cert DIR CERT KEY     replace its server certificate and reload
#   services.sh stop-pg-tls DIR
#
# Neither server listens on TCP: Redis has `--port 0` and a unix socket, PostgreSQL has
# listen_addresses='' and its socket in a private directory, so a fixed PostgreSQL port cannot
# collide with anything (the port only names the socket file). DIR/env holds KEY=VALUE lines,
# unquoted (values may hold spaces; the C tests read it):
#   CB_TEST_REDIS_SOCK, CB_TEST_PG_HOST, CB_TEST_PG_PORT, CB_TEST_PG_CONNINFO,
#   CB_TEST_PG_BINDIR, CB_TEST_SERVICES_DIR
# DIR/env.sh exports the same for a shell:  . DIR/env.sh; psql "$CB_TEST_PG_CONNINFO"
# Logs stay in DIR/redis/redis.log and DIR/pg/postgres.log. Set CB_PG_BINDIR to pick a
# PostgreSQL version.
#
# PostgreSQL refuses to run as root. As root, initdb/pg_ctl run as the `postgres` user (or a
# `cbtest` system user created on demand) through runuser. Every wait is a bounded poll.

set -euo pipefail

PG_PORT=55432           # names the socket file only; the socket directory is private
PG_SUPERUSER=postgres
WAIT_STEPS=100          # polls of 0.1 s: 10 s
SUN_PATH_MAX=100        # sockaddr_un.sun_path is 108 bytes; keep a margin

die() {
    echo "services.sh: error: $*" >&2
    exit 1
}

log() {
    echo "services.sh: $*"
}

usage() {
    echo "usage: $0 start|stop|restart-redis|stop-redis|start-redis|stop-pg|start-pg DIR" >&2
    echo "       $0 start-pg-tls DIR PORT CERT KEY | set-pg-tls-cert DIR CERT KEY | stop-pg-tls DIR" >&2
    exit 2
}

show_log_tail() {
    # $1 = label, $2 = file
    if [ -f "$2" ]; then
        echo "---- last lines of $1 ($2) ----" >&2
        tail -n 40 "$2" >&2 || true
        echo "---- end of $1 ----" >&2
    fi
}

# ---------------------------------------------------------------------------------------------
# Layout and discovery

set_paths() {
    DIR=$(cd "$1" && pwd -P)
    REDIS_DIR=$DIR/redis
    REDIS_PID=$REDIS_DIR/redis.pid
    REDIS_LOG=$REDIS_DIR/redis.log
    PG_LINK=$DIR/pg
    ENV_FILE=$DIR/env
}

# The unix socket paths must fit sun_path, and the PostgreSQL user must reach them: use DIR/run
# when both hold, else a /tmp directory. Its path is recorded in DIR/sockdir (and reused by
# start-redis/start-pg, so a restarted server keeps its socket path).
choose_sockdir() {
    local want=$DIR/run
    if [ "$PG_REACH" = 1 ] && [ $((${#want} + 20)) -le $SUN_PATH_MAX ]; then
        SOCKDIR=$want
        mkdir -p "$SOCKDIR"
    else
        SOCKDIR=$(mktemp -d /tmp/cbsock.XXXXXX)
    fi
    chmod 755 "$SOCKDIR"
    echo "$SOCKDIR" >"$DIR/sockdir"
}

load_sockdir() {
    [ -f "$DIR/sockdir" ] || die "$DIR was not set up by 'services.sh start' (no $DIR/sockdir)"
    SOCKDIR=$(cat "$DIR/sockdir")
    REDIS_SOCK=$SOCKDIR/redis.sock
    PG_SOCKDIR=$SOCKDIR/pg
}

find_pg_bindir() {
    local d
    if [ -n "${CB_PG_BINDIR:-}" ] && [ -x "$CB_PG_BINDIR/initdb" ]; then
        PG_BINDIR=$CB_PG_BINDIR
        return
    fi
    if command -v pg_config >/dev/null 2>&1; then
        d=$(pg_config --bindir 2>/dev/null || true)
        if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            PG_BINDIR=$d
            return
        fi
    fi
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5 -rn); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            PG_BINDIR=$d
            return
        fi
    done
    die "no PostgreSQL server binaries (initdb, pg_ctl) found; install postgresql-15" \
        "(apt-get install postgresql) or set CB_PG_BINDIR"
}

# As root, PostgreSQL runs as PG_OSUSER through runuser; otherwise as the caller.
find_pg_osuser() {
    if [ "$(id -u)" != 0 ]; then
        PG_OSUSER=
        return
    fi
    if id -u postgres >/dev/null 2>&1; then
        PG_OSUSER=postgres
    else
        if ! id -u cbtest >/dev/null 2>&1; then
            useradd --system --no-create-home --shell /usr/sbin/nologin cbtest ||
                die "cannot create the cbtest system user to run PostgreSQL as"
        fi
        PG_OSUSER=cbtest
    fi
}

as_pg() {
    if [ -n "$PG_OSUSER" ]; then
        (cd / && runuser -u "$PG_OSUSER" -- "$@")
    else
        "$@"
    fi
}

# Can the PostgreSQL user reach DIR? Not when it is, say, a build tree under a 0700 home.
check_pg_reach() {
    PG_REACH=1
    if [ -n "$PG_OSUSER" ]; then
        chmod a+x "$DIR"
        if ! as_pg test -x "$DIR"; then
            PG_REACH=0
        fi
    fi
}

# The PostgreSQL tree is DIR/pg, or a /tmp directory that DIR/pg links to when the PostgreSQL
# user cannot reach DIR.
choose_pg_root() {
    local root
    if [ "$PG_REACH" = 1 ]; then
        mkdir -p "$PG_LINK"
    else
        root=$(mktemp -d /tmp/cbpg.XXXXXX)
        chmod 755 "$root"
        ln -sfn "$root" "$PG_LINK"
    fi
}

pg_paths() {
    if [ -L "$PG_LINK" ]; then
        PG_ROOT=$(readlink "$PG_LINK")
    else
        PG_ROOT=$PG_LINK
    fi
    PG_DATA=$PG_ROOT/data
    PG_LOG=$PG_ROOT/postgres.log
}

# ---------------------------------------------------------------------------------------------
# Redis

# kill -0 also succeeds on a zombie waiting for its (re)parent to reap it: that one is dead.
pid_alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(sed -e 's/^.*) //' -e 's/ .*$//' "/proc/$1/stat" 2>/dev/null || echo X)
    [ "$state" != Z ] && [ "$state" != X ]
}

redis_pid_alive() {
    local pid
    [ -f "$REDIS_PID" ] || return 1
    pid=$(cat "$REDIS_PID" 2>/dev/null || true)
    [ -n "$pid" ] || return 1
    pid_alive "$pid" || return 1
    grep -q redis "/proc/$pid/comm" 2>/dev/null
}

start_redis() {
    local i
    load_sockdir
    mkdir -p "$REDIS_DIR"
    if redis_pid_alive; then
        log "redis already running (pid $(cat "$REDIS_PID"))"
        return
    fi
    rm -f "$REDIS_PID"
    command -v redis-server >/dev/null 2>&1 ||
        die "redis-server not found; install redis-server (apt-get install redis-server)"
    if ! redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
        --save '' --appendonly no --daemonize yes --pidfile "$REDIS_PID" \
        --logfile "$REDIS_LOG" --dir "$REDIS_DIR" --enable-debug-command local; then
        show_log_tail redis "$REDIS_LOG"
        die "redis-server failed to start"
    fi
    for ((i = 0; i < WAIT_STEPS; i++)); do
        if [ -S "$REDIS_SOCK" ] &&
            [ "$(redis-cli -s "$REDIS_SOCK" ping 2>/dev/null || true)" = PONG ]; then
            log "redis ready on $REDIS_SOCK (pid $(cat "$REDIS_PID" 2>/dev/null || echo ?))"
            return
        fi
        sleep 0.1
    done
    show_log_tail redis "$REDIS_LOG"
    die "redis did not answer PING on $REDIS_SOCK within $((WAIT_STEPS / 10)) s"
}

stop_redis() {
    local pid i
    if ! redis_pid_alive; then
        rm -f "$REDIS_PID"
        return 0
    fi
    pid=$(cat "$REDIS_PID")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < WAIT_STEPS; i++)); do
        pid_alive "$pid" || break
        sleep 0.1
    done
    if pid_alive "$pid"; then
        echo "services.sh: redis (pid $pid) ignored SIGTERM, killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < WAIT_STEPS; i++)); do
            pid_alive "$pid" || break
            sleep 0.1
        done
    fi
    rm -f "$REDIS_PID"
    log "redis stopped"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

pg_running() {
    [ -f "$PG_DATA/postmaster.pid" ] || return 1
    as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

init_pg() {
    local conf
    if [ -n "$PG_OSUSER" ]; then
        chown "$PG_OSUSER" "$PG_ROOT"
    fi
    mkdir -p "$PG_SOCKDIR"
    if [ -n "$PG_OSUSER" ]; then
        chown "$PG_OSUSER" "$PG_SOCKDIR"
    fi
    if ! as_pg "$PG_BINDIR/initdb" -D "$PG_DATA" -U "$PG_SUPERUSER" -A trust -E UTF8 \
        --locale=C --no-sync >"$PG_ROOT/initdb.log" 2>&1; then
        show_log_tail initdb "$PG_ROOT/initdb.log"
        die "initdb failed"
    fi
    conf=$PG_DATA/postgresql.conf
    as_pg tee -a "$conf" >/dev/null <<EOF

# services.sh: private test cluster
listen_addresses = ''
unix_socket_directories = '$PG_SOCKDIR'
port = $PG_PORT
# fsync off is safe against a server crash (stop-pg's immediate mode): a commit is still
# written to the OS before it is acknowledged; synchronous_commit stays on for that reason.
fsync = off
full_page_writes = off
max_connections = 100
shared_buffers = 32MB
log_min_messages = warning
log_line_prefix = '%m [%p] %d '
EOF
}

start_pg() {
    load_sockdir
    pg_paths
    [ -d "$PG_DATA" ] || die "no PostgreSQL data directory in $PG_DATA; run 'services.sh start' first"
    if pg_running; then
        log "postgres already running"
        return
    fi
    if ! as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 30 start >/dev/null; then
        show_log_tail postgres "$PG_LOG"
        die "PostgreSQL did not start"
    fi
    log "postgres ready in $PG_SOCKDIR port $PG_PORT"
}

stop_pg() {
    local mode=${1:-fast} pid
    pg_paths
    [ -f "$PG_DATA/postmaster.pid" ] || return 0
    if ! pg_running; then
        return 0
    fi
    pid=$(head -n 1 "$PG_DATA/postmaster.pid")
    if ! as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m "$mode" -w -t 20 stop >/dev/null 2>&1; then
        echo "services.sh: pg_ctl stop failed, killing postmaster $pid" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    log "postgres stopped ($mode)"
}

# ---------------------------------------------------------------------------------------------
# A TLS PostgreSQL of its own (tests of sslmode=verify-full)

tls_paths() {
    TLS_ROOT=$(cd "$1" && pwd -P)
    TLS_DATA=$TLS_ROOT/data
    TLS_LOG=$TLS_ROOT/postgres.log
    TLS_SOCK=$TLS_ROOT/sock
}

install_tls_cert() {
    cp "$1" "$TLS_DATA/server.crt"
    cp "$2" "$TLS_DATA/server.key"
    chmod 600 "$TLS_DATA/server.key"
    if [ -n "$PG_OSUSER" ]; then
        chown "$PG_OSUSER" "$TLS_DATA/server.crt" "$TLS_DATA/server.key"
    fi
}

start_pg_tls() {
    local port=$1 cert=$2 key=$3
    [ -f "$cert" ] && [ -f "$key" ] || die "start-pg-tls: no such certificate/key: $cert $key"
    mkdir -p "$TLS_SOCK"
    chmod 755 "$TLS_ROOT"
    if [ -n "$PG_OSUSER" ]; then
        chown "$PG_OSUSER" "$TLS_ROOT" "$TLS_SOCK"
    fi
    if ! as_pg "$PG_BINDIR/initdb" -D "$TLS_DATA" -U "$PG_SUPERUSER" -A trust -E UTF8 \
        --locale=C --no-sync >"$TLS_ROOT/initdb.log" 2>&1; then
        show_log_tail initdb "$TLS_ROOT/initdb.log"
        die "initdb failed"
    fi
    install_tls_cert "$cert" "$key"
    as_pg tee -a "$TLS_DATA/postgresql.conf" >/dev/null <<EOF

# services.sh start-pg-tls: TLS test cluster
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$TLS_SOCK'
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
fsync = off
full_page_writes = off
max_connections = 40
shared_buffers = 16MB
log_min_messages = warning
EOF
    if ! as_pg "$PG_BINDIR/pg_ctl" -D "$TLS_DATA" -l "$TLS_LOG" -w -t 30 start >/dev/null; then
        show_log_tail postgres "$TLS_LOG"
        die "the TLS PostgreSQL did not start"
    fi
    log "TLS postgres ready on 127.0.0.1:$port (socket $TLS_SOCK)"
}

set_pg_tls_cert() {
    install_tls_cert "$1" "$2"
    as_pg "$PG_BINDIR/pg_ctl" -D "$TLS_DATA" reload >/dev/null || die "pg_ctl reload failed"
    log "TLS postgres: server certificate replaced"
}

stop_pg_tls() {
    [ -f "$TLS_DATA/postmaster.pid" ] || return 0
    as_pg "$PG_BINDIR/pg_ctl" -D "$TLS_DATA" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
    log "TLS postgres stopped"
}

# ---------------------------------------------------------------------------------------------
# Commands

write_env() {
    local tmp=$ENV_FILE.tmp
    cat >"$tmp" <<EOF
CB_TEST_REDIS_SOCK=$REDIS_SOCK
CB_TEST_PG_HOST=$PG_SOCKDIR
CB_TEST_PG_PORT=$PG_PORT
CB_TEST_PG_CONNINFO=host=$PG_SOCKDIR port=$PG_PORT dbname=postgres user=$PG_SUPERUSER
CB_TEST_PG_BINDIR=$PG_BINDIR
CB_TEST_SERVICES_DIR=$DIR
EOF
    mv "$tmp" "$ENV_FILE"
    # The same, quoted, for shells: values hold spaces.
    sed -e "s/'/'\\\\''/g" -e "s/^\([A-Z_]*\)=\(.*\)$/export \1='\2'/" "$ENV_FILE" >"$DIR/env.sh"
}

cmd_stop_all() {
    if [ -f "$DIR/sockdir" ]; then
        load_sockdir
    fi
    stop_redis
    stop_pg fast
}

# Remove a directory only if this script made it.
remove_ours() {
    case $1 in
    "$DIR/run" | /tmp/cbsock.* | /tmp/cbpg.*) rm -rf "$1" ;;
    *) ;;
    esac
}

cmd_start() {
    cmd_stop_all
    # Fresh state, touching only what this script creates inside DIR.
    remove_ours "$(cat "$DIR/sockdir" 2>/dev/null || true)"
    if [ -L "$PG_LINK" ]; then
        remove_ours "$(readlink "$PG_LINK")"
    fi
    rm -rf "$PG_LINK" "$REDIS_DIR" "$DIR/run" "$DIR/sockdir" "$ENV_FILE" "$DIR/env.sh"
    check_pg_reach
    choose_sockdir
    load_sockdir
    choose_pg_root
    pg_paths
    start_redis
    init_pg
    start_pg
    write_env
    log "services up; environment in $ENV_FILE (for a shell: . $DIR/env.sh)"
}

main() {
    local cmd
    case ${1:-} in
    start-pg-tls | set-pg-tls-cert | stop-pg-tls)
        [ $# -ge 2 ] && [ -d "$2" ] || usage
        cmd=$1
        tls_paths "$2"
        find_pg_bindir
        find_pg_osuser
        case $cmd in
        start-pg-tls) [ $# -eq 5 ] || usage; start_pg_tls "$3" "$4" "$5" ;;
        set-pg-tls-cert) [ $# -eq 4 ] || usage; set_pg_tls_cert "$3" "$4" ;;
        stop-pg-tls) stop_pg_tls ;;
        esac
        return
        ;;
    esac
    [ $# -eq 2 ] || usage
    cmd=$1
    case $cmd in
    start | stop | restart-redis | stop-redis | start-redis | stop-pg | start-pg) ;;
    *) usage ;;
    esac
    if [ "$cmd" = start ]; then
        mkdir -p "$2" || die "cannot create $2"
    elif [ "$cmd" = stop ] && [ ! -d "$2" ]; then
        log "nothing to stop in $2"
        exit 0
    fi
    [ -d "$2" ] || die "$2 is not a directory"
    set_paths "$2"
    find_pg_bindir
    find_pg_osuser
    case $cmd in
    start) cmd_start ;;
    stop) cmd_stop_all ;;
    stop-redis) load_sockdir && stop_redis ;;
    start-redis) start_redis ;;
    restart-redis) load_sockdir && stop_redis && start_redis ;;
    stop-pg) load_sockdir && stop_pg "${CB_PG_STOP_MODE:-immediate}" ;;
    start-pg) start_pg ;;
    esac
}

main "$@"
