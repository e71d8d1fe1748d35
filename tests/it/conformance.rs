//! One `ObjectStore` conformance suite run against both backends the tests use: the
//! in-process double (`engine::testing::MemStore`, what the engine's unit tests and benches
//! run on) and `CosClient` talking to `haul serve` on 127.0.0.1 (what COS does). The same case
//! must give the same answer on both, so the double cannot drift from COS: where they
//! disagree, the double is the one to fix.
//!
//! Each backend's own setup hook creates the bucket (`MemStore::add_bucket`, `--bucket`);
//! everything else a case needs is created through the store itself.

use crate::common;

use std::sync::Arc;

use bytes::Bytes;
use haul::engine::testing::MemStore;
use haul::server::ServerHandle;
use haul::store::client::{ClientOptions, CosClient};
use haul::store::{
    BucketName, ByteRange, CompletedPart, CopyObjectRequest, CopySourceConditions, Error,
    ListObjectsRequest, ListUploadsRequest, MetadataDirective, ObjectHeaders, ObjectRef,
    ObjectStore, UploadPartCopyRequest,
};

const MIB: u64 = 1024 * 1024;
const BUCKET: &str = common::GZ_BUCKET;
const REGION: &str = common::GZ;

fn bucket() -> BucketName {
    BucketName::parse(BUCKET).expect("test bucket name")
}

fn obj(key: &str) -> ObjectRef {
    ObjectRef::new(bucket(), REGION, key)
}

/// A store under test, and whatever keeps its backend alive.
struct Backend {
    store: Arc<dyn ObjectStore>,
    _server: Option<ServerHandle>,
}

fn mem_store() -> Backend {
    let m = MemStore::new();
    m.add_bucket(BUCKET, REGION);
    Backend {
        store: m,
        _server: None,
    }
}

async fn cos_on_serve() -> Backend {
    let server = common::start_server(common::serve_args()).await;
    let mut o = ClientOptions::new(common::credentials(&server));
    o.endpoint = Some(server.endpoint());
    let client = CosClient::new(o).expect("client for the test server");
    Backend {
        store: Arc::new(client),
        _server: Some(server),
    }
}

/// Puts `size` bytes at `key` through the store and returns the object's ETag.
async fn put(s: &dyn ObjectStore, key: &str, size: u64) -> String {
    let body = Bytes::from(vec![b'x'; size as usize]);
    s.put_object(&obj(key), body, &ObjectHeaders::default())
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e}"))
        .etag
}

/// The error's status and code, to compare on both backends.
fn service(e: &Error) -> (Option<u16>, Option<&str>) {
    (e.status(), e.code())
}

async fn head_bucket_finds_the_bucket_and_reports_a_missing_one_as_not_found(s: &dyn ObjectStore) {
    assert_eq!(s.head_bucket(&bucket(), REGION).await.unwrap(), REGION);
    let missing = BucketName::parse("missing-1250000000").unwrap();
    let e = s.head_bucket(&missing, REGION).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.status(), Some(404), "{e}");
}

async fn head_object_reports_size_and_etag_and_a_missing_key_as_not_found(s: &dyn ObjectStore) {
    let etag = put(s, "head/one", 10).await;
    let meta = s.head_object(&obj("head/one")).await.unwrap();
    assert_eq!((meta.size, meta.etag), (10, etag));
    let e = s.head_object(&obj("head/missing")).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.status(), Some(404), "{e}");
}

async fn list_objects_pages_with_marker_and_max_keys(s: &dyn ObjectStore) {
    for k in ["page/a", "page/b", "page/c", "page/d", "page/e"] {
        put(s, k, 1).await;
    }
    put(s, "pagination-outside-prefix", 1).await;
    let mut req = ListObjectsRequest {
        prefix: "page/".into(),
        max_keys: Some(2),
        ..Default::default()
    };
    let mut pages = Vec::new();
    loop {
        let page = s.list_objects(&bucket(), REGION, &req).await.unwrap();
        let keys: Vec<String> = page.objects.iter().map(|o| o.key.clone()).collect();
        pages.push((keys.clone(), page.is_truncated));
        if !page.is_truncated {
            break;
        }
        assert_eq!(
            page.next_marker.as_ref(),
            keys.last(),
            "NextMarker is the last key"
        );
        req.marker = page.next_marker;
        assert!(pages.len() < 10, "paging does not end: {pages:?}");
    }
    let k = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        pages,
        [
            (k(&["page/a", "page/b"]), true),
            (k(&["page/c", "page/d"]), true),
            (k(&["page/e"]), false),
        ]
    );
}

fn copy_request(src: &str, dst: &str, if_match: Option<String>) -> CopyObjectRequest {
    CopyObjectRequest {
        source: obj(src),
        destination: obj(dst),
        directive: MetadataDirective::Copy,
        headers: ObjectHeaders::default(),
        conditions: CopySourceConditions {
            if_match,
            ..Default::default()
        },
    }
}

