# Shared helpers for the scripts that drive the release binary (sourced, not run).

# A free TCP port on loopback.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
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

# wait_started URL PID: poll until the URL answers 200; fails at once if the process PID
# exits first (a start-up error), or after about 10 s.
wait_started() {
    local url="$1" pid="$2"
    for _ in $(seq 1 100); do
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
