#!/usr/bin/env bash
# bench/run.sh: certbound-proxy vs nginx, same machine, same run, same certificates, same
# upstream. See bench/README.md. Every knob is an environment variable:
#
#   DUR=8 WARM=2 REPS=1 CONC=32   measuring window (s), warm-up (s), repetitions, connections
#   QUICK=1                       smoke run: DUR=2 WARM=1 (unless set explicitly)
#   PIN=1                         servers on cpu $SERVER_CPU [1], load generator on $LOAD_CPU [0]
#                                 (default 1 when the machine has 2+ cores)
#   TARGETS="nginx cb-static cb-certauth"   what to measure (interleaved in each repetition)
#   LOADS="newconn keepalive"     full handshake per request / persistent connections
#   BUILD=1                       build the project (cmake release preset); 0 = use build/bin
#   INSTALL=1                     install missing Debian packages; 0 = only check
#   LOADGEN_THREADS=1             threads of the load generator
#   SPLIT_DOMAINS=1               each certbound API on its own domain (SNI) so that each
#                                 gets its natural handshake policy; 0 = both on domain ""
#   AUTH_CACHE_MS=                proxy's auth_cache_ms (empty = the proxy's default)
#   QUIET_MAX=15 QUIET_WAIT=60    before each measurement wait up to QUIET_WAIT s until the
#                                 machine is less than QUIET_MAX % busy (QUICK: QUIET_WAIT=5)
#   QUIET_BUDGET=300              at most this many seconds of such waiting per run
#   FOREIGN_MAX=10 RETRIES=2      a measurement during which other work took more than
#                                 FOREIGN_MAX % of the machine is repeated, up to RETRIES times
#                                 (QUICK: RETRIES=0; none once QUIET_BUDGET is spent); every
#                                 attempt stays in raw.tsv, the least disturbed one has used=1
#
# Writes: bench/build/ (load generator), bench/run/ (configs, logs, PKI, private Redis +
# PostgreSQL; recreated each run), bench/results/raw.tsv (appended), bench/results/
# summary-<run>.md and latest.md. Stops everything it started, by PID, on exit.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
RUN=$BENCH/run
OUT=$BENCH/results
BIN=$ROOT/build/bin
T0=$(date +%s)
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)

if [ "${QUICK:-0}" = 1 ]; then
    DUR=${DUR:-2}
    WARM=${WARM:-1}
    QUIET_WAIT=${QUIET_WAIT:-5}
    RETRIES=${RETRIES:-0}
fi
QUIET_MAX=${QUIET_MAX:-15}
QUIET_BUDGET=${QUIET_BUDGET:-300}
FOREIGN_MAX=${FOREIGN_MAX:-10}
RETRIES=${RETRIES:-2}
CLK_TCK=$(getconf CLK_TCK)
QUIET_WAIT=${QUIET_WAIT:-60}
DUR=${DUR:-8}
WARM=${WARM:-2}
REPS=${REPS:-1}
CONC=${CONC:-32}
NCPU=$(nproc)
if [ -z "${PIN:-}" ]; then
    if [ "$NCPU" -ge 2 ]; then PIN=1; else PIN=0; fi
fi
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
TARGETS=${TARGETS:-nginx cb-static cb-certauth}
LOADS=${LOADS:-newconn keepalive}
BUILD=${BUILD:-1}
INSTALL=${INSTALL:-1}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
SPLIT_DOMAINS=${SPLIT_DOMAINS:-1}
AUTH_CACHE_MS=${AUTH_CACHE_MS:-}

SRV_PIN=()
LG_PIN=()
if [ "$PIN" = 1 ]; then
    SRV_PIN=(taskset -c "$SERVER_CPU")
    LG_PIN=(taskset -c "$LOAD_CPU")
fi

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

# ---------------------------------------------------------------------------------------------
# Processes we start: name -> pid. Stopped in reverse order on exit, by PID only.

PNAMES=()
PIDS=()

track() { PNAMES+=("$1"); PIDS+=("$2"); }

