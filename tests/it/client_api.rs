//! The COS client against the real local server (`haul serve` in-process on 127.0.0.1:0):
//! every `ObjectStore` method, pagination, awkward keys, typed errors, the endpoint override,
//! and `haul ls` run as a process.

use crate::common;

use std::process::Command;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use clap::Parser;
use haul::server::{ServeConfig, ServerHandle};
use haul::store::client::{ClientOptions, CosClient};
use haul::store::{
    BucketName, ByteRange, CompletedPart, CopyObjectRequest, CopySourceConditions, Credentials,
    ListObjectsRequest, ListUploadsRequest, MetadataDirective, ObjectHeaders, ObjectRef,
    ObjectStore, Op, RequestRecord, Secret, UploadPartCopyRequest,
};

const MIB: u64 = 1024 * 1024;
const REGION: &str = "ap-guangzhou";
const BUCKET: &str = "media-1250000000";
const OTHER_REGION_BUCKET: &str = "logs-1250000000";

#[derive(Parser)]
struct Wrap {
    #[command(flatten)]
    args: haul::cli::serve::Args,
}

fn serve_args(extra: &[&str]) -> ServeConfig {
    let mut argv = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--bucket",
        "media-1250000000",
        "--bucket",
        "logs-1250000000@ap-shanghai",
        "--object",
        "cos://media-1250000000/src/three-mib.bin=3MiB",
        "--object",
        "cos://logs-1250000000/2024/app.log=10",
    ];
    argv.extend_from_slice(extra);
    Wrap::parse_from(argv)
        .args
        .into_config()
        .unwrap_or_else(|e| panic!("test server flags: {e}"))
}

async fn server(extra: &[&str]) -> ServerHandle {
    common::start_server(serve_args(extra)).await
}

fn client_with(server: &ServerHandle, credentials: Credentials) -> CosClient {
    let mut o = ClientOptions::new(credentials);
    o.endpoint = Some(server.endpoint());
    CosClient::new(o).unwrap()
}

fn client(server: &ServerHandle) -> CosClient {
    client_with(server, common::credentials(server))
}

fn bucket() -> BucketName {
    BucketName::parse(BUCKET).unwrap()
}

fn obj(key: &str) -> ObjectRef {
    ObjectRef::new(bucket(), REGION, key)
}

#[tokio::test]
async fn lists_buckets_with_their_regions() {
    let s = server(&[]).await;
    let c = client(&s);
    let buckets = c.list_buckets().await.unwrap();
    let mut pairs: Vec<(String, String)> = buckets
        .iter()
        .map(|b| (b.name.clone(), b.region.clone()))
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        vec![
            (OTHER_REGION_BUCKET.to_string(), "ap-shanghai".to_string()),
            (BUCKET.to_string(), REGION.to_string()),
        ]
    );
    assert!(buckets.iter().all(|b| b.created.is_some()));
    let region = c
        .head_bucket(
            &BucketName::parse(OTHER_REGION_BUCKET).unwrap(),
            "ap-shanghai",
        )
        .await
        .unwrap();
    assert_eq!(region, "ap-shanghai");
}

