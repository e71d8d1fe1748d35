use super::*;
use crate::store::encode::percent_decode;

fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigv4")
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One case of the AWS suite: `request.txt` split into method, decoded path, decoded query,
/// headers and body.
struct SuiteRequest {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: String,
}

fn parse_suite_request(text: &str) -> SuiteRequest {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().expect("a request line");
    let (method, rest) = request_line.split_once(' ').expect("method then target");
    let target = rest.strip_suffix(" HTTP/1.1").expect("HTTP/1.1 request");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').expect("Name:value header");
            (n.to_string(), v.to_string())
        })
        .collect();
    SuiteRequest {
        method: method.to_string(),
        path: percent_decode(path),
        query,
        headers,
        body: body.to_string(),
    }
}

fn read(dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display()))
}

#[test]
fn aws_suite_cases_that_apply_to_s3_give_the_published_signatures() {
    let suite = data_dir().join("aws-suite");
    let mut cases: Vec<_> = std::fs::read_dir(&suite)
        .expect("tests/data/sigv4/aws-suite exists")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 25, "the suite's S3 cases are all there");
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let context: serde_json::Value =
            serde_json::from_str(&read(dir, "context.json")).expect("context.json is JSON");
        let creds = &context["credentials"];
        let secret = creds["secret_access_key"].as_str().unwrap();
        let access = creds["access_key_id"].as_str().unwrap();
        let ts = context["timestamp"].as_str().unwrap();
        let unix = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp();
        let date = amz_date(unix);
        let req = parse_suite_request(&read(dir, "request.txt"));

        let payload_hash = sha256_hex(req.body.as_bytes());
        let mut headers = req.headers.clone();
        headers.push((HEADER_DATE.into(), date.clone()));
        if let Some(token) = creds["token"].as_str() {
            headers.push((HEADER_SECURITY_TOKEN.into(), token.into()));
        }
        if context["sign_body"].as_bool() == Some(true) {
            headers.push((HEADER_CONTENT_SHA256.into(), payload_hash.clone()));
        }
        let scope = Scope::new(
            &date,
            context["region"].as_str().unwrap(),
            context["service"].as_str().unwrap(),
        );
        let key = SigningKey::derive(secret, &scope);
        let signed = sign(
            &Request {
                method: &req.method,
                path: &req.path,
                query: &req.query,
                headers: &headers,
                payload_hash: &payload_hash,
            },
            access,
            &key,
            &date,
        );
        assert_eq!(
            signed.canonical_request,
            read(dir, "header-canonical-request.txt"),
            "{name}: canonical request"
        );
        assert_eq!(
            signed.string_to_sign,
            read(dir, "header-string-to-sign.txt"),
            "{name}: string to sign"
        );
        assert_eq!(
            signed.signature,
            read(dir, "header-signature.txt").trim(),
            "{name}: signature"
        );
        let expected_auth = read(dir, "header-signed-request.txt")
            .lines()
            .find_map(|l| l.strip_prefix("Authorization:").map(str::to_string))
            .expect("the signed request has an Authorization line");
        assert_eq!(signed.authorization, expected_auth, "{name}: Authorization");
    }
}

struct Vector {
    name: String,
    v: serde_json::Value,
}

fn botocore_vectors() -> Vec<Vector> {
    let all: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data_dir().join("botocore.json")).expect("botocore.json"),
    )
    .expect("botocore.json is JSON");
    all["vectors"]
        .as_array()
        .expect("a vectors list")
        .iter()
        .map(|v| Vector {
            name: v["name"].as_str().unwrap().to_string(),
            v: v.clone(),
        })
        .collect()
}

