"""S3 interop: aws-cli, boto3 and rclone against `haul serve`'s S3 dialect.

Started by tests/interop/s3_interop.sh, which starts the server (with an access log) and
passes its address, the credentials, the buckets, the objects and the tools in the
environment. Each tool is used as its users use it: `aws s3 ls`, `aws s3 cp`, boto3's managed
`copy()` and `list_objects_v2` paginator, `rclone copyto` — no helper smooths over a
difference between them and the server. Every copy is then compared with its source, in size
and in content (SHA-256 of a full GET of each), and the access log is read to prove the large
copies were server-side multipart copies (UploadPartCopy), in the S3 dialect.

A guard in this process refuses to resolve or connect to anything but 127.0.0.1; aws-cli and
rclone run with proxies unset and the loopback endpoint only.

Prints one line per check and ends with `N passed, M failed`; exits 1 if any check failed.
"""

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import traceback

LOOPBACK = "127.0.0.1"
_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect


def _guarded_getaddrinfo(host, *args, **kwargs):
    h = host.decode() if isinstance(host, bytes) else str(host)
    if h != LOOPBACK:
        raise OSError("interop guard: refusing to resolve %r; all traffic must go to %s" % (h, LOOPBACK))
    return _real_getaddrinfo(host, *args, **kwargs)


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        if not isinstance(address, tuple) or address[0] != LOOPBACK:
            raise OSError("interop guard: refusing to connect to %r" % (address,))
    return _real_connect(self, address)


socket.getaddrinfo = _guarded_getaddrinfo
socket.socket.connect = _guarded_connect

import boto3  # noqa: E402  (after the guard)
from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

ENV = os.environ
ENDPOINT = ENV["HAUL_S3_ENDPOINT"]
ACCESS_KEY = ENV["HAUL_S3_ID"]
SECRET = ENV["HAUL_S3_KEY"]
SRC = ENV["HAUL_S3_SRC_BUCKET"]
DST = ENV["HAUL_S3_DST_BUCKET"]
BIG_KEY = ENV["HAUL_S3_BIG_KEY"]
BIG_SIZE = int(ENV["HAUL_S3_BIG_SIZE"])
MID_KEY = ENV["HAUL_S3_MID_KEY"]
MID_SIZE = int(ENV["HAUL_S3_MID_SIZE"])
PAGE_PREFIX = ENV["HAUL_S3_PAGE_PREFIX"]
PAGE_COUNT = int(ENV["HAUL_S3_PAGE_COUNT"])
ACCESS_LOG = ENV["HAUL_S3_ACCESS_LOG"]
AWS = ENV["HAUL_S3_AWS"]
RCLONE = ENV.get("HAUL_S3_RCLONE", "")
MIB = 1024 * 1024

RESULTS = []


def check(name, fn):
    started = time.monotonic()
    try:
        fn()
        RESULTS.append((name, None))
        print("ok   %-58s %5.1fs" % (name, time.monotonic() - started), flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
        RESULTS.append((name, e))
        print("FAIL %-58s %s" % (name, e), flush=True)
        traceback.print_exc()


def expect_eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def client():
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def tool_env():
    env = {k: v for k, v in ENV.items() if not k.lower().endswith("_proxy")}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        NO_PROXY="127.0.0.1",
    )
    return env


def run(argv, env=None):
    p = subprocess.run(argv, env=env or tool_env(), capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (" ".join(argv[:4]), p.returncode, (p.stderr or p.stdout)[-800:]))
    return p.stdout


def fingerprint(s3, bucket, key):
    """(size, sha256) of an object, read back with a plain GET."""
    head = s3.head_object(Bucket=bucket, Key=key)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    h = hashlib.sha256()
    n = 0
    for chunk in iter(lambda: body.read(4 * MIB), b""):
        h.update(chunk)
        n += len(chunk)
    expect_eq(n, head["ContentLength"], "bytes read vs ContentLength of %s/%s" % (bucket, key))
    return head["ContentLength"], h.hexdigest()


def log_lines():
    with open(ACCESS_LOG) as f:
        return [json.loads(line) for line in f if line.strip()]


def part_copies(bucket, key):
    """The UploadPartCopy requests that succeeded for bucket/key, all in the S3 dialect."""
    lines = [l for l in log_lines() if l["bucket"] == bucket and l["key"] == key]
    cos = [l for l in lines if l["dialect"] != "s3"]
    if cos:
        raise AssertionError("requests for %s/%s not logged as s3: %r" % (bucket, key, cos[:2]))
    return [l for l in lines if l["op"] == "UploadPartCopy" and l["status"] == 200]


