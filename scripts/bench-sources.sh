#!/usr/bin/env bash
# The event sources' costs on a release serve (figures, not a test):
#   1. idle serve, no source configured (the baseline the others are read against);
#   2. a recursive watch over 10,000 files, idle;
#   3. 1,000 file writes per second for 10 s (1,000 files, each rewritten every second):
#      each write's event delay past the settle period (event created_at - write time - settle);
#   4. 10,000 schedules (yearly, so none fires), idle;
#   5. 100 HTTP checks every 10 s against a local server.
# CPU is the serve process's user+system time over the window, as a share of one core.
#   ./scripts/bench-sources.sh [SECONDS]   (idle windows, default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/serve.sh
window="${1:-20}"
swift build -c release >/dev/null
bin="$(swift build -c release --show-bin-path)/sloth-runner"
home="$(mktemp -d /tmp/sloth-bench-sources.XXXXXX)"
export SLOTH_RUNNER_HOME="$home" NO_COLOR=1
trap 'kill -TERM ${pid:-0} 2>/dev/null; wait ${pid:-0} 2>/dev/null || true; kill ${web:-0} 2>/dev/null || true; rm -rf "$home"' EXIT

# CPU seconds (user + system) of a process, from /proc/PID/stat.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
# Share of one core the process used over N seconds.
busy() {
  local a b; a=$(cpu "$1"); sleep "$2"; b=$(cpu "$1")
  echo "$a $b $2" | awk '{ printf "%.2f %% of a core", ($2 - $1) / $3 * 100 }'
}
# start_serve waits for serve's HTTP line, so these runs keep HTTP on (loopback, port 0).
"$bin" events list >/dev/null

echo "== 1. idle, no source configured (${window}s)"
start_serve --no-engine-events
sleep 2
echo "   serve: $(busy "$pid" "$window")"

echo "== 2. a recursive watch over 10,000 files, idle (${window}s)"
mkdir -p "$home/tree"
python3 - "$home/tree" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(100):
    os.makedirs(f"{root}/d{d}", exist_ok=True)
    for f in range(100):
        with open(f"{root}/d{d}/f{f}.txt", "w") as fh: fh.write("x")
PY
"$bin" watch add tree "$home/tree" --recursive --settle 100ms >/dev/null
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
start_serve --no-engine-events
for _ in $(seq 1 600); do grep -q "watch tree: watching" "$home/serve.log" && break; sleep 0.05; done
grep -o "watch tree: watching [^;]*known" "$home/serve.log" | sed 's/^/   /'
sleep 2
echo "   serve: $(busy "$pid" "$window")"

echo "== 3. 1,000 file writes per second for 10 s, settle 100 ms"
python3 - "$home/tree" "$home/writes.json" <<'PY'
import json, os, sys, time
root, out = sys.argv[1], sys.argv[2]
files = [f"{root}/d{i // 10}/f{i % 10}.txt" for i in range(1000)]
writes = []
start = time.time()
for second in range(10):
    for i, path in enumerate(files):
        target = start + second + i / 1000.0
        delay = target - time.time()
        if delay > 0: time.sleep(delay)
        with open(path, "w") as fh: fh.write(f"{second}-{i}")
        writes.append((path, time.time()))
json.dump(writes, open(out, "w"))
print(f"   wrote {len(writes)} times in {time.time() - start:.1f} s")
PY
sleep 2
"$bin" events list --type file.modified --limit 100000 -o json > "$home/events.json"
python3 - "$home/writes.json" "$home/events.json" <<'PY'
import json, sys
from datetime import datetime
writes = json.load(open(sys.argv[1]))
events = json.load(open(sys.argv[2]))
def ms(t): return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
by_path = {}
for e in events: by_path.setdefault(e["data"]["path"], []).append(ms(e["created_at"]))
for v in by_path.values(): v.sort()
delays = []
missing = 0
for path, at in writes:
    # The first event at or after this write answers it.
    later = [t for t in by_path.get(path, []) if t >= at - 0.001]
    if not later: missing += 1; continue
    delays.append((later[0] - at) * 1000 - 100)
delays.sort()
def pct(p): return delays[min(len(delays) - 1, int(len(delays) * p))]
print(f"   {len(events)} file.modified events for {len(writes)} writes ({missing} without one)")
print(f"   delay past the settle period: p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms, max {delays[-1]:.1f} ms")
PY

echo "== 4. 10,000 schedules (yearly), idle (${window}s)"
"$bin" watch remove tree >/dev/null
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
python3 - "$home/sloth.db" <<'PY'
import sqlite3, sys, time, os
db = sqlite3.connect(sys.argv[1])
now = int(time.time() * 1000)
db.executemany("INSERT INTO schedules (name, id, cron, timezone, event_type, data, stack, catch_up, max_catch_up, enabled, created_at, fired_through) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
               [(f"s{i}", f"sch_{i:016x}", f"{i % 60} {i % 24} 1 1 *", "Europe/Berlin", "schedule.triggered", "{}", None, "skip", 10, 1, now, now) for i in range(10000)])
db.execute("UPDATE meta SET value = value + 1 WHERE key = 'schedules_version'")
db.commit()
PY
start_serve --no-engine-events
sleep 3
echo "   serve: $(busy "$pid" "$window")"

echo "== 5. 100 HTTP checks every 10 s (30 s)"
python3 - "$home/sloth.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("DELETE FROM schedules")
db.execute("UPDATE meta SET value = value + 1 WHERE key = 'schedules_version'")
db.commit()
PY
python3 -m http.server 0 --bind 127.0.0.1 --directory "$home/tree" >"$home/web.log" 2>&1 &
web=$!
for _ in $(seq 1 100); do port=$(grep -o 'port [0-9]*' "$home/web.log" | awk '{print $2}' || true); [ -n "$port" ] && break; sleep 0.05; done
python3 - "$home/sloth.db" "$port" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
now = int(time.time() * 1000)
db.executemany("INSERT INTO checks (name, kind, target, service, expect_status, expect_body, interval_ms, timeout_ms, failures, latency_threshold_ms, emit_passed, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
               [(f"c{i}", "http", f"http://127.0.0.1:{sys.argv[2]}/d{i % 100}/f0.txt", f"c{i}", 200, None, 10000, 5000, 3, None, 0, now) for i in range(100)])
db.execute("UPDATE meta SET value = value + 1 WHERE key = 'checks_version'")
db.commit()
PY
sleep 12
echo "   serve: $(busy "$pid" 30)"
echo "   http server answered $(grep -c 'GET /d' "$home/web.log") requests"
failed=$("$bin" events list --type health.check_failed -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
echo "   health.check_failed events: $failed"
