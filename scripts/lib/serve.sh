# Sourced by the scripts that drive a live serve (schemathesis, bench-http, bench-webui).
# start_serve ARGS...: starts `$bin serve --http 127.0.0.1:0 ARGS...` logging to $home/serve.log,
# sets $pid, and $url (http://HOST:PORT) once the log says where it listens; a trap stops it and
# removes $home when the script ends. A serve that exits or does not listen within 20 s ends
# the script with its log.
start_serve() {
  "$bin" serve --http 127.0.0.1:0 "$@" 2>"$home/serve.log" &
  pid=$!
  trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -rf "$home"' EXIT
  url=""
  for _ in $(seq 1 400); do
    url=$(grep -o 'listening on http://[^ /]*' "$home/serve.log" | sed 's/listening on //' || true)
    [ -n "$url" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "serve did not start:"
  cat "$home/serve.log"
  exit 1
}
