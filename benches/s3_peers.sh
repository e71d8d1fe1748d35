#!/usr/bin/env bash
# S3 dialect benchmark: one 20 GiB server-side copy between two buckets, with each tool's
# defaults, against `haul serve` on loopback with issue 10's model (30 ms latency, 200 MiB/s
# per part copy): `aws s3 cp` (awscli in target/s3-interop-venv), `rclone copyto` (when
# installed) and `haul cp` (when this build's haul takes s3:// URIs). Prints each tool's wall
# time and its part plan (from the access log); asserts nothing. About 2.5 minutes, most of it
# rclone 1.60, which copies its parts one after another. Run tests/interop/s3_interop.sh once
# first to create the venv, or let this script create it.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="target/s3-interop-venv"
if ! [ -x "$VENV/bin/aws" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "awscli==1.46.3" "boto3==1.44.8"
fi
if [ -z "${HAUL:-}" ]; then
  cargo build --locked --quiet
  HAUL="target/debug/haul"
fi
RCLONE="$(command -v rclone || true)"

ID="AKIDs3BenchHaulServe0000000000000000"
KEY="s3BenchSecretKeyForHaulServe0000"
SRC="bench-src-1250000000"
DST="bench-dst-1250000000"
OBJ="big/20GiB.bin"
SIZE=$((20 * 1024 * 1024 * 1024))
LATENCY_MS=30
RATE_MIB=200

WORK="$(mktemp -d "${TMPDIR:-/tmp}/haul-s3-peers.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

"$HAUL" serve --listen 127.0.0.1:0 --credentials "$ID:$KEY" \
  --bucket "$SRC@ap-guangzhou" --bucket "$DST@ap-guangzhou" \
  --object "cos://$SRC/$OBJ=$SIZE" \
  --latency "${LATENCY_MS}ms" --copy-rate "${RATE_MIB}MiB/s" \
  --access-log "$WORK/access.log" >"$WORK/stdout" 2>"$WORK/stderr" &
SERVER_PID=$!
ENDPOINT=""
for _ in $(seq 1 300); do
  line="$(head -n 1 "$WORK/stdout" 2>/dev/null || true)"
  case "$line" in "listening http://127.0.0.1:"*) ENDPOINT="${line#listening }"; break ;; esac
  sleep 0.1
done
[ -n "$ENDPOINT" ] || { echo "s3 peers: haul serve did not start" >&2; cat "$WORK/stderr" >&2; exit 1; }

export AWS_ACCESS_KEY_ID="$ID" AWS_SECRET_ACCESS_KEY="$KEY" AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy

# parts KEY: part copies that succeeded for DST/KEY, their size and the most in flight at once.
parts() {
  "$VENV/bin/python" - "$WORK/access.log" "$DST" "$1" <<'PY'
import json, sys
log, bucket, key = sys.argv[1:]
ps = [l for l in map(json.loads, open(log)) if l["bucket"] == bucket and l["key"] == key
      and l["op"] == "UploadPartCopy" and l["status"] == 200]
sizes = sorted({int(p["range"].split("=")[1].split("-")[1]) - int(p["range"].split("=")[1].split("-")[0]) + 1 for p in ps if p["range"]})
print("%d part copies, largest %.1f MiB" % (len(ps), (sizes[-1] if sizes else 0) / 2**20))
PY
}

report() {
  local tool="$1" secs="$2" key="$3"
  printf '%-18s %7.1f s   %s\n' "$tool" "$secs" "$(parts "$key")"
}

echo "s3 peers: 20 GiB copy, ${LATENCY_MS} ms latency, ${RATE_MIB} MiB/s per part copy, at $ENDPOINT"
t0=$(date +%s.%N)
"$VENV/bin/aws" --endpoint-url "$ENDPOINT" s3 cp --only-show-errors "s3://$SRC/$OBJ" "s3://$DST/aws-$OBJ"
t1=$(date +%s.%N)
report "aws s3 cp" "$(echo "$t1 - $t0" | bc)" "aws-$OBJ"

if [ -n "$RCLONE" ]; then
  t0=$(date +%s.%N)
  env -u AWS_CA_BUNDLE RCLONE_CONFIG=/dev/null RCLONE_CONFIG_HAUL_TYPE=s3 RCLONE_CONFIG_HAUL_PROVIDER=Other \
    RCLONE_CONFIG_HAUL_ACCESS_KEY_ID="$ID" RCLONE_CONFIG_HAUL_SECRET_ACCESS_KEY="$KEY" \
    RCLONE_CONFIG_HAUL_ENDPOINT="$ENDPOINT" RCLONE_CONFIG_HAUL_FORCE_PATH_STYLE=true \
    "$RCLONE" copyto "haul:$SRC/$OBJ" "haul:$DST/rclone-$OBJ"
  t1=$(date +%s.%N)
  report "rclone copyto" "$(echo "$t1 - $t0" | bc)" "rclone-$OBJ"
else
  echo "rclone copyto     skipped: rclone not installed"
fi

t0=$(date +%s.%N)
# haul with a HOME of its own: no config of the user's, its journal under $WORK.
mkdir -p "$WORK/home"
if env HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" XDG_STATE_HOME="$WORK/home/.state" \
  "$HAUL" cp "s3://$SRC/$OBJ" "s3://$DST/haul-$OBJ" --endpoint "$ENDPOINT" >"$WORK/haul.out" 2>&1; then
  t1=$(date +%s.%N)
  report "haul cp" "$(echo "$t1 - $t0" | bc)" "haul-$OBJ"
else
  echo "haul cp           skipped: this build's haul cp did not copy s3:// ($(head -n 1 "$WORK/haul.out"))"
fi
