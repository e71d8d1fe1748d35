#!/usr/bin/env bash
# haul's S3 client against an independent S3 implementation: moto's server (pip moto[server])
# on 127.0.0.1, in its IAM mode so that every request's Signature V4 is checked.
#
# Creates its own venv under target/interop-moto-venv, builds haul, and runs s3_moto.py:
# `haul ls s3://…`, multipart `haul cp s3://… s3://…` (one object and a prefix), `haul uploads
# ls|abort`, a wrong secret refused. Exits 0 with a notice (and checks nothing) when pip cannot
# install moto, e.g. without network access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/../.."

MOTO_VERSION="5.2.5"
VENV="target/interop-moto-venv"
PY="$VENV/bin/python"

if ! "$PY" -c "import sys; from importlib.metadata import version; sys.exit(version('moto') != '$MOTO_VERSION')" 2>/dev/null; then
  echo "s3_moto: creating $VENV with moto[server]==$MOTO_VERSION"
  if ! { python3 -m venv "$VENV" &&
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"; }; then
    echo "s3_moto: SKIPPED: could not install moto[server]==$MOTO_VERSION with pip"
    exit 0
  fi
fi

cargo build --locked --quiet
exec "$PY" tests/interop/s3_moto.py target/debug/haul
