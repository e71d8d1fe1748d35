//! The local COS server over real HTTP on 127.0.0.1: routing, signatures, every API, limits
//! and errors.

use crate::common;

use common::*;
use haul::crc64;

fn md5_b64(b: &[u8]) -> String {
    use base64::Engine as _;
    use md5::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(b))
}

fn bytes(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31) ^ salt).collect()
}

#[tokio::test]
async fn list_buckets_answers_per_host_with_cos_headers() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let all = c.req("GET", "service.cos.myqcloud.com", "").send().await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.tags("Name"), [GZ_BUCKET, SH_BUCKET]);
    assert_eq!(all.header("server"), Some("tencent-cos"));
    assert!(all
        .header("x-cos-request-id")
        .is_some_and(|r| !r.is_empty()));
    let sh = c
        .req("GET", "cos.ap-shanghai.myqcloud.com", "")
        .send()
        .await;
    assert_eq!(sh.tags("Name"), [SH_BUCKET]);
    assert_eq!(sh.tags("Location"), [SH]);
}

#[tokio::test]
async fn bucket_answers_only_on_its_own_region_host() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let ok = c.obj("HEAD", SH_BUCKET, SH, "").send().await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("x-cos-bucket-region"), Some(SH));
    let wrong = c.obj("GET", SH_BUCKET, GZ, "").send().await;
    assert_eq!(wrong.status, 404);
    assert_eq!(wrong.code().as_deref(), Some("NoSuchBucket"));
    assert!(wrong.tag("RequestId").is_some() && wrong.tag("TraceId").is_some());
    assert!(wrong.tag("Resource").is_some());
    let head = c.obj("HEAD", SH_BUCKET, GZ, "").send().await;
    assert_eq!(head.status, 404);
    assert!(head.bytes.is_empty(), "HEAD errors carry no body");
    assert!(head.header("x-cos-request-id").is_some());
    let missing = c.obj("GET", "nope-1250000000", GZ, "k").send().await;
    assert_eq!(missing.code().as_deref(), Some("NoSuchBucket"));
}

#[tokio::test]
async fn put_bucket_creates_it_in_the_host_region() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let r = c
        .obj("PUT", "gamma-1250000000", "ap-beijing", "")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let again = c
        .obj("PUT", "gamma-1250000000", "ap-beijing", "")
        .send()
        .await;
    assert_eq!(again.status, 409);
    let head = c
        .obj("HEAD", "gamma-1250000000", "ap-beijing", "")
        .send()
        .await;
    assert_eq!(head.header("x-cos-bucket-region"), Some("ap-beijing"));
}

#[tokio::test]
async fn path_style_on_a_bare_ip_and_absolute_form_through_a_proxy() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let ip_host = s.addr.to_string();
    let put = c
        .req("PUT", &ip_host, "")
        .raw_path(
            &format!("/{GZ_BUCKET}/dir/a%20b"),
            &format!("/{GZ_BUCKET}/dir/a b"),
        )
        .body("hello")
        .send()
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let get = c.obj("GET", GZ_BUCKET, GZ, "dir/a b").send().await;
    assert_eq!(get.text, "hello");
    let list = c
        .req("GET", &ip_host, "")
        .raw_path(&format!("/{SH_BUCKET}/"), &format!("/{SH_BUCKET}/"))
        .send()
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.header("x-cos-bucket-region"), Some(SH));

    // An SDK using the server as its HTTP proxy sends absolute-form targets.
    let proxied = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(s.endpoint()).expect("proxy url"))
        .build()
        .expect("client");
    let req = c.obj("GET", GZ_BUCKET, GZ, "dir/a b");
    let url = req.url(&format!("http://{}", host(GZ_BUCKET, GZ)));
    let r = req.send_to(&proxied, &url).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.text, "hello");
}

#[tokio::test]
async fn signature_errors_match_cos() {
    let s = start_server(args(&[
        "--credentials",
        "AKIDgood:goodkey",
        "--credentials",
        "AKIDtemp:tempkey:tok+/=en",
    ]))
    .await;
    let c = Cos::new(&s);
    let get = |c: &Cos| c.obj("GET", GZ_BUCKET, GZ, "");
    let ok = get(&c).creds("AKIDgood", "goodkey").send().await;
    assert_eq!(ok.status, 200, "{}", ok.text);

    let bad = get(&c).creds("AKIDgood", "wrongkey").send().await;
    assert_eq!(bad.status, 403);
    assert_eq!(bad.code().as_deref(), Some("SignatureDoesNotMatch"));
    assert!(bad
        .tag("StringToSign")
        .is_some_and(|s| s.starts_with("sha1\n")));
    assert!(bad
        .tag("FormatString")
        .is_some_and(|s| s.starts_with("get\n/\n")));
    assert!(!bad.text.contains("goodkey"), "secrets never reach a body");

    let unknown = get(&c).creds("AKIDnobody", "goodkey").send().await;
    assert_eq!(unknown.code().as_deref(), Some("InvalidAccessKeyId"));

    let expired = get(&c)
        .creds("AKIDgood", "goodkey")
        .key_time(now() - 7200, now() - 3600)
        .send()
        .await;
    assert_eq!(expired.status, 403);
    assert_eq!(expired.code().as_deref(), Some("AccessDenied"));
    assert_eq!(
        expired.tag("Message").as_deref(),
        Some("Request has expired")
    );

    let skewed = get(&c)
        .creds("AKIDgood", "goodkey")
        .key_time(now() + 7200, now() + 9000)
        .send()
        .await;
    assert_eq!(skewed.code().as_deref(), Some("RequestTimeTooSkewed"));

    let anonymous = get(&c).unsigned().send().await;
    assert_eq!(anonymous.status, 403);
    assert_eq!(anonymous.code().as_deref(), Some("AccessDenied"));

    let no_token = get(&c).creds("AKIDtemp", "tempkey").send().await;
    assert_eq!(no_token.status, 403);
    let mut with_token = c.clone();
    with_token.token = Some("tok+/=en".into());
    let r = get(&with_token).creds("AKIDtemp", "tempkey").send().await;
    assert_eq!(r.status, 200, "{}", r.text);
}

// --- Signatures as strict as COS: each case below was accepted before issue 8. ---

/// `q-sign-time=START;END` or `q-key-time=…` as it appears in an Authorization header.
fn window(field: &str, start: i64, end: i64) -> String {
    format!("{field}={start};{end}")
}

#[tokio::test]
async fn an_expired_signature_stays_expired_when_its_sign_time_is_edited() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let put = c.obj("PUT", GZ_BUCKET, GZ, "keep").body("k").send().await;
    assert_eq!(put.status, 200, "{}", put.text);
    let (a, b) = (now() - 366 * 86400, now() - 365 * 86400);
    // A DELETE signed a year ago, its q-sign-time moved to today.
    let replay = c
        .obj("DELETE", GZ_BUCKET, GZ, "keep")
        .key_time(a, b)
        .edit_auth(
            &window("q-sign-time", a, b),
            &window("q-sign-time", now() - 60, now() + 3600),
        )
        .send()
        .await;
    assert_eq!(replay.status, 403, "{}", replay.text);
    assert_eq!(replay.code().as_deref(), Some("AccessDenied"));
    assert_eq!(
        replay.tag("Message").as_deref(),
        Some("Request has expired")
    );
    let head = c.obj("HEAD", GZ_BUCKET, GZ, "keep").send().await;
    assert_eq!(head.status, 200, "the object survives the replay");
}

