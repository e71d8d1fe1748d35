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
        matches!(&e, Error::InvalidInput(m) if m.contains("provider = \"cos\"")),
        "{e}"
    );
}