stop_pid() {
    local name=$1 pid=$2 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name (pid $pid) ignored SIGTERM for 5 s, killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

SERVICES_STARTED=0
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${PNAMES[$i]}" "${PIDS[$i]}"
    done
    if [ "$SERVICES_STARTED" = 1 ]; then
        bash "$ROOT/tests/harness/services.sh" stop "$RUN/services" >/dev/null 2>&1 || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD... : background, pinned to the server CPU, stdout+stderr to run/NAME.log
start() {
    local name=$1
    shift
    "${SRV_PIN[@]}" "$@" >"$RUN/$name.log" 2>&1 &
    track "$name" $!
    echo $! >"$RUN/$name.pid"
}

alive() { # NAME
    local i
    for ((i = 0; i < ${#PNAMES[@]}; i++)); do
        if [ "${PNAMES[$i]}" = "$1" ]; then
            kill -0 "${PIDS[$i]}" 2>/dev/null
            return
        fi
    done
    return 1
}

# ---------------------------------------------------------------------------------------------
# Set-up helpers

port_free() { # nobody listens on it, and no socket at all uses it as its local port
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || return 1
    ! command -v ss >/dev/null 2>&1 || [ -z "$(ss -Htan "sport = :$1" 2>/dev/null)" ]
}

# A free loopback port below the ephemeral range (so that no outgoing connection can take it
# between the check and the bind), different from those picked before in this run.
PICKED=" "
free_port() {
    local p i lo
    lo=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$lo" -gt 12000 ] || lo=32768
    for i in $(seq 200); do
        p=$((10000 + RANDOM % (lo - 10000)))
        case $PICKED in *" $p "*) continue ;; esac
        if port_free "$p"; then
            PICKED="$PICKED$p "
            echo "$p"
            return
        fi
    done
    die "no free port found"
}

wait_port() { # PORT NAME SECONDS
    local i
    for i in $(seq $(($3 * 10))); do
        port_free "$1" || return 0
        alive "$2" || return 1
        sleep 0.1
    done
    return 1
}

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

install_deps() {
    local missing=() p sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    if [ "$INSTALL" = 1 ]; then
        bash "$ROOT/etc/deps.sh"
    fi
    if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
        missing+=(nginx-light)
    fi
    for p in openssl curl util-linux iproute2; do
        pkg_installed "$p" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        [ "$INSTALL" = 1 ] || die "missing packages: ${missing[*]} (INSTALL=0)"
        say "installing ${missing[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
        say "note: if the distribution started nginx on port 80, stop it before benchmarking"
    fi
    NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
}

render() { # TEMPLATE OUT PORT
    sed -e "s|@RUN@|$RUN|g" -e "s|@PKI@|$PKI|g" -e "s|@UP_PORT@|$UP_PORT|g" -e "s|@PORT@|$3|g" \
        "$1" >"$2"
}

start_nginx() { # NAME TEMPLATE PORT
    render "$BENCH/conf/$2" "$RUN/$1.conf" "$3"
    "$NGINX" -t -q -p "$RUN" -c "$RUN/$1.conf" -e "$RUN/$1.err" ||
        die "nginx rejects $RUN/$1.conf"
    start "$1" "$NGINX" -p "$RUN" -c "$RUN/$1.conf" -e "$RUN/$1.err"
    wait_port "$3" "$1" 10 || { tail -n 20 "$RUN/$1.err" "$RUN/$1.log" >&2; die "$1 did not start"; }
}

# status SNI PORT PATH [curl args]: the HTTP status (000 = TLS/connection failure)
status() {
    local sni=$1 port=$2 path=$3
    shift 3
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 --tlsv1.3 --cacert "$PKI/ca.crt" \
        --resolve "$sni:$port:127.0.0.1" "$@" "https://$sni:$port$path" 2>/dev/null || true
}

# check_target LABEL SNI PORT PATH: 200 with client1, refused without a cert and with rogue.
CHECK_WHY=
check_target() {
    local label=$1 sni=$2 port=$3 path=$4 s
    s=$(status "$sni" "$port" "$path" --cert "$PKI/client1.crt" --key "$PKI/client1.key")
    [ "$s" = 200 ] || { CHECK_WHY="$label: client1 got $s, want 200"; return 1; }
    s=$(status "$sni" "$port" "$path")
    [ "$s" != 200 ] || { CHECK_WHY="$label: no client certificate got 200"; return 1; }
    local s_none=$s
    s=$(status "$sni" "$port" "$path" --cert "$PKI/rogue.crt" --key "$PKI/rogue.key")
    [ "$s" != 200 ] || { CHECK_WHY="$label: the rogue certificate got 200"; return 1; }
    say "check $label: client1 200, no cert ${s_none/000/TLS failure}, rogue ${s/000/TLS failure}"
}

# ---------------------------------------------------------------------------------------------
# certbound: private Redis + PostgreSQL, authd, API definitions, key, proxy

# Per target: SKIP[target] = why it is not measured (unset = measured).
declare -A SKIP=()
SNI_STATIC=localhost
SNI_CERTAUTH=localhost

cb_skip() { # WHY: skip every certbound target
    local t
    for t in $TARGETS; do
        [ "$t" = nginx ] || SKIP[$t]=$1
    done
    say "SKIPPING the certbound rows: $1"
    return 1
}

cb_api() { # METHOD PATH [curl args] -> body on stdout, fails on non-2xx
    local m=$1 p=$2
    shift 2
    curl -sS --fail-with-body --max-time 10 -X "$m" -H "X-Tyk-Authorization: $SECRET" "$@" \
        "http://127.0.0.1:$AUTHD_HTTP$p"
}

setup_certbound() {
    local i cert_id domain_static='' domain_certauth=''
    [ -x "$BIN/certbound-authd" ] || { cb_skip "$BIN/certbound-authd is missing (build failed?)"; return 1; }

    say "starting private Redis + PostgreSQL"
    SERVICES_STARTED=1
    "${SRV_PIN[@]}" bash "$ROOT/tests/harness/services.sh" start "$RUN/services" >"$RUN/services.log" 2>&1 ||
        { tail -n 20 "$RUN/services.log" >&2; cb_skip "services.sh start failed"; return 1; }
    # shellcheck disable=SC1091
    . "$RUN/services/env.sh"
    psql "$CB_TEST_PG_CONNINFO" -qc "CREATE DATABASE certbound" >/dev/null

    SECRET=$(openssl rand -hex 16)
    cat >"$RUN/authd.json" <<JSON
{
  "listen_address": "127.0.0.1",
  "listen_port": 0,
  "rpc_listen": "127.0.0.1:0",
  "secret": "$SECRET",
  "log_level": "warn",
  "redis": { "unix_socket": "$CB_TEST_REDIS_SOCK" },
  "postgres": { "conninfo": "host=$CB_TEST_PG_HOST port=$CB_TEST_PG_PORT dbname=certbound user=postgres" },
  "security": { "private_certificate_encoding_secret": "$(openssl rand -hex 32)" }
}
JSON
    chmod 600 "$RUN/authd.json"
    rm -f "$RUN/authd.ready"
    start authd "$BIN/certbound-authd" --config "$RUN/authd.json" --ready-file "$RUN/authd.ready"
    for i in $(seq 150); do
        [ -s "$RUN/authd.ready" ] && break
        alive authd || break
        sleep 0.1
    done
    [ -s "$RUN/authd.ready" ] || { tail -n 20 "$RUN/authd.log" >&2; cb_skip "certbound-authd did not start"; return 1; }
    AUTHD_HTTP=$(sed -n 's/.*"http_port":\([0-9]*\).*/\1/p' "$RUN/authd.ready")
    AUTHD_RPC=$(sed -n 's/.*"rpc_port":\([0-9]*\).*/\1/p' "$RUN/authd.ready")
    say "authd up: http $AUTHD_HTTP, rpc $AUTHD_RPC"

    # The client certificate (with its key, as a Tyk user would upload it), org "bench".
    cb_api POST "/tyk/certs?org_id=bench" --data-binary @"$PKI/client1.pem" >"$RUN/cert-upload.json" ||
        { cat "$RUN/cert-upload.json" >&2; cb_skip "certificate upload failed"; return 1; }
    cert_id=bench$(openssl x509 -in "$PKI/client1.crt" -outform DER | sha256sum | cut -d' ' -f1)
    grep -q "$cert_id" "$RUN/cert-upload.json" ||
        { cat "$RUN/cert-upload.json" >&2; cb_skip "certificate upload answered an unexpected id"; return 1; }

    if [ "$SPLIT_DOMAINS" = 1 ]; then
        SNI_STATIC=static.localhost
        SNI_CERTAUTH=certauth.localhost
        domain_static=$SNI_STATIC
        domain_certauth=$SNI_CERTAUTH
    fi
    # Static allowlist: keyless, use_mutual_tls_auth, client1 allowlisted.
    cb_api POST /tyk/apis -d @- >"$RUN/api-static.json" <<JSON ||
{"api_id":"bench-static","name":"bench static allowlist","org_id":"bench","active":true,
 "domain":"$domain_static","use_keyless":true,"use_mutual_tls_auth":true,
 "client_certificates":["$cert_id"],
 "proxy":{"listen_path":"/static/","target_url":"http://127.0.0.1:$UP_PORT","strip_listen_path":true}}
JSON
        { cat "$RUN/api-static.json" >&2; cb_skip "creating the static-allowlist API failed"; return 1; }
    # Certificate Auth: the session bound to client1 authorizes.
    cb_api POST /tyk/apis -d @- >"$RUN/api-certauth.json" <<JSON ||
{"api_id":"bench-certauth","name":"bench Certificate Auth","org_id":"bench","active":true,
 "domain":"$domain_certauth","auth_configs":{"authToken":{"use_certificate":true}},
 "proxy":{"listen_path":"/certauth/","target_url":"http://127.0.0.1:$UP_PORT","strip_listen_path":true}}
JSON
        { cat "$RUN/api-certauth.json" >&2; cb_skip "creating the Certificate Auth API failed"; return 1; }
    cb_api POST /tyk/keys/create -d @- >"$RUN/key.json" <<JSON ||
{"org_id":"bench","certificate":"$cert_id",
 "access_rights":{"bench-certauth":{"api_id":"bench-certauth","api_name":"bench Certificate Auth","versions":["Default"]}}}
JSON
        { cat "$RUN/key.json" >&2; cb_skip "creating the certificate-bound key failed"; return 1; }

    say "authd holds the certificate $cert_id, APIs bench-static and bench-certauth, and the key"
    [ -x "$BIN/certbound-proxy" ] || { cb_skip "$BIN/certbound-proxy is missing (not built yet)"; return 1; }
    # One certificate: its SANs cover localhost, static.localhost and certauth.localhost.
    local certs="{\"domain_name\":\"localhost\",\"cert_file\":\"$PKI/server.crt\",\"key_file\":\"$PKI/server.key\"}"
    local cache=
    [ -z "$AUTH_CACHE_MS" ] || cache="\"auth_cache_ms\": $AUTH_CACHE_MS,"
    cat >"$RUN/proxy.json" <<JSON
{
  "listen_address": "127.0.0.1",
  "listen_port": $PROXY_PORT,
  "authd": "127.0.0.1:$AUTHD_RPC",
  "workers": 1,
  "log_level": "warn",
  $cache
  "http_server_options": {
    "min_version": 772,
    "max_version": 772,
    "certificates": [$certs]
  }
}
JSON
    start proxy "$BIN/certbound-proxy" --config "$RUN/proxy.json"
    wait_port "$PROXY_PORT" proxy 15 ||
        { tail -n 20 "$RUN/proxy.log" >&2; cb_skip "certbound-proxy did not start listening on $PROXY_PORT"; return 1; }
    # API definitions reach the proxy asynchronously: poll until each answers 200.
    local t sni path ok
    for t in cb-static cb-certauth; do
        case " $TARGETS " in *" $t "*) ;; *) continue ;; esac
        read -r sni path <<<"$(target_sni_path "$t")"
        for i in $(seq 50); do
            ok=$(status "$sni" "$PROXY_PORT" "$path" --cert "$PKI/client1.crt" --key "$PKI/client1.key")
            [ "$ok" = 200 ] && break
            alive proxy || break
            sleep 0.2
        done
        if ! check_target "$t" "$sni" "$PROXY_PORT" "$path"; then
            SKIP[$t]="health check failed: $CHECK_WHY"
            say "SKIPPING $t: ${SKIP[$t]}"
            tail -n 5 "$RUN/proxy.log" "$RUN/authd.log" >&2
        fi
    done
}

target_sni_path() { # TARGET -> "SNI PATH"
    case $1 in
    cb-static) echo "$SNI_STATIC /static/" ;;
    cb-certauth) echo "$SNI_CERTAUTH /certauth/" ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# Measurement

