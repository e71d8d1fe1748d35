"""Interop suite: the official COS Python SDK (cos-python-sdk-v5) against `haul serve`.

Started by tests/interop/run.sh, which starts the server and passes its address and the
credentials in the environment. Every request goes to the local server through the SDK's
`Proxies` setting; a guard inside this process refuses to resolve or connect to anything but
127.0.0.1, so nothing can leave the machine even if the SDK tries another host.

It uses the SDK as its users do: headers are read from the SDK's plain dict with COS's own
names (`head_object(...)['ETag']`, `['Content-Length']`, never a case-insensitive lookup), and
the high-level functions run unpatched (`upload_file`, `download_file`, `copy`, `list_buckets`).

Prints one line per check and ends with `N passed, M failed`; exits 1 if any check failed.
"""

import atexit
import hashlib
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import traceback

# ---------------------------------------------------------------------------------------------
# Network guard: installed before the SDK (and requests/urllib3) is imported.

LOOPBACK = "127.0.0.1"
BLOCKED = []
_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect


def _host_str(host):
    return host.decode() if isinstance(host, bytes) else str(host)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if _host_str(host) != LOOPBACK:
        BLOCKED.append(("getaddrinfo", _host_str(host)))
        raise OSError("interop guard: refusing to resolve %r; all traffic must go to %s" % (host, LOOPBACK))
    return _real_getaddrinfo(host, *args, **kwargs)


def _guarded_gethostbyname(host, *args, **kwargs):
    BLOCKED.append(("gethostbyname", _host_str(host)))
    raise OSError("interop guard: refusing to resolve %r" % (host,))


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        if not isinstance(address, tuple) or address[0] != LOOPBACK:
            BLOCKED.append(("connect", repr(address)))
            raise OSError("interop guard: refusing to connect to %r" % (address,))
    return _real_connect(self, address)


socket.getaddrinfo = _guarded_getaddrinfo
socket.gethostbyname = _guarded_gethostbyname
socket.gethostbyname_ex = _guarded_gethostbyname
socket.socket.connect = _guarded_connect
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)
os.environ["NO_PROXY"] = ""
os.environ["no_proxy"] = ""

from qcloud_cos import CosConfig, CosS3Client  # noqa: E402
from qcloud_cos.cos_exception import CosClientError, CosServiceError  # noqa: E402

# ---------------------------------------------------------------------------------------------
# CRC-64/XZ (ECMA-182 reflected), what COS reports as x-cos-hash-crc64ecma.

_POLY = 0xC96C5795D7870F42
_MASK = 0xFFFFFFFFFFFFFFFF


def _make_table():
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _make_table()