#[tokio::test]
async fn an_expired_signature_with_both_windows_edited_does_not_match() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let (a, b) = (now() - 366 * 86400, now() - 365 * 86400);
    let (x, y) = (now() - 60, now() + 3600);
    let replay = c
        .obj("GET", GZ_BUCKET, GZ, "")
        .key_time(a, b)
        .edit_auth(&window("q-sign-time", a, b), &window("q-sign-time", x, y))
        .edit_auth(&window("q-key-time", a, b), &window("q-key-time", x, y))
        .send()
        .await;
    assert_eq!(replay.status, 403, "{}", replay.text);
    assert_eq!(replay.code().as_deref(), Some("SignatureDoesNotMatch"));
}

#[tokio::test]
async fn a_sign_time_narrower_than_the_key_time_is_honoured_both_ways() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let (a, b) = (now() - 60, now() + 86400);
    // Go SDK style: a long key time, a short sign time; the HMAC covers the key time.
    let ok = c
        .obj("GET", GZ_BUCKET, GZ, "")
        .key_time(a, b)
        .edit_auth(
            &window("q-sign-time", a, b),
            &window("q-sign-time", now() - 5, now() + 300),
        )
        .send()
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let over = c
        .obj("GET", GZ_BUCKET, GZ, "")
        .key_time(a, b)
        .edit_auth(
            &window("q-sign-time", a, b),
            &window("q-sign-time", now() - 600, now() - 300),
        )
        .send()
        .await;
    assert_eq!(over.status, 403, "{}", over.text);
    assert_eq!(over.tag("Message").as_deref(), Some("Request has expired"));
}

#[tokio::test]
async fn a_path_style_signature_covers_the_bucket() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let ip = s.addr.to_string();
    let seed = c.obj("PUT", SH_BUCKET, SH, "x").body("beta's").send().await;
    assert_eq!(seed.status, 200, "{}", seed.text);
    // Signed for alpha, sent to beta.
    let moved = c
        .req("GET", &ip, "")
        .raw_path(&format!("/{SH_BUCKET}/x"), &format!("/{GZ_BUCKET}/x"))
        .send()
        .await;
    assert_eq!(moved.status, 403, "{}", moved.text);
    assert_eq!(moved.code().as_deref(), Some("SignatureDoesNotMatch"));
    // A signature over the key alone would fit every bucket: refused too.
    let keyless = c
        .req("GET", &ip, "")
        .raw_path(&format!("/{SH_BUCKET}/x"), "/x")
        .send()
        .await;
    assert_eq!(keyless.status, 403, "{}", keyless.text);
    assert_eq!(keyless.code().as_deref(), Some("SignatureDoesNotMatch"));
    assert!(keyless
        .tag("FormatString")
        .is_some_and(|f| f.starts_with(&format!("get\n/{SH_BUCKET}/x\n"))));
    let right = c
        .req("GET", &ip, "")
        .raw_path(&format!("/{SH_BUCKET}/x"), &format!("/{SH_BUCKET}/x"))
        .send()
        .await;
    assert_eq!(right.status, 200, "{}", right.text);
    assert_eq!(right.text, "beta's");
}

#[tokio::test]
async fn a_parameter_that_changes_the_operation_must_be_signed() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let up = c.initiate(GZ_BUCKET, GZ, "mp").send().await;
    let upload_id = up.tag("UploadId").expect("an upload id");

    // A signed ListObjects with `?uploads` appended must not become ListMultipartUploads.
    let list = c
        .obj("GET", GZ_BUCKET, GZ, "")
        .q_unsigned("uploads", "")
        .send()
        .await;
    assert_eq!(list.status, 403, "{}", list.text);
    assert_eq!(list.code().as_deref(), Some("AccessDenied"));
    assert!(list.tag("Message").is_some_and(|m| m.contains("uploads")));
    assert!(list.tags("UploadId").is_empty());

    // A signed PutObject must not become an UploadPart into someone's upload.
    let part = c
        .obj("PUT", GZ_BUCKET, GZ, "mp")
        .q_unsigned("partNumber", "1")
        .q_unsigned("uploadId", &upload_id)
        .body("p")
        .send()
        .await;
    assert_eq!(part.status, 403, "{}", part.text);
    assert_eq!(part.code().as_deref(), Some("AccessDenied"));

    // A signed DELETE of an object must not become an Abort.
    let abort = c
        .obj("DELETE", GZ_BUCKET, GZ, "mp")
        .q_unsigned("uploadId", &upload_id)
        .send()
        .await;
    assert_eq!(abort.status, 403, "{}", abort.text);
    let parts = c
        .obj("GET", GZ_BUCKET, GZ, "mp")
        .q("uploadId", &upload_id)
        .send()
        .await;
    assert_eq!(
        parts.status, 200,
        "the upload is still there: {}",
        parts.text
    );

    // An unsigned sub-resource is refused before it is judged unimplemented.
    let acl = c
        .obj("PUT", GZ_BUCKET, GZ, "mp")
        .q_unsigned("acl", "")
        .send()
        .await;
    assert_eq!(acl.status, 403, "{}", acl.text);
    assert_eq!(acl.code().as_deref(), Some("AccessDenied"));

    // Listing options only shape the answer: they may go unsigned, as before.
    let prefixed = c
        .obj("GET", GZ_BUCKET, GZ, "")
        .q_unsigned("prefix", "m")
        .send()
        .await;
    assert_eq!(prefixed.status, 200, "{}", prefixed.text);
}

#[tokio::test]
async fn a_signed_put_does_not_become_a_copy_by_an_added_copy_source() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let secret = c
        .obj("PUT", SH_BUCKET, SH, "private")
        .body("theirs")
        .send()
        .await;
    assert_eq!(secret.status, 200, "{}", secret.text);
    let put = c
        .obj("PUT", GZ_BUCKET, GZ, "mine")
        .body("")
        .h_unsigned("x-cos-copy-source", &copy_source(SH_BUCKET, SH, "private"))
        .send()
        .await;
    assert_eq!(put.status, 403, "{}", put.text);
    assert_eq!(put.code().as_deref(), Some("AccessDenied"));
    assert!(put
        .tag("Message")
        .is_some_and(|m| m.contains("x-cos-copy-source")));
    let get = c.obj("GET", GZ_BUCKET, GZ, "mine").send().await;
    assert_eq!(get.status, 404, "nothing was copied: {}", get.text);
    // Signed, the same copy is an ordinary PUT Object - Copy.
    let copy = c
        .obj("PUT", GZ_BUCKET, GZ, "mine")
        .h("x-cos-copy-source", &copy_source(SH_BUCKET, SH, "private"))
        .send()
        .await;
    assert_eq!(copy.status, 200, "{}", copy.text);
}

#[tokio::test]
async fn a_token_is_checked_whenever_one_is_sent_or_required() {
    let s = start_server(args(&[
        "--credentials",
        "AKIDgood:goodkey",
        "--credentials",
        "AKIDtemp:tempkey:the-token",
    ]))
    .await;
    let c = Cos::new(&s);
    let get = |c: &Cos| c.obj("GET", GZ_BUCKET, GZ, "");
    let mut stray = c.clone();
    stray.token = Some("anything".into());
    let r = get(&stray).creds("AKIDgood", "goodkey").send().await;
    assert_eq!(r.status, 403, "a token with a permanent key: {}", r.text);
    assert_eq!(r.code().as_deref(), Some("InvalidAccessKeyId"));
    assert!(r.tag("Message").is_some_and(|m| m.contains("permanent")));

    let r = get(&stray).creds("AKIDtemp", "tempkey").send().await;
    assert_eq!(r.status, 403, "the wrong token: {}", r.text);
    let mut near = c.clone();
    near.token = Some("the-tokeN".into());
    let r = get(&near).creds("AKIDtemp", "tempkey").send().await;
    assert_eq!(r.status, 403, "one letter off: {}", r.text);
    let mut right = c.clone();
    right.token = Some("the-token".into());
    let r = get(&right).creds("AKIDtemp", "tempkey").send().await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = get(&c).creds("AKIDgood", "goodkey").send().await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn a_plus_in_the_path_is_a_literal_plus_when_signing() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let put = c
        .obj("PUT", GZ_BUCKET, GZ, "")
        .raw_path("/a+b", "/a+b")
        .body("x")
        .send()
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let get = c.obj("GET", GZ_BUCKET, GZ, "a+b").send().await;
    assert_eq!(get.text, "x");
    let space = c.obj("GET", GZ_BUCKET, GZ, "a b").send().await;
    assert_eq!(space.code().as_deref(), Some("NoSuchKey"));
}