cpu_sample() { # -> "busy0 total0 busy1 total1" for LOAD_CPU and SERVER_CPU
    awk -v a="cpu$LOAD_CPU" -v b="cpu$SERVER_CPU" '
        $1 == a || $1 == b { t = 0; for (i = 2; i <= NF; i++) t += $i; idle = $5 + $6
                             v[$1] = (t - idle) " " t }
        END { print v[a], v[b] }' /proc/stat
}

# busy_pct SECONDS: busy share of all cores over SECONDS (our servers are idle then)
busy_pct() {
    local a
    a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
    sleep "$1"
    awk -v p="$a" '/^cpu / { split(p, a, " "); b = $2 + $3 + $4 + $7 + $8 + $9; t = $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9
                             printf "%.0f", (t > a[2] ? 100 * (b - a[1]) / (t - a[2]) : 0) }' /proc/stat
}

# wait_quiet: wait (at most QUIET_WAIT s) until the machine is idle; sets QUIET (busy % seen)
QUIET_SPENT=0
wait_quiet() {
    local waited=0
    QUIET=$(busy_pct 0.5)
    while [ "$QUIET" -ge "$QUIET_MAX" ] && [ "$waited" -lt "$QUIET_WAIT" ] &&
        [ "$QUIET_SPENT" -lt "$QUIET_BUDGET" ]; do
        [ "$waited" -gt 0 ] || say "machine ${QUIET}% busy (not us): waiting up to ${QUIET_WAIT}s for < ${QUIET_MAX}%"
        sleep 1.5
        waited=$((waited + 2))
        QUIET_SPENT=$((QUIET_SPENT + 2))
        QUIET=$(busy_pct 0.5)
    done
    [ "$QUIET" -lt "$QUIET_MAX" ] || say "warning: still ${QUIET}% busy; measuring anyway (column busy_before)"
}

