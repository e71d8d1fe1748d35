# Sourced by the interop scripts: a work dir removed at exit, and `haul serve` on a loopback
# port. After `start_haul_serve LABEL ARGS...`, $ENDPOINT is http://127.0.0.1:PORT and
# $SERVER_PID the server (stopped at exit). Needs $HAUL; the server's output is in $WORK.

WORK="$(mktemp -d "${TMPDIR:-/tmp}/haul-interop.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

start_haul_serve() {
  local label="$1"
  shift
  "$HAUL" serve --listen 127.0.0.1:0 "$@" >"$WORK/stdout" 2>"$WORK/stderr" &
  SERVER_PID=$!
  # The first stdout line is `listening http://IP:PORT`.
  ENDPOINT=""
  local line
  for _ in $(seq 1 300); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "$label: haul serve exited before listening; its stderr:" >&2
      cat "$WORK/stderr" >&2
      exit 1
    fi
    line="$(head -n 1 "$WORK/stdout" 2>/dev/null || true)"
    case "$line" in
      "listening http://127.0.0.1:"*)
        ENDPOINT="${line#listening }"
        return 0
        ;;
      "listening "*)
        echo "$label: haul serve says '$line', expected http://127.0.0.1:PORT" >&2
        exit 1
        ;;
    esac
    sleep 0.1
  done
  echo "$label: haul serve did not print 'listening http://127.0.0.1:PORT' within 30 s; stdout/stderr:" >&2
  cat "$WORK/stdout" "$WORK/stderr" >&2
  exit 1
}
