#!/usr/bin/env bash
# The HTTP API's figures: a release serve on a throw-away database with one trivial hook.
#  1. throughput with wrk (Debian's `wrk`, installed here if missing), 64 keep-alive connections:
#     POST /api/v1/events (each answered 202 once durable), HMAC-verified webhook deliveries, and
#     GET /healthz — the server stack's own ceiling on this machine, for the ratio;
#  2. latency at 1,000 requests/s offered (`sloth-runner bench --http-url`: open loop, each
#     request timed from when it was due; wrk cannot pace its load);
#  3. the engine without HTTP (`bench --events 60000 --hooks 1`), in the same run, for the ratio.
# Figures, not a test: run it on a quiet machine.   ./scripts/bench-http.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/serve.sh
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
start_serve
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
echo "== GET /healthz (no store, no engine: the HTTP stack's ceiling here), 64 connections, ${seconds}s"
wrk -t2 -c64 -d"${seconds}s" --latency "$url/healthz" | grep -E "Requests/sec|99%"
echo "== POST /api/v1/events at 1,000 requests/s offered, 16 keep-alive connections, ${seconds}s"
"$bin" bench --http-url "$url/api/v1/events" --rate 1000 --seconds "$seconds" --body "$body"
echo "== the engine without HTTP: bench --events 60000 --hooks 1"
kill -TERM $pid; wait $pid 2>/dev/null || true
"$bin" bench --events 60000 --hooks 1 | grep -E "end-to-end|CPU per event"
