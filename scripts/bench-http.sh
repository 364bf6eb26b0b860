#!/usr/bin/env bash
# The HTTP API's throughput with wrk (Debian's `wrk`, installed here if missing): a release
# serve on a throw-away database with one trivial hook, 64 keep-alive connections POSTing
# events (each answered 202 once durable), then the same with HMAC-verified webhook deliveries.
# Figures, not a test: run it on a quiet machine.   ./scripts/bench-http.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
command -v wrk >/dev/null || { SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo; $SUDO apt-get install -y -qq wrk >/dev/null; }
swift build -c release >/dev/null
bin="$(swift build -c release --show-bin-path)/sloth-runner"
home="$(mktemp -d /tmp/sloth-bench-http.XXXXXX)"
export SLOTH_RUNNER_HOME="$home"
cat > "$home/trivial.lua" <<'LUA'
return { name = "trivial", event_type = "*", execute = function() return true end }
LUA
"$bin" hook add "$home/trivial.lua" >/dev/null
"$bin" secret set bench_key --value bench-secret >/dev/null
"$bin" webhook add signed --event-type custom.webhook --verify hmac-sha256 --secret bench_key >/dev/null
"$bin" serve --http 127.0.0.1:0 2>"$home/serve.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -rf "$home"' EXIT
url=""
for _ in $(seq 1 100); do
  url=$(grep -o 'listening on http://[^ /]*' "$home/serve.log" | sed 's/listening on //' || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "serve did not start:"; cat "$home/serve.log"; exit 1; }
sleep 1
echo "== idle RSS of serve: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
body='{"type":"custom.bench","data":{"n":1}}'
signature=$(printf %s "$body" | openssl dgst -sha256 -hmac bench-secret | sed 's/.*= //')
cat > "$home/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Signature-256"] = "$signature"
LUA
echo "== POST /api/v1/events, 64 connections, ${seconds}s"
wrk -t2 -c64 -d"${seconds}s" --latency -s "$home/post.lua" "$url/api/v1/events" | grep -E "Requests/sec|Latency|99%|Non-2xx"
echo "== POST /webhooks/signed (HMAC-SHA256), 64 connections, ${seconds}s"
wrk -t2 -c64 -d"${seconds}s" --latency -s "$home/post.lua" "$url/webhooks/signed" | grep -E "Requests/sec|Latency|99%|Non-2xx"
echo "== (1,000 requests/s offered is not measured here: wrk cannot pace its load, and wrk2 is not in Debian)"