pct() { awk -v b0="$1" -v t0="$2" -v b1="$3" -v t1="$4" 'BEGIN { d = t1 - t0; printf "%.0f", (d > 0 ? 100 * (b1 - b0) / d : 0) }'; }

target_args() { # TARGET -> loadgen args
    case $1 in
    nginx) echo "--port $NGINX_PORT --sni localhost --path /" ;;
    cb-static) echo "--port $PROXY_PORT --sni $SNI_STATIC --path /static/" ;;
    cb-certauth) echo "--port $PROXY_PORT --sni $SNI_CERTAUTH --path /certauth/" ;;
    *) die "unknown target $1" ;;
    esac
}

RAW=$OUT/raw.tsv
RAW_HEAD="run	rep	target	load	conc	threads	dur	ok	non2xx	err	rps	p50_us	p90_us	p99_us	p999_us	max_us	hs	tickets	reconnects	cpu_load	cpu_server	pin	busy_before	foreign	used"

kv() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p;s/^$1=\\([^ ]*\\).*/\\1/p" <<<"$2" | head -n 1; }

# PIDs of every server process of ours: what we started (and its children), Redis, PostgreSQL.
our_pids() {
    local roots="${PIDS[*]}" f
    f=$RUN/services/redis/redis.pid
    [ -f "$f" ] && roots="$roots $(cat "$f")"
    f=$RUN/services/pg/data/postmaster.pid
    [ -f "$f" ] && roots="$roots $(head -n 1 "$f")"
    ps -e -o pid=,ppid= | awk -v roots="$roots" '
        BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) root[r[i]] = 1 }
        { parent[$1] = $2 }
        END { for (p in parent) { q = p; for (d = 0; d < 64 && q > 1; d++) { if (q in root) { print p; break }; q = parent[q] } } }'
}

