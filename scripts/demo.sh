#!/usr/bin/env bash
# The main job: starts the engine on the embedded SQLite default, registers the example hooks,
# dispatches a few events and shows what ran. Uses a throw-away home unless SLOTH_RUNNER_HOME is set.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-system-deps.sh
swift build
bin="$(swift build --show-bin-path)/sloth-runner"
export SLOTH_RUNNER_HOME="${SLOTH_RUNNER_HOME:-$(mktemp -d /tmp/sloth-demo.XXXXXX)}"
echo "== database: $SLOTH_RUNNER_HOME/sloth.db"

echo "== starting the engine (sloth-runner serve)"
# Its HTTP API on a free loopback port (the default is 127.0.0.1:7077).
"$bin" serve --grace 10s --http 127.0.0.1:0 2>"$SLOTH_RUNNER_HOME/serve.log" &
serve_pid=$!
trap 'kill -TERM $serve_pid 2>/dev/null; wait $serve_pid 2>/dev/null || true' EXIT
api=""
for _ in $(seq 1 100); do
  api=$(grep -o 'HTTP API listening on http://[^ ]*' "$SLOTH_RUNNER_HOME/serve.log" | sed 's/.*listening on //' || true)
  [ -n "$api" ] && break
  sleep 0.1
done
echo "== HTTP API at $api"

echo "== registering the example hooks"
for hook in examples/hooks/*.lua; do "$bin" hook add "$hook"; done
"$bin" hook list

echo "== dispatching events (each --wait follows the event through the daemon)"
"$bin" events dispatch task.failed --wait \
  --data '{"task":{"task_name":"deploy_app","agent_name":"web-server-01","error":"Connection refused","exit_code":1}}'
"$bin" events dispatch deploy.started --stack production --wait \
  --data '{"deploy":{"deploy_id":"d-42","service":"api","version":"v2.0.0","environment":"production"}}'
"$bin" events dispatch system.cpu_high --wait --data '{"usage_percent":97,"load_average":7.5}'
echo "== a deployment without a version fails, is retried, then dead-lettered"
"$bin" events dispatch deploy.started --stack production --wait --data '{"deploy":{"deploy_id":"d-43"}}' || true

if [ -n "$api" ] && command -v curl >/dev/null; then
  echo "== an event through the HTTP API (POST $api/events)"
  curl -s -X POST "$api/events" -d '{"type":"custom.demo","data":{"from":"curl"}}'
  echo "== readiness: $(curl -s "${api%/api/v1}/readyz")"
fi

echo "== event sources: a schedule firing every second, and what serve's sources report"
"$bin" schedule add heartbeat --cron '@every 1s' --tz UTC --event-type custom.heartbeat --data '{"from":"scheduler"}'
for _ in $(seq 1 100); do
  [ "$("$bin" events list --type custom.heartbeat -o json | grep -c '"id"')" -ge 2 ] && break
  sleep 0.1
done
"$bin" schedule list
sleep 1.2  # serve writes what its sources report once a second
"$bin" sources
"$bin" schedule remove heartbeat

echo "== hook authoring: why did each hook run, or not, for the failed deployment?"
failed_id=$("$bin" events list --type deploy.started --status failed -o json | grep -o '"id": "[^"]*"' | head -1 | cut -d'"' -f4)
"$bin" events explain "$failed_id"
echo "== a hook from a template, tested with its cases (mocks: nothing is sent)"
"$bin" hook new page_ops --template slack --event-type task.failed --dir "$SLOTH_RUNNER_HOME"
"$bin" hook test "$SLOTH_RUNNER_HOME/page_ops.lua" --cases "$SLOTH_RUNNER_HOME/page_ops.cases.yaml"
echo "== what-if: the edited hook over the stored history (recorded, not performed)"
"$bin" hook test "$SLOTH_RUNNER_HOME/page_ops.lua" --history 'type=task.* since=1h' || true
echo "== replay the failed deployment through its hooks (a new event, marked as a replay)"
"$bin" events replay "$failed_id" || true

echo "== recent events"
"$bin" events list --limit 10
echo "== hook history of deployment_pipeline"
"$bin" hook history deployment_pipeline
echo "== stopping the engine (SIGTERM drains it)"
kill -TERM $serve_pid; wait $serve_pid || true; trap - EXIT
tail -n 3 "$SLOTH_RUNNER_HOME/serve.log"
