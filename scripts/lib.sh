# Shared helpers for the scripts that drive the release binary (sourced, not run).
#
#   cd "$(dirname "$0")/.."
#   . scripts/lib.sh
#   script_init smoke          # build, temp dir, free port, EXIT trap
#   at_exit 'some clean-up'    # optional, run by the trap after the service is stopped

# A free TCP port on loopback.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# script_init NAME: the preamble every service script shares. Builds the release binary
# ($bin), makes a temporary directory ($work, removed at exit), picks a free port ($port,
# $base) and installs the EXIT trap, which stops the service started as $pid, runs the
# at_exit hooks, then removes $work. NAME prefixes fail's messages.
script_init() {
    script_name="$1"
    cargo build --release -p users-api --quiet
    bin="$PWD/target/release/users-api"
    work="$(mktemp -d)"
    port="$(free_port)"
    base="http://127.0.0.1:${port}"
    pid=""
    exit_hooks=()
    trap lib_cleanup EXIT
}

# at_exit COMMAND: run COMMAND (eval'd) at exit, after the service is stopped.
at_exit() { exit_hooks+=("$1"); }

# stop_service: stop the service started as $pid (if any) and wait for it.
stop_service() {
    if [ -n "${pid:-}" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=""
    fi
}

lib_cleanup() {
    stop_service
    local hook
    for hook in "${exit_hooks[@]}"; do eval "$hook" || true; done
    [ -n "${work:-}" ] && rm -rf "$work"
    return 0
}

# fail MESSAGE: print it and the end of the service log ($work/log), exit 1.
fail() {
    echo "${script_name:-script}: FAIL: $*" >&2
    echo "--- service log (last 50 lines) ---" >&2
    [ -n "${work:-}" ] && tail -n 50 "$work/log" >&2 2>/dev/null
    exit 1
}

# pg_env: start PostgreSQL (scripts/ci-postgres.sh) and set DATABASE_TEST_URL; fails when
# the script fails (`eval "$(scripts/ci-postgres.sh)"` would go on with nothing set).
pg_env() {
    local env
    env="$(scripts/ci-postgres.sh)" || return 1
    [ -n "$env" ] || return 1
    eval "$env"
}

# wait_ready URL [TRIES]: poll until the URL answers 200.
wait_ready() {
    local url="$1" tries="${2:-100}"
    for _ in $(seq 1 "$tries"); do
        curl -fs "$url" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# wait_started URL PID [TRIES]: poll until the URL answers 200; fails at once if the process
# PID exits first (a start-up error), or after TRIES polls (default 100, about 10 s).
wait_started() {
    local url="$1" pid="$2" tries="${3:-100}"
    for _ in $(seq 1 "$tries"); do
        curl -fs "$url" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# json_field JSON KEY: print a top-level string field of a JSON document.
json_field() {
    python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2]) or "")' "$1" "$2"
}