def main():
    if not ENDPOINT.startswith("http://127.0.0.1:"):
        print("HAUL_S3_ENDPOINT must be http://127.0.0.1:PORT, got %r" % ENDPOINT)
        return 1
    s3 = client()
    copies = []  # (tool, destination key) to compare with their source

    def aws_s3_ls():
        out = run([AWS, "--endpoint-url", ENDPOINT, "s3", "ls"])
        names = sorted(line.split()[-1] for line in out.splitlines() if line.strip())
        expect_eq(names, sorted([SRC, DST]), "buckets aws s3 ls lists")
        out = run([AWS, "--endpoint-url", ENDPOINT, "s3", "ls", "s3://%s/%s" % (SRC, PAGE_PREFIX)])
        expect_eq(len(out.splitlines()), PAGE_COUNT, "keys aws s3 ls lists under %s" % PAGE_PREFIX)

    def aws_s3_cp_multipart_copy():
        key = "aws-cli/" + BIG_KEY
        run([AWS, "--endpoint-url", ENDPOINT, "s3", "cp", "--only-show-errors",
             "s3://%s/%s" % (SRC, BIG_KEY), "s3://%s/%s" % (DST, key)])
        parts = part_copies(DST, key)
        # aws-cli's defaults: 8 MiB threshold and parts.
        expect_eq(len(parts), -(-BIG_SIZE // (8 * MIB)), "UploadPartCopy requests of aws s3 cp")
        copies.append(("aws s3 cp", BIG_KEY, key))

    def aws_s3_cp_upload_and_download():
        # A local file over aws-cli's 8 MiB threshold: CreateMultipartUpload, UploadPart x3,
        # Complete; then downloaded with ranged GETs and compared.
        work = ENV["HAUL_S3_WORK"]
        local = os.path.join(work, "upload.bin")
        data = os.urandom(20 * MIB + 123)
        with open(local, "wb") as f:
            f.write(data)
        key = "aws-cli/uploaded 20MiB.bin"
        run([AWS, "--endpoint-url", ENDPOINT, "s3", "cp", "--only-show-errors", local, "s3://%s/%s" % (SRC, key)])
        parts = [l for l in log_lines() if l["key"] == key and l["op"] == "UploadPart" and l["status"] == 200]
        expect_eq(len(parts), 3, "UploadPart requests of aws s3 cp (upload)")
        back = os.path.join(work, "downloaded.bin")
        run([AWS, "--endpoint-url", ENDPOINT, "s3", "cp", "--only-show-errors", "s3://%s/%s" % (SRC, key), back])
        with open(back, "rb") as f:
            got = f.read()
        expect_eq(hashlib.sha256(got).hexdigest(), hashlib.sha256(data).hexdigest(), "SHA-256 of the download")

    def boto3_managed_copy():
        key = "boto3/" + MID_KEY
        cfg = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
        s3.copy({"Bucket": SRC, "Key": MID_KEY}, DST, key, Config=cfg)
        parts = part_copies(DST, key)
        expect_eq(len(parts), -(-MID_SIZE // (8 * MIB)), "UploadPartCopy requests of boto3 copy()")
        copies.append(("boto3 copy()", MID_KEY, key))

    def boto3_small_copy_is_one_copy_object():
        key = "boto3/small-copy"
        s3.put_object(Bucket=SRC, Key="boto3/small", Body=b"x" * 1000, Metadata={"colour": "teal"})
        s3.copy({"Bucket": SRC, "Key": "boto3/small"}, DST, key,
                Config=TransferConfig(multipart_threshold=8 * MIB))
        expect_eq(part_copies(DST, key), [], "UploadPartCopy for a 1000-byte copy")
        expect_eq(s3.head_object(Bucket=DST, Key=key)["Metadata"], {"colour": "teal"}, "copied metadata")
        copies.append(("boto3 copy() small", "boto3/small", key))

    def boto3_list_objects_v2_pagination():
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=SRC, Prefix=PAGE_PREFIX, PaginationConfig={"PageSize": 1000})
        keys, counts = [], []
        for page in pages:
            counts.append(page["KeyCount"])
            keys += [o["Key"] for o in page.get("Contents", [])]
        expect_eq(counts, [1000, 1000, PAGE_COUNT - 2000], "KeyCount of each page")
        expect_eq(keys, sorted(keys), "keys in order")
        expect_eq(len(set(keys)), PAGE_COUNT, "distinct keys listed")
        r = s3.list_objects_v2(Bucket=SRC, Prefix=PAGE_PREFIX, StartAfter=keys[-3], FetchOwner=True)
        expect_eq([o["Key"] for o in r["Contents"]], keys[-2:], "keys after StartAfter")
        if "Owner" not in r["Contents"][0]:
            raise AssertionError("FetchOwner=True gave no Owner")
        r = s3.list_objects_v2(Bucket=SRC, Delimiter="/", MaxKeys=1000)
        prefixes = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        if PAGE_PREFIX.split("/")[0] + "/" not in prefixes:
            raise AssertionError("common prefixes %r lack %r" % (prefixes, PAGE_PREFIX))

    def boto3_errors_are_s3_errors():
        try:
            s3.head_object(Bucket=SRC, Key="no/such/key")
            raise AssertionError("HEAD of a missing key succeeded")
        except ClientError as e:
            expect_eq(e.response["Error"]["Code"], "404", "HEAD of a missing key")
        try:
            s3.get_object(Bucket=SRC, Key="no/such/key")
            raise AssertionError("GET of a missing key succeeded")
        except ClientError as e:
            expect_eq(e.response["Error"]["Code"], "NoSuchKey", "GET of a missing key")
        bad = boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id=ACCESS_KEY,
                           aws_secret_access_key=SECRET + "x", region_name="us-east-1",
                           config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        try:
            bad.list_objects_v2(Bucket=SRC)
            raise AssertionError("a wrong secret was accepted")
        except ClientError as e:
            expect_eq(e.response["Error"]["Code"], "SignatureDoesNotMatch", "a wrong secret")

    def boto3_put_get_delete_objects():
        body = os.urandom(3 * MIB + 5)
        s3.put_object(Bucket=SRC, Key="boto3/put bin+x", Body=body)
        got = s3.get_object(Bucket=SRC, Key="boto3/put bin+x")["Body"].read()
        expect_eq(hashlib.sha256(got).hexdigest(), hashlib.sha256(body).hexdigest(), "GET after PUT")
        r = s3.delete_objects(Bucket=SRC, Delete={"Objects": [{"Key": "boto3/put bin+x"}, {"Key": "boto3/never"}]})
        expect_eq(sorted(d["Key"] for d in r.get("Deleted", [])), ["boto3/never", "boto3/put bin+x"], "deleted keys")
        expect_eq(s3.get_bucket_location(Bucket=DST)["LocationConstraint"], ENV["HAUL_S3_DST_REGION"], "DST's location")

    def rclone_copyto_multipart_copy():
        if not RCLONE:
            print("skip rclone: not installed (apt-get install -y rclone)")
            return
        key = "rclone/" + BIG_KEY
        env = tool_env()
        env.pop("AWS_CA_BUNDLE", None)  # rclone 1.60 fails with LoadCustomCABundleError when set
        env.update(
            RCLONE_CONFIG_HAUL_TYPE="s3",
            RCLONE_CONFIG_HAUL_PROVIDER="Other",
            RCLONE_CONFIG_HAUL_ACCESS_KEY_ID=ACCESS_KEY,
            RCLONE_CONFIG_HAUL_SECRET_ACCESS_KEY=SECRET,
            RCLONE_CONFIG_HAUL_ENDPOINT=ENDPOINT,
            RCLONE_CONFIG_HAUL_FORCE_PATH_STYLE="true",
            RCLONE_CONFIG="/dev/null",
        )
        run([RCLONE, "copyto", "--s3-copy-cutoff", "16M",
             "haul:%s/%s" % (SRC, BIG_KEY), "haul:%s/%s" % (DST, key)], env=env)
        parts = part_copies(DST, key)
        expect_eq(len(parts), -(-BIG_SIZE // (16 * MIB)), "UploadPartCopy requests of rclone copyto")
        copies.append(("rclone copyto", BIG_KEY, key))

    def every_copy_equals_its_source():
        if not copies:
            raise AssertionError("no copy was made")
        sources = {}
        for tool, src_key, dst_key in copies:
            if src_key not in sources:
                sources[src_key] = fingerprint(s3, SRC, src_key)
            expect_eq(fingerprint(s3, DST, dst_key), sources[src_key], "%s: size and SHA-256 of the copy" % tool)

    check("aws s3 ls", aws_s3_ls)
    check("aws s3 cp s3://A/obj s3://B/obj (%d MiB, multipart copy)" % (BIG_SIZE // MIB), aws_s3_cp_multipart_copy)
    check("aws s3 cp local -> s3 -> local (20 MiB, multipart upload)", aws_s3_cp_upload_and_download)
    check("boto3 copy() with an 8 MiB threshold", boto3_managed_copy)
    check("boto3 copy() below the threshold is one CopyObject", boto3_small_copy_is_one_copy_object)
    check("boto3 list_objects_v2 pagination", boto3_list_objects_v2_pagination)
    check("boto3 sees S3 errors", boto3_errors_are_s3_errors)
    check("boto3 put/get/delete_objects/get_bucket_location", boto3_put_get_delete_objects)
    check("rclone copyto --s3-copy-cutoff 16M", rclone_copyto_multipart_copy)
    check("every copy equals its source (size, SHA-256)", every_copy_equals_its_source)

    failed = [n for n, e in RESULTS if e is not None]
    print("%d passed, %d failed" % (len(RESULTS) - len(failed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
