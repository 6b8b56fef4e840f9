#!/usr/bin/env bash
# run-all.sh: install dependencies, build with ASan+UBSan (clang) and run the whole test
# suite against real Redis and PostgreSQL servers that the suite starts and stops itself
# (tests/harness/services.sh via the CTest fixture). Then replays/fuzzes the decoders briefly
# when CB_FUZZ_SECONDS > 0. Exit status: ctest's.
set -euo pipefail
cd "$(dirname "$0")/.."

bash etc/deps.sh

PRESET=${CB_PRESET:-asan}
JOBS=${CB_JOBS:-2}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# gcc's -O2 analysis finds warnings clang's does not (and etc/quickstart.sh builds with
# gcc): build the release preset with -Werror first, without running it.
if [ "${CB_GCC_BUILD:-1}" = 1 ]; then
    cmake --preset release >/dev/null
    cmake --build --preset release -- --no-print-directory -s
fi

cmake --preset "$PRESET" >/dev/null
cmake --build --preset "$PRESET" -- --no-print-directory -s

status=0
ctest --preset "$PRESET" -j "$JOBS" || status=$?

# Short coverage-guided fuzzing of the decoders (clang's libFuzzer); the seed corpora are
# already replayed by the ctest run above.
FUZZ_SECONDS=${CB_FUZZ_SECONDS:-10}
if [ "$status" = 0 ] && [ "$FUZZ_SECONDS" -gt 0 ] && command -v clang >/dev/null; then
    if cmake --preset fuzz >/dev/null && cmake --build --preset fuzz -- --no-print-directory -s; then
        for f in build-fuzz/bin/fuzz_*; do
            [ -x "$f" ] || continue
            name=$(basename "$f")
            work=$(mktemp -d)
            cp -r "fuzz/corpus/$name/." "$work/" 2>/dev/null || true
            echo "fuzz: $name for ${FUZZ_SECONDS}s"
            if ! "$f" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=512 -max_len=65536 \
                    -artifact_prefix="$work/" "$work" >"$work/log" 2>&1; then
                echo "fuzz: $name FAILED"; tail -n 40 "$work/log"; status=1
            fi
            rm -rf "$work"
        done
    else
        echo "fuzz: build failed"; status=1
    fi
fi

# The compose file is for people with a Docker engine; its syntax and references are checked
# here without one (deps.sh installs docker-compose).
if command -v docker-compose >/dev/null; then
    if docker-compose -f docker-compose.yml config -q; then
        echo "docker-compose.yml: valid"
    else
        echo "docker-compose.yml: INVALID"; status=1
    fi
fi
exit $status