#[tokio::test]
async fn put_get_head_delete_with_md5_ranges_and_metadata() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let data = bytes(5000, 7);
    let bad = c
        .obj("PUT", GZ_BUCKET, GZ, "obj.bin")
        .h("content-md5", &md5_b64(b"other"))
        .body(data.clone())
        .send()
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.code().as_deref(), Some("BadDigest"));
    let put = c
        .obj("PUT", GZ_BUCKET, GZ, "obj.bin")
        .h("content-md5", &md5_b64(&data))
        .h("content-type", "image/png")
        .h("cache-control", "max-age=60")
        .h("x-cos-meta-owner", "ana")
        .h("x-cos-storage-class", "STANDARD_IA")
        .body(data.clone())
        .send()
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let crc = crc64::checksum(&data).to_string();
    assert_eq!(put.header("x-cos-hash-crc64ecma"), Some(crc.as_str()));

    let head = c.obj("HEAD", GZ_BUCKET, GZ, "obj.bin").send().await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("5000"));
    assert_eq!(head.header("content-type"), Some("image/png"));
    assert_eq!(head.header("cache-control"), Some("max-age=60"));
    assert_eq!(head.header("x-cos-meta-owner"), Some("ana"));
    assert_eq!(head.header("x-cos-storage-class"), Some("STANDARD_IA"));
    assert_eq!(head.header("x-cos-hash-crc64ecma"), Some(crc.as_str()));
    assert_eq!(head.header("etag"), put.header("etag"));
    assert!(head.header("last-modified").is_some());

    let get = c.obj("GET", GZ_BUCKET, GZ, "obj.bin").send().await;
    assert_eq!(get.bytes, data);
    let part = c
        .obj("GET", GZ_BUCKET, GZ, "obj.bin")
        .h("range", "bytes=100-199")
        .send()
        .await;
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes, &data[100..200]);
    assert_eq!(part.header("content-range"), Some("bytes 100-199/5000"));
    let tail = c
        .obj("GET", GZ_BUCKET, GZ, "obj.bin")
        .h("range", "bytes=-10")
        .send()
        .await;
    assert_eq!(tail.bytes, &data[4990..]);
    let beyond = c
        .obj("GET", GZ_BUCKET, GZ, "obj.bin")
        .h("range", "bytes=5000-")
        .send()
        .await;
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.code().as_deref(), Some("InvalidRange"));
    assert_eq!(beyond.header("content-range"), Some("bytes */5000"));

    let plain = c.obj("PUT", GZ_BUCKET, GZ, "plain").body("p").send().await;
    assert_eq!(plain.status, 200);
    let head = c.obj("HEAD", GZ_BUCKET, GZ, "plain").send().await;
    assert_eq!(
        head.header("x-cos-storage-class"),
        None,
        "STANDARD is implied"
    );

    let del = c.obj("DELETE", GZ_BUCKET, GZ, "obj.bin").send().await;
    assert_eq!(del.status, 204);
    let gone = c.obj("GET", GZ_BUCKET, GZ, "obj.bin").send().await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.code().as_deref(), Some("NoSuchKey"));
}

const AWKWARD: [&str; 10] = [
    "with space.txt",
    "plus+sign",
    "100%/done",
    "hash#tag",
    "what?yes=1&no",
    "tilde~/x",
    "视频/母带 final(1).mov",
    "a/./b/../c",
    " leading and trailing ",
    "quote\"<tag>&amp;'",
];

#[tokio::test]
async fn awkward_keys_round_trip_and_list_with_url_encoding() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    for (i, k) in AWKWARD.iter().enumerate() {
        let put = c
            .obj("PUT", GZ_BUCKET, GZ, k)
            .body(format!("{i}"))
            .send()
            .await;
        assert_eq!(put.status, 200, "PUT {k:?}: {}", put.text);
        let get = c.obj("GET", GZ_BUCKET, GZ, k).send().await;
        assert_eq!(get.text, format!("{i}"), "GET {k:?}");
    }
    let list = c
        .obj("GET", GZ_BUCKET, GZ, "")
        .q("encoding-type", "url")
        .send()
        .await;
    assert_eq!(list.tag("EncodingType").as_deref(), Some("url"));
    let mut got: Vec<String> = list
        .tags("Key")
        .iter()
        .map(|k| haul::store::encode::percent_decode(k))
        .collect();
    got.sort();
    let mut want: Vec<String> = AWKWARD.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want);
    // Without encoding-type the XML escaping alone must carry the keys.
    let raw = c.obj("GET", GZ_BUCKET, GZ, "").send().await;
    let mut got = raw.tags("Key");
    got.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn key_too_long_is_rejected() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let r = c
        .obj("PUT", GZ_BUCKET, GZ, &"k".repeat(851))
        .body("x")
        .send()
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code().as_deref(), Some("KeyTooLong"));
    let ok = c
        .obj("PUT", GZ_BUCKET, GZ, &"k".repeat(850))
        .body("x")
        .send()
        .await;
    assert_eq!(ok.status, 200);
}

async fn list_all(c: &Cos, prefix: &str, delimiter: &str, max: usize) -> (Vec<String>, usize) {
    let mut marker = String::new();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = c
            .obj("GET", GZ_BUCKET, GZ, "")
            .q("prefix", prefix)
            .q("delimiter", delimiter)
            .q("marker", &marker)
            .q("max-keys", &max.to_string())
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        pages += 1;
        let keys = r.tags("Key");
        let prefixes: Vec<String> = r
            .tags("CommonPrefixes")
            .iter()
            .map(|p| tags(p, "Prefix")[0].clone())
            .collect();
        assert!(keys.len() + prefixes.len() <= max);
        seen.extend(keys);
        seen.extend(prefixes.iter().map(|p| format!("P:{p}")));
        if r.tag("IsTruncated").as_deref() != Some("true") {
            assert_eq!(r.tag("NextMarker"), None, "NextMarker only when truncated");
            break;
        }
        marker = r.tag("NextMarker").expect("NextMarker when truncated");
    }
    (seen, pages)
}

#[tokio::test]
async fn list_objects_paginates_with_prefix_delimiter_and_marker() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let mut keys = Vec::new();
    for d in ["a", "b", "c"] {
        for i in 0..4 {
            keys.push(format!("logs/{d}/{i}.txt"));
        }
    }
    for i in 0..5 {
        keys.push(format!("logs/top-{i}"));
    }
    keys.push("other".to_string());
    for k in &keys {
        let r = c.obj("PUT", GZ_BUCKET, GZ, k).body("x").send().await;
        assert_eq!(r.status, 200);
    }
    let (seen, pages) = list_all(&c, "logs/", "/", 3).await;
    let mut want: Vec<String> = vec!["P:logs/a/".into(), "P:logs/b/".into(), "P:logs/c/".into()];
    want.extend((0..5).map(|i| format!("logs/top-{i}")));
    let mut sorted = seen.clone();
    sorted.sort();
    want.sort();
    assert_eq!(sorted, want);
    assert_eq!(pages, 3);
    let (flat, _) = list_all(&c, "", "", 1000).await;
    assert_eq!(flat.len(), keys.len());
    let (paged, pages) = list_all(&c, "logs/", "", 5).await;
    assert_eq!(paged.len(), keys.len() - 1);
    assert_eq!(pages, 4);
    let too_many = c
        .obj("GET", GZ_BUCKET, GZ, "")
        .q("max-keys", "5000")
        .send()
        .await;
    assert_eq!(too_many.tag("MaxKeys").as_deref(), Some("1000"));
}

