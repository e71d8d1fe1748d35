use super::*;

fn obj(bucket: &str, key: &str) -> ObjectRef {
    ObjectRef::new(BucketName::parse_s3(bucket).unwrap(), "us-east-1", key)
}

#[test]
fn copy_source_is_bucket_and_encoded_key_with_slashes_kept() {
    assert_eq!(
        copy_source(&obj("src-bucket", "dir/a b+c~é.bin")),
        "/src-bucket/dir/a%20b%2Bc~%C3%A9.bin"
    );
}

#[test]
fn a_multipart_etag_must_count_the_parts_sent() {
    assert!(check_multipart_etag("9b2cf535f27731c974343645a3985328-3", 3).is_ok());
    let e = check_multipart_etag("9b2cf535f27731c974343645a3985328-2", 3).unwrap_err();
    assert!(e.contains("2 parts") && e.contains("3 parts"), "{e}");
    // Shapes that say nothing about a count pass.
    assert!(check_multipart_etag("9b2cf535f27731c974343645a3985328", 3).is_ok());
    assert!(check_multipart_etag("opaque-etag", 3).is_ok());
}

#[test]
fn object_headers_use_amz_spellings_never_cos_ones() {
    let mut h = ObjectHeaders {
        content_type: Some("text/plain".into()),
        storage_class: Some("STANDARD_IA".into()),
        ..Default::default()
    };
    h.meta.insert("Owner".into(), "ops".into());
    let out = object_headers(&h);
    assert!(out.contains(&("x-amz-meta-owner".into(), "ops".into())));
    assert!(out.contains(&("x-amz-storage-class".into(), "STANDARD_IA".into())));
    assert!(out.iter().all(|(n, _)| !n.starts_with("x-cos-")));
    let c = copy_conditions(&CopySourceConditions {
        if_match: Some("abc".into()),
        ..Default::default()
    });
    assert_eq!(
        c,
        vec![("x-amz-copy-source-if-match".into(), "\"abc\"".into())]
    );
}

#[test]
fn list_objects_v2_pages_carry_their_continuation_token_and_decoded_keys() {
    let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>media</Name><Prefix>a%20b/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents><Key>a%20b/1%2B1.bin</Key><LastModified>2026-12-02T08:00:00.000Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>5</Size>
    <StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>a%20b/2.bin</Key><ETag>"x-2"</ETag><Size>7</Size></Contents>
</ListBucketResult>"#;
    let (page, token) = parse_list_objects_v2(body).unwrap();
    assert_eq!(
        token.as_deref(),
        Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
    );
    assert_eq!(page.objects[0].key, "a b/1+1.bin");
    assert_eq!(page.objects[0].etag, "9b2cf535f27731c974343645a3985328");
    assert!(page.is_truncated);
    assert_eq!(page.next_marker.as_deref(), Some("a b/2.bin"));
}

