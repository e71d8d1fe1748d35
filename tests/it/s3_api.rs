//! `haul serve`'s S3 dialect over real HTTP: one port answers COS and SigV4-signed S3 from the
//! same state; S3 answers in S3's shapes (error bodies, namespaces, headers); signatures,
//! clock skew, payload hashes and `aws-chunked` chunk signatures are checked as strictly as
//! S3 does; ListObjectsV2 pages with continuation tokens. aws-cli, boto3 and rclone are run
//! against it in tests/interop/s3_interop.sh.

use crate::common::s3::S3;
use crate::common::{self, Cos, GZ, GZ_BUCKET, SH_BUCKET};

const S3_NS: &str = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_port_answers_cos_and_s3_on_the_same_objects_and_logs_the_dialect() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("access.log");
    let log_arg = log.to_string_lossy().into_owned();
    let h = common::start_server(common::args(&["--access-log", &log_arg])).await;
    let (cos, s3) = (Cos::new(&h), S3::new(&h));

    let put = cos
        .obj("PUT", GZ_BUCKET, GZ, "both/from cos")
        .h("x-cos-meta-colour", "teal")
        .body("written in COS")
        .send()
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let get = s3.req("GET", GZ_BUCKET, "both/from cos").send().await;
    assert_eq!(get.status, 200, "{}", get.text);
    assert_eq!(get.text, "written in COS");
    assert_eq!(get.header("x-amz-meta-colour"), Some("teal"));
    assert!(get.header("x-amz-request-id").is_some());
    assert_eq!(
        get.header("x-cos-request-id"),
        None,
        "an S3 answer carries no COS headers"
    );
    assert_eq!(get.header("x-cos-hash-crc64ecma"), None);

    let put = s3
        .req("PUT", GZ_BUCKET, "both/from s3")
        .h("x-amz-meta-shape", "round")
        .body("written in S3")
        .send()
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let head = cos.obj("HEAD", GZ_BUCKET, GZ, "both/from s3").send().await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("x-cos-meta-shape"), Some("round"));
    assert_eq!(head.header("content-length"), Some("13"));

    let buckets = s3.req("GET", "", "").send().await;
    assert_eq!(buckets.status, 200, "{}", buckets.text);
    assert!(buckets.text.contains(S3_NS), "{}", buckets.text);
    assert_eq!(buckets.tags("Name"), [GZ_BUCKET, SH_BUCKET]);

    h.shutdown().await;
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .expect("access log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let dialects: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["dialect"].as_str().unwrap_or("?"),
                l["op"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        dialects,
        [
            ("cos", "PutObject"),
            ("s3", "GetObject"),
            ("s3", "PutObject"),
            ("cos", "HeadObject"),
            ("s3", "ListBuckets"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_virtual_hosted_request_names_its_bucket_in_the_host() {
    let h = common::start_server(common::args(&["--object", "cos://beta-1250000000/v/k=7"])).await;
    let s3 = S3::new(&h);
    let r = s3.req_virtual("GET", SH_BUCKET, "v/k").send().await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.bytes.len(), 7);
    let r = s3
        .req_virtual("GET", SH_BUCKET, "")
        .q("list-type", "2")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.tag("Name").as_deref(), Some(SH_BUCKET));
    assert_eq!(r.tags("Key"), ["v/k"]);
    // The same path on the other bucket's host is the other bucket: no such key there.
    let r = s3.req_virtual("GET", GZ_BUCKET, "v/k").send().await;
    assert_eq!((r.status, r.code().as_deref()), (404, Some("NoSuchKey")));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_errors_are_s3_error_documents() {
    let h = common::start_server(common::serve_args()).await;
    let s3 = S3::new(&h);
    let r = s3.req("GET", GZ_BUCKET, "no/such key").send().await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code().as_deref(), Some("NoSuchKey"));
    assert_eq!(
        r.tag("Resource").as_deref(),
        Some(format!("/{GZ_BUCKET}/no/such%20key").as_str())
    );
    let rid = r.header("x-amz-request-id").expect("x-amz-request-id");
    assert_eq!(r.tag("RequestId").as_deref(), Some(rid));
    assert!(r.tag("HostId").is_some(), "{}", r.text);
    assert!(
        r.tag("TraceId").is_none(),
        "COS's TraceId in an S3 error: {}",
        r.text
    );
    assert_eq!(r.header("server"), Some("AmazonS3"));

    let r = s3.req("GET", "nobody-1250000000", "").send().await;
    assert_eq!((r.status, r.code().as_deref()), (404, Some("NoSuchBucket")));
    let r = s3.req("GET", GZ_BUCKET, "k").q("tagging", "").send().await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (501, Some("NotImplemented"))
    );
    // A HEAD error has the status and no body, as S3 answers it.
    let r = s3.req("HEAD", GZ_BUCKET, "no/such key").send().await;
    assert_eq!((r.status, r.text.as_str()), (404, ""));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_an_unknown_key_and_clock_skew_are_refused_as_s3_refuses_them() {
    let h = common::start_server(common::serve_args()).await;
    let s3 = S3::new(&h);
    let ok = s3
        .req("GET", GZ_BUCKET, "")
        .q("list-type", "2")
        .send()
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);

    let r = s3
        .req("GET", GZ_BUCKET, "")
        .q("list-type", "2")
        .bad_signature()
        .send()
        .await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (403, Some("SignatureDoesNotMatch"))
    );
    assert!(
        r.tag("StringToSign")
            .is_some_and(|s| s.starts_with("AWS4-HMAC-SHA256\n")),
        "{}",
        r.text
    );
    assert!(
        r.tag("CanonicalRequest")
            .is_some_and(|s| s.starts_with("GET\n/")),
        "{}",
        r.text
    );

    let id = s3.id.clone();
    let r = s3
        .req("GET", GZ_BUCKET, "")
        .creds(&id, "not-the-secret")
        .send()
        .await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (403, Some("SignatureDoesNotMatch"))
    );
    let r = s3
        .req("GET", GZ_BUCKET, "")
        .creds("AKIDnobody", "x")
        .send()
        .await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (403, Some("InvalidAccessKeyId"))
    );

    let now = common::now();
    let r = s3.req("GET", GZ_BUCKET, "").at(now - 16 * 60).send().await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (403, Some("RequestTimeTooSkewed"))
    );
    assert!(r.tag("ServerTime").is_some(), "{}", r.text);
    let r = s3.req("GET", GZ_BUCKET, "").at(now + 16 * 60).send().await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (403, Some("RequestTimeTooSkewed"))
    );
    let r = s3.req("GET", GZ_BUCKET, "").at(now - 14 * 60).send().await;
    assert_eq!(r.status, 200, "14 minutes is within S3's 15: {}", r.text);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_copy_source_header_cannot_turn_a_signed_put_into_a_copy() {
    let h = common::start_server(common::serve_args()).await;
    let s3 = S3::new(&h);
    let put = s3
        .req("PUT", GZ_BUCKET, "secret")
        .body("private")
        .send()
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    // A captured, signed empty PUT replayed with an added x-amz-copy-source.
    let r = s3
        .req("PUT", GZ_BUCKET, "stolen")
        .h_unsigned("x-amz-copy-source", &format!("{GZ_BUCKET}/secret"))
        .send()
        .await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (403, Some("AccessDenied")),
        "{}",
        r.text
    );
    let r = s3.req("GET", GZ_BUCKET, "stolen").send().await;
    assert_eq!(r.status, 404, "nothing was copied");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payload_hash_and_every_aws_chunked_chunk_signature_are_checked() {
    let h = common::start_server(common::serve_args()).await;
    let s3 = S3::new(&h);
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();

    let r = s3
        .req("PUT", GZ_BUCKET, "chunked")
        .body(body.clone())
        .chunked(64 * 1024)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = s3.req("GET", GZ_BUCKET, "chunked").send().await;
    assert_eq!(
        got.bytes, body,
        "the stored object is the decoded body, not its framing"
    );

    let r = s3
        .req("PUT", GZ_BUCKET, "tampered")
        .body(body.clone())
        .chunked(64 * 1024)
        .corrupt_chunk()
        .send()
        .await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (403, Some("SignatureDoesNotMatch")),
        "{}",
        r.text
    );
    assert_eq!(
        s3.req("HEAD", GZ_BUCKET, "tampered").send().await.status,
        404
    );

    let other = haul::sigv4::sha256_hex(b"another body");
    let r = s3
        .req("PUT", GZ_BUCKET, "mismatch")
        .body("this body")
        .payload_hash(&other)
        .send()
        .await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (400, Some("XAmzContentSHA256Mismatch")),
        "{}",
        r.text
    );
    assert_eq!(
        s3.req("HEAD", GZ_BUCKET, "mismatch").send().await.status,
        404
    );

    let r = s3
        .req("PUT", GZ_BUCKET, "unsigned")
        .body("not hashed")
        .payload_hash("UNSIGNED-PAYLOAD")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_objects_v2_pages_with_continuation_tokens() {
    let h = common::start_server(common::args(&[
        "--objects",
        "cos://alpha-1250000000/v2/k=25x1",
        "--object",
        "cos://alpha-1250000000/v2/sub/a b=1",
        "--object",
        "cos://alpha-1250000000/v2/sub/c=1",
    ]))
    .await;
    let s3 = S3::new(&h);
    let mut keys = Vec::new();
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = s3
            .req("GET", GZ_BUCKET, "")
            .q("list-type", "2")
            .q("prefix", "v2/")
            .q("max-keys", "10");
        if let Some(t) = &token {
            req = req.q("continuation-token", t);
        }
        let r = req.send().await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.text.contains(S3_NS));
        let page = r.tags("Key");
        assert_eq!(r.tag("KeyCount"), Some(page.len().to_string()));
        pages.push(page.len());
        keys.extend(page);
        token = r.tag("NextContinuationToken");
        assert_eq!(
            r.tag("IsTruncated").as_deref() == Some("true"),
            token.is_some()
        );
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, [10, 10, 7]);
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "in order, none twice");
    assert_eq!(keys.len(), 27);

    let r = s3
        .req("GET", GZ_BUCKET, "")
        .q("list-type", "2")
        .q("prefix", "v2/")
        .q("delimiter", "/")
        .q("start-after", "v2/k00000023")
        .q("fetch-owner", "true")
        .q("encoding-type", "url")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.tags("Key"), ["v2%2Fk00000024"]);
    assert_eq!(r.tags("Prefix"), ["v2%2F", "v2%2Fsub%2F"], "{}", r.text);
    assert!(r.tag("Owner").is_some());
    let r = s3
        .req("GET", GZ_BUCKET, "")
        .q("list-type", "2")
        .q("continuation-token", "forged!")
        .send()
        .await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (400, Some("InvalidArgument"))
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_copy_in_s3_checks_the_copy_source_etag_on_every_part() {
    let h = common::start_server(common::args(&[
        "--object",
        "cos://alpha-1250000000/src=3MiB",
    ]))
    .await;
    let s3 = S3::new(&h);
    let head = s3.req("HEAD", GZ_BUCKET, "src").send().await;
    let etag = head.header("etag").expect("etag").to_string();
    let init = s3
        .req("POST", SH_BUCKET, "dst")
        .q("uploads", "")
        .send()
        .await;
    assert_eq!(init.status, 200, "{}", init.text);
    assert!(init.text.contains(S3_NS));
    let id = init.tag("UploadId").expect("UploadId");
    let part = |n: u32, range: &str, if_match: &str| {
        s3.req("PUT", SH_BUCKET, "dst")
            .q("partNumber", &n.to_string())
            .q("uploadId", &id)
            .h("x-amz-copy-source", &format!("/{GZ_BUCKET}/src"))
            .h("x-amz-copy-source-range", range)
            .h("x-amz-copy-source-if-match", if_match)
    };
    let r = part(1, "bytes=0-2097151", "\"0123\"").send().await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (412, Some("PreconditionFailed"))
    );
    let mut etags = Vec::new();
    for (n, range) in [(1, "bytes=0-2097151"), (2, "bytes=2097152-3145727")] {
        let r = part(n, range, &etag).send().await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.text.contains("<CopyPartResult"), "{}", r.text);
        assert!(
            r.tag("CRC64").is_none(),
            "COS's CRC64 in S3's CopyPartResult"
        );
        etags.push(r.tag("ETag").expect("ETag"));
    }
    let body = format!(
        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part><Part><PartNumber>2</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
        etags[0], etags[1]
    );
    let done = s3
        .req("POST", SH_BUCKET, "dst")
        .q("uploadId", &id)
        .body(body)
        .send()
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(
        done.tag("ETag").is_some_and(|e| e.ends_with("-2\"")),
        "{}",
        done.text
    );
    let a = s3.req("GET", GZ_BUCKET, "src").send().await;
    let b = s3.req("GET", SH_BUCKET, "dst").send().await;
    assert_eq!(a.bytes.len(), 3 << 20);
    assert!(a.bytes == b.bytes, "the copy differs from its source");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presigned_url_works_until_it_expires() {
    let h = common::start_server(common::args(&[
        "--object",
        "cos://alpha-1250000000/shared=10",
    ]))
    .await;
    let s3 = S3::new(&h);
    let http = reqwest::Client::new();
    let now = common::now();
    let url = s3.presigned_url("GET", GZ_BUCKET, "shared", now, 300);
    let r = http.get(&url).send().await.expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("body").len(), 10);
    let old = s3.presigned_url("GET", GZ_BUCKET, "shared", now - 600, 300);
    let r = http.get(&old).send().await.expect("GET");
    assert_eq!(r.status(), 403);
    assert!(r
        .text()
        .await
        .unwrap_or_default()
        .contains("Request has expired"));
    // A presigned PUT stores its body, but an added x-amz-copy-source it never signed
    // cannot make it a copy.
    let put = s3.presigned_url("PUT", GZ_BUCKET, "uploaded", now, 300);
    let r = http.put(&put).body("via URL").send().await.expect("PUT");
    assert_eq!(r.status(), 200);
    let r = http
        .put(&put)
        .header("x-amz-copy-source", format!("{GZ_BUCKET}/shared"))
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status(), 403);
    assert!(r
        .text()
        .await
        .unwrap_or_default()
        .contains("x-amz-copy-source"));
    let r = s3.req("GET", GZ_BUCKET, "uploaded").send().await;
    assert_eq!(r.text, "via URL");
    // Another key on the same signature.
    let moved = url.replace("/shared?", "/other?");
    let r = http.get(&moved).send().await.expect("GET");
    assert_eq!(r.status(), 403);
    assert!(r
        .text()
        .await
        .unwrap_or_default()
        .contains("<Code>SignatureDoesNotMatch</Code>"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_amz_checksums_in_headers_and_trailers_are_verified_and_echoed() {
    let h = common::start_server(common::serve_args()).await;
    let s3 = S3::new(&h);
    // CRC32 of "hello", as botocore sends it.
    let r = s3
        .req("PUT", GZ_BUCKET, "crc/ok")
        .h("x-amz-checksum-crc32", "NhCmhg==")
        .body("hello")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-amz-checksum-crc32"), Some("NhCmhg=="));
    let r = s3
        .req("PUT", GZ_BUCKET, "crc/bad")
        .h("x-amz-checksum-crc32", "AAAAAA==")
        .body("hello")
        .send()
        .await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (400, Some("BadDigest")),
        "{}",
        r.text
    );
    assert_eq!(
        s3.req("HEAD", GZ_BUCKET, "crc/bad").send().await.status,
        404
    );

    let chunked = |crc: &str| {
        s3.req("PUT", GZ_BUCKET, "crc/trailer")
            .payload_hash("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
            .h("content-encoding", "aws-chunked")
            .h("x-amz-decoded-content-length", "5")
            .h("x-amz-trailer", "x-amz-checksum-crc32")
            .body(format!(
                "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n"
            ))
    };
    let r = chunked("AAAAAA==").send().await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (400, Some("BadDigest")),
        "{}",
        r.text
    );
    let r = chunked("NhCmhg==").send().await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = s3.req("GET", GZ_BUCKET, "crc/trailer").send().await;
    assert_eq!(got.text, "hello");
    h.shutdown().await;
}