fn complete_body(parts: &[(u32, String)]) -> String {
    let mut s = String::from("<CompleteMultipartUpload>");
    for (n, e) in parts {
        s.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
        ));
    }
    s.push_str("</CompleteMultipartUpload>");
    s
}

/// Initiates with a content type, user metadata and a storage class the result must carry.
async fn initiate(c: &Cos, bucket: &str, region: &str, key: &str) -> String {
    let r = c
        .initiate(bucket, region, key)
        .h("content-type", "video/mp4")
        .h("x-cos-meta-origin", "camera 1")
        .h("x-cos-storage-class", "STANDARD_IA")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.tag("UploadId").expect("UploadId")
}

#[tokio::test]
async fn multipart_upload_completes_with_streamed_spaces_and_checks_parts() {
    let s = start_server(args(&["--latency", "2ms"])).await;
    let c = Cos::new(&s);
    let key = "big/video.mp4";
    let id = initiate(&c, GZ_BUCKET, GZ, key).await;
    let p1 = bytes(1 << 20, 1);
    let p2 = bytes(1 << 20, 2);
    let p3 = bytes(1000, 3);
    let mut etags = Vec::new();
    for (n, p) in [(1, &p1), (2, &p2), (3, &p3)] {
        let r = c
            .obj("PUT", GZ_BUCKET, GZ, key)
            .q("partNumber", &n.to_string())
            .q("uploadId", &id)
            .body(p.clone())
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.header("x-cos-hash-crc64ecma"),
            Some(crc64::checksum(p).to_string().as_str())
        );
        etags.push((n, r.header("etag").expect("etag").to_string()));
    }
    let complete = |parts: Vec<(u32, String)>| {
        c.obj("POST", GZ_BUCKET, GZ, key)
            .q("uploadId", &id)
            .h("content-type", "application/xml")
            .body(complete_body(&parts))
    };
    let disorder = complete(vec![etags[1].clone(), etags[0].clone()])
        .send()
        .await;
    assert_eq!(disorder.code().as_deref(), Some("InvalidPartOrder"));
    let wrong = complete(vec![(1, "\"0000\"".into()), etags[1].clone()])
        .send()
        .await;
    assert_eq!(wrong.code().as_deref(), Some("InvalidPart"));
    let small = complete(vec![etags[0].clone(), etags[2].clone(), etags[1].clone()])
        .send()
        .await;
    assert_eq!(small.code().as_deref(), Some("InvalidPartOrder"));
    // A small part that is not last.
    let r = c
        .obj("PUT", GZ_BUCKET, GZ, key)
        .q("partNumber", "4")
        .q("uploadId", &id)
        .body(p1.clone())
        .send()
        .await;
    let e4 = (4, r.header("etag").expect("etag").to_string());
    let small = complete(vec![etags[0].clone(), etags[2].clone(), e4])
        .send()
        .await;
    assert_eq!(small.code().as_deref(), Some("EntityTooSmall"));

    let parts = c
        .obj("GET", GZ_BUCKET, GZ, key)
        .q("uploadId", &id)
        .q("max-parts", "2")
        .send()
        .await;
    assert_eq!(parts.tags("PartNumber"), ["1", "2"]);
    assert_eq!(parts.tag("IsTruncated").as_deref(), Some("true"));
    assert_eq!(parts.tag("NextPartNumberMarker").as_deref(), Some("2"));
    let rest = c
        .obj("GET", GZ_BUCKET, GZ, key)
        .q("uploadId", &id)
        .q("part-number-marker", "2")
        .send()
        .await;
    assert_eq!(rest.tags("PartNumber"), ["3", "4"]);
    assert_eq!(rest.tag("IsTruncated").as_deref(), Some("false"));

    let done = complete(etags.clone()).send().await;
    assert_eq!(done.status, 200);
    assert!(done.text.starts_with(' '), "Complete streams spaces first");
    let etag = done.tag("ETag").expect("ETag in the result");
    assert!(etag.ends_with("-3\""), "{etag}");
    let whole: Vec<u8> = [p1, p2, p3].concat();
    let crc = crc64::checksum(&whole).to_string();
    assert_eq!(done.header("x-cos-hash-crc64ecma"), Some(crc.as_str()));
    let head = c.obj("HEAD", GZ_BUCKET, GZ, key).send().await;
    assert_eq!(head.header("content-type"), Some("video/mp4"));
    assert_eq!(head.header("x-cos-meta-origin"), Some("camera 1"));
    assert_eq!(head.header("x-cos-storage-class"), Some("STANDARD_IA"));
    assert_eq!(head.header("x-cos-hash-crc64ecma"), Some(crc.as_str()));
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    let get = c.obj("GET", GZ_BUCKET, GZ, key).send().await;
    assert_eq!(get.bytes, whole);
    let again = complete(etags).send().await;
    assert_eq!(again.status, 404);
    assert_eq!(again.code().as_deref(), Some("NoSuchUpload"));
}

#[tokio::test]
async fn copy_parts_of_a_multi_terabyte_object_keep_its_crc64() {
    let s = start_server(args(&["--object", "cos://alpha-1250000000/huge.bin=2TiB"])).await;
    let c = Cos::new(&s);
    let src = c.obj("HEAD", GZ_BUCKET, GZ, "huge.bin").send().await;
    assert_eq!(src.header("content-length"), Some("2199023255552"));
    let src_crc = src.header("x-cos-hash-crc64ecma").expect("crc").to_string();
    let src_etag = src.header("etag").expect("etag").to_string();
    let id = initiate(&c, SH_BUCKET, SH, "copy/huge.bin").await;
    let size: u64 = 2 << 40;
    let part: u64 = 5 << 30;
    let n = size.div_ceil(part);
    let source = format!("{}/huge.bin", host(GZ_BUCKET, GZ));
    let mut tasks = Vec::new();
    for i in 0..n {
        let c = c.clone();
        let id = id.clone();
        let source = source.clone();
        let src_etag = src_etag.clone();
        tasks.push(tokio::spawn(async move {
            let first = i * part;
            let last = (first + part).min(size) - 1;
            let r = c
                .obj("PUT", SH_BUCKET, SH, "copy/huge.bin")
                .q("partNumber", &(i + 1).to_string())
                .q("uploadId", &id)
                .h("x-cos-copy-source", &source)
                .h("x-cos-copy-source-range", &format!("bytes={first}-{last}"))
                .h("x-cos-copy-source-if-match", &src_etag)
                .send()
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert!(r.header("x-cos-hash-crc64ecma").is_some());
            (i as u32 + 1, r.tag("ETag").expect("part ETag"))
        }));
    }
    let mut parts = Vec::new();
    for t in tasks {
        parts.push(t.await.expect("part task"));
    }
    let done = c
        .obj("POST", SH_BUCKET, SH, "copy/huge.bin")
        .q("uploadId", &id)
        .body(complete_body(&parts))
        .send()
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(done.code().is_none(), "{}", done.text);
    assert_eq!(done.header("x-cos-hash-crc64ecma"), Some(src_crc.as_str()));
    let dst = c.obj("HEAD", SH_BUCKET, SH, "copy/huge.bin").send().await;
    assert_eq!(dst.header("x-cos-hash-crc64ecma"), Some(src_crc.as_str()));
    assert_eq!(dst.header("content-length"), Some("2199023255552"));
    // Same bytes where we look.
    let a = c
        .obj("GET", GZ_BUCKET, GZ, "huge.bin")
        .h("range", "bytes=5368709100-5368709199")
        .send()
        .await;
    let b = c
        .obj("GET", SH_BUCKET, SH, "copy/huge.bin")
        .h("range", "bytes=5368709100-5368709199")
        .send()
        .await;
    assert_eq!(a.bytes.len(), 100);
    assert_eq!(a.bytes, b.bytes);
}

