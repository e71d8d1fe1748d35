#!/usr/bin/env bash
# Interop suite: the official COS Python SDK (cos-python-sdk-v5) and, when Node.js is installed,
# the official Node.js SDK (cos-nodejs-sdk-v5) against `haul serve` on loopback; then the S3
# dialect's referees, aws-cli, boto3 and rclone (tests/interop/s3_interop.sh).
#
# Creates its own venv under target/interop-venv (and npm prefix under target/interop-node),
# builds haul, starts `haul serve` on 127.0.0.1:0 with two buckets in two regions and one
# synthetic 20 GiB object, runs interop.py then interop_node.js (both refuse to reach any host
# but 127.0.0.1), stops the server, and exits non-zero on any failure. Needs Python 3 with venv
# and pip, and network access to PyPI (and npm) the first time only. Without `node` and `npm`
# the Node.js referee is skipped with a notice.
set -euo pipefail
cd "$(dirname "$0")/../.."

SDK_VERSION="1.9.44"
NODE_SDK_VERSION="3.0.0"
NODE_PREFIX="target/interop-node"
VENV="target/interop-venv"
PY="$VENV/bin/python"

if ! "$PY" -c "import qcloud_cos, sys; from importlib.metadata import version; sys.exit(version('cos-python-sdk-v5') != '$SDK_VERSION')" 2>/dev/null; then
  echo "interop: creating $VENV with cos-python-sdk-v5==$SDK_VERSION"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "cos-python-sdk-v5==$SDK_VERSION"
fi

RUN_NODE=""
if command -v node >/dev/null && command -v npm >/dev/null; then
  RUN_NODE=1
  if ! [ "$(node -p "require('./$NODE_PREFIX/node_modules/cos-nodejs-sdk-v5/package.json').version" 2>/dev/null)" = "$NODE_SDK_VERSION" ]; then
    echo "interop: installing cos-nodejs-sdk-v5@$NODE_SDK_VERSION under $NODE_PREFIX"
    mkdir -p "$NODE_PREFIX"
    npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --silent "cos-nodejs-sdk-v5@$NODE_SDK_VERSION"
  fi
else
  echo "interop: node/npm not found: skipping the Node.js SDK referee"
fi

cargo build --locked --quiet
HAUL="target/debug/haul"

ID="AKIDinteropHaulTest0000000000000000"
KEY="interopSecretKeyForHaulServe0000"
SRC_BUCKET="interop-src-1250000000"
SRC_REGION="ap-guangzhou"
DST_BUCKET="interop-dst-1250000000"
DST_REGION="ap-shanghai"
HUGE_KEY="synthetic/huge 20GiB.bin"
HUGE_SIZE=$((20 * 1024 * 1024 * 1024))

. tests/interop/serve.sh

start_haul_serve "interop" \
  --credentials "$ID:$KEY" \
  --region "$SRC_REGION" \
  --bucket "$SRC_BUCKET@$SRC_REGION" \
  --bucket "$DST_BUCKET@$DST_REGION" \
  --object "cos://$SRC_BUCKET/$HUGE_KEY=$HUGE_SIZE"
echo "interop: haul serve at $ENDPOINT (pid $SERVER_PID)"

referee() {
  env -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u http_proxy -u https_proxy -u all_proxy \
    NO_PROXY='' no_proxy='' \
    HAUL_INTEROP_ENDPOINT="$ENDPOINT" \
    HAUL_INTEROP_ID="$ID" \
    HAUL_INTEROP_KEY="$KEY" \
    HAUL_INTEROP_SRC_BUCKET="$SRC_BUCKET" \
    HAUL_INTEROP_SRC_REGION="$SRC_REGION" \
    HAUL_INTEROP_DST_BUCKET="$DST_BUCKET" \
    HAUL_INTEROP_DST_REGION="$DST_REGION" \
    HAUL_INTEROP_HUGE_KEY="$HUGE_KEY" \
    HAUL_INTEROP_HUGE_SIZE="$HUGE_SIZE" \
    "$@"
}

status=0
echo "interop: cos-python-sdk-v5 $SDK_VERSION"
referee "$PY" tests/interop/interop.py || status=$?
if [ -n "$RUN_NODE" ]; then
  echo "interop: cos-nodejs-sdk-v5 $NODE_SDK_VERSION"
  NODE_PATH="$PWD/$NODE_PREFIX/node_modules" referee node tests/interop/interop_node.js || status=$?
fi

# haul's S3 client against moto, an independent S3 server with SigV4 checked (skipped with a
# notice when pip cannot install moto[server]).
echo "interop: haul's S3 client against moto"
tests/interop/s3_moto.sh || status=$?

if [ "$status" -ne 0 ]; then
  echo "interop: FAILED (exit $status); server stderr (last 40 lines):" >&2
  tail -n 40 "$WORK/stderr" >&2 || true
fi

# The S3 dialect: aws-cli, boto3 and rclone, against a server of their own.
echo "interop: S3 dialect (aws-cli, boto3, rclone)"
tests/interop/s3_interop.sh || status=$?
exit "$status"
