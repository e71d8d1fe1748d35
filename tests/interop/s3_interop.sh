#!/usr/bin/env bash
# S3 interop: aws-cli and boto3 (pip, in target/s3-interop-venv) and rclone (Debian package,
# when installed) against `haul serve`'s S3 dialect on loopback (tests/interop/s3_interop.py).
#
# Builds haul, starts `haul serve` on 127.0.0.1:0 with two buckets in two regions, a 100 MiB
# and a 20 MiB synthetic object and 2,500 small ones, and an access log; runs the referees
# (s3_interop.py: copies, an upload and download, listings, errors, every copy compared);
# stops the server; exits non-zero on any failure. Needs Python 3 with venv and pip, and
# network access to PyPI the first time only. Without rclone (`apt-get install -y rclone`)
# its case is skipped with a notice. Takes well under a minute once the venv exists.
set -euo pipefail
cd "$(dirname "$0")/../.."

AWSCLI_VERSION="1.46.3"
BOTO3_VERSION="1.44.8"
VENV="target/s3-interop-venv"
PY="$VENV/bin/python"

if ! "$PY" -c "import sys; from importlib.metadata import version as v; sys.exit(v('awscli') != '$AWSCLI_VERSION' or v('boto3') != '$BOTO3_VERSION')" 2>/dev/null; then
  echo "s3 interop: creating $VENV with awscli==$AWSCLI_VERSION boto3==$BOTO3_VERSION"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "awscli==$AWSCLI_VERSION" "boto3==$BOTO3_VERSION"
fi

RCLONE="$(command -v rclone || true)"
if [ -z "$RCLONE" ]; then
  echo "s3 interop: rclone not found (Debian: apt-get install -y rclone): skipping the rclone referee"
fi

cargo build --locked --quiet
HAUL="target/debug/haul"

ID="AKIDs3InteropHaulTest000000000000000"
KEY="s3InteropSecretKeyForHaulServe00"
SRC_BUCKET="s3-src-1250000000"
SRC_REGION="ap-guangzhou"
DST_BUCKET="s3-dst-1250000000"
DST_REGION="ap-shanghai"
BIG_KEY="big/obj 100MiB.bin"
BIG_SIZE=$((100 * 1024 * 1024))
MID_KEY="mid/obj+20MiB.bin"
MID_SIZE=$((20 * 1024 * 1024))
PAGE_PREFIX="pages/k"
PAGE_COUNT=2500

. tests/interop/serve.sh

start_haul_serve "s3 interop" \
  --credentials "$ID:$KEY" \
  --region "$SRC_REGION" \
  --bucket "$SRC_BUCKET@$SRC_REGION" \
  --bucket "$DST_BUCKET@$DST_REGION" \
  --object "cos://$SRC_BUCKET/$BIG_KEY=$BIG_SIZE" \
  --object "cos://$SRC_BUCKET/$MID_KEY=$MID_SIZE" \
  --objects "cos://$SRC_BUCKET/$PAGE_PREFIX=${PAGE_COUNT}x1KiB" \
  --access-log "$WORK/access.log"
echo "s3 interop: haul serve at $ENDPOINT (pid $SERVER_PID); awscli $AWSCLI_VERSION, boto3 $BOTO3_VERSION${RCLONE:+, $("$RCLONE" version 2>/dev/null | head -n 1)}"

status=0
env -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u http_proxy -u https_proxy -u all_proxy \
  HAUL_S3_ENDPOINT="$ENDPOINT" \
  HAUL_S3_ID="$ID" \
  HAUL_S3_KEY="$KEY" \
  HAUL_S3_SRC_BUCKET="$SRC_BUCKET" \
  HAUL_S3_DST_BUCKET="$DST_BUCKET" \
  HAUL_S3_DST_REGION="$DST_REGION" \
  HAUL_S3_BIG_KEY="$BIG_KEY" \
  HAUL_S3_BIG_SIZE="$BIG_SIZE" \
  HAUL_S3_MID_KEY="$MID_KEY" \
  HAUL_S3_MID_SIZE="$MID_SIZE" \
  HAUL_S3_PAGE_PREFIX="$PAGE_PREFIX" \
  HAUL_S3_PAGE_COUNT="$PAGE_COUNT" \
  HAUL_S3_ACCESS_LOG="$WORK/access.log" \
  HAUL_S3_WORK="$WORK" \
  HAUL_S3_AWS="$VENV/bin/aws" \
  HAUL_S3_RCLONE="$RCLONE" \
  "$PY" tests/interop/s3_interop.py || status=$?

if [ "$status" -ne 0 ]; then
  echo "s3 interop: FAILED (exit $status); server stderr (last 40 lines):" >&2
  tail -n 40 "$WORK/stderr" >&2 || true
fi
exit "$status"
