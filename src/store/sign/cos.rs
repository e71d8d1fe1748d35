//! COS request signatures (`q-sign-algorithm=sha1`, docs/architecture.md §5).
//!
//! Pure: no I/O, no clock (the caller passes the key time). The client signs with it and the
//! server verifies with it; the official SDK vectors in the tests keep both honest.

use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};

use crate::store::encode::cos_encode;

type HmacSha1 = Hmac<Sha1>;

/// The validity window of a signature, in Unix seconds: `start;end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyTime {
    pub start: i64,
    pub end: i64,
}

impl KeyTime {
    pub fn new(start: i64, end: i64) -> Self {
        Self { start, end }
    }

    /// Parses `"start;end"`.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, b) = s.split_once(';')?;
        Some(Self {
            start: a.trim().parse().ok()?,
            end: b.trim().parse().ok()?,
        })
    }
}

impl std::fmt::Display for KeyTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{};{}", self.start, self.end)
    }
}

fn hmac_sha1_hex(key: &[u8], msg: &[u8]) -> String {
    let mut mac = HmacSha1::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(msg);
    hex::encode(mac.finalize().into_bytes())
}

/// SignKey = hex(HMAC-SHA1(SecretKey, KeyTime)).
pub fn sign_key(secret_key: &str, key_time: &KeyTime) -> String {
    hmac_sha1_hex(secret_key.as_bytes(), key_time.to_string().as_bytes())
}

/// A canonical `k=v&k=v` list and its `k;k` name list, built from decoded pairs: names are
/// encoded then lowercased, values encoded, then sorted by name (docs/architecture.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CanonicalList {
    pub joined: String,
    pub names: String,
}

pub fn canonical_list<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> CanonicalList {
    let mut items: Vec<(String, String)> = pairs
        .into_iter()
        .map(|(k, v)| (cos_encode(k).to_lowercase(), cos_encode(v)))
        .collect();
    items.sort();
    // Built with push_str, not format!: every request signs two of these.
    let mut joined = String::with_capacity(items.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    let mut names = String::with_capacity(items.iter().map(|(k, _)| k.len() + 1).sum());
    for (i, (k, v)) in items.iter().enumerate() {
        if i > 0 {
            joined.push('&');
            names.push(';');
        }
        joined.push_str(k);
        joined.push('=');
        joined.push_str(v);
        names.push_str(k);
    }
    CanonicalList { joined, names }
}

/// What gets signed: method, the decoded key path (`/` + raw key, `/` for bucket requests),
/// the decoded query parameters and the headers chosen for signing.
#[derive(Debug, Clone)]
pub struct SignRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub params: &'a [(String, String)],
    pub headers: &'a [(String, String)],
}

/// Every intermediate of a signature, so tests and the server's error bodies can show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub http_string: String,
    pub string_to_sign: String,
    pub sign_key: String,
    pub signature: String,
    pub param_list: String,
    pub header_list: String,
}

pub fn http_string(req: &SignRequest<'_>) -> (String, CanonicalList, CanonicalList) {
    let params = canonical_list(req.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let headers = canonical_list(req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut s = String::with_capacity(
        req.method.len() + req.path.len() + params.joined.len() + headers.joined.len() + 4,
    );
    for part in [req.method, req.path, &params.joined, &headers.joined] {
        s.push_str(part);
        s.push('\n');
    }
    s[..req.method.len()].make_ascii_lowercase();
    (s, params, headers)
}

pub fn string_to_sign(key_time: &KeyTime, http_string: &str) -> String {
    let digest = hex::encode(Sha1::digest(http_string.as_bytes()));
    format!("sha1\n{key_time}\n{digest}\n")
}

/// Signs a request. The hex SignKey string (not its bytes) is the HMAC key, as in every SDK.
pub fn sign(secret_key: &str, key_time: &KeyTime, req: &SignRequest<'_>) -> Signed {
    let (http_string, params, headers) = http_string(req);
    let string_to_sign = string_to_sign(key_time, &http_string);
    let sign_key = sign_key(secret_key, key_time);
    let signature = hmac_sha1_hex(sign_key.as_bytes(), string_to_sign.as_bytes());
    Signed {
        http_string,
        string_to_sign,
        sign_key,
        signature,
        param_list: params.names,
        header_list: headers.names,
    }
}

/// The `Authorization` header value, fields in the order COS documents.
pub fn authorization(secret_id: &str, key_time: &KeyTime, signed: &Signed) -> String {
    format!(
        "q-sign-algorithm=sha1&q-ak={secret_id}&q-sign-time={key_time}&q-key-time={key_time}\
         &q-header-list={}&q-url-param-list={}&q-signature={}",
        signed.header_list, signed.param_list, signed.signature
    )
}

/// Whether a header is signed by haul's client: the ones COS's strict mode wants plus every
/// `x-cos-*` header (docs/architecture.md §5).
pub fn should_sign_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "host"
            | "content-type"
            | "content-length"
            | "content-md5"
            | "content-disposition"
            | "content-encoding"
            | "cache-control"
            | "expires"
            | "range"
            | "if-match"
            | "if-none-match"
            | "if-modified-since"
            | "if-unmodified-since"
    ) || n.starts_with("x-cos-")
}