proc_ticks() { # PID... -> utime + stime, in clock ticks
    local p
    for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null || true; done |
        awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}

machine_ticks() { # -> "busy total" over all cores (steal counts as busy: it is not ours)
    awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}

measure() { # REP TARGET LOAD
    local rep=$1 target=$2 load=$3 line a b c0 c1 log attempt pids m0 m1 o0 o1 lg foreign
    local rows=() fs=() best=0 i
    for ((attempt = 0; attempt <= RETRIES; attempt++)); do
        log=$RUN/loadgen-$target-$load-$rep.log
        [ "$attempt" = 0 ] || log=$RUN/loadgen-$target-$load-$rep-retry$attempt.log
        wait_quiet
        read -r -a pids <<<"$(our_pids | tr '\n' ' ')"
        read -r -a a <<<"$(cpu_sample)"
        read -r -a m0 <<<"$(machine_ticks)"
        o0=$(proc_ticks "${pids[@]}")
        # shellcheck disable=SC2046
        line=$("${LG_PIN[@]}" "$BENCH/build/loadgen" --host 127.0.0.1 $(target_args "$target") \
            --cert "$PKI/client1.crt" --key "$PKI/client1.key" --mode "$load" -c "$CONC" \
            -t "$LOADGEN_THREADS" -d "$DUR" -w "$WARM" 2>"$log" | tail -n 1) || true
        o1=$(proc_ticks "${pids[@]}")
        read -r -a m1 <<<"$(machine_ticks)"
        read -r -a b <<<"$(cpu_sample)"
        c0=$(pct "${a[0]}" "${a[1]}" "${b[0]}" "${b[1]}")
        c1=$(pct "${a[2]}" "${a[3]}" "${b[2]}" "${b[3]}")
        echo "$line" >>"$log"
        if [ -z "$(kv rps "$line")" ]; then
            say "$target $load: the load generator printed no result (see $log)"
            line="ok=0 non2xx=0 err=1 rps=0 p50_us=0 p90_us=0 p99_us=0 p999_us=0 max_us=0 hs=0 tickets=0 reconnects=0 dur=0 cpu_s=0"
        fi
        # Foreign CPU: machine busy time that is neither our servers nor the load generator.
        lg=$(awk -v s="$(kv cpu_s "$line")" -v h="$CLK_TCK" 'BEGIN { printf "%.0f", s * h }')
        foreign=$(awk -v b="$((m1[0] - m0[0]))" -v t="$((m1[1] - m0[1]))" -v o="$((o1 - o0))" -v l="$lg" \
            'BEGIN { f = t > 0 ? 100 * (b - o - l) / t : 0; printf "%.0f", (f < 0 ? 0 : f) }')
        rows+=("$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' \
            "$RUN_ID" "$rep" "$target" "$load" "$CONC" "$LOADGEN_THREADS" "$(kv dur "$line")" \
            "$(kv ok "$line")" "$(kv non2xx "$line")" "$(kv err "$line")" "$(kv rps "$line")" \
            "$(kv p50_us "$line")" "$(kv p90_us "$line")" "$(kv p99_us "$line")" "$(kv p999_us "$line")" \
            "$(kv max_us "$line")" "$(kv hs "$line")" "$(kv tickets "$line")" "$(kv reconnects "$line")" \
            "$c0" "$c1" "$PIN" "$QUIET" "$foreign")")
        fs+=("$foreign")
        say "$(printf '%-11s %-9s rep %s: %9s/s  p50 %8s us  p99 %8s us  non2xx %s err %s  cpu load/server %s%%/%s%%  foreign %s%%' \
            "$target" "$load" "$rep" "$(kv rps "$line")" "$(kv p50_us "$line")" "$(kv p99_us "$line")" \
            "$(kv non2xx "$line")" "$(kv err "$line")" "$c0" "$c1" "$foreign")"
        [ "${fs[$best]}" -le "$foreign" ] || best=$attempt
        [ "$foreign" -gt "$FOREIGN_MAX" ] || { best=$attempt; break; }
        [ "$attempt" -lt "$RETRIES" ] || break
        if [ "$QUIET_SPENT" -ge "$QUIET_BUDGET" ]; then
            say "other work took ${foreign}% of the machine; the waiting budget is spent: not measuring again"
            break
        fi
        say "other work took ${foreign}% of the machine during that measurement: measuring again"
    done
    # Every attempt goes to raw.tsv; the one with the least foreign CPU is used (used=1).
    for i in "${!rows[@]}"; do
        printf '%s\t%s\n' "${rows[$i]}" "$([ "$i" = "$best" ] && echo 1 || echo 0)" >>"$RAW"
    done
    [ "${#rows[@]}" = 1 ] || say "using attempt $((best + 1)) of ${#rows[@]} (foreign ${fs[$best]}%)"
}

