#!/usr/bin/env bash
# The pages behind the mail links, end to end in a real browser: the release binary sends
# its mails over SMTP to scripts/smtp_sink.py; scripts/pages.mjs reads the links from them
# and drives Debian's Chromium (playwright-core) through email verification and password
# reset (the reset without JavaScript). Screenshots go to target/pages-screenshots/.
# Installs what is missing: chromium (apt-get, as root or through sudo) and playwright-core
# (npm, cached in target/pages-node; never a browser download).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

chromium=/usr/bin/chromium
if [ ! -x "$chromium" ]; then
    echo "pages: installing chromium" >&2
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq >&2
    as_root apt-get install -y -qq chromium >&2
fi
[ -x "$chromium" ] || { echo "pages: FAIL: no $chromium" >&2; exit 1; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "pages: FAIL: node and npm are needed (Node.js 20 or later)" >&2
    exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] ||
    { echo "pages: FAIL: playwright-core needs Node.js 20 or later, not $(node --version)" >&2; exit 1; }

node_dir="$PWD/target/pages-node"
if [ ! -f "$node_dir/node_modules/playwright-core/package.json" ]; then
    echo "pages: installing playwright-core into $node_dir" >&2
    mkdir -p "$node_dir"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-save --no-audit --no-fund --silent \
        --prefix "$node_dir" 'playwright-core@1' >&2
fi

script_init pages

shots="$PWD/target/pages-screenshots"
rm -rf "$shots"
mkdir -p "$shots" "$work/mail"

python3 scripts/smtp_sink.py --port 0 --dir "$work/mail" >"$work/sink.out" 2>"$work/sink.log" &
sink_pid=$!
stop_sink() {
    kill "$sink_pid" 2>/dev/null || true
    wait "$sink_pid" 2>/dev/null || true
}
at_exit stop_sink
smtp_port=""
for _ in $(seq 1 100); do
    read -r word smtp_port _ <"$work/sink.out" 2>/dev/null || true
    [ "${word:-}" = PORT ] && [ -n "$smtp_port" ] && break
    smtp_port=""
    kill -0 "$sink_pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$smtp_port" ] || { cat "$work/sink.log" >&2; fail "the SMTP sink did not start"; }

env -i PATH="$PATH" APP_ENV=development DATABASE_URL="$work/pages.db" PORT="$port" \
    APP_URL="$base" SMTP_URL="smtp://127.0.0.1:$smtp_port" EMAIL_VERIFICATION=optional \
    RUST_LOG=info "$bin" serve >"$work/log" 2>&1 &
pid=$!
wait_started "$base/ping" "$pid" || fail "service did not start"

if ! PAGES_BASE="$base" PAGES_MAIL_DIR="$work/mail" PAGES_SHOTS="$shots" \
    PAGES_NODE_DIR="$node_dir" PAGES_CHROMIUM="$chromium" node scripts/pages.mjs; then
    echo "--- SMTP sink log ---" >&2
    cat "$work/sink.log" >&2 || true
    fail "the browser walk failed"
fi
echo "pages: email verification and password reset passed in the browser, the reset page" \
    "without JavaScript; screenshots in target/pages-screenshots/"