/// A parsed `Authorization` header (server side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    pub algorithm: String,
    pub secret_id: String,
    pub sign_time: KeyTime,
    pub key_time: KeyTime,
    pub header_list: Vec<String>,
    pub param_list: Vec<String>,
    pub signature: String,
}

/// Parses `q-…=…&…`; `None` when a field is missing or malformed.
pub fn parse_authorization(value: &str) -> Option<ParsedAuthorization> {
    let mut get = std::collections::HashMap::new();
    for part in value.trim().split('&') {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        get.insert(k.trim(), v.trim());
    }
    let list = |s: &str| -> Vec<String> {
        s.split(';')
            .filter(|x| !x.is_empty())
            .map(|x| x.to_ascii_lowercase())
            .collect()
    };
    Some(ParsedAuthorization {
        algorithm: get.get("q-sign-algorithm")?.to_string(),
        secret_id: get.get("q-ak")?.to_string(),
        sign_time: KeyTime::parse(get.get("q-sign-time")?)?,
        key_time: KeyTime::parse(get.get("q-key-time")?)?,
        header_list: list(get.get("q-header-list").copied().unwrap_or("")),
        param_list: list(get.get("q-url-param-list").copied().unwrap_or("")),
        signature: get.get("q-signature")?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    const ID: &str = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q";
    const KEY: &str = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz";

    #[test]
    fn official_vector_a_put() {
        let kt = KeyTime::new(1557989151, 1557996351);
        let headers = pairs(&[
            ("Date", "Thu, 16 May 2019 06:45:51 GMT"),
            (
                "Host",
                "examplebucket-1250000000.cos.ap-beijing.myqcloud.com",
            ),
            ("Content-Type", "text/plain"),
            ("Content-Length", "13"),
            ("Content-MD5", "mQ/fVh815F3k6TAUm8m0eg=="),
            ("x-cos-acl", "private"),
            ("x-cos-grant-read", "uin=\"100000000011\""),
        ]);
        let req = SignRequest {
            method: "PUT",
            path: "/exampleobject(腾讯云)",
            params: &[],
            headers: &headers,
        };
        let s = sign(KEY, &kt, &req);
        assert_eq!(s.sign_key, "eb2519b498b02ac213cb1f3d1a3d27a3b3c9bc5f");
        assert_eq!(s.http_string, "put\n/exampleobject(腾讯云)\n\ncontent-length=13&content-md5=mQ%2FfVh815F3k6TAUm8m0eg%3D%3D&content-type=text%2Fplain&date=Thu%2C%2016%20May%202019%2006%3A45%3A51%20GMT&host=examplebucket-1250000000.cos.ap-beijing.myqcloud.com&x-cos-acl=private&x-cos-grant-read=uin%3D%22100000000011%22\n");
        assert_eq!(
            s.string_to_sign,
            "sha1\n1557989151;1557996351\n8b2751e77f43a0995d6e9eb9477f4b685cca4172\n"
        );
        assert_eq!(s.signature, "3b8851a11a569213c17ba8fa7dcf2abec6935172");
        assert_eq!(authorization(ID, &kt, &s), "q-sign-algorithm=sha1&q-ak=AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q&q-sign-time=1557989151;1557996351&q-key-time=1557989151;1557996351&q-header-list=content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read&q-url-param-list=&q-signature=3b8851a11a569213c17ba8fa7dcf2abec6935172");
    }

    #[test]
    fn official_vector_b_get_with_params() {
        let kt = KeyTime::new(1557989753, 1557996953);
        let headers = pairs(&[
            ("Date", "Thu, 16 May 2019 06:55:53 GMT"),
            (
                "Host",
                "examplebucket-1250000000.cos.ap-beijing.myqcloud.com",
            ),
        ]);
        let params = pairs(&[
            ("response-content-type", "application/octet-stream"),
            ("response-cache-control", "max-age=600"),
        ]);
        let req = SignRequest {
            method: "GET",
            path: "/exampleobject(腾讯云)",
            params: &params,
            headers: &headers,
        };
        let s = sign(KEY, &kt, &req);
        assert_eq!(s.sign_key, "937914bf490e9e8c189836aad2052e4feeb35eaf");
        assert!(s.http_string.contains("\nresponse-cache-control=max-age%3D600&response-content-type=application%2Foctet-stream\n"));
        assert_eq!(s.header_list, "date;host");
        assert_eq!(
            s.string_to_sign,
            "sha1\n1557989753;1557996953\n54ecfe22f59d3514fdc764b87a32d8133ea611e6\n"
        );
        assert_eq!(s.signature, "01681b8c9d798a678e43b685a9f1bba0f6c0e012");
    }

    #[test]
    fn official_vector_c_go_sdk() {
        let kt = KeyTime::new(1480932292, 1481012292);
        let headers = pairs(&[
            ("Host", "testbucket-125000000.cos.ap-guangzhou.myqcloud.com"),
            (
                "x-cos-content-sha1",
                "db8ac1c259eb89d4a131b253bacfca5f319d54f2",
            ),
            ("x-cos-stroage-class", "nearline"),
        ]);
        let req = SignRequest {
            method: "PUT",
            path: "/testfile2",
            params: &[],
            headers: &headers,
        };
        let s = sign("AKIDZfbOA78asKUYBcXFrJD0a1ICvR98JM", &kt, &req);
        assert_eq!(authorization("QmFzZTY0IGlzIGEgZ2VuZXJp", &kt, &s), "q-sign-algorithm=sha1&q-ak=QmFzZTY0IGlzIGEgZ2VuZXJp&q-sign-time=1480932292;1481012292&q-key-time=1480932292;1481012292&q-header-list=host;x-cos-content-sha1;x-cos-stroage-class&q-url-param-list=&q-signature=ce4ac0ecbcdb30538b3fee0a97cc6389694ce53a");
    }

    #[test]
    fn derived_vectors_d_e_f() {
        let kt = KeyTime::new(1557989151, 1557996351);
        let host = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com";
        let upload = "1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361";
        // D: Upload Part - Copy; the already-encoded copy source is encoded again.
        let headers = pairs(&[
            ("Host", host),
            ("x-cos-copy-source", "sourcebucket-1250000001.cos.ap-shanghai.myqcloud.com/src/example-%E8%85%BE%E8%AE%AF%E4%BA%91.jpg"),
            ("x-cos-copy-source-range", "bytes=0-8388607"),
        ]);
        let params = pairs(&[("partNumber", "1"), ("uploadId", upload)]);
        let d = sign(
            KEY,
            &kt,
            &SignRequest {
                method: "PUT",
                path: "/dest/目标 文件.bin",
                params: &params,
                headers: &headers,
            },
        );
        assert_eq!(d.http_string, format!("put\n/dest/目标 文件.bin\npartnumber=1&uploadid={upload}\nhost={host}&x-cos-copy-source=sourcebucket-1250000001.cos.ap-shanghai.myqcloud.com%2Fsrc%2Fexample-%25E8%2585%25BE%25E8%25AE%25AF%25E4%25BA%2591.jpg&x-cos-copy-source-range=bytes%3D0-8388607\n"));
        assert_eq!(d.param_list, "partnumber;uploadid");
        assert_eq!(d.signature, "1da54c1a316c63d4572088635637e90545b30ab9");
        // E: GET Bucket with an empty marker.
        let params = pairs(&[
            ("prefix", "example-folder/"),
            ("delimiter", "/"),
            ("max-keys", "1000"),
            ("marker", ""),
            ("encoding-type", "url"),
        ]);
        let headers = pairs(&[("Host", host)]);
        let e = sign(
            KEY,
            &kt,
            &SignRequest {
                method: "GET",
                path: "/",
                params: &params,
                headers: &headers,
            },
        );
        assert!(e.http_string.contains(
            "\ndelimiter=%2F&encoding-type=url&marker=&max-keys=1000&prefix=example-folder%2F\n"
        ));
        assert_eq!(e.signature, "789d4677b1c19df43afa938daa0f4131ceb14400");
        // F: Initiate with a temporary token.
        let params = pairs(&[("uploads", "")]);
        let headers = pairs(&[
            ("Host", host),
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", "0"),
            ("x-cos-security-token", "TOKEN+/=abc"),
        ]);
        let f = sign(
            KEY,
            &kt,
            &SignRequest {
                method: "POST",
                path: "/dest/big.bin",
                params: &params,
                headers: &headers,
            },
        );
        assert_eq!(
            f.header_list,
            "content-length;content-type;host;x-cos-security-token"
        );
        assert_eq!(f.signature, "5b7da03191fa8d4b20cc66521ab016d29e8cd2df");
    }

    /// The 15 requests signed by the official Python SDK (tests/data/cos-sign-sdk.json).
    #[test]
    fn python_sdk_vectors_match_every_intermediate() {
        let text = include_str!("../../../tests/data/cos-sign-sdk.json");
        let vectors: serde_json::Value = serde_json::from_str(text).unwrap();
        let vectors = vectors.as_array().unwrap();
        assert_eq!(vectors.len(), 15);
        for v in vectors {
            let name = v["name"].as_str().unwrap();
            let input = &v["input"];
            let key = input["key"].as_str().unwrap();
            let path = if key == "/" {
                "/".to_string()
            } else {
                format!("/{key}")
            };
            let url = reqwest::Url::parse(v["url"].as_str().unwrap()).unwrap();
            let host = url.host_str().unwrap().to_string();
            let mut headers = vec![("host".to_string(), host)];
            for (k, val) in input["headers"].as_object().unwrap() {
                if should_sign_header(k) {
                    headers.push((k.clone(), val.as_str().unwrap().to_string()));
                }
            }
            let params: Vec<(String, String)> = input["params"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let kt = KeyTime::new(
                input["start"].as_i64().unwrap(),
                input["end"].as_i64().unwrap(),
            );
            let s = sign(
                input["secret_key"].as_str().unwrap(),
                &kt,
                &SignRequest {
                    method: input["method"].as_str().unwrap(),
                    path: &path,
                    params: &params,
                    headers: &headers,
                },
            );
            assert_eq!(s.http_string, v["http_string"].as_str().unwrap(), "{name}");
            assert_eq!(
                s.string_to_sign,
                v["string_to_sign"].as_str().unwrap(),
                "{name}"
            );
            assert_eq!(s.sign_key, v["sign_key"].as_str().unwrap(), "{name}");
            assert_eq!(s.signature, v["signature"].as_str().unwrap(), "{name}");
            assert_eq!(
                authorization(input["secret_id"].as_str().unwrap(), &kt, &s),
                v["authorization"].as_str().unwrap(),
                "{name}"
            );
            if key != "/" {
                assert_eq!(
                    crate::store::encode::key_to_url_path(key),
                    url.path(),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn parses_what_it_writes() {
        let kt = KeyTime::new(10, 20);
        let headers = pairs(&[("Host", "h"), ("x-cos-a", "b")]);
        let params = pairs(&[("uploads", "")]);
        let s = sign(
            "k",
            &kt,
            &SignRequest {
                method: "POST",
                path: "/k",
                params: &params,
                headers: &headers,
            },
        );
        let p = parse_authorization(&authorization("id", &kt, &s)).unwrap();
        assert_eq!(p.secret_id, "id");
        assert_eq!(p.key_time, kt);
        assert_eq!(p.header_list, vec!["host", "x-cos-a"]);
        assert_eq!(p.param_list, vec!["uploads"]);
        assert_eq!(p.signature, s.signature);
        assert!(parse_authorization("q-ak=x").is_none());
    }
}