# ---------------------------------------------------------------------------------------------
# Summary

# col NAME -> 1-based column number in raw.tsv
col() { awk -F'\t' -v n="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == n) print i; exit }' <<<"$RAW_HEAD"; }

# agg TARGET LOAD COLUMN median|sum|min|max
agg() {
    local c
    c=$(col "$3")
    awk -F'\t' -v r="$RUN_ID" -v t="$1" -v l="$2" -v c="$c" -v u="$(col used)" \
        '$1 == r && $3 == t && $4 == l && $u == 1 { print $c }' "$RAW" |
        sort -g | awk -v m="$4" '
            { v[NR] = $1; s += $1 }
            END {
                if (NR == 0) { print ""; exit }
                if (m == "sum") print s
                else if (m == "min") print v[1]
                else if (m == "max") print v[NR]
                else if (NR % 2) print v[(NR + 1) / 2]
                else print (v[NR / 2] + v[NR / 2 + 1]) / 2
            }'
}

agg_all() { # COLUMN median|max over every row of this run
    local c
    c=$(col "$1")
    awk -F'\t' -v r="$RUN_ID" -v c="$c" -v u="$(col used)" '$1 == r && $u == 1 { print $c }' "$RAW" | sort -g |
        awk -v m="$2" '{ v[NR] = $1 } END { if (NR == 0) print "–"; else if (m == "max") print v[NR]; else print v[int((NR + 1) / 2)] }'
}

agg0() { # TARGET LOAD COLUMN -> sum, 0 when there is no row
    local v
    v=$(agg "$1" "$2" "$3" sum)
    echo "${v:-0}"
}

fmt_int() { [ -n "$1" ] && awk -v x="$1" 'BEGIN { printf "%.0f", x }' | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' || echo "–"; }
fmt_ms() { [ -n "$1" ] && awk -v x="$1" 'BEGIN { printf "%.2f", x / 1000 }' || echo "–"; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "–" }' || echo "–"; }
spread() { # TARGET LOAD COL -> " (min–max)" when REPS > 1
    [ "$REPS" -gt 1 ] || return 0
    printf ' (%s–%s)' "$(fmt_int "$(agg "$1" "$2" "$3" min)")" "$(fmt_int "$(agg "$1" "$2" "$3" max)")"
}

bin_date() { # NAME -> modification time of build/bin/NAME
    if [ -x "$BIN/$1" ]; then date -u -r "$BIN/$1" +%Y-%m-%dT%H:%MZ; else echo missing; fi
}

target_label() {
    case $1 in
    nginx) echo "nginx \`ssl_verify_client on\` (CA only)" ;;
    cb-static) echo "certbound static allowlist" ;;
    cb-certauth) echo "certbound Certificate Auth" ;;
    esac
}