#[tokio::test]
async fn put_head_get_delete_round_trip_with_metadata() {
    let s = server(&[]).await;
    let c = client(&s);
    let o = obj("docs/readme.txt");
    let mut headers = ObjectHeaders {
        content_type: Some("text/plain".into()),
        cache_control: Some("max-age=600".into()),
        ..ObjectHeaders::default()
    };
    headers.meta.insert("owner".into(), "team-a".into());
    let body = Bytes::from_static(b"hello, cos world");
    let put = c.put_object(&o, body.clone(), &headers).await.unwrap();
    assert!(!put.etag.is_empty() && !put.etag.contains('"'));
    let crc = haul::crc64::checksum(&body);
    assert_eq!(put.crc64, Some(crc));

    let meta = c.head_object(&o).await.unwrap();
    assert_eq!(meta.size, body.len() as u64);
    assert_eq!(meta.etag, put.etag);
    assert_eq!(meta.crc64, Some(crc));
    assert_eq!(meta.storage_class, "STANDARD");
    assert_eq!(meta.headers.content_type.as_deref(), Some("text/plain"));
    assert_eq!(meta.headers.cache_control.as_deref(), Some("max-age=600"));
    assert_eq!(
        meta.headers.meta.get("owner").map(String::as_str),
        Some("team-a")
    );
    assert!(meta.last_modified.is_some());

    assert_eq!(c.get_object(&o, None).await.unwrap(), body);
    let part = c
        .get_object(&o, Some(ByteRange { first: 7, last: 9 }))
        .await
        .unwrap();
    assert_eq!(&part[..], b"cos");

    c.delete_object(&o).await.unwrap();
    let e = c.head_object(&o).await.unwrap_err();
    assert_eq!(e.code(), Some("NoSuchKey"), "{e}");
    let e = c.get_object(&o, None).await.unwrap_err();
    assert_eq!(e.code(), Some("NoSuchKey"), "{e}");
    assert!(e.request_id().is_some(), "{e:?}");
}