async fn copy_object_honours_if_match_and_refuses_a_stale_etag_with_412(s: &dyn ObjectStore) {
    let etag = put(s, "copy/src", 100).await;
    let r = s
        .copy_object(&copy_request("copy/src", "copy/dst", Some(etag.clone())))
        .await
        .unwrap();
    assert_eq!(r.etag, etag, "a copy of a simple object keeps its ETag");
    assert_eq!(s.head_object(&obj("copy/dst")).await.unwrap().size, 100);

    let stale = "0123456789abcdef0123456789abcdef".to_string();
    let e = s
        .copy_object(&copy_request("copy/src", "copy/stale", Some(stale)))
        .await
        .unwrap_err();
    assert_eq!(service(&e), (Some(412), Some("PreconditionFailed")), "{e}");
    let e = s.head_object(&obj("copy/stale")).await.unwrap_err();
    assert!(e.is_not_found(), "a refused copy writes nothing: {e}");
}

fn part_copy(upload_id: &str, n: u32, src: &str, first: u64, last: u64) -> UploadPartCopyRequest {
    UploadPartCopyRequest {
        destination: obj("mp/dst"),
        upload_id: upload_id.into(),
        part_number: n,
        source: obj(src),
        range: Some(ByteRange { first, last }),
        conditions: CopySourceConditions::default(),
    }
}

async fn multipart_copy_lists_its_parts_and_completes_into_one_object(s: &dyn ObjectStore) {
    put(s, "mp/src", 3 * MIB).await;
    let id = s
        .initiate_multipart(&obj("mp/dst"), &ObjectHeaders::default())
        .await
        .unwrap();
    let p1 = s
        .upload_part_copy(&part_copy(&id, 1, "mp/src", 0, 2 * MIB - 1))
        .await
        .unwrap();
    let p2 = s
        .upload_part_copy(&part_copy(&id, 2, "mp/src", 2 * MIB, 3 * MIB - 1))
        .await
        .unwrap();

    let all = s.list_parts(&obj("mp/dst"), &id, None, None).await.unwrap();
    let listed: Vec<(u32, String, u64)> = all
        .parts
        .iter()
        .map(|p| (p.part_number, p.etag.clone(), p.size))
        .collect();
    assert_eq!(
        listed,
        [(1, p1.etag.clone(), 2 * MIB), (2, p2.etag.clone(), MIB)]
    );
    assert!(!all.is_truncated);
    let first = s
        .list_parts(&obj("mp/dst"), &id, None, Some(1))
        .await
        .unwrap();
    assert_eq!(
        (
            first.parts.len(),
            first.is_truncated,
            first.next_part_number_marker
        ),
        (1, true, Some(1))
    );
    let rest = s
        .list_parts(&obj("mp/dst"), &id, Some(1), Some(1))
        .await
        .unwrap();
    assert_eq!(
        rest.parts.iter().map(|p| p.part_number).collect::<Vec<_>>(),
        [2]
    );
    assert!(!rest.is_truncated);

    let parts = [
        CompletedPart {
            part_number: 1,
            etag: p1.etag,
        },
        CompletedPart {
            part_number: 2,
            etag: p2.etag,
        },
    ];
    let done = s
        .complete_multipart(&obj("mp/dst"), &id, &parts)
        .await
        .unwrap();
    assert!(done.etag.ends_with("-2"), "multipart ETag: {}", done.etag);
    let meta = s.head_object(&obj("mp/dst")).await.unwrap();
    assert_eq!((meta.size, meta.etag), (3 * MIB, done.etag));
    let e = s
        .list_parts(&obj("mp/dst"), &id, None, None)
        .await
        .unwrap_err();
    assert_eq!(
        service(&e),
        (Some(404), Some("NoSuchUpload")),
        "a completed upload is gone: {e}"
    );
}

async fn abort_removes_the_upload_and_a_second_abort_is_no_such_upload(s: &dyn ObjectStore) {
    let id = s
        .initiate_multipart(&obj("abort/k"), &ObjectHeaders::default())
        .await
        .unwrap();
    s.abort_multipart(&obj("abort/k"), &id).await.unwrap();
    let e = s.abort_multipart(&obj("abort/k"), &id).await.unwrap_err();
    assert_eq!(service(&e), (Some(404), Some("NoSuchUpload")), "{e}");
    let e = s
        .list_parts(&obj("abort/k"), &id, None, None)
        .await
        .unwrap_err();
    assert_eq!(service(&e), (Some(404), Some("NoSuchUpload")), "{e}");
}

async fn list_multipart_uploads_shows_the_incomplete_uploads_under_a_prefix(s: &dyn ObjectStore) {
    let a = s
        .initiate_multipart(&obj("up/a"), &ObjectHeaders::default())
        .await
        .unwrap();
    let b = s
        .initiate_multipart(&obj("up/b"), &ObjectHeaders::default())
        .await
        .unwrap();
    s.initiate_multipart(&obj("other/c"), &ObjectHeaders::default())
        .await
        .unwrap();
    let req = ListUploadsRequest {
        prefix: "up/".into(),
        ..Default::default()
    };
    let page = s
        .list_multipart_uploads(&bucket(), REGION, &req)
        .await
        .unwrap();
    let got: Vec<(String, String)> = page
        .uploads
        .iter()
        .map(|u| (u.key.clone(), u.upload_id.clone()))
        .collect();
    assert_eq!(got, [("up/a".to_string(), a), ("up/b".to_string(), b)]);
    assert!(!page.is_truncated);
}