fn str_pairs(v: &serde_json::Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every header botocore sent, plus the host it signed from the URL.
fn sent_headers(v: &serde_json::Value) -> Vec<(String, String)> {
    let mut h = str_pairs(&v["headers"]);
    h.push(("host".into(), v["host"].as_str().unwrap().into()));
    h
}

#[test]
fn botocore_s3_vectors_sign_identically() {
    let vectors = botocore_vectors();
    assert!(vectors.len() >= 10);
    for Vector { name, v } in &vectors {
        let auth = parse_authorization(v["authorization"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let all = sent_headers(v);
        let headers: Vec<(String, String)> = all
            .iter()
            .filter(|(n, _)| auth.signed_headers.contains(n))
            .cloned()
            .collect();
        let date = v["amz_date"].as_str().unwrap();
        let payload_hash = v["payload_hash"].as_str().unwrap();
        if payload_hash != UNSIGNED_PAYLOAD {
            assert_eq!(
                payload_hash,
                sha256_hex(v["body"].as_str().unwrap().as_bytes()),
                "{name}: payload hash"
            );
        }
        let query = str_pairs(&v["query"]);
        let key = SigningKey::derive(
            v["secret_access_key"].as_str().unwrap(),
            &Scope::new(date, v["region"].as_str().unwrap(), "s3"),
        );
        let signed = sign(
            &Request {
                method: v["method"].as_str().unwrap(),
                path: v["path"].as_str().unwrap(),
                query: &query,
                headers: &headers,
                payload_hash,
            },
            v["access_key_id"].as_str().unwrap(),
            &key,
            date,
        );
        assert_eq!(
            signed.canonical_request,
            v["canonical_request"].as_str().unwrap(),
            "{name}: canonical request"
        );
        assert_eq!(
            signed.string_to_sign,
            v["string_to_sign"].as_str().unwrap(),
            "{name}: string to sign"
        );
        assert_eq!(
            signed.authorization,
            v["authorization"].as_str().unwrap(),
            "{name}: Authorization"
        );
    }
}

#[test]
fn standard_headers_sign_a_session_token_like_botocore() {
    let v = botocore_vectors()
        .into_iter()
        .find(|v| v.name == "session-token")
        .expect("a session-token vector")
        .v;
    let date = v["amz_date"].as_str().unwrap();
    let headers = standard_headers(
        v["host"].as_str().unwrap(),
        date,
        v["payload_hash"].as_str().unwrap(),
        v["session_token"].as_str(),
    );
    let key = SigningKey::derive(
        v["secret_access_key"].as_str().unwrap(),
        &Scope::new(date, "us-east-1", "s3"),
    );
    let signed = sign(
        &Request {
            method: "GET",
            path: v["path"].as_str().unwrap(),
            query: &[],
            headers: &headers,
            payload_hash: v["payload_hash"].as_str().unwrap(),
        },
        v["access_key_id"].as_str().unwrap(),
        &key,
        date,
    );
    assert!(signed.signed_headers.contains("x-amz-security-token"));
    assert_eq!(signed.authorization, v["authorization"].as_str().unwrap());
}

fn incoming<'a>(
    v: &'a serde_json::Value,
    query: &'a [(String, String)],
    headers: &'a [(String, String)],
) -> Incoming<'a> {
    Incoming {
        method: v["method"].as_str().unwrap(),
        path: v["path"].as_str().unwrap(),
        query,
        headers,
        payload_hash: v["payload_hash"].as_str().unwrap(),
    }
}

#[test]
fn a_server_verifies_every_botocore_request_and_rejects_a_wrong_secret_or_changed_request() {
    for Vector { name, v } in botocore_vectors() {
        let auth = parse_authorization(v["authorization"].as_str().unwrap()).unwrap();
        let mut headers = sent_headers(&v);
        // Unsigned headers a proxy or client may add do not matter.
        headers.push(("User-Agent".into(), "aws-cli/2".into()));
        let query = str_pairs(&v["query"]);
        let secret = v["secret_access_key"].as_str().unwrap();
        let ok = verify(&auth, &incoming(&v, &query, &headers), secret);
        assert!(ok.is_ok(), "{name}: {ok:?}");

        assert_eq!(
            verify(&auth, &incoming(&v, &query, &headers), "not-the-secret"),
            Err(AuthError::Mismatch),
            "{name}: wrong secret"
        );
        let mut other = incoming(&v, &query, &headers);
        let moved = format!("{}x", v["path"].as_str().unwrap());
        other.path = &moved;
        assert_eq!(
            verify(&auth, &other, secret),
            Err(AuthError::Mismatch),
            "{name}: another path"
        );
        let mut extra_query = query.clone();
        extra_query.push(("versionId".into(), "1".into()));
        assert_eq!(
            verify(&auth, &incoming(&v, &extra_query, &headers), secret),
            Err(AuthError::Mismatch),
            "{name}: another query"
        );
    }
}

#[test]
fn verify_names_a_signed_header_the_request_lacks() {
    let v = &botocore_vectors()[0].v;
    let auth = parse_authorization(v["authorization"].as_str().unwrap()).unwrap();
    let headers: Vec<_> = sent_headers(v)
        .into_iter()
        .filter(|(n, _)| n != "x-amz-content-sha256")
        .collect();
    assert_eq!(
        verify(&auth, &incoming(v, &[], &headers), "s"),
        Err(AuthError::MissingSignedHeader(
            "x-amz-content-sha256".into()
        ))
    );
}

#[test]
fn verify_refuses_a_date_outside_the_credential_day() {
    let v = &botocore_vectors()[0].v;
    let auth = parse_authorization(v["authorization"].as_str().unwrap()).unwrap();
    let headers: Vec<_> = sent_headers(v)
        .into_iter()
        .map(|(n, val)| {
            if n == "x-amz-date" {
                (n, "20261203T000001Z".to_string())
            } else {
                (n, val)
            }
        })
        .collect();
    assert!(matches!(
        verify(&auth, &incoming(v, &[], &headers), "s"),
        Err(AuthError::DateOutOfScope { .. })
    ));
}

#[test]
fn parse_authorization_splits_credential_scope_headers_and_signature() {
    let sig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    let a = parse_authorization(&format!(
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s3/aws4_request,SignedHeaders=Host;x-amz-date,Signature={sig}"
    ))
    .unwrap();
    assert_eq!(a.access_key_id, "AKID");
    assert_eq!(a.scope.to_string(), "20150830/us-east-1/s3/aws4_request");
    assert_eq!(a.signed_headers, vec!["host", "x-amz-date"]);
    assert_eq!(a.signature, sig);
}

#[test]
fn parse_authorization_refuses_malformed_headers_with_the_reason() {
    let sig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    let cases = [
        ("q-sign-algorithm=sha1&q-ak=x", AuthError::NotSigV4),
        ("AWS4-HMAC-SHA256X Credential=a", AuthError::NotSigV4),
        (
            "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host",
            AuthError::MissingPart("Signature"),
        ),
        (
            &*format!("AWS4-HMAC-SHA256 SignedHeaders=host, Signature={sig}"),
            AuthError::MissingPart("Credential"),
        ),
        (
            &*format!(
                "AWS4-HMAC-SHA256 Credential=A/2015-08-30/r/s/aws4_request, SignedHeaders=host, Signature={sig}"
            ),
            AuthError::BadCredential("A/2015-08-30/r/s/aws4_request".into()),
        ),
        (
            &*format!(
                "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws5_request, SignedHeaders=host, Signature={sig}"
            ),
            AuthError::BadCredential("A/20150830/r/s/aws5_request".into()),
        ),
        (
            &*format!(
                "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=x-amz-date, Signature={sig}"
            ),
            AuthError::HostNotSigned,
        ),
        (
            "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=ABC",
            AuthError::BadSignature("ABC".into()),
        ),
    ];
    for (value, want) in cases {
        assert_eq!(parse_authorization(value), Err(want), "{value}");
    }
}

#[test]
fn signing_key_matches_the_aws_documented_derivation() {
    // AWS documentation's worked example: 20120215/us-east-1/iam.
    let key = SigningKey::derive(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        &Scope::new("20120215T000000Z", "us-east-1", "iam"),
    );
    assert_eq!(
        hex::encode(key.key),
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    );
    assert!(
        !format!("{key:?}").contains("f4780e"),
        "Debug hides the key"
    );
}

#[test]
fn s3_paths_are_encoded_once_per_segment_and_never_normalised() {
    assert_eq!(canonical_uri("/b/a//./../c d"), "/b/a//./../c%20d");
    assert_eq!(canonical_uri("/b/a+b~c%"), "/b/a%2Bb~c%25");
    assert_eq!(canonical_uri(""), "/");
    assert_eq!(
        canonical_query(&pairs(&[("uploads", ""), ("a b", "c/d")])),
        "a%20b=c%2Fd&uploads="
    );
}

#[test]
fn amz_date_round_trips_and_rejects_other_shapes() {
    assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
    assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
    assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
    assert_eq!(parse_amz_date("20151330T123600Z"), None);
}