def crc64(data, crc=0):
    reg = ~crc & _MASK
    table = _TABLE
    for b in data:
        reg = table[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return ~reg & _MASK


# ---------------------------------------------------------------------------------------------
# Check harness.

PASSED = 0
FAILED = []


def check(name, fn):
    """Runs one check; a check passes when fn returns without raising."""
    global PASSED
    started = time.monotonic()
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - report every failure and carry on
        FAILED.append(name)
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
        traceback.print_exc(limit=3)
        return
    PASSED += 1
    print("ok   %s (%.0f ms)" % (name, (time.monotonic() - started) * 1000), flush=True)


def expect_eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def expect_service_error(fn, code, status, what):
    try:
        fn()
    except CosServiceError as e:
        expect_eq(e.get_error_code(), code, what + " error code")
        expect_eq(e.get_status_code(), status, what + " status")
        return e
    raise AssertionError("%s: expected CosServiceError %s, the call succeeded" % (what, code))


def body_of(response):
    return response["Body"].get_raw_stream().read()


class CallCounter:
    """Counts calls of some of a client's methods while in a `with` block. The SDK's high-level
    functions (upload_file, copy) call its low-level ones through `self`, so this sees them."""

    def __init__(self, client, *names):
        self.client = client
        self.names = names
        self.counts = {n: 0 for n in names}
        self.lock = threading.Lock()

    def __enter__(self):
        for name in self.names:
            real = getattr(self.client, name)

            def wrapper(*args, _real=real, _name=name, **kwargs):
                with self.lock:
                    self.counts[_name] += 1
                return _real(*args, **kwargs)

            setattr(self.client, name, wrapper)
        return self.counts

    def __exit__(self, *exc):
        for name in self.names:
            delattr(self.client, name)
        return False


def payload(tag, size):
    """Deterministic test bytes, different per tag."""
    out = bytearray()
    counter = 0
    seed = tag.encode("utf-8")
    while len(out) < size:
        out += hashlib.sha256(seed + counter.to_bytes(8, "little")).digest()
        counter += 1
    return bytes(out[:size])


# ---------------------------------------------------------------------------------------------


def main():
    endpoint = os.environ["HAUL_INTEROP_ENDPOINT"]  # http://127.0.0.1:PORT
    secret_id = os.environ["HAUL_INTEROP_ID"]
    secret_key = os.environ["HAUL_INTEROP_KEY"]
    src_bucket = os.environ["HAUL_INTEROP_SRC_BUCKET"]
    src_region = os.environ["HAUL_INTEROP_SRC_REGION"]
    dst_bucket = os.environ["HAUL_INTEROP_DST_BUCKET"]
    dst_region = os.environ["HAUL_INTEROP_DST_REGION"]
    huge_key = os.environ.get("HAUL_INTEROP_HUGE_KEY", "")
    huge_size = int(os.environ.get("HAUL_INTEROP_HUGE_SIZE", "0"))
    if not endpoint.startswith("http://" + LOOPBACK + ":"):
        print("HAUL_INTEROP_ENDPOINT must be http://127.0.0.1:PORT, got %r" % endpoint)
        return 2
    proxies = {"http": endpoint, "https": endpoint}

    def client(region, key=secret_key):
        conf = CosConfig(
            Region=region,
            SecretId=secret_id,
            SecretKey=key,
            Scheme="http",
            Proxies=proxies,
            Timeout=60,
        )
        c = CosS3Client(conf, retry=1)
        session = getattr(c, "_session", None)
        if session is not None:
            session.trust_env = False  # never pick proxies or no_proxy up from the environment
        return c

    src = client(src_region)
    dst = client(dst_region)

    def guard_refuses_other_hosts():
        before = len(BLOCKED)
        try:
            socket.getaddrinfo("cos.ap-guangzhou.myqcloud.com", 80)
        except OSError:
            del BLOCKED[before:]
            return
        raise AssertionError("the network guard let a real host name resolve")

    check("network guard refuses non-loopback names", guard_refuses_other_hosts)

    def crc_check_value():
        expect_eq(crc64(b"123456789"), 0x995DC9BBDF1939FA, "CRC-64/XZ check value")
        expect_eq(crc64(b""), 0, "CRC-64/XZ of nothing")

    check("local CRC-64/XZ matches the check value", crc_check_value)

    # --- awkward keys: put, head, get, list -------------------------------------------------
    awkward = [
        "with space.txt",
        "plus+sign.txt",
        "percent%20literal%.txt",
        "hash#fragment.txt",
        "question?mark=1&x.txt",
        "tilde~name.txt",
        "unicode/中文-ñ-😀.txt",
        "a/./b/../c",
        "dir/sub dir/leaf;,$@!'()*[]{}.bin",
        "trailing-slash-child/x",
    ]
    for i, key in enumerate(awkward):
        data = payload(key, 1000 + 37 * i)

        def put_head_get(key=key, data=data):
            r = src.put_object(Bucket=src_bucket, Key=key, Body=data)
            expect_eq(r["ETag"].strip('"'), hashlib.md5(data).hexdigest(), "PUT ETag is the MD5")
            expect_eq(int(r["x-cos-hash-crc64ecma"]), crc64(data), "PUT x-cos-hash-crc64ecma")
            h = src.head_object(Bucket=src_bucket, Key=key)
            expect_eq(int(h["Content-Length"]), len(data), "HEAD Content-Length")
            expect_eq(int(h["x-cos-hash-crc64ecma"]), crc64(data), "HEAD x-cos-hash-crc64ecma")
            expect_eq(h["ETag"].strip('"'), hashlib.md5(data).hexdigest(), "HEAD ETag")
            got = body_of(src.get_object(Bucket=src_bucket, Key=key))
            expect_eq(got == data, True, "GET body equals what was put")
            listed = src.list_objects(Bucket=src_bucket, Prefix=key)
            keys = [c["Key"] for c in listed.get("Contents", [])]
            if key not in keys:
                raise AssertionError("list with prefix %r does not show the key; got %r" % (key, keys))

        check("put/head/get/list awkward key %r" % key, put_head_get)

    # --- listing: prefix, delimiter, pagination ---------------------------------------------
    list_keys = sorted(
        ["list/a/1", "list/a/2", "list/b/1", "list/b/2/deep", "list/c", "list/d e", "list/f+g", "list/h/", "list/中"]
    )
    outside = ["lisT/x", "lis", "list"]

    def put_listing_set():
        for k in list_keys + outside:
            src.put_object(Bucket=src_bucket, Key=k, Body=k.encode("utf-8"))

    check("put the listing set (%d objects)" % (len(list_keys) + len(outside)), put_listing_set)

    def list_with_delimiter():
        r = src.list_objects(Bucket=src_bucket, Prefix="list/", Delimiter="/")
        prefixes = sorted(p["Prefix"] for p in r.get("CommonPrefixes", []))
        contents = sorted(c["Key"] for c in r.get("Contents", []))
        expect_eq(prefixes, ["list/a/", "list/b/", "list/h/"], "CommonPrefixes")
        expect_eq(contents, ["list/c", "list/d e", "list/f+g", "list/中"], "Contents")
        expect_eq(r.get("IsTruncated"), "false", "IsTruncated")

    check("list_objects prefix+delimiter groups common prefixes", list_with_delimiter)

    def paginate(max_keys, delimiter):
        seen = []
        marker = ""
        pages = 0
        while True:
            r = src.list_objects(Bucket=src_bucket, Prefix="list/", Delimiter=delimiter, Marker=marker, MaxKeys=max_keys)
            pages += 1
            page = [c["Key"] for c in r.get("Contents", [])] + [p["Prefix"] for p in r.get("CommonPrefixes", [])]
            if len(page) > max_keys:
                raise AssertionError("page %d has %d entries, MaxKeys is %d" % (pages, len(page), max_keys))
            seen += page
            if r.get("IsTruncated") != "true":
                break
            marker = r.get("NextMarker")
            if not marker:
                raise AssertionError("truncated page %d has no NextMarker" % pages)
            if pages > 50:
                raise AssertionError("pagination does not end")
        return seen, pages

    def list_paginated():
        seen, pages = paginate(2, "")
        expect_eq(sorted(seen), list_keys, "all keys over pages")
        expect_eq(len(seen), len(set(seen)), "no key repeated across pages")
        expect_eq(pages, (len(list_keys) + 1) // 2, "page count")

    check("list_objects MaxKeys=2 follows NextMarker over every key", list_paginated)

    def list_paginated_with_delimiter():
        seen, pages = paginate(1, "/")
        expect_eq(sorted(seen), ["list/a/", "list/b/", "list/c", "list/d e", "list/f+g", "list/h/", "list/中"], "entries")
        expect_eq(pages, 7, "one entry a page")

    check("list_objects MaxKeys=1 with delimiter pages over prefixes too", list_paginated_with_delimiter)

    # --- ranged GET -----------------------------------------------------------------------------
    ranged_key = "range/obj.bin"
    ranged = payload("ranged", 100_003)

    def ranged_gets():
        src.put_object(Bucket=src_bucket, Key=ranged_key, Body=ranged)
        for rng, want in [
            ("bytes=0-0", ranged[0:1]),
            ("bytes=100-199", ranged[100:200]),
            ("bytes=99990-", ranged[99990:]),
            ("bytes=-7", ranged[-7:]),
            ("bytes=50000-999999999", ranged[50000:]),
        ]:
            r = src.get_object(Bucket=src_bucket, Key=ranged_key, Range=rng)
            got = body_of(r)
            expect_eq(len(got), len(want), "length of " + rng)
            expect_eq(got == want, True, "bytes of " + rng)
            expect_eq(int(r["Content-Length"]), len(want), "Content-Length of " + rng)
            if "/" not in r["Content-Range"]:
                raise AssertionError("Content-Range %r has no total" % r["Content-Range"])

    check("ranged get_object returns exactly the range", ranged_gets)

    def range_not_satisfiable():
        expect_service_error(
            lambda: body_of(src.get_object(Bucket=src_bucket, Key=ranged_key, Range="bytes=200000-200001")),
            "InvalidRange",
            416,
            "range past the end",
        )

    check("a range past the end is 416 InvalidRange", range_not_satisfiable)

    def missing_key():
        expect_service_error(
            lambda: src.get_object(Bucket=src_bucket, Key="no/such key"), "NoSuchKey", 404, "GET of a missing key"
        )
        try:
            src.head_object(Bucket=src_bucket, Key="no/such key")
        except CosServiceError as e:
            expect_eq(e.get_status_code(), 404, "HEAD of a missing key")
        else:
            raise AssertionError("HEAD of a missing key succeeded")

    check("a missing key is 404 NoSuchKey", missing_key)

    # --- the SDK as its users use it: plain dict lookups with COS's header names ---------------
    def head_names_headers_as_cos_does():
        data = payload("head names", 4096)
        src.put_object(Bucket=src_bucket, Key="names/obj.bin", Body=data, ContentType="application/x-test")
        h = src.head_object(Bucket=src_bucket, Key="names/obj.bin")
        for name in [
            "ETag",
            "Content-Length",
            "Content-Type",
            "Last-Modified",
            "Accept-Ranges",
            "Date",
            "Server",
            "x-cos-request-id",
            "x-cos-hash-crc64ecma",
        ]:
            if name not in h:
                raise AssertionError("head_object() has no %r key (keys: %s)" % (name, sorted(h)))
        expect_eq(h["Content-Type"], "application/x-test", "Content-Type")
        expect_eq(h["Server"], "tencent-cos", "Server")
        expect_eq(h["Accept-Ranges"], "bytes", "Accept-Ranges")

    check("head_object() answers ETag, Content-Length, Last-Modified, ... by COS's names", head_names_headers_as_cos_does)

    def list_buckets_as_called():
        r = src.list_buckets()
        names = sorted(b["Name"] for b in r["Buckets"]["Bucket"])
        expect_eq(names, sorted([src_bucket, dst_bucket]), "list_buckets() names")
        expect_eq(r["IsTruncated"], "false", "IsTruncated")
        locations = {b["Name"]: b["Location"] for b in r["Buckets"]["Bucket"]}
        expect_eq(locations, {src_bucket: src_region, dst_bucket: dst_region}, "bucket regions")
        r = src.list_buckets(Region=dst_region)
        expect_eq([b["Name"] for b in r["Buckets"]["Bucket"]], [dst_bucket], "list_buckets(Region=...)")
        seen, marker, pages = [], "", 0
        while True:
            r = src.list_buckets(Marker=marker, MaxKeys=1)
            pages += 1
            seen += [b["Name"] for b in (r["Buckets"] or {}).get("Bucket", [])]
            if r["IsTruncated"] != "true":
                break
            marker = r["NextMarker"]
            if pages > 10:
                raise AssertionError("list_buckets pages do not end")
        expect_eq(seen, sorted([src_bucket, dst_bucket]), "list_buckets(MaxKeys=1) over pages")
        r = src.list_buckets(CreateTime=int(time.time()) + 3600, Range="lt")
        expect_eq(len(r["Buckets"]["Bucket"]), 2, "buckets created before an hour from now")
        r = src.list_buckets(CreateTime=int(time.time()) + 3600, Range="gt")
        expect_eq(r["Buckets"], None, "buckets created after an hour from now")

    check("list_buckets() with its defaults, Region, Marker/MaxKeys paging and CreateTime", list_buckets_as_called)

    def put_part_etags_by_name():
        key = "names/parts.bin"
        parts = [payload("part 1", 1024 * 1024), payload("part 2", 12345)]
        upload_id = src.create_multipart_upload(Bucket=src_bucket, Key=key)["UploadId"]
        listed = []
        for n, data in enumerate(parts, start=1):
            r = src.upload_part(Bucket=src_bucket, Key=key, Body=data, PartNumber=n, UploadId=upload_id, EnableMD5=True)
            expect_eq(r["ETag"].strip('"'), hashlib.md5(data).hexdigest(), "upload_part ETag")
            listed.append({"PartNumber": n, "ETag": r["ETag"]})
        r = src.list_parts(Bucket=src_bucket, Key=key, UploadId=upload_id)
        expect_eq([p["ETag"] for p in r["Part"]], [p["ETag"] for p in listed], "list_parts ETags")
        done = src.complete_multipart_upload(
            Bucket=src_bucket, Key=key, UploadId=upload_id, MultipartUpload={"Part": listed}
        )
        h = src.head_object(Bucket=src_bucket, Key=key)
        expect_eq(h["ETag"], done["ETag"], "HEAD ETag equals Complete's")
        if not h["ETag"].strip('"').endswith("-2"):
            raise AssertionError("multipart ETag %r does not end in -2" % h["ETag"])
        expect_eq(int(h["Content-Length"]), sum(len(p) for p in parts), "Content-Length")
        expect_eq(int(h["x-cos-hash-crc64ecma"]), crc64(b"".join(parts)), "CRC64 of the whole")

    check("upload_part()['ETag'] feeds complete_multipart_upload()", put_part_etags_by_name)

    workdir = tempfile.mkdtemp(prefix="haul-interop-")
    atexit.register(shutil.rmtree, workdir, True)
    big_data = payload("upload_file", 3 * 1024 * 1024 + 4321)
    big_key = "files/upload_file big.bin"

    def upload_file_multipart():
        path = os.path.join(workdir, "upload.bin")
        with open(path, "wb") as f:
            f.write(big_data)
        with CallCounter(src, "put_object", "create_multipart_upload", "upload_part") as counts:
            r = src.upload_file(
                Bucket=src_bucket, Key=big_key, LocalFilePath=path, PartSize=1, MAXThread=3, EnableMD5=True
            )
        expect_eq(
            counts,
            {"put_object": 0, "create_multipart_upload": 1, "upload_part": 4},
            "calls upload_file() made for 1 MB parts",
        )
        if not r["ETag"].strip('"').endswith("-4"):
            raise AssertionError("upload_file() ETag %r is not a 4-part multipart ETag" % r["ETag"])
        h = src.head_object(Bucket=src_bucket, Key=big_key)
        expect_eq(int(h["Content-Length"]), len(big_data), "uploaded Content-Length")
        expect_eq(int(h["x-cos-hash-crc64ecma"]), crc64(big_data), "uploaded CRC64")

    check("upload_file() of a 3 MiB file in 1 MB parts goes multipart", upload_file_multipart)

    def download_file_both_ways():
        small = os.path.join(workdir, "download-simple.bin")
        src.download_file(Bucket=src_bucket, Key=big_key, DestFilePath=small)
        with open(small, "rb") as f:
            expect_eq(f.read() == big_data, True, "download_file() (one GET) bytes")
        parts = os.path.join(workdir, "download-parts.bin")
        src.download_file(
            Bucket=src_bucket,
            Key=big_key,
            DestFilePath=parts,
            PartSize=1,
            MAXThread=3,
            EnableCRC=True,
            DumpRecordDir=workdir,
        )
        with open(parts, "rb") as f:
            expect_eq(f.read() == big_data, True, "download_file() (ranged parts, CRC checked) bytes")

    check("download_file() to a file, whole and in ranged 1 MB parts with EnableCRC", download_file_both_ways)

    def same_region_copy_is_put_copy():
        with CallCounter(src, "copy_object", "create_multipart_upload") as counts:
            r = src.copy(
                Bucket=src_bucket,
                Key="files/copied in region.bin",
                CopySource={"Bucket": src_bucket, "Key": big_key, "Region": src_region},
            )
        expect_eq(counts, {"copy_object": 1, "create_multipart_upload": 0}, "calls copy() made")
        src_head = src.head_object(Bucket=src_bucket, Key=big_key)
        expect_eq(r["ETag"], src_head["ETag"], "PUT Copy keeps the source ETag")
        h = src.head_object(Bucket=src_bucket, Key="files/copied in region.bin")
        expect_eq(int(h["Content-Length"]), len(big_data), "copied Content-Length")
        expect_eq(h["x-cos-hash-crc64ecma"], src_head["x-cos-hash-crc64ecma"], "copied CRC64")

    check("same-region copy() of a small object is one PUT Object - Copy", same_region_copy_is_put_copy)

    # --- cross-region multipart copy via the SDK's copy() --------------------------------------
    # copy() uses PUT Copy when source and destination regions match; across regions it uses
    # multipart once size >= CopyPartThreshold (bytes; 5 GB by default, lowered here), with
    # PartSize in MB: a 2.5 MiB object in 1 MB parts is 3 UploadPartCopy calls.
    dst.get_conf().set_copy_part_threshold_size(1)
    calls = {"create": 0, "part": 0, "complete": 0}

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    dst.create_multipart_upload = counting("create", dst.create_multipart_upload)
    dst.upload_part_copy = counting("part", dst.upload_part_copy)
    dst.complete_multipart_upload = counting("complete", dst.complete_multipart_upload)

    copy_src_key = "copy src/ü+#?~ 1.bin"
    copy_data = payload("copy", 2 * 1024 * 1024 + 512 * 1024 + 123)

    def cross_region_copy():
        src.put_object(Bucket=src_bucket, Key=copy_src_key, Body=copy_data)
        for k in calls:
            calls[k] = 0
        r = dst.copy(
            Bucket=dst_bucket,
            Key="copied/dst ü+.bin",
            CopySource={"Bucket": src_bucket, "Key": copy_src_key, "Region": src_region},
            PartSize=1,
            MAXThread=3,
        )
        if not r or "ETag" not in r:
            raise AssertionError("Complete result has no ETag: %r" % (r,))
        expect_eq(calls, {"create": 1, "part": 3, "complete": 1}, "multipart calls the SDK made")
        h = dst.head_object(Bucket=dst_bucket, Key="copied/dst ü+.bin")
        expect_eq(int(h["Content-Length"]), len(copy_data), "copied Content-Length")
        expect_eq(int(h["x-cos-hash-crc64ecma"]), crc64(copy_data), "copied CRC64")
        got = body_of(dst.get_object(Bucket=dst_bucket, Key="copied/dst ü+.bin"))
        expect_eq(got == copy_data, True, "copied bytes")

    check("cross-region copy() goes multipart (3 UploadPartCopy) and keeps bytes and CRC", cross_region_copy)

    if huge_key:

        def huge_copy():
            h = src.head_object(Bucket=src_bucket, Key=huge_key)
            expect_eq(int(h["Content-Length"]), huge_size, "synthetic source size")
            src_crc = int(h["x-cos-hash-crc64ecma"])
            for k in calls:
                calls[k] = 0
            started = time.monotonic()
            dst.copy(
                Bucket=dst_bucket,
                Key="copied/huge.bin",
                CopySource={"Bucket": src_bucket, "Key": huge_key, "Region": src_region},
                PartSize=1024,
                MAXThread=5,
            )
            took = time.monotonic() - started
            parts = -(-huge_size // (1024 * 1024 * 1024))
            expect_eq(calls["part"], parts, "UploadPartCopy calls for 1 GiB parts")
            d = dst.head_object(Bucket=dst_bucket, Key="copied/huge.bin")
            expect_eq(int(d["Content-Length"]), huge_size, "copied size")
            expect_eq(int(d["x-cos-hash-crc64ecma"]), src_crc, "copied CRC64 equals the source's")
            first = huge_size // 2 + 3
            rng = "bytes=%d-%d" % (first, first + 65535)
            a = body_of(src.get_object(Bucket=src_bucket, Key=huge_key, Range=rng))
            b = body_of(dst.get_object(Bucket=dst_bucket, Key="copied/huge.bin", Range=rng))
            expect_eq(len(a), 65536, "ranged read length")
            expect_eq(a == b, True, "the same range reads the same bytes from source and copy")
            if a.count(0) > 4096:
                raise AssertionError("synthetic bytes look degenerate: %d zero bytes in 64 KiB" % a.count(0))
            print("     copied %d bytes in %d parts in %.2f s" % (huge_size, parts, took))

        check("cross-region copy() of a %d-byte synthetic object keeps size and CRC" % huge_size, huge_copy)

    # --- list_multipart_uploads / abort_multipart_upload ---------------------------------------
    def uploads_listing():
        pending = {}
        for k in ["mpu/pending 1", "mpu/pending+2", "mpu/中/3"]:
            r = dst.create_multipart_upload(Bucket=dst_bucket, Key=k)
            expect_eq(r.get("Key"), k, "Initiate echoes the key")
            pending[k] = r["UploadId"]
        r = dst.list_multipart_uploads(Bucket=dst_bucket, Prefix="mpu/")
        listed = {u["Key"]: u["UploadId"] for u in r.get("Upload", [])}
        expect_eq(listed, pending, "listed uploads")
        r = dst.list_multipart_uploads(Bucket=dst_bucket, Prefix="mpu/", Delimiter="/")
        expect_eq(sorted(p["Prefix"] for p in r.get("CommonPrefixes", [])), ["mpu/中/"], "upload CommonPrefixes")
        expect_eq(sorted(u["Key"] for u in r.get("Upload", [])), ["mpu/pending 1", "mpu/pending+2"], "uploads at top level")
        dst.abort_multipart_upload(Bucket=dst_bucket, Key="mpu/pending 1", UploadId=pending.pop("mpu/pending 1"))
        r = dst.list_multipart_uploads(Bucket=dst_bucket, Prefix="mpu/")
        expect_eq({u["Key"]: u["UploadId"] for u in r.get("Upload", [])}, pending, "uploads after one abort")
        for k, upload_id in pending.items():
            dst.abort_multipart_upload(Bucket=dst_bucket, Key=k, UploadId=upload_id)
        r = dst.list_multipart_uploads(Bucket=dst_bucket, Prefix="mpu/")
        expect_eq(r.get("Upload", []), [], "uploads after aborting all")

    check("list_multipart_uploads shows and abort_multipart_upload removes uploads", uploads_listing)

    def abort_unknown():
        expect_service_error(
            lambda: dst.abort_multipart_upload(Bucket=dst_bucket, Key="mpu/none", UploadId="no-such-upload"),
            "NoSuchUpload",
            404,
            "abort of an unknown upload",
        )

    check("abort of an unknown upload is 404 NoSuchUpload", abort_unknown)

    # --- signatures -------------------------------------------------------------------------
    bad = client(src_region, key=secret_key + "x")

    def wrong_key():
        expect_service_error(
            lambda: bad.put_object(Bucket=src_bucket, Key="sig/denied", Body=b"no"),
            "SignatureDoesNotMatch",
            403,
            "PUT with a wrong secret key",
        )
        expect_service_error(
            lambda: bad.list_objects(Bucket=src_bucket, Prefix="list/"),
            "SignatureDoesNotMatch",
            403,
            "LIST with a wrong secret key",
        )
        expect_service_error(
            lambda: src.get_object(Bucket=src_bucket, Key="sig/denied"), "NoSuchKey", 404, "the denied PUT wrote nothing"
        )

    check("a wrong secret key is 403 SignatureDoesNotMatch", wrong_key)

    def delete_then_gone():
        src.delete_object(Bucket=src_bucket, Key="list/c")
        r = src.list_objects(Bucket=src_bucket, Prefix="list/c")
        expect_eq([c["Key"] for c in r.get("Contents", [])], [], "listing after delete")

    check("delete_object removes the key from listings", delete_then_gone)

    def nothing_left_the_machine():
        expect_eq(BLOCKED, [], "blocked attempts to reach a non-loopback host")

    check("no request tried to reach anything but 127.0.0.1", nothing_left_the_machine)

    print("%d passed, %d failed" % (PASSED, len(FAILED)), flush=True)
    if FAILED:
        print("failed: " + "; ".join(FAILED), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (CosClientError, CosServiceError, KeyError) as e:
        print("interop aborted: %s: %s" % (type(e).__name__, e), flush=True)
        print("%d passed, %d failed" % (PASSED, len(FAILED) + 1), flush=True)
        sys.exit(1)