has_rows() { [ -n "$(agg "$1" "$2" rps median)" ]; }

summarize() {
    local f=$OUT/summary-$RUN_ID.md t l hs ka p50 p99 hs_n ka_n p50_n p99_n bad elapsed
    elapsed=$(($(date +%s) - T0))
    {
        echo "# certbound vs nginx — run $RUN_ID"
        echo
        echo "Machine: $NCPU × $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)."
        echo "OpenSSL: $(openssl version) (loadgen and proxy link the system libssl); nginx: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $("$NGINX" -V 2>&1 | sed -n 's/^built with //p')."
        echo "certbound: $CB_VERSION (binaries built: $CB_BINS)."
        echo "Settings: PIN=$PIN$([ "$PIN" = 1 ] && echo " (servers on cpu$SERVER_CPU, load generator on cpu$LOAD_CPU)"), CONC=$CONC, DUR=${DUR}s after WARM=${WARM}s, REPS=$REPS$([ "$REPS" -gt 1 ] && echo ' (median, (min–max))'), load generator threads $LOADGEN_THREADS, TLS 1.3, ECDSA P-256, no resumption. Whole run: ${elapsed}s."
        echo "Other work on the machine (CPU that is neither our servers nor the load generator, % of all cores) during the measurements used: median $(agg_all foreign median) %, max $(agg_all foreign max) %$(awk -F'\t' -v r="$RUN_ID" -v u="$(col used)" '$1 == r && $u == 0 { n++ } END { if (n) printf "; %d measurement(s) repeated because of it", n }' "$RAW"). Above ~$FOREIGN_MAX % a row is noisy."
        echo
        echo "| target | full handshakes/s (new conn per request, c=$CONC) | ÷ nginx | keep-alive req/s (c=$CONC) | ÷ nginx | p50 ms | p99 ms | p50 / p99 ÷ nginx | non-2xx / errors |"
        echo "|---|---|---|---|---|---|---|---|---|"
        hs_n=$(agg nginx newconn rps median)
        ka_n=$(agg nginx keepalive rps median)
        p50_n=$(agg nginx keepalive p50_us median)
        p99_n=$(agg nginx keepalive p99_us median)
        for t in $TARGETS; do
            if [ -n "${SKIP[$t]:-}" ]; then
                echo "| $(target_label "$t") | skipped: ${SKIP[$t]} | | | | | | | |"
                continue
            fi
            hs=$(agg "$t" newconn rps median)
            ka=$(agg "$t" keepalive rps median)
            p50=$(agg "$t" keepalive p50_us median)
            p99=$(agg "$t" keepalive p99_us median)
            bad="$(($(agg0 "$t" newconn non2xx) + $(agg0 "$t" keepalive non2xx))) / $(($(agg0 "$t" newconn err) + $(agg0 "$t" keepalive err)))"
            if [ "$t" = nginx ]; then
                echo "| $(target_label "$t") | $(fmt_int "$hs")$(has_rows "$t" newconn && spread "$t" newconn rps) | 1 | $(fmt_int "$ka")$(has_rows "$t" keepalive && spread "$t" keepalive rps) | 1 | $(fmt_ms "$p50") | $(fmt_ms "$p99") | 1 / 1 | $bad |"
            else
                echo "| $(target_label "$t") | $(fmt_int "$hs")$(has_rows "$t" newconn && spread "$t" newconn rps) | $(ratio "$hs" "$hs_n") | $(fmt_int "$ka")$(has_rows "$t" keepalive && spread "$t" keepalive rps) | $(ratio "$ka" "$ka_n") | $(fmt_ms "$p50") | $(fmt_ms "$p99") | $(ratio "$p50" "$p50_n") / $(ratio "$p99" "$p99_n") | $bad |"
            fi
        done
        echo
        echo "÷ nginx: certbound ÷ nginx from the same run (throughput: higher is better; latency: lower is better)."
        echo "nginx's row stands for both APIs: it only verifies the certificate against the CA."
        echo
        echo "Details (medians): new-connection latency is connect() → end of response; CPU % is the busy share of each core during the measurement (load generator core ≥ 90 % = the client is the bottleneck); tickets = TLS 1.3 session tickets the server sent per handshake."
        echo
        echo "| target | load | req/s | p50 ms | p99 ms | p99.9 ms | cpu load % | cpu server % | tickets/handshake |"
        echo "|---|---|---|---|---|---|---|---|---|"
        for t in $TARGETS; do
            for l in $LOADS; do
                has_rows "$t" "$l" || continue
                echo "| $t | $l | $(fmt_int "$(agg "$t" "$l" rps median)") | $(fmt_ms "$(agg "$t" "$l" p50_us median)") | $(fmt_ms "$(agg "$t" "$l" p99_us median)") | $(fmt_ms "$(agg "$t" "$l" p999_us median)") | $(agg "$t" "$l" cpu_load median) | $(agg "$t" "$l" cpu_server median) | $(awk -v a="$(agg "$t" "$l" tickets sum)" -v b="$(agg "$t" "$l" hs sum)" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "–" }') |"
            done
        done
        echo
        echo "Raw rows: \`bench/results/raw.tsv\` (run \`$RUN_ID\`); load generator output and server logs: \`bench/run/\`."
    } >"$f"
    cp "$f" "$OUT/latest.md"
    echo
    cat "$f"
}

