#!/usr/bin/env bash
# The web UI's server time on a big store: fills a throw-away database with N events (default
# 1,000,000; SQL straight into the schema serve creates, a tenth of them failed, types and stacks
# mixed), starts a release serve on it and times each page's answer (curl's time to the first
# byte, best of 5 after a warm-up). Figures, not a test.   ./scripts/bench-webui.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/serve.sh
n="${1:-1000000}"
swift build -c release >/dev/null
bin="$(swift build -c release --show-bin-path)/sloth-runner"
home="$(mktemp -d /tmp/sloth-bench-webui.XXXXXX)"
export SLOTH_RUNNER_HOME="$home"
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -rf "$home"' EXIT
"$bin" events list >/dev/null  # creates the database with its schema
now=$(date +%s%3N)
echo "== filling $n events"
sqlite3 "$home/sloth.db" <<SQL
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $n)
INSERT INTO events (id, type, data, status, timestamp, created_at, processed_at, stack, attempts, next_run_at)
SELECT printf('%012x-0000-7000-8000-%012x', $now - ($n - x) * 50, x),
       CASE x % 4 WHEN 0 THEN 'task.failed' WHEN 1 THEN 'deploy.started' WHEN 2 THEN 'custom.backup_done' ELSE 'agent.disconnected' END,
       '{"n":' || x || '}', CASE WHEN x % 10 = 0 THEN 'failed' ELSE 'completed' END,
       $now - ($n - x) * 50, $now - ($n - x) * 50, $now - ($n - x) * 50, CASE WHEN x % 3 = 0 THEN 'prod' END, 1, 0
FROM c;
SQL
start_serve
first=$(curl -s -o /dev/null -w '%{time_starttransfer}' "$url/")
printf '%-32s %7.1f ms (first load: counts the day once)\n' "/ (overview)" "$(echo "$first * 1000" | bc -l)"
for path in "/events" "/events?status=failed" "/events?type=deploy.started" "/events?stack=prod" "/events?type=task.*" \
            "/events?since=1h" "/" "/hooks" "/types"; do
  curl -s -o /dev/null "$url$path"
  best=$(for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_starttransfer}\n' "$url$path"; done | sort -n | head -1)
  printf '%-32s %7.1f ms\n' "$path" "$(echo "$best * 1000" | bc -l)"
done