#[tokio::test]
async fn upload_part_copy_checks_ranges_and_conditions() {
    let s = start_server(args(&["--object", "cos://alpha-1250000000/src.bin=8MiB"])).await;
    let c = Cos::new(&s);
    let id = initiate(&c, GZ_BUCKET, GZ, "dst.bin").await;
    let source = format!("{}/src.bin", host(GZ_BUCKET, GZ));
    let part = |range: &str| {
        c.obj("PUT", GZ_BUCKET, GZ, "dst.bin")
            .q("partNumber", "1")
            .q("uploadId", &id)
            .h("x-cos-copy-source", &source)
            .h("x-cos-copy-source-range", range)
    };
    let small = part("bytes=0-1023").send().await;
    assert_eq!(small.code().as_deref(), Some("EntityTooSmall"));
    let last_small = part("bytes=8387584-8388607").send().await;
    assert_eq!(
        last_small.status, 200,
        "the source's last range may be small"
    );
    let outside = part("bytes=0-8388608").send().await;
    assert_eq!(outside.status, 400);
    let pre = part("bytes=0-1048575")
        .h("x-cos-copy-source-if-match", "\"not-the-etag\"")
        .send()
        .await;
    assert_eq!(pre.status, 412);
    assert_eq!(pre.code().as_deref(), Some("PreconditionFailed"));
    let head = c.obj("HEAD", GZ_BUCKET, GZ, "src.bin").send().await;
    let etag = head.header("etag").expect("etag").to_string();
    let lm = head.header("last-modified").expect("lm").to_string();
    let none = part("bytes=0-1048575")
        .h("x-cos-copy-source-if-none-match", &etag)
        .send()
        .await;
    assert_eq!(none.status, 412);
    let since = part("bytes=0-1048575")
        .h("x-cos-copy-source-if-modified-since", &lm)
        .send()
        .await;
    assert_eq!(since.status, 412);
    let ok = part("bytes=0-1048575")
        .h("x-cos-copy-source-if-match", &etag)
        .h("x-cos-copy-source-if-unmodified-since", &lm)
        .send()
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let get = c
        .obj("GET", GZ_BUCKET, GZ, "src.bin")
        .h("range", "bytes=0-1048575")
        .send()
        .await;
    assert_eq!(
        ok.header("x-cos-hash-crc64ecma"),
        Some(crc64::checksum(&get.bytes).to_string().as_str())
    );
    let no_upload = c
        .obj("PUT", GZ_BUCKET, GZ, "dst.bin")
        .q("partNumber", "1")
        .q("uploadId", "nope")
        .h("x-cos-copy-source", &source)
        .send()
        .await;
    assert_eq!(no_upload.code().as_deref(), Some("NoSuchUpload"));
    let bad_part = part("bytes=0-1048575").q("partNumber", "10001");
    let mut bad_part = bad_part;
    bad_part
        .query
        .retain(|(k, v)| k != "partNumber" || v == "10001");
    let r = bad_part.send().await;
    assert_eq!(r.code().as_deref(), Some("InvalidArgument"));
}