#[test]
fn a_client_needs_both_halves_of_the_key_pair() {
    let creds = Credentials {
        secret_id: "AKID".into(),
        secret_key: crate::store::Secret::new(" "),
        token: None,
    };
    let e = S3Client::new(S3Options::new(creds, "us-east-1")).unwrap_err();
    assert!(e.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{e}");
}

#[tokio::test]
async fn a_cos_bucket_is_refused_before_any_request() {
    let creds = Credentials {
        secret_id: "AKID".into(),
        secret_key: crate::store::Secret::new("secret"),
        token: None,
    };
    let mut opts = S3Options::new(creds, "us-east-1");
    // Nothing listens there: a request sent would fail as a network error instead.
    opts.base.endpoint = Some("http://127.0.0.1:1".into());
    let client = S3Client::new(opts).unwrap();
    let cos = ObjectRef::new(
        BucketName::parse("media-1250000000").unwrap(),
        "ap-guangzhou",
        "k",
    );
    let e = client.head_object(&cos).await.unwrap_err();
    assert!(
        matches!(
            &e,
            Error::WrongDialect {
                bucket_dialect: Dialect::Cos,
                client_dialect: Dialect::S3,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("provider = \"cos\""), "{e}");
}

// ---- over real HTTP: a loopback socket that answers canned responses ----

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SECRET: &str = "s3-test-secret/with+chars";
const TOKEN: &str = "FwoGZXIvYXdzEJr//////////token=";

/// Answers one canned response per connection (each with `Connection: close`), in order, and
/// returns the raw requests it read.
async fn serve(
    responses: Vec<(&'static str, String)>,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        for (head, body) in responses {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (n, v) = l.split_once(':')?;
                            n.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let response = format!(
                "{head}Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(response.as_bytes()).await.unwrap();
            sock.shutdown().await.ok();
            seen.push(String::from_utf8_lossy(&buf).to_string());
        }
        seen
    });
    (addr, task)
}

fn client_at(addr: std::net::SocketAddr, token: Option<&str>) -> S3Client {
    let creds = Credentials {
        secret_id: "AKIATESTHAUL".into(),
        secret_key: crate::store::Secret::new(SECRET),
        token: token.map(crate::store::Secret::new),
    };
    let mut opts = S3Options::new(creds, "us-east-1");
    opts.base.endpoint = Some(format!("http://{addr}"));
    S3Client::new(opts).unwrap()
}

/// A raw request split as a server sees it: method, decoded path, decoded query, headers.
struct Seen {
    method: String,
    raw_path: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn parse(raw: &str) -> Seen {
        use crate::store::encode::percent_decode;
        let head = raw.split("\r\n\r\n").next().unwrap();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap().split(' ');
        let method = first.next().unwrap().to_string();
        let target = first.next().unwrap();
        let (raw_path, q) = target.split_once('?').unwrap_or((target, ""));
        let query = q
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        Seen {
            method,
            raw_path: raw_path.to_string(),
            path: percent_decode(raw_path),
            query,
            headers,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Verifies the request's signature as a server would, with `sigv4::verify`.
    fn verify(&self, secret: &str) -> std::result::Result<(), sigv4::AuthError> {
        let auth = sigv4::parse_authorization(self.header("authorization").unwrap())?;
        sigv4::verify(
            &auth,
            &sigv4::Incoming {
                method: &self.method,
                path: &self.path,
                query: &self.query,
                headers: &self.headers,
                payload_hash: self.header("x-amz-content-sha256").unwrap(),
            },
            secret,
        )
        .map(|_| ())
    }
}

#[tokio::test]
async fn an_upload_part_copy_goes_path_style_signed_with_its_token_and_every_copy_header() {
    let (addr, task) = serve(vec![(
        "HTTP/1.1 200 OK\r\n",
        "<CopyPartResult><ETag>\"0123456789abcdef0123456789abcdef\"</ETag></CopyPartResult>".into(),
    )])
    .await;
    let client = client_at(addr, Some(TOKEN));
    let part = client
        .upload_part_copy(&UploadPartCopyRequest {
            destination: obj("dst-bucket", "out/a b+c.bin"),
            upload_id: "up/1+2=".into(),
            part_number: 7,
            source: obj("src-bucket", "in/é~ x+y.bin"),
            range: Some(ByteRange {
                first: 0,
                last: (5 << 20) - 1,
            }),
            conditions: CopySourceConditions {
                if_match: Some("9b2cf535f27731c974343645a3985328".into()),
                ..Default::default()
            },
        })
        .await
        .unwrap();
    assert_eq!(part.etag, "0123456789abcdef0123456789abcdef");
    assert_eq!(part.crc64, None);
    let seen = Seen::parse(&task.await.unwrap()[0]);
    assert_eq!(seen.method, "PUT");
    assert_eq!(seen.raw_path, "/dst-bucket/out/a%20b%2Bc.bin");
    assert!(seen.query.contains(&("partNumber".into(), "7".into())));
    assert!(seen.query.contains(&("uploadId".into(), "up/1+2=".into())));
    assert_eq!(
        seen.header("x-amz-copy-source"),
        Some("/src-bucket/in/%C3%A9~%20x%2By.bin")
    );
    assert_eq!(
        seen.header("x-amz-copy-source-range"),
        Some("bytes=0-5242879")
    );
    assert_eq!(
        seen.header("x-amz-copy-source-if-match"),
        Some("\"9b2cf535f27731c974343645a3985328\"")
    );
    assert_eq!(seen.header("x-amz-security-token"), Some(TOKEN));
    let auth = sigv4::parse_authorization(seen.header("authorization").unwrap()).unwrap();
    for h in [
        "host",
        "x-amz-date",
        "x-amz-content-sha256",
        "x-amz-security-token",
        "x-amz-copy-source",
        "x-amz-copy-source-range",
        "x-amz-copy-source-if-match",
    ] {
        assert!(auth.signed_headers.iter().any(|s| s == h), "{h} is signed");
    }
    assert_eq!(auth.scope.region, "us-east-1");
    assert_eq!(auth.scope.service, "s3");
    assert_eq!(seen.verify(SECRET), Ok(()));
    assert_eq!(seen.verify("another"), Err(sigv4::AuthError::Mismatch));
}

#[tokio::test]
async fn a_complete_body_is_signed_by_its_sha256_and_an_error_inside_200_is_transient() {
    let (addr, task) = serve(vec![(
        "HTTP/1.1 200 OK\r\nx-amz-request-id: rid-7\r\n",
        "   \n   <Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>".into(),
    )])
    .await;
    let client = client_at(addr, None);
    let e = client
        .complete_multipart(
            &obj("dst-bucket", "big.bin"),
            "up-1",
            &[CompletedPart {
                part_number: 1,
                etag: "abc".into(),
            }],
        )
        .await
        .unwrap_err();
    match &e {
        Error::Service(s) => {
            assert!(s.in_200);
            assert_eq!((s.status, s.code.as_str()), (200, "InternalError"));
            assert_eq!(s.request_id.as_deref(), Some("rid-7"));
        }
        other => panic!("{other:?}"),
    }
    assert!(e.is_transient());
    let raw = &task.await.unwrap()[0];
    let seen = Seen::parse(raw);
    let body = raw.split("\r\n\r\n").nth(1).unwrap();
    assert!(body.contains("<PartNumber>1</PartNumber>"), "{body}");
    assert_eq!(
        seen.header("x-amz-content-sha256"),
        Some(sigv4::sha256_hex(body.as_bytes()).as_str())
    );
    assert_eq!(seen.verify(SECRET), Ok(()));
}

#[tokio::test]
async fn a_complete_whose_etag_counts_other_parts_is_a_protocol_error() {
    let (addr, _task) = serve(vec![(
        "HTTP/1.1 200 OK\r\n",
        "<CompleteMultipartUploadResult><ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag></CompleteMultipartUploadResult>".into(),
    )])
    .await;
    let parts: Vec<_> = (1..=2)
        .map(|n| CompletedPart {
            part_number: n,
            etag: "abc".into(),
        })
        .collect();
    let e = client_at(addr, None)
        .complete_multipart(&obj("dst-bucket", "big.bin"), "up-1", &parts)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Protocol { message, .. } if message.contains("9 parts") && message.contains("2 parts sent")),
        "{e}"
    );
}

#[tokio::test]
async fn head_bucket_reads_the_region_even_from_a_redirect() {
    let (addr, _task) = serve(vec![(
        "HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: eu-west-1\r\n",
        String::new(),
    )])
    .await;
    let region = client_at(addr, None)
        .head_bucket(&BucketName::parse_s3("media").unwrap(), "us-east-1")
        .await
        .unwrap();
    assert_eq!(region, "eu-west-1");
}

#[tokio::test]
async fn the_next_page_continues_by_the_token_and_a_foreign_marker_by_start_after() {
    let page = |truncated: bool, token: &str, keys: &[&str]| {
        let contents: String = keys
            .iter()
            .map(|k| format!("<Contents><Key>{k}</Key><ETag>\"e\"</ETag><Size>1</Size></Contents>"))
            .collect();
        format!(
            "<ListBucketResult><Name>media</Name><IsTruncated>{truncated}</IsTruncated>{}{contents}</ListBucketResult>",
            if token.is_empty() { String::new() } else { format!("<NextContinuationToken>{token}</NextContinuationToken>") }
        )
    };
    let (addr, task) = serve(vec![
        (
            "HTTP/1.1 200 OK\r\n",
            page(true, "tok/1+=", &["p/a", "p/b"]),
        ),
        ("HTTP/1.1 200 OK\r\n", page(false, "", &["p/c"])),
        ("HTTP/1.1 200 OK\r\n", page(false, "", &["p/z"])),
    ])
    .await;
    let client = client_at(addr, None);
    let bucket = BucketName::parse_s3("media").unwrap();
    let mut req = ListObjectsRequest {
        prefix: "p/".into(),
        max_keys: Some(2),
        ..Default::default()
    };
    let first = client
        .list_objects(&bucket, "us-east-1", &req)
        .await
        .unwrap();
    assert_eq!(first.next_marker.as_deref(), Some("p/b"));
    req.marker = first.next_marker.clone();
    let second = client
        .list_objects(&bucket, "us-east-1", &req)
        .await
        .unwrap();
    assert_eq!(second.objects[0].key, "p/c");
    // A marker haul did not hand out (a journaled cursor) goes as start-after.
    req.marker = Some("p/y".into());
    client
        .list_objects(&bucket, "us-east-1", &req)
        .await
        .unwrap();
    let seen: Vec<Seen> = task.await.unwrap().iter().map(|r| Seen::parse(r)).collect();
    let q = |s: &Seen, k: &str| s.query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(q(&seen[0], "list-type").as_deref(), Some("2"));
    assert_eq!(q(&seen[0], "continuation-token"), None);
    assert_eq!(
        q(&seen[1], "continuation-token").as_deref(),
        Some("tok/1+=")
    );
    assert_eq!(q(&seen[1], "start-after"), None);
    assert_eq!(q(&seen[2], "start-after").as_deref(), Some("p/y"));
    assert_eq!(q(&seen[2], "continuation-token"), None);
    for s in &seen {
        assert_eq!(s.verify(SECRET), Ok(()));
    }
}

#[tokio::test]
async fn a_full_object_crc64nvme_is_read_as_its_own_checksum_never_as_cos_crc64() {
    const NVME: &str = "ASNFZ4mrze8="; // 0x0123456789abcdef, big-endian, base64
    let copy_answer = format!(
        "<CopyObjectResult><ETag>\"{}\"</ETag><LastModified>2026-12-02T09:00:00.000Z</LastModified><ChecksumCRC64NVME>{NVME}</ChecksumCRC64NVME><ChecksumType>FULL_OBJECT</ChecksumType></CopyObjectResult>",
        "0123456789abcdef0123456789abcdef"
    );
    let (addr, task) = serve(vec![
        (
            "HTTP/1.1 200 OK\r\nETag: \"abc-3\"\r\nx-amz-checksum-crc64nvme: ASNFZ4mrze8=\r\nx-amz-checksum-type: FULL_OBJECT\r\nx-cos-hash-crc64ecma: 42\r\n",
            String::new(),
        ),
        ("HTTP/1.1 200 OK\r\n", copy_answer),
        (
            "HTTP/1.1 200 OK\r\nETag: \"abc-3\"\r\nx-amz-checksum-crc64nvme: ASNFZ4mrze8=\r\nx-amz-checksum-type: COMPOSITE\r\n",
            String::new(),
        ),
    ])
    .await;
    let client = client_at(addr, None);
    let meta = client.head_object(&obj("src", "big.bin")).await.unwrap();
    assert_eq!(meta.crc64nvme, Some(0x0123_4567_89ab_cdef));
    assert_eq!(
        meta.crc64, None,
        "a COS header is not read by the S3 client"
    );
    let copied = client
        .copy_object(&CopyObjectRequest {
            source: obj("src", "small.bin"),
            destination: obj("dst", "small.bin"),
            directive: MetadataDirective::Copy,
            headers: ObjectHeaders::default(),
            conditions: CopySourceConditions::default(),
        })
        .await
        .unwrap();
    assert_eq!(
        (copied.crc64nvme, copied.crc64),
        (Some(0x0123_4567_89ab_cdef), None)
    );
    let composite = client.head_object(&obj("src", "big.bin")).await.unwrap();
    assert_eq!(
        composite.crc64nvme, None,
        "only a full-object checksum counts"
    );
    let seen = task.await.unwrap();
    let head = Seen::parse(&seen[0]);
    assert_eq!(head.header("x-amz-checksum-mode"), Some("ENABLED"));
    assert_eq!(head.verify(SECRET), Ok(()), "the checksum mode is signed");
}