#[tokio::test]
async fn awkward_keys_survive_every_request() {
    let s = server(&[]).await;
    let c = client(&s);
    let keys = [
        "with space.txt",
        "plus+sign",
        "per%cent%2F",
        "hash#tag",
        "question?mark=1&x",
        "tilde~and(parens)!*'",
        "视频/母带 final.mov",
        "a/./b/../c",
        "trailing.",
        "dots../..x",
        " leading space",
    ];
    for key in keys {
        let o = obj(key);
        let body = Bytes::from(format!("body of {key}"));
        c.put_object(&o, body.clone(), &ObjectHeaders::default())
            .await
            .unwrap_or_else(|e| panic!("put {key:?}: {e}"));
        let meta = c
            .head_object(&o)
            .await
            .unwrap_or_else(|e| panic!("head {key:?}: {e}"));
        assert_eq!(meta.size, body.len() as u64, "{key:?}");
        assert_eq!(c.get_object(&o, None).await.unwrap(), body, "{key:?}");
        let page = c
            .list_objects(
                &bucket(),
                REGION,
                &ListObjectsRequest {
                    prefix: key.to_string(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(
            page.objects.iter().any(|x| x.key == key),
            "{key:?} not listed: {:?}",
            page.objects
        );
    }
    // Copy with an awkward source key.
    let dst = obj("copies/视频 copy+1");
    let r = c
        .copy_object(&CopyObjectRequest {
            source: obj("视频/母带 final.mov"),
            destination: dst.clone(),
            directive: MetadataDirective::Copy,
            headers: ObjectHeaders::default(),
            conditions: CopySourceConditions::default(),
        })
        .await
        .unwrap();
    assert!(!r.etag.is_empty());
    assert_eq!(
        c.get_object(&dst, None).await.unwrap(),
        Bytes::from("body of 视频/母带 final.mov")
    );
}

#[tokio::test]
async fn listing_pages_through_keys_and_prefixes_in_order() {
    let s = server(&[]).await;
    let c = client(&s);
    let mut expected_keys = Vec::new();
    for i in 0..7 {
        let key = format!("p/file-{i:02}");
        c.put_object(
            &obj(&key),
            Bytes::from_static(b"x"),
            &ObjectHeaders::default(),
        )
        .await
        .unwrap();
        expected_keys.push(key);
    }
    for d in ["p/dir-a/x", "p/dir-b/y", "p/dir-b/z"] {
        c.put_object(&obj(d), Bytes::from_static(b"x"), &ObjectHeaders::default())
            .await
            .unwrap();
    }
    let mut req = ListObjectsRequest {
        prefix: "p/".into(),
        delimiter: Some("/".into()),
        marker: None,
        max_keys: Some(3),
    };
    let (mut keys, mut prefixes, mut pages) = (Vec::new(), Vec::new(), 0);
    loop {
        let page = c.list_objects(&bucket(), REGION, &req).await.unwrap();
        pages += 1;
        assert!(page.objects.len() + page.common_prefixes.len() <= 3);
        keys.extend(page.objects.iter().map(|o| o.key.clone()));
        prefixes.extend(page.common_prefixes.clone());
        if !page.is_truncated {
            break;
        }
        req.marker = Some(
            page.next_marker
                .expect("a truncated page says where to go on"),
        );
        assert!(pages < 20, "pagination does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(keys, expected_keys);
    assert_eq!(
        prefixes,
        vec!["p/dir-a/".to_string(), "p/dir-b/".to_string()]
    );
}

#[tokio::test]
async fn multipart_copy_end_to_end() {
    let s = server(&[]).await;
    let c = client(&s);
    let src = obj("src/three-mib.bin");
    let src_meta = c.head_object(&src).await.unwrap();
    assert_eq!(src_meta.size, 3 * MIB);
    let dst = obj("dst/assembled.bin");
    let upload_id = c
        .initiate_multipart(
            &dst,
            &ObjectHeaders {
                content_type: Some("application/x-test".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut parts = Vec::new();
    let mut crcs = Vec::new();
    for n in 0..3u64 {
        let r = c
            .upload_part_copy(&UploadPartCopyRequest {
                destination: dst.clone(),
                upload_id: upload_id.clone(),
                part_number: n as u32 + 1,
                source: src.clone(),
                range: Some(ByteRange {
                    first: n * MIB,
                    last: (n + 1) * MIB - 1,
                }),
                conditions: CopySourceConditions {
                    if_match: Some(src_meta.etag.clone()),
                    ..Default::default()
                },
            })
            .await
            .unwrap();
        assert!(!r.etag.contains('"'));
        crcs.push(r.crc64);
        parts.push(CompletedPart {
            part_number: n as u32 + 1,
            etag: r.etag,
        });
    }
    let uploads = c
        .list_multipart_uploads(&bucket(), REGION, &ListUploadsRequest::default())
        .await
        .unwrap();
    assert!(uploads
        .uploads
        .iter()
        .any(|u| u.upload_id == upload_id && u.key == "dst/assembled.bin"));

    let first = c.list_parts(&dst, &upload_id, None, Some(2)).await.unwrap();
    assert_eq!(first.parts.len(), 2);
    assert!(first.is_truncated);
    let rest = c
        .list_parts(&dst, &upload_id, first.next_part_number_marker, Some(2))
        .await
        .unwrap();
    assert_eq!(rest.parts.len(), 1);
    assert!(!rest.is_truncated);
    assert_eq!(rest.parts[0].part_number, 3);
    assert_eq!(rest.parts[0].size, MIB);
    assert_eq!(first.parts[0].etag, parts[0].etag);

    let done = c
        .complete_multipart(&dst, &upload_id, &parts)
        .await
        .unwrap();
    assert!(done.etag.ends_with("-3"), "{}", done.etag);
    let meta = c.head_object(&dst).await.unwrap();
    assert_eq!(meta.size, src_meta.size);
    assert_eq!(meta.crc64, src_meta.crc64);
    assert!(meta.crc64.is_some());
    assert_eq!(done.crc64.or(meta.crc64), src_meta.crc64);
    assert_eq!(
        meta.headers.content_type.as_deref(),
        Some("application/x-test")
    );
    assert_eq!(
        c.get_object(
            &dst,
            Some(ByteRange {
                first: MIB,
                last: MIB + 99
            })
        )
        .await
        .unwrap(),
        c.get_object(
            &src,
            Some(ByteRange {
                first: MIB,
                last: MIB + 99
            })
        )
        .await
        .unwrap()
    );
    // The upload is gone now.
    let e = c
        .list_parts(&dst, &upload_id, None, None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchUpload"), "{e}");
}

#[tokio::test]
async fn upload_part_and_abort() {
    let s = server(&[]).await;
    let c = client(&s);
    let dst = obj("up/parts.bin");
    let id = c
        .initiate_multipart(&dst, &ObjectHeaders::default())
        .await
        .unwrap();
    let body = Bytes::from(vec![7u8; 1000]);
    let r = c.upload_part(&dst, &id, 1, body.clone()).await.unwrap();
    assert_eq!(r.crc64, Some(haul::crc64::checksum(&body)));
    c.abort_multipart(&dst, &id).await.unwrap();
    let e = c.abort_multipart(&dst, &id).await.unwrap_err();
    assert_eq!(e.code(), Some("NoSuchUpload"), "{e}");
    assert_eq!(e.status(), Some(404));
    let e = c
        .complete_multipart(
            &dst,
            &id,
            &[CompletedPart {
                part_number: 1,
                etag: r.etag,
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchUpload"), "{e}");
}

#[tokio::test]
async fn typed_errors_from_the_server() {
    let s = server(&[]).await;
    let c = client(&s);
    let missing = BucketName::parse("missing-1250000000").unwrap();
    let e = c
        .list_objects(&missing, REGION, &ListObjectsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchBucket"), "{e}");
    assert!(e.to_string().contains("missing-1250000000"), "{e}");

    let e = c
        .head_object(&ObjectRef::new(missing, REGION, "k"))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");

    // Wrong secret key: SignatureDoesNotMatch, and the key never shows.
    let mut wrong = common::credentials(&s);
    wrong.secret_key = Secret::new("definitely-not-the-key");
    let e = client_with(&s, wrong).list_buckets().await.unwrap_err();
    assert_eq!(e.code(), Some("SignatureDoesNotMatch"), "{e}");
    assert_eq!(e.status(), Some(403));
    assert!(!format!("{e} {e:?}").contains("definitely-not-the-key"));

    // Source changed: 412 on a copy with If-Match.
    let e = c
        .upload_part_copy(&UploadPartCopyRequest {
            destination: obj("d"),
            upload_id: c
                .initiate_multipart(&obj("d"), &ObjectHeaders::default())
                .await
                .unwrap(),
            part_number: 1,
            source: obj("src/three-mib.bin"),
            range: Some(ByteRange {
                first: 0,
                last: MIB - 1,
            }),
            conditions: CopySourceConditions {
                if_match: Some("0123456789abcdef0123456789abcdef".into()),
                ..Default::default()
            },
        })
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(412), "{e}");
    assert_eq!(e.code(), Some("PreconditionFailed"), "{e}");
    assert!(!e.is_transient());

    let e = c
        .copy_object(&CopyObjectRequest {
            source: obj("src/nothing-here"),
            destination: obj("d2"),
            directive: MetadataDirective::Copy,
            headers: ObjectHeaders::default(),
            conditions: CopySourceConditions::default(),
        })
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

#[tokio::test]
async fn temporary_credentials_send_the_token() {
    let s = server(&["--credentials", "AKIDtemp:tempkey:tok+/=en"]).await;
    let with_token = Credentials {
        secret_id: "AKIDtemp".into(),
        secret_key: Secret::new("tempkey"),
        token: Some(Secret::new("tok+/=en")),
    };
    let c = client_with(&s, with_token.clone());
    assert_eq!(c.list_buckets().await.unwrap().len(), 2);
    let without = Credentials {
        token: None,
        ..with_token
    };
    let e = client_with(&s, without).list_buckets().await.unwrap_err();
    assert_eq!(e.status(), Some(403), "{e}");
}

#[tokio::test]
async fn endpoint_override_keeps_the_canonical_host_and_reports_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.jsonl");
    let s = server(&["--access-log", log.to_str().unwrap()]).await;
    let records: Arc<Mutex<Vec<RequestRecord>>> = Arc::default();
    let sink = records.clone();
    let mut o = ClientOptions::new(common::credentials(&s));
    o.endpoint = Some(format!("{}/", s.endpoint()));
    o.observer = Some(Arc::new(move |r| sink.lock().unwrap().push(r)));
    let c = CosClient::new(o).unwrap();
    // A key whose first segment would be taken for a bucket on path-style routing.
    let key = "media-1250000000/nested/k";
    c.put_object(
        &obj(key),
        Bytes::from_static(b"abc"),
        &ObjectHeaders::default(),
    )
    .await
    .unwrap();
    c.head_object(&obj(key)).await.unwrap();
    let _ = c.head_object(&obj("absent")).await.unwrap_err();
    let recs = records.lock().unwrap().clone();
    assert_eq!(
        recs.iter().map(|r| (r.op, r.status)).collect::<Vec<_>>(),
        vec![
            (Op::PutObject, Some(200)),
            (Op::HeadObject, Some(200)),
            (Op::HeadObject, Some(404)),
        ]
    );
    assert_eq!(recs[2].code.as_deref(), Some("NoSuchKey"));
    assert_eq!(recs[0].resource, format!("cos://{BUCKET}/{key}"));
    assert!(recs.iter().all(|r| r.request_id.is_some()));
    drop(c);
    s.shutdown().await;
    let text = std::fs::read_to_string(&log).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["bucket"], BUCKET);
    assert_eq!(first["key"], key);
}

// ---- `haul ls` as a process ----

fn haul(server_endpoint: &str, creds: &(String, String), args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_haul"))
        .args(["--endpoint", server_endpoint])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("TENCENTCLOUD_SECRET_ID", &creds.0)
        .env("TENCENTCLOUD_SECRET_KEY", &creds.1)
        .output()
        .expect("the haul binary runs")
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haul_ls_lists_buckets_and_objects() {
    let s = server(&[
        "--object",
        "cos://media-1250000000/src/dir/a b.txt=5",
        "--object",
        "cos://media-1250000000/many/k1=1",
        "--object",
        "cos://media-1250000000/many/k2=1",
        "--object",
        "cos://media-1250000000/many/k3=1",
        "--object",
        "cos://media-1250000000/many/k4=1",
        "--object",
        "cos://media-1250000000/many/sub/k5=1",
    ])
    .await;
    let ep = s.endpoint();
    let cr = s.credentials[0].clone();

    let out = tokio::task::spawn_blocking({
        let (ep, cr) = (ep.clone(), cr.clone());
        move || haul(&ep, &cr, &["ls"])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(BUCKET) && text.contains("ap-shanghai"),
        "{text}"
    );

    let out = tokio::task::spawn_blocking({
        let (ep, cr) = (ep.clone(), cr.clone());
        move || haul(&ep, &cr, &["ls", "--json", "cos://media-1250000000/src/"])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.contains(&serde_json::json!({"prefix": "src/dir/"})),
        "{lines:?}"
    );
    let obj = lines
        .iter()
        .find(|l| l["key"] == "src/three-mib.bin")
        .expect("the object is listed");
    assert_eq!(obj["size"], 3 * MIB);
    assert_eq!(obj["storage_class"], "STANDARD");
    assert!(obj["etag"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(obj["last_modified"].as_str().is_some());

    // Pagination is followed to the end, two entries a request.
    let out = tokio::task::spawn_blocking({
        let (ep, cr) = (ep.clone(), cr.clone());
        move || {
            haul(
                &ep,
                &cr,
                &[
                    "ls",
                    "--json",
                    "--page-size",
                    "2",
                    "cos://media-1250000000/many/",
                ],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed: Vec<String> = stdout(&out)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.get("key")
                .or_else(|| v.get("prefix"))
                .and_then(|k| k.as_str())
                .unwrap()
                .to_string()
        })
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec!["many/k1", "many/k2", "many/k3", "many/k4", "many/sub/"],
        "{listed:?}"
    );

    // A bucket in another region is found through GET Service.
    let out = tokio::task::spawn_blocking({
        let (ep, cr) = (ep.clone(), cr.clone());
        move || haul(&ep, &cr, &["ls", "cos://logs-1250000000/2024/"])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("2024/app.log"), "{}", stdout(&out));

    let out = tokio::task::spawn_blocking({
        let (ep, cr) = (ep.clone(), cr.clone());
        move || {
            haul(
                &ep,
                &cr,
                &["ls", "--json", "cos://media-1250000000/src/dir/"],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(
        stdout(&out).trim(),
        format!(
            "{}",
            serde_json::from_str::<serde_json::Value>(stdout(&out).trim()).unwrap()
        )
    );
    assert!(
        stdout(&out).contains("\"key\":\"src/dir/a b.txt\""),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haul_ls_failures_have_their_own_message_and_exit_code() {
    let s = server(&[]).await;
    let ep = s.endpoint();
    let cr = s.credentials[0].clone();
    let run = |args: Vec<&'static str>, ep: String, cr: (String, String)| {
        tokio::task::spawn_blocking(move || haul(&ep, &cr, &args))
    };

    let out = run(
        vec!["ls", "cos://missing-1250000000/"],
        ep.clone(),
        cr.clone(),
    )
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("haul: ")
            && err.contains("missing-1250000000")
            && err.contains("does not exist"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let bad = (cr.0.clone(), "wrong-secret".to_string());
    let out = run(vec!["ls"], ep.clone(), bad).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("SignatureDoesNotMatch") && err.contains("TENCENTCLOUD_SECRET_KEY"),
        "{err}"
    );
    assert!(!err.contains("wrong-secret"), "{err}");

    let out = run(vec!["ls", "cos://NoAppId/x"], ep.clone(), cr.clone())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("NAME-APPID"), "{}", stderr(&out));

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let out = run(vec!["ls"], closed.clone(), cr.clone()).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("cannot reach") && err.contains(&closed),
        "{err}"
    );

    let out = run(vec!["ls"], "ftp://x".into(), cr.clone()).await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--endpoint"), "{}", stderr(&out));

    let out = run(vec!["ls"], ep.clone(), (String::new(), String::new()))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("TENCENTCLOUD_SECRET_ID"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn clock_skew_is_reported_with_the_server_date_and_corrected() {
    let s = server(&[]).await;
    let c = client(&s);
    c.correct_clock(std::time::SystemTime::now() + std::time::Duration::from_secs(2 * 3600));
    let e = c.list_buckets().await.unwrap_err();
    assert!(e.is_clock_skew(), "{e}");
    let server_date = e.server_date().expect("COS errors carry the server's Date");
    c.correct_clock(server_date);
    assert!(
        c.clock_offset_secs().abs() <= 2,
        "{}",
        c.clock_offset_secs()
    );
    assert_eq!(c.list_buckets().await.unwrap().len(), 2);
}

#[tokio::test]
async fn errors_inside_200_are_service_errors_marked_in_200() {
    let s = server(&["--fault-rate", "1", "--faults", "error200"]).await;
    let c = client(&s);
    let dst = obj("dst/faulty.bin");
    let id = c
        .initiate_multipart(&dst, &ObjectHeaders::default())
        .await
        .unwrap();
    let e = c
        .upload_part_copy(&UploadPartCopyRequest {
            destination: dst.clone(),
            upload_id: id.clone(),
            part_number: 1,
            source: obj("src/three-mib.bin"),
            range: None,
            conditions: CopySourceConditions::default(),
        })
        .await
        .unwrap_err();
    match &e {
        haul::store::Error::Service(se) => {
            assert!(se.in_200, "{e}");
            assert_eq!((se.status, se.code.as_str()), (200, "InternalError"));
            assert!(se.request_id.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert!(e.is_transient());
    // Complete streams its answer; the error arrives at the end of a 200.
    let e = c
        .complete_multipart(
            &dst,
            &id,
            &[CompletedPart {
                part_number: 1,
                etag: "0123".into(),
            }],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, haul::store::Error::Service(se) if se.in_200 && se.op == Op::CompleteMultipartUpload),
        "{e:?}"
    );
    let e = c
        .copy_object(&CopyObjectRequest {
            source: obj("src/three-mib.bin"),
            destination: obj("dst/simple.bin"),
            directive: MetadataDirective::Copy,
            headers: ObjectHeaders::default(),
            conditions: CopySourceConditions::default(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&e, haul::store::Error::Service(se) if se.in_200 && se.op == Op::PutObjectCopy),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haul_uploads_abort_names_a_missing_upload_and_aborts_a_real_one() {
    let s = server(&[]).await;
    let c = client(&s);
    let dst = obj("up/kept.bin");
    let id = c
        .initiate_multipart(&dst, &ObjectHeaders::default())
        .await
        .unwrap();
    let (ep, cr) = (s.endpoint(), s.credentials[0].clone());
    let abort = |upload: String| {
        let (ep, cr) = (ep.clone(), cr.clone());
        tokio::task::spawn_blocking(move || {
            haul(
                &ep,
                &cr,
                &[
                    "uploads",
                    "abort",
                    "cos://media-1250000000/up/",
                    "--upload-id",
                    &upload,
                    "--yes",
                ],
            )
        })
    };

    let out = abort("not-an-upload".into()).await.unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out)
            .contains("no incomplete upload not-an-upload under cos://media-1250000000/up/"),
        "{}",
        stderr(&out)
    );
    let left = c
        .list_multipart_uploads(&bucket(), REGION, &ListUploadsRequest::default())
        .await
        .unwrap();
    assert_eq!(left.uploads.len(), 1, "the real upload is untouched");

    let out = abort(id.clone()).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("aborted 1 upload(s)"),
        "{}",
        stdout(&out)
    );
    let e = c.list_parts(&dst, &id, None, None).await.unwrap_err();
    assert_eq!(e.code(), Some("NoSuchUpload"), "{e}");
}

/// The largest legitimate listings (1,000 entries of 850-byte keys that URL-encode to three
/// times their length) fit the client's answer cap with room to spare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_pages_of_the_longest_keys_fit_the_answer_cap() {
    let s = server(&[]).await;
    let c = Arc::new(client(&s));
    // "long/NNNN" + 420 × "é" (2 bytes each, "%C3%A9" encoded) = 849 bytes.
    let keys: Vec<String> = (0..1000)
        .map(|i| format!("long/{i:04}{}", "é".repeat(420)))
        .collect();
    assert!(keys.iter().all(|k| k.len() <= 850));
    for chunk in keys.chunks(50) {
        let puts = chunk.iter().map(|k| {
            let c = c.clone();
            let k = k.clone();
            async move {
                c.put_object(
                    &obj(&k),
                    Bytes::from_static(b"x"),
                    &ObjectHeaders::default(),
                )
                .await
                .unwrap();
                c.initiate_multipart(&obj(&k), &ObjectHeaders::default())
                    .await
                    .unwrap();
            }
        });
        futures::future::join_all(puts).await;
    }
    let page = c
        .list_objects(
            &bucket(),
            REGION,
            &ListObjectsRequest {
                prefix: "long/".into(),
                max_keys: Some(1000),
                ..ListObjectsRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.objects.len(), 1000);
    assert_eq!(page.objects[999].key, keys[999]);
    let uploads = c
        .list_multipart_uploads(
            &bucket(),
            REGION,
            &ListUploadsRequest {
                prefix: "long/".into(),
                max_uploads: Some(1000),
                ..ListUploadsRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(uploads.uploads.len(), 1000);
    // How big those answers are on the wire, against the cap.
    let raw = common::Cos::new(&s)
        .obj("GET", BUCKET, REGION, "")
        .q("prefix", "long/")
        .q("max-keys", "1000")
        .q("encoding-type", "url")
        .send()
        .await;
    assert_eq!(raw.status, 200);
    let cap = haul::store::client::ANSWER_CAP as usize;
    eprintln!(
        "ListObjects page of 1,000 longest keys: {} bytes (cap {cap})",
        raw.bytes.len()
    );
    assert!(raw.bytes.len() > 2_500_000, "{}", raw.bytes.len());
    assert!(raw.bytes.len() < cap / 2, "{}", raw.bytes.len());
    s.shutdown().await;
}