# ---------------------------------------------------------------------------------------------

main() {
    local rep t l i
    mkdir -p "$RUN" "$OUT" "$BENCH/build"
    # run/ is recreated each time (services.sh keeps its own state in run/services).
    find "$RUN" -mindepth 1 -maxdepth 1 ! -name services ! -name pki -exec rm -rf {} +
    mkdir -p "$RUN/tmp"
    chmod 755 "$RUN"
    if [ -f "$RAW" ] && [ "$(head -n 1 "$RAW")" != "$RAW_HEAD" ]; then
        mv "$RAW" "$OUT/raw-until-$RUN_ID.tsv" # columns changed: keep the old rows aside
    fi
    [ -f "$RAW" ] || echo "$RAW_HEAD" >"$RAW"

    say "run $RUN_ID: DUR=$DUR WARM=$WARM REPS=$REPS CONC=$CONC PIN=$PIN TARGETS='$TARGETS' LOADS='$LOADS'"
    install_deps

    # The source the binaries were built from (read now: others may commit during the run).
    CB_VERSION="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
    if [ "$BUILD" = 1 ]; then
        say "building certbound (cmake --preset release)"
        if ! (cd "$ROOT" && cmake --preset release >"$RUN/build.log" 2>&1 &&
            cmake --build --preset release >>"$RUN/build.log" 2>&1); then
            say "the certbound build failed (see bench/run/build.log); using whatever build/bin holds"
            tail -n 5 "$RUN/build.log" >&2
        fi
    fi
    CB_BINS="proxy $(bin_date certbound-proxy), authd $(bin_date certbound-authd)"
    cc -O2 -std=c11 -Wall -Wextra -pthread -o "$BENCH/build/loadgen" "$BENCH/loadgen.c" -lssl -lcrypto ||
        die "cannot build the load generator"

    PKI=$RUN/pki
    bash "$BENCH/pki.sh" "$PKI"
    UP_PORT=$(free_port)
    NGINX_PORT=$(free_port)
    PROXY_PORT=$(free_port)

    start_nginx upstream upstream.nginx.conf.in "$UP_PORT"
    [ "$(curl -s --max-time 5 "http://127.0.0.1:$UP_PORT/")" = ok ] || die "the upstream does not answer ok"
    case " $TARGETS " in
    *" nginx "*)
        start_nginx nginx-mtls nginx-mtls.nginx.conf.in "$NGINX_PORT"
        check_target nginx localhost "$NGINX_PORT" / || die "nginx check failed: $CHECK_WHY"
        ;;
    esac
    case " $TARGETS " in
    *" cb-"*) setup_certbound || true ;;
    esac


    for rep in $(seq "$REPS"); do
        for l in $LOADS; do
            for t in $TARGETS; do
                if [ -n "${SKIP[$t]:-}" ]; then
                    continue
                fi
                measure "$rep" "$t" "$l"
            done
        done
    done
    for i in "${!PNAMES[@]}"; do
        alive "${PNAMES[$i]}" || say "warning: ${PNAMES[$i]} exited during the run (see bench/run/${PNAMES[$i]}.log)"
    done
    summarize
}

main "$@"