#[tokio::test]
async fn abort_makes_part_copies_in_flight_fail() {
    let s = start_server(args(&[
        "--object",
        "cos://alpha-1250000000/src.bin=64MiB",
        "--copy-rate",
        "100MiB/s",
    ]))
    .await;
    let c = Cos::new(&s);
    let id = initiate(&c, GZ_BUCKET, GZ, "dst.bin").await;
    let slow = {
        let c = c.clone();
        let id = id.clone();
        tokio::spawn(async move {
            c.copy_part(
                GZ_BUCKET,
                GZ,
                "dst.bin",
                &id,
                1,
                &copy_source(GZ_BUCKET, GZ, "src.bin"),
            )
            .send()
            .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let abort = c
        .obj("DELETE", GZ_BUCKET, GZ, "dst.bin")
        .q("uploadId", &id)
        .send()
        .await;
    assert_eq!(abort.status, 204);
    let r = slow.await.expect("part task");
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.code().as_deref(), Some("NoSuchUpload"));
    let again = c
        .obj("DELETE", GZ_BUCKET, GZ, "dst.bin")
        .q("uploadId", &id)
        .send()
        .await;
    assert_eq!(again.code().as_deref(), Some("NoSuchUpload"));
}

#[tokio::test]
async fn put_object_copy_follows_directive_conditions_and_region_limit() {
    let s = start_server(args(&["--object", "cos://alpha-1250000000/six.bin=6GiB"])).await;
    let c = Cos::new(&s);
    let put = c
        .obj("PUT", GZ_BUCKET, GZ, "small.txt")
        .h("content-type", "text/plain")
        .h("x-cos-meta-a", "1")
        .body("small body")
        .send()
        .await;
    assert_eq!(put.status, 200);
    let source = format!("{}/small.txt", host(GZ_BUCKET, GZ));
    let copy = c
        .obj("PUT", SH_BUCKET, SH, "copied.txt")
        .h("x-cos-copy-source", &source)
        .send()
        .await;
    assert_eq!(copy.status, 200, "{}", copy.text);
    assert_eq!(
        copy.tag("CRC64"),
        Some(crc64::checksum(b"small body").to_string())
    );
    assert_eq!(copy.tag("ETag").as_deref(), put.header("etag"));
    let head = c.obj("HEAD", SH_BUCKET, SH, "copied.txt").send().await;
    assert_eq!(head.header("x-cos-meta-a"), Some("1"));
    assert_eq!(head.header("content-type"), Some("text/plain"));

    let replaced = c
        .obj("PUT", GZ_BUCKET, GZ, "small.txt")
        .h("x-cos-copy-source", &source)
        .h("x-cos-metadata-directive", "Replaced")
        .h("x-cos-meta-b", "2")
        .send()
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    let head = c.obj("HEAD", GZ_BUCKET, GZ, "small.txt").send().await;
    assert_eq!(head.header("x-cos-meta-b"), Some("2"));
    assert_eq!(head.header("x-cos-meta-a"), None);
    let to_itself = c
        .obj("PUT", GZ_BUCKET, GZ, "small.txt")
        .h("x-cos-copy-source", &source)
        .send()
        .await;
    assert_eq!(to_itself.status, 400);

    let pre = c
        .obj("PUT", SH_BUCKET, SH, "x.txt")
        .h("x-cos-copy-source", &source)
        .h("x-cos-copy-source-if-match", "\"nope\"")
        .send()
        .await;
    assert_eq!(pre.status, 412);

    let big = format!("{}/six.bin", host(GZ_BUCKET, GZ));
    let cross = c
        .obj("PUT", SH_BUCKET, SH, "six.bin")
        .h("x-cos-copy-source", &big)
        .send()
        .await;
    assert_eq!(cross.status, 405);
    assert_eq!(cross.code().as_deref(), Some("MethodNotAllowed"));
    assert!(cross
        .tag("Message")
        .is_some_and(|m| m.contains("Please use UploadPart-Copy API")));
    let same = c
        .obj("PUT", GZ_BUCKET, GZ, "six-copy.bin")
        .h("x-cos-copy-source", &big)
        .send()
        .await;
    assert_eq!(same.status, 200, "same-region copies of any size pass");
    let missing = c
        .obj("PUT", GZ_BUCKET, GZ, "y")
        .h(
            "x-cos-copy-source",
            &format!("{}/missing", host(GZ_BUCKET, GZ)),
        )
        .send()
        .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn list_multipart_uploads_paginates_with_markers_and_delimiter() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let mut want = Vec::new();
    for k in ["a/1", "a/2", "b", "b", "c"] {
        let id = initiate(&c, GZ_BUCKET, GZ, k).await;
        want.push((k.to_string(), id));
    }
    want.sort();
    let mut got = Vec::new();
    let (mut km, mut im) = (String::new(), String::new());
    let mut pages = 0;
    loop {
        let r = c
            .obj("GET", GZ_BUCKET, GZ, "")
            .q("uploads", "")
            .q("max-uploads", "2")
            .q("key-marker", &km)
            .q("upload-id-marker", &im)
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        pages += 1;
        let keys = r.tags("Key");
        let ids = r.tags("UploadId");
        got.extend(keys.into_iter().zip(ids));
        if r.tag("IsTruncated").as_deref() != Some("true") {
            break;
        }
        km = r.tag("NextKeyMarker").expect("NextKeyMarker");
        im = r.tag("NextUploadIdMarker").expect("NextUploadIdMarker");
    }
    assert_eq!(got, want);
    assert_eq!(pages, 3);
    let grouped = c
        .obj("GET", GZ_BUCKET, GZ, "")
        .q("uploads", "")
        .q("delimiter", "/")
        .send()
        .await;
    assert_eq!(grouped.tags("Key"), ["b", "b", "c"]);
    assert!(grouped
        .text
        .contains("<CommonPrefixes><Prefix>a/</Prefix></CommonPrefixes>"));
}

#[tokio::test]
async fn complete_answers_at_once_and_streams_spaces_until_the_merge_ends() {
    let s = start_server(args(&["--latency", "300ms"])).await;
    let c = Cos::new(&s);
    let id = initiate(&c, GZ_BUCKET, GZ, "merged").await;
    let part = c
        .obj("PUT", GZ_BUCKET, GZ, "merged")
        .q("partNumber", "1")
        .q("uploadId", &id)
        .body("only part")
        .send()
        .await;
    let etag = part.header("etag").expect("etag").to_string();
    let req = c
        .obj("POST", GZ_BUCKET, GZ, "merged")
        .q("uploadId", &id)
        .body(complete_body(&[(1, etag)]));
    let url = req.url(&s.endpoint());
    let mut rb = c.http.post(url).body(req.body.clone());
    for (k, v) in req.signed_headers() {
        rb = rb.header(k, v);
    }
    let t = std::time::Instant::now();
    let mut resp = rb.send().await.expect("Complete answers");
    let head_after = t.elapsed();
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.expect("body").expect("a first chunk");
    assert!(first.iter().all(|b| *b == b' '), "spaces first: {first:?}");
    let mut rest = Vec::new();
    while let Some(chunk) = resp.chunk().await.expect("body") {
        rest.extend_from_slice(&chunk);
    }
    let body_after = t.elapsed();
    let text = String::from_utf8_lossy(&rest);
    assert!(text.contains("<CompleteMultipartUploadResult>"), "{text}");
    assert!(
        head_after < std::time::Duration::from_millis(300),
        "headers come before the merge: {head_after:?}"
    );
    assert!(
        body_after >= std::time::Duration::from_millis(300),
        "the result comes after the merge: {body_after:?}"
    );
}

#[tokio::test]
async fn delete_bucket_removes_only_an_empty_bucket() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let put = c.obj("PUT", GZ_BUCKET, GZ, "k").body("x").send().await;
    assert_eq!(put.status, 200);
    let full = c.obj("DELETE", GZ_BUCKET, GZ, "").send().await;
    assert_eq!(full.status, 409, "{}", full.text);
    assert_eq!(full.code().as_deref(), Some("BucketNotEmpty"));
    let del = c.obj("DELETE", GZ_BUCKET, GZ, "k").send().await;
    assert_eq!(del.status, 204);
    let init = c
        .obj("POST", GZ_BUCKET, GZ, "pending")
        .q("uploads", "")
        .send()
        .await;
    let id = init.tag("UploadId").expect("UploadId");
    let pending = c.obj("DELETE", GZ_BUCKET, GZ, "").send().await;
    assert_eq!(pending.status, 409, "an incomplete upload keeps it");
    assert_eq!(pending.code().as_deref(), Some("BucketNotEmpty"));
    let abort = c
        .obj("DELETE", GZ_BUCKET, GZ, "pending")
        .q("uploadId", &id)
        .send()
        .await;
    assert_eq!(abort.status, 204);
    let wrong_region = c.obj("DELETE", GZ_BUCKET, SH, "").send().await;
    assert_eq!(wrong_region.status, 404);
    let gone = c.obj("DELETE", GZ_BUCKET, GZ, "").send().await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    let head = c.obj("HEAD", GZ_BUCKET, GZ, "").send().await;
    assert_eq!(head.status, 404);
    let again = c.obj("DELETE", GZ_BUCKET, GZ, "").send().await;
    assert_eq!(again.code().as_deref(), Some("NoSuchBucket"));
    let all = c.req("GET", "service.cos.myqcloud.com", "").send().await;
    assert_eq!(all.tags("Name"), [SH_BUCKET]);
    let other = c.obj("POST", SH_BUCKET, SH, "").send().await;
    assert_eq!(
        other.status, 405,
        "unimplemented bucket methods stay clear errors"
    );
    assert_eq!(other.code().as_deref(), Some("MethodNotAllowed"));
}

#[tokio::test]
async fn unimplemented_sub_resources_answer_501_and_change_nothing() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let put = c
        .obj("PUT", GZ_BUCKET, GZ, "k")
        .body("precious")
        .send()
        .await;
    assert_eq!(put.status, 200);
    let object_cases: &[(&str, &str, &str)] = &[
        ("PUT", "acl", ""),
        ("GET", "acl", ""),
        ("PUT", "tagging", ""),
        ("DELETE", "tagging", ""),
        ("POST", "restore", ""),
        ("POST", "append", ""),
        ("POST", "select", ""),
        ("GET", "ci-process", "originImage"),
        ("PUT", "versionId", "null"),
        ("GET", "partNumber", "1"),
        ("PUT", "uploads", ""),
        ("DELETE", "ACL", ""),
    ];
    for (method, name, value) in object_cases {
        let r = c
            .obj(method, GZ_BUCKET, GZ, "k")
            .q(name, value)
            .send()
            .await;
        assert_eq!(r.status, 501, "{method} ?{name}: {}", r.text);
        assert_eq!(
            r.code().as_deref(),
            Some("NotImplemented"),
            "{method} ?{name}"
        );
        assert!(
            r.text.contains(name),
            "the message names {name}: {}",
            r.text
        );
    }
    let bucket_cases: &[(&str, &str)] = &[
        ("PUT", "cors"),
        ("GET", "lifecycle"),
        ("DELETE", "policy"),
        ("GET", "versioning"),
        ("POST", "delete"),
        ("GET", "versions"),
        ("HEAD", "acl"),
    ];
    for (method, name) in bucket_cases {
        let r = c.obj(method, GZ_BUCKET, GZ, "").q(name, "").send().await;
        assert_eq!(r.status, 501, "bucket {method} ?{name}: {}", r.text);
    }
    // Nothing above touched the object or the bucket.
    let get = c.obj("GET", GZ_BUCKET, GZ, "k").send().await;
    assert_eq!(get.text, "precious");
    let head = c.obj("HEAD", GZ_BUCKET, GZ, "").send().await;
    assert_eq!(head.status, 200);
    // What is implemented still works, whatever the parameter's case.
    let list = c
        .obj("GET", GZ_BUCKET, GZ, "")
        .q("prefix", "k")
        .q("max-keys", "5")
        .q("Encoding-Type", "url")
        .send()
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.tags("Key"), ["k"]);
}