async fn an_unknown_upload_id_is_no_such_upload_everywhere(s: &dyn ObjectStore) {
    put(s, "unknown/src", MIB).await;
    let id = "0000000000000000unknown";
    let e = s
        .upload_part_copy(&part_copy(id, 1, "unknown/src", 0, MIB - 1))
        .await
        .unwrap_err();
    assert_eq!(service(&e), (Some(404), Some("NoSuchUpload")), "{e}");
    let e = s
        .list_parts(&obj("mp/dst"), id, None, None)
        .await
        .unwrap_err();
    assert_eq!(service(&e), (Some(404), Some("NoSuchUpload")), "{e}");
    let parts = [CompletedPart {
        part_number: 1,
        etag: "0123456789abcdef0123456789abcdef".into(),
    }];
    let e = s
        .complete_multipart(&obj("mp/dst"), id, &parts)
        .await
        .unwrap_err();
    assert_eq!(service(&e), (Some(404), Some("NoSuchUpload")), "{e}");
    let e = s.abort_multipart(&obj("mp/dst"), id).await.unwrap_err();
    assert_eq!(service(&e), (Some(404), Some("NoSuchUpload")), "{e}");
}

async fn an_upload_id_names_one_key_and_under_another_is_no_such_upload(s: &dyn ObjectStore) {
    put(s, "owner/src", MIB).await;
    let id = s
        .initiate_multipart(&obj("mp/dst"), &ObjectHeaders::default())
        .await
        .unwrap();
    let mut wrong = part_copy(&id, 1, "owner/src", 0, MIB - 1);
    wrong.destination = obj("owner/elsewhere");
    let e = s.upload_part_copy(&wrong).await.unwrap_err();
    assert_eq!(service(&e), (Some(404), Some("NoSuchUpload")), "{e}");
    let e = s
        .list_parts(&obj("owner/elsewhere"), &id, None, None)
        .await
        .unwrap_err();
    assert_eq!(service(&e), (Some(404), Some("NoSuchUpload")), "{e}");
    let e = s
        .abort_multipart(&obj("owner/elsewhere"), &id)
        .await
        .unwrap_err();
    assert_eq!(service(&e), (Some(404), Some("NoSuchUpload")), "{e}");
    // Nothing above touched the upload under its own key.
    s.abort_multipart(&obj("mp/dst"), &id).await.unwrap();
}

async fn list_multipart_uploads_pages_with_max_uploads_and_markers(s: &dyn ObjectStore) {
    let mut want = Vec::new();
    for k in ["pg/a", "pg/b", "pg/c"] {
        let id = s
            .initiate_multipart(&obj(k), &ObjectHeaders::default())
            .await
            .unwrap();
        want.push((k.to_string(), id));
    }
    let mut req = ListUploadsRequest {
        prefix: "pg/".into(),
        max_uploads: Some(2),
        ..Default::default()
    };
    let mut got = Vec::new();
    let mut truncated = Vec::new();
    loop {
        let page = s
            .list_multipart_uploads(&bucket(), REGION, &req)
            .await
            .unwrap();
        got.extend(
            page.uploads
                .iter()
                .map(|u| (u.key.clone(), u.upload_id.clone())),
        );
        truncated.push(page.is_truncated);
        if !page.is_truncated {
            break;
        }
        req.key_marker = page.next_key_marker;
        req.upload_id_marker = page.next_upload_id_marker;
        assert!(truncated.len() < 10, "paging does not end: {got:?}");
    }
    assert_eq!(got, want);
    assert_eq!(truncated, [true, false]);
}

/// The two tests: every case, each on a fresh backend.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        #[tokio::test]
        async fn the_test_double_behaves_as_cos_does() {
            $( $case(mem_store().store.as_ref()).await; )*
        }

        #[tokio::test]
        async fn cos_client_on_haul_serve_passes_the_same_cases() {
            $( $case(cos_on_serve().await.store.as_ref()).await; )*
        }
    };
}

on_both_backends!(
    head_bucket_finds_the_bucket_and_reports_a_missing_one_as_not_found,
    head_object_reports_size_and_etag_and_a_missing_key_as_not_found,
    list_objects_pages_with_marker_and_max_keys,
    copy_object_honours_if_match_and_refuses_a_stale_etag_with_412,
    multipart_copy_lists_its_parts_and_completes_into_one_object,
    abort_removes_the_upload_and_a_second_abort_is_no_such_upload,
    list_multipart_uploads_shows_the_incomplete_uploads_under_a_prefix,
    an_unknown_upload_id_is_no_such_upload_everywhere,
    an_upload_id_names_one_key_and_under_another_is_no_such_upload,
    list_multipart_uploads_pages_with_max_uploads_and_markers,
);
