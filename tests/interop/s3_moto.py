#!/usr/bin/env python3
"""haul's S3 client against moto's S3 server on 127.0.0.1, with SigV4 checked (IAM mode).

Run by tests/interop/s3_moto.sh (which makes the venv): s3_moto.py PATH_TO_HAUL.
moto is an independent S3 implementation; its IAM mode re-signs each request with botocore
and refuses a mismatch, so every haul request here is a SigV4 check too. Not tested here, as
moto does not model them: x-amz-copy-source-if-match (ignored) and UploadPartCopy on an
unknown upload id (500).
"""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
from botocore.config import Config

HAUL = os.path.abspath(sys.argv[1])
BIN = os.path.dirname(sys.executable)
MIB = 1 << 20
SRC, DST = "haul-src", "haul-dst"
FAILURES = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        FAILURES.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    work = tempfile.mkdtemp(prefix="haul-moto.")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(os.path.join(work, "moto.log"), "wb")
    server = subprocess.Popen(
        [os.path.join(BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        run(work, endpoint)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    if FAILURES:
        print(f"s3_moto: {len(FAILURES)} check(s) failed")
        sys.exit(1)
    print("s3_moto: all checks passed")


def run(work, endpoint):
    # IAM mode: the next 3 actions (creating the user, its key and its policy) go unchecked,
    # every later request must be signed by a known key.
    urllib.request.urlopen(urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=b"3", method="POST",
        headers={"Content-Type": "text/plain"})).read()
    boot = dict(endpoint_url=endpoint, region_name="us-east-1",
                aws_access_key_id="AKIABOOTSTRAP0000000", aws_secret_access_key="bootstrap")
    iam = boto3.client("iam", **boot)
    iam.create_user(UserName="haul")
    key = iam.create_access_key(UserName="haul")["AccessKey"]
    iam.put_user_policy(UserName="haul", PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    ak, sk = key["AccessKeyId"], key["SecretAccessKey"]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id=ak, aws_secret_access_key=sk,
                      config=Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket=SRC)
    s3.create_bucket(Bucket=DST)
    big = os.urandom(24 * MIB)
    s3.put_object(Bucket=SRC, Key="big.bin", Body=big)
    prefix_objects = {
        "dir/a b+c~é.bin": os.urandom(1000),
        "dir//double slash.bin": b"",
        "dir/sub/nine.bin": os.urandom(9 * MIB),
        "dir/日本語/100%.txt": b"hello",
    }
    for k, v in prefix_objects.items():
        s3.put_object(Bucket=SRC, Key=k, Body=v)

    config = os.path.join(work, "config.toml")
    with open(config, "w") as f:
        f.write(f"""
[profiles.moto]
provider = "s3"
region = "us-east-1"
endpoint = "{endpoint}"

[engine]
single_copy_threshold = "8MiB"
state_dir = "{os.path.join(work, 'state')}"
""")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "HAUL_", "TENCENTCLOUD_"))}
    env.update(AWS_ACCESS_KEY_ID=ak, AWS_SECRET_ACCESS_KEY=sk,
               HAUL_CONFIG=config, HAUL_PROFILE="moto")

    def haul(*args, secret=None):
        e = dict(env)
        if secret is not None:
            e["AWS_SECRET_ACCESS_KEY"] = secret
        started = time.monotonic()
        p = subprocess.run([HAUL, *args], env=e, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=300)
        took = time.monotonic() - started
        if p.returncode != 0:
            print(f"     haul {' '.join(args)} -> {p.returncode} ({took:.1f}s)\n{p.stderr.strip()}")
        return p

    p = haul("ls", "s3://", "--json")
    names = {json.loads(l)["name"] for l in p.stdout.splitlines() if l.strip()}
    check(p.returncode == 0 and {SRC, DST} <= names, "haul ls s3:// lists both buckets")

    # One entry a page: every page after the first continues by token.
    p = haul("ls", f"s3://{SRC}/dir/", "--json", "--page-size", "1")
    listed = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    keys = {e["key"] for e in listed if "key" in e}
    prefixes = {e["prefix"] for e in listed if "prefix" in e}
    check(p.returncode == 0 and keys == {"dir/a b+c~é.bin"}
          and prefixes == {"dir//", "dir/sub/", "dir/日本語/"},
          f"haul ls s3://{SRC}/dir/ pages one entry at a time (keys {sorted(keys)}, prefixes {sorted(prefixes)})")

    p = haul("cp", f"s3://{SRC}/big.bin", f"s3://{DST}/copy/big.bin", "--part-size", "8MiB", "--quiet")
    head = s3.head_object(Bucket=DST, Key="copy/big.bin") if p.returncode == 0 else {}
    check(p.returncode == 0 and head.get("ContentLength") == len(big)
          and head.get("ETag", "").strip('"').endswith("-3"),
          f"haul cp of 24 MiB is a 3-part UploadPartCopy (ETag {head.get('ETag')})")
    if p.returncode == 0:
        body = s3.get_object(Bucket=DST, Key="copy/big.bin")["Body"].read()
        check(hashlib.md5(body).digest() == hashlib.md5(big).digest(),
              "the multipart copy has the source's bytes")

    p = haul("cp", "-r", f"s3://{SRC}/dir/", f"s3://{DST}/tree/", "--quiet")
    ok = p.returncode == 0
    for k, v in prefix_objects.items():
        dk = "tree/" + k[len("dir/"):]
        try:
            got = s3.get_object(Bucket=DST, Key=dk)["Body"].read()
        except Exception as e:  # noqa: BLE001 - report which key is missing
            print(f"     {dk}: {e}")
            got = None
        ok = ok and got == v
    check(ok, "haul cp -r copies every awkward key (spaces, +, ~, //, unicode, %) byte for byte")

    up = s3.create_multipart_upload(Bucket=DST, Key="pending/p 1.bin")["UploadId"]
    p = haul("uploads", "ls", f"s3://{DST}/", "--json")
    check(p.returncode == 0 and up in p.stdout and "pending/p 1.bin" in p.stdout,
          "haul uploads ls shows the open upload")
    p = haul("uploads", "abort", f"s3://{DST}/pending/", "--all", "--yes")
    left = s3.list_multipart_uploads(Bucket=DST).get("Uploads", [])
    check(p.returncode == 0 and not left, f"haul uploads abort leaves no upload ({len(left)} left)")

    p = haul("ls", "s3://", secret="not-the-secret")
    check(p.returncode == 1 and "SignatureDoesNotMatch" in p.stderr,
          "a wrong secret is refused by moto's SigV4 check")

    # A journaled s3:// job goes back to the profile it was started with, without --profile.
    # (`jobs abort`: resuming asks ListParts, which moto 5.2.5 answers with a
    # <ListPartsResponse> root where S3 sends <ListPartsResult>.)
    s3.put_object(Bucket=SRC, Key="resume.bin", Body=os.urandom(160 * MIB))
    cp = subprocess.Popen([HAUL, "cp", f"s3://{SRC}/resume.bin", f"s3://{DST}/resume.bin",
                           "--part-size", "5MiB", "--concurrency", "1", "--quiet"],
                          env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    transfers = os.path.join(work, "state", "transfers")
    deadline = time.monotonic() + 60
    while cp.poll() is None and time.monotonic() < deadline:
        logs = [os.path.join(transfers, n) for n in os.listdir(transfers)] if os.path.isdir(transfers) else []
        if any('"t":"p"' in open(l).read() for l in logs):
            break
        time.sleep(0.005)
    cp.kill()
    cp.wait()
    env.pop("HAUL_PROFILE")  # from now on the journal must say which profile
    p = haul("jobs", "ls", "--json")
    jobs = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    if not jobs:
        print("skip the copy finished before it could be killed: no job to abort")
    else:
        before = s3.list_multipart_uploads(Bucket=DST).get("Uploads", [])
        p = haul("jobs", "abort", str(jobs[0]["id"]))
        left = s3.list_multipart_uploads(Bucket=DST).get("Uploads", [])
        check(p.returncode == 0 and len(before) == 1 and not left,
              f"haul jobs abort of a killed s3:// copy goes back to its profile without --profile ({len(before)} upload before, {len(left)} after)")
    env["HAUL_PROFILE"] = "moto"

    p = haul("cp", f"s3://{SRC}/big.bin", "cos://dst-1250000000/big.bin")
    check(p.returncode == 2 and "cannot be server-side" in p.stderr,
          "a copy from s3:// to cos:// is refused before any request")


if __name__ == "__main__":
    main()