// ---------------------------------------------------------------------------------------------
// The wire itself: header names as COS spells them, read as raw bytes from a TCP socket.

/// One HTTP/1.1 connection to the server, written and read as raw bytes, so a test sees the
/// response head exactly as it went on the wire (reqwest would lower-case the names).
struct RawConn {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

/// A response as it came on the wire: the head (status line and header lines, without the
/// blank line) and the body, de-chunked.
struct RawResp {
    head: String,
    body: Vec<u8>,
}

impl RawResp {
    fn status(&self) -> u16 {
        self.head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// The value of the header line spelled exactly `name`.
    fn exact(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}: ");
        self.head
            .split("\r\n")
            .skip(1)
            .find_map(|l| l.strip_prefix(prefix.as_str()))
    }
}

impl RawConn {
    async fn open(s: &haul::server::ServerHandle) -> Self {
        let stream = tokio::net::TcpStream::connect(s.addr)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", s.addr));
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends `req` (signed as `Req` signs) with `extra` header lines, and reads the answer.
    async fn exchange(&mut self, req: Req, extra: &[&str]) -> RawResp {
        use tokio::io::AsyncWriteExt as _;
        let mut out = format!("{} {} HTTP/1.1\r\n", req.method, req.url(""));
        for (k, v) in req.signed_headers() {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        for line in extra {
            out.push_str(line);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&req.body);
        self.stream
            .write_all(&bytes)
            .await
            .expect("the server reads the request");
        let head_request = req.method == "HEAD";
        tokio::time::timeout(
            std::time::Duration::from_secs(20),
            self.read_response(head_request),
        )
        .await
        .expect("the server answers within 20 s")
    }

    async fn fill(&mut self) {
        use tokio::io::AsyncReadExt as _;
        let mut chunk = [0u8; 16 * 1024];
        let n = self
            .stream
            .read(&mut chunk)
            .await
            .expect("the connection stays readable");
        assert!(n > 0, "the server closed the connection mid-response");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return line;
            }
            self.fill().await;
        }
    }

    async fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            self.fill().await;
        }
        self.buf.drain(..n).collect()
    }

    async fn read_response(&mut self, head_request: bool) -> RawResp {
        let mut lines = Vec::new();
        loop {
            let l = self.line().await;
            if l.is_empty() {
                break;
            }
            lines.push(l);
        }
        let head = lines.join("\r\n");
        let find = |name: &str| {
            lines.iter().skip(1).find_map(|l| {
                let (k, v) = l.split_once(": ")?;
                k.eq_ignore_ascii_case(name).then(|| v.to_string())
            })
        };
        let mut resp = RawResp {
            head,
            body: Vec::new(),
        };
        if head_request || matches!(resp.status(), 204 | 304) {
            return resp;
        }
        if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let size_line = self.line().await;
                let size = usize::from_str_radix(size_line.trim(), 16)
                    .unwrap_or_else(|_| panic!("bad chunk size line {size_line:?}"));
                if size == 0 {
                    assert_eq!(self.line().await, "", "no trailers after the last chunk");
                    break;
                }
                let data = self.take(size).await;
                resp.body.extend_from_slice(&data);
                assert_eq!(self.take(2).await, b"\r\n", "a chunk ends with CRLF");
            }
        } else {
            let len: usize = find("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no length in {}", resp.head));
            resp.body = self.take(len).await;
        }
        resp
    }
}

/// Header lines a COS answer spells this way, and how `haul serve` must not spell them.
const COS_OBJECT_HEADERS: &[&str] = &[
    "ETag",
    "Content-Length",
    "Content-Type",
    "Last-Modified",
    "Accept-Ranges",
    "Date",
    "Server",
    "x-cos-request-id",
    "x-cos-hash-crc64ecma",
];

#[tokio::test]
async fn response_header_names_go_on_the_wire_spelled_as_cos_spells_them() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let data = b"hello world";
    let put = c
        .obj("PUT", GZ_BUCKET, GZ, "wire/obj.txt")
        .h("content-type", "text/plain")
        .h("x-cos-meta-color", "red")
        .body(data.to_vec())
        .send()
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let etag = put.header("etag").expect("etag").to_string();

    // Four answers on one kept-alive connection.
    let mut conn = RawConn::open(&s).await;
    let head = conn
        .exchange(c.obj("HEAD", GZ_BUCKET, GZ, "wire/obj.txt"), &[])
        .await;
    assert_eq!(head.status(), 200, "{}", head.head);
    for name in COS_OBJECT_HEADERS {
        assert!(
            head.exact(name).is_some(),
            "HEAD has no header line spelled {name:?}:\n{}",
            head.head
        );
    }
    assert_eq!(head.exact("ETag"), Some(etag.as_str()));
    assert_eq!(head.exact("Content-Length"), Some("11"));
    assert_eq!(head.exact("Content-Type"), Some("text/plain"));
    assert_eq!(head.exact("Server"), Some("tencent-cos"));
    assert_eq!(head.exact("x-cos-meta-color"), Some("red"));
    assert!(!head.head.contains("\r\netag:"), "{}", head.head);
    assert!(head.body.is_empty());

    let ranged = conn
        .exchange(
            c.obj("GET", GZ_BUCKET, GZ, "wire/obj.txt")
                .h("range", "bytes=0-4"),
            &[],
        )
        .await;
    assert_eq!(ranged.status(), 206, "{}", ranged.head);
    assert_eq!(ranged.exact("Content-Range"), Some("bytes 0-4/11"));
    assert_eq!(ranged.exact("Content-Length"), Some("5"));
    assert_eq!(ranged.body, b"hello");

    let denied = conn
        .exchange(c.obj("GET", GZ_BUCKET, GZ, "wire/obj.txt").unsigned(), &[])
        .await;
    assert_eq!(denied.status(), 403, "{}", denied.head);
    assert_eq!(denied.exact("Content-Type"), Some("application/xml"));
    assert!(denied.exact("x-cos-trace-id").is_some(), "{}", denied.head);
    assert!(String::from_utf8_lossy(&denied.body).contains("<Error>"));

    let again = conn
        .exchange(
            c.obj("PUT", GZ_BUCKET, GZ, "wire/again.txt")
                .body(b"again".to_vec()),
            &["Connection: close"],
        )
        .await;
    assert_eq!(again.status(), 200, "{}", again.head);
    assert!(again.exact("ETag").is_some_and(|e| e.starts_with('"')));
    assert_eq!(again.exact("Connection"), Some("close"));
}

#[tokio::test]
async fn complete_streams_chunked_spaces_with_cos_header_names_and_keeps_the_connection() {
    let s = start_server(args(&["--latency", "2ms"])).await;
    let c = Cos::new(&s);
    let key = "wire/multi.bin";
    let id = initiate(&c, GZ_BUCKET, GZ, key).await;
    let part = c
        .obj("PUT", GZ_BUCKET, GZ, key)
        .q("partNumber", "1")
        .q("uploadId", &id)
        .body(bytes(1000, 9))
        .send()
        .await;
    let etag = part.header("etag").expect("etag").to_string();

    let mut conn = RawConn::open(&s).await;
    let done = conn
        .exchange(
            c.obj("POST", GZ_BUCKET, GZ, key)
                .q("uploadId", &id)
                .h("content-type", "application/xml")
                .body(complete_body(&[(1, etag)])),
            &[],
        )
        .await;
    assert_eq!(done.status(), 200, "{}", done.head);
    assert_eq!(done.exact("Transfer-Encoding"), Some("chunked"));
    assert_eq!(done.exact("Content-Type"), Some("application/xml"));
    assert!(
        done.exact("x-cos-hash-crc64ecma").is_some(),
        "{}",
        done.head
    );
    let text = String::from_utf8_lossy(&done.body).into_owned();
    assert!(
        text.starts_with(' '),
        "Complete streams spaces first: {text}"
    );
    let multi_etag = tags(&text, "ETag")
        .pop()
        .expect("the result names the ETag");

    let head = conn.exchange(c.obj("HEAD", GZ_BUCKET, GZ, key), &[]).await;
    assert_eq!(head.status(), 200, "{}", head.head);
    assert_eq!(head.exact("ETag"), Some(multi_etag.as_str()));
    assert_eq!(head.exact("Content-Length"), Some("1000"));
}

