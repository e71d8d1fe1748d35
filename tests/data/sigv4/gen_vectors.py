#!/usr/bin/env python3
"""Writes S3 SigV4 vectors signed by botocore's S3SigV4Auth, as JSON on stdout.

Run in a venv with botocore installed (`pip install botocore`):
    python3 tests/data/sigv4/gen_vectors.py > tests/data/sigv4/botocore.json
The Rust tests in src/sigv4.rs recompute every canonical request, string to sign and
Authorization header from the decoded fields and compare.
"""
import datetime
import json
import sys
from urllib.parse import quote

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

FIXED = datetime.datetime(2026, 12, 2, 8, 15, 30)
botocore.auth.get_current_datetime = lambda remove_tzinfo=True: FIXED

AK = "AKIAIOSFODNN7EXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEJr//////////wEaDOEXAMPLE+token/with=chars"


class S3Config:
    def __init__(self, sign_payload):
        self.s3 = {"payload_signing_enabled": sign_payload}


def enc(s, safe):
    return quote(s, safe=safe)


def vector(name, method, bucket, key, query=(), headers=(), body=b"", sign_payload=True,
           token=None, region="us-east-1", style="path", endpoint="127.0.0.1:9000",
           scheme="http"):
    if style == "path":
        host = endpoint
        path = "/" + bucket + ("/" + key if key is not None else "/") if bucket else "/"
    else:
        host = f"{bucket}.{endpoint}"
        path = "/" + (key or "")
    url = f"{scheme}://{host}{enc(path, '/~')}"
    if query:
        url += "?" + "&".join(
            f"{enc(k, '-_.~')}={enc(v, '-_.~')}" for k, v in query)
    req = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    req.context["client_config"] = S3Config(sign_payload)
    creds = Credentials(AK, SK, token)
    auth = botocore.auth.S3SigV4Auth(creds, "s3", region)
    seen = {}
    real_cr, real_sts = auth.canonical_request, auth.string_to_sign
    auth.canonical_request = lambda r: seen.setdefault("cr", real_cr(r))
    auth.string_to_sign = lambda r, c: seen.setdefault("sts", real_sts(r, c))
    auth.add_auth(req)
    canonical, sts = seen["cr"], seen["sts"]
    sent = {k.lower(): v for k, v in req.headers.items()}
    return {
        "name": name,
        "method": method,
        "url": url,
        "path": path,
        "query": [list(p) for p in query],
        "headers": [[k, v] for k, v in sorted(sent.items())],
        "host": host,
        "body": body.decode("utf-8"),
        "payload_hash": sent["x-amz-content-sha256"],
        "access_key_id": AK,
        "secret_access_key": SK,
        "session_token": token,
        "region": region,
        "service": "s3",
        "amz_date": sent["x-amz-date"],
        "canonical_request": canonical,
        "string_to_sign": sts,
        "authorization": sent["authorization"],
    }


def main():
    v = []
    v.append(vector("list-buckets", "GET", None, None, sign_payload=True))
    v.append(vector("list-objects-v2", "GET", "media", None,
                    query=[("list-type", "2"), ("prefix", "photos/2026 dec/"),
                           ("delimiter", "/"), ("continuation-token", "1+/abc==")]))
    v.append(vector("head-object-unsigned", "HEAD", "media", "a b/c.bin", sign_payload=False))
    v.append(vector("put-object-hashed", "PUT", "media", "hello.txt",
                    headers={"Content-Type": "text/plain"}, body=b"hello world\n"))
    v.append(vector("session-token", "GET", "media", "x.bin", token=TOKEN))
    v.append(vector("unicode-key", "HEAD", "media", "données/日本語/ü.bin"))
    v.append(vector("plus-tilde-key", "HEAD", "media", "a+b~c=d&e!f'g(h)*.bin"))
    v.append(vector("double-slash-key", "HEAD", "media", "dir//file/./../x"))
    v.append(vector("virtual-hosted", "HEAD", "media", "a b+c~d", style="vhost",
                    endpoint="s3.eu-west-1.amazonaws.com", region="eu-west-1",
                    scheme="https", sign_payload=False))
    v.append(vector("create-multipart-upload", "POST", "media", "big file.bin",
                    query=[("uploads", "")]))
    v.append(vector("upload-part-copy", "PUT", "media", "dst/obj.bin",
                    query=[("partNumber", "7"), ("uploadId", "2~abc/DEF+ghi=")],
                    headers={"x-amz-copy-source": "src-bucket/k%20ey%2B1.bin",
                             "x-amz-copy-source-range": "bytes=0-5368709119",
                             "x-amz-copy-source-if-match": '"9b2cf535f27731c974343645a3985328"'},
                    sign_payload=False, token=TOKEN))
    body = (b'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>'
            b'<ETag>"a"</ETag></Part></CompleteMultipartUpload>')
    v.append(vector("complete-multipart-upload", "POST", "media", "dst/obj.bin",
                    query=[("uploadId", "xyz")],
                    headers={"Content-Type": "application/xml"}, body=body))
    v.append(vector("list-parts-unicode-region", "GET", "media", "k",
                    query=[("uploadId", "u p"), ("part-number-marker", "3")],
                    region="ap-shanghai", endpoint="cos.ap-shanghai.myqcloud.com",
                    style="vhost", scheme="https"))
    json.dump({"generator": f"botocore {botocore.__version__} S3SigV4Auth",
               "vectors": v}, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