// ---------------------------------------------------------------------------------------------
// GET Service's parameters and the parameters COS documents on object reads.

/// The bucket names the service lists, following `NextMarker` from page to page.
async fn all_bucket_pages(c: &Cos, max_keys: &str) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    let mut marker = String::new();
    for page in 1..=20 {
        let r = c
            .req("GET", "service.cos.myqcloud.com", "")
            .q("marker", &marker)
            .q("max-keys", max_keys)
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.tag("Marker").unwrap_or_default(), marker);
        let got = r.tags("Name");
        assert!(
            got.len() <= max_keys.parse().expect("a number"),
            "{}",
            r.text
        );
        names.extend(got);
        if r.tag("IsTruncated").as_deref() != Some("true") {
            return (names, page);
        }
        marker = r
            .tag("NextMarker")
            .expect("a truncated page names the next marker");
    }
    panic!("GET Service pages do not end");
}

#[tokio::test]
async fn list_buckets_pages_with_marker_and_max_keys() {
    let s = start_server(args(&[
        "--bucket",
        "gamma-1250000000@ap-beijing",
        "--bucket",
        "delta-1250000000@ap-beijing",
        "--bucket",
        "epsilon-1250000000@ap-guangzhou",
    ]))
    .await;
    let c = Cos::new(&s);
    let mut want: Vec<String> = [
        GZ_BUCKET,
        SH_BUCKET,
        "gamma-1250000000",
        "delta-1250000000",
        "epsilon-1250000000",
    ]
    .map(str::to_string)
    .to_vec();
    want.sort();
    // What cos-python-sdk-v5's list_buckets() sends: an empty marker and max-keys=2000.
    let (one_page, pages) = all_bucket_pages(&c, "2000").await;
    assert_eq!((one_page, pages), (want.clone(), 1));
    let (paged, pages) = all_bucket_pages(&c, "2").await;
    assert_eq!((paged, pages), (want.clone(), 3));
    let after = c
        .req("GET", "service.cos.myqcloud.com", "")
        .q("marker", &want[2])
        .send()
        .await;
    assert_eq!(after.tags("Name"), want[3..].to_vec());
    assert_eq!(after.tag("IsTruncated").as_deref(), Some("false"));
    assert_eq!(after.tag("NextMarker"), None);
}

#[tokio::test]
async fn list_buckets_filters_by_region_creation_time_and_tag() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let service = || c.req("GET", "service.cos.myqcloud.com", "");
    let sh = service().q("region", SH).send().await;
    assert_eq!(sh.tags("Name"), [SH_BUCKET]);
    let both = c
        .req("GET", "cos.ap-shanghai.myqcloud.com", "")
        .q("region", GZ)
        .send()
        .await;
    assert_eq!(
        both.tags("Name"),
        Vec::<String>::new(),
        "host and parameter both filter"
    );
    let later = (now() + 3600).to_string();
    let before = service()
        .q("create-time", &later)
        .q("range", "lt")
        .send()
        .await;
    assert_eq!(before.tags("Name"), [GZ_BUCKET, SH_BUCKET]);
    let after = service()
        .q("create-time", &later)
        .q("range", "gte")
        .send()
        .await;
    assert_eq!(after.status, 200, "{}", after.text);
    assert_eq!(after.tags("Name"), Vec::<String>::new());
    let tagged = service()
        .q("tagkey", "team")
        .q("tagvalue", "media")
        .send()
        .await;
    assert_eq!(tagged.status, 200, "{}", tagged.text);
    assert_eq!(
        tagged.tags("Name"),
        Vec::<String>::new(),
        "no bucket carries a tag in haul serve"
    );
    for (k, v) in [("create-time", "soon"), ("range", "eq")] {
        let bad = service()
            .q("create-time", if k == "create-time" { v } else { "1" })
            .q("range", if k == "range" { v } else { "lt" })
            .send()
            .await;
        assert_eq!(bad.status, 400, "{k}={v}: {}", bad.text);
        assert_eq!(bad.code().as_deref(), Some("InvalidArgument"));
        assert!(bad.text.contains(v), "the message names {v}: {}", bad.text);
    }
    let alone = service().q("create-time", "1").send().await;
    assert_eq!(
        alone.code().as_deref(),
        Some("InvalidArgument"),
        "{}",
        alone.text
    );
}

#[tokio::test]
async fn get_object_honours_response_overrides_and_the_null_version() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let put = c
        .obj("PUT", GZ_BUCKET, GZ, "v/k")
        .h("content-type", "text/plain")
        .body("versioned")
        .send()
        .await;
    assert_eq!(put.status, 200);
    let got = c
        .obj("GET", GZ_BUCKET, GZ, "v/k")
        .q("response-content-type", "text/csv")
        .q(
            "response-content-disposition",
            "attachment; filename=\"k.csv\"",
        )
        .q("response-cache-control", "no-cache")
        .q("response-content-language", "zh-CN")
        .q("response-expires", "Thu, 01 Jan 2037 00:00:00 GMT")
        .q("response-content-encoding", "identity")
        .q("versionId", "null")
        .send()
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.text, "versioned");
    assert_eq!(got.header("content-type"), Some("text/csv"));
    assert_eq!(
        got.header("content-disposition"),
        Some("attachment; filename=\"k.csv\"")
    );
    assert_eq!(got.header("cache-control"), Some("no-cache"));
    assert_eq!(got.header("content-language"), Some("zh-CN"));
    assert_eq!(got.header("expires"), Some("Thu, 01 Jan 2037 00:00:00 GMT"));
    assert_eq!(got.header("content-encoding"), Some("identity"));
    let plain = c.obj("GET", GZ_BUCKET, GZ, "v/k").send().await;
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain"),
        "overrides are per request"
    );
    let head = c
        .obj("HEAD", GZ_BUCKET, GZ, "v/k")
        .q("versionId", "null")
        .send()
        .await;
    assert_eq!(head.status, 200);
    for method in ["GET", "DELETE"] {
        let other = c
            .obj(method, GZ_BUCKET, GZ, "v/k")
            .q("versionId", "MTg0NDUxNTc1NjIzMTQ1MDAwODg")
            .send()
            .await;
        assert_eq!(other.status, 404, "{method}: {}", other.text);
        assert_eq!(other.code().as_deref(), Some("NoSuchVersion"));
    }
    let still = c.obj("GET", GZ_BUCKET, GZ, "v/k").send().await;
    assert_eq!(
        still.text, "versioned",
        "a DELETE of another version deletes nothing"
    );
    let gone = c
        .obj("DELETE", GZ_BUCKET, GZ, "v/k")
        .q("versionId", "null")
        .send()
        .await;
    assert_eq!(gone.status, 204);
    let missing = c.obj("GET", GZ_BUCKET, GZ, "v/k").send().await;
    assert_eq!(missing.status, 404);
}
