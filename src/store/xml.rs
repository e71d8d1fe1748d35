//! COS XML bodies: parsing every response document haul reads (docs/architecture.md §5) and writing
//! the one request body it sends (CompleteMultipartUpload).
//!
//! Pure: no I/O. Lenient where COS is sloppy — documentation samples with mismatched tags,
//! `EncodingType` spelt three ways, quoted or `&quot;`-escaped ETags, four date formats,
//! whitespace streamed before a Complete result — because a listing must not fail over a
//! cosmetic quirk. Parsing goes through a small tolerant element tree built with quick-xml's
//! reader (serde's deserializer cannot survive a mismatched end tag); writing uses quick-xml's
//! serde serializer. Never invents data: a missing required element is an error, a missing
//! optional one is `None`.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::encode::percent_decode;
use super::{
    BucketInfo, CompleteResult, CompletedPart, CopyResult, ListObjectsPage, ListPartsPage,
    ListUploadsPage, ObjectSummary, PartInfo, PartResult, UploadInfo,
};

/// Why a body could not be read as the document expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the body is not XML: {0}")]
    Syntax(String),
    #[error("expected a <{expected}> document, got <{got}>")]
    WrongRoot { expected: &'static str, got: String },
    #[error("<{0}> is missing")]
    Missing(&'static str),
    #[error("<{element}> is not a valid {what}: {value:?}")]
    BadValue {
        element: &'static str,
        what: &'static str,
        value: String,
    },
    #[error("the body is empty")]
    Empty,
}

/// A parsed element: name (namespace prefix dropped), text and children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child with one of `names`.
    pub fn child(&self, names: &[&str]) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| names.contains(&c.name.as_str()))
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Trimmed text of the first child named `name`, if present.
    pub fn text_of(&self, names: &[&str]) -> Option<&str> {
        self.child(names).map(|c| c.text.trim())
    }

    /// Like `text_of` but `None` for an empty element too.
    pub fn non_empty(&self, names: &[&str]) -> Option<&str> {
        self.text_of(names).filter(|t| !t.is_empty())
    }
}

/// The part of a qualified name after its prefix (`s3:Key` → `Key`), as bytes.
fn local_bytes(raw: &[u8]) -> &[u8] {
    match raw.iter().rposition(|b| *b == b':') {
        Some(i) => &raw[i + 1..],
        None => raw,
    }
}

fn local_name(raw: &[u8]) -> String {
    String::from_utf8_lossy(local_bytes(raw)).into_owned()
}

/// Parses a document into a tolerant element tree. Leading whitespace (Complete streams it),
/// an XML declaration, comments and unknown elements are fine. A mismatched end tag closes the
/// element it names if one is open, closes a text-only element it does not name (a typo such as
/// `<NexMarker>…</NextMarker>`), and is otherwise ignored.
pub fn parse_tree(body: &str) -> Result<Element, XmlError> {
    let body = body.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if body.trim().is_empty() {
        return Err(XmlError::Empty);
    }
    let mut reader = Reader::from_str(body);
    reader.config_mut().check_end_names = false;
    reader.config_mut().allow_unmatched_ends = true;
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Syntax(format!("{e} at byte {}", reader.buffer_position())))?;
        match event {
            Event::Start(start) => stack.push(Element {
                name: local_name(start.name().as_ref()),
                ..Element::default()
            }),
            Event::Empty(start) => {
                let el = Element {
                    name: local_name(start.name().as_ref()),
                    ..Element::default()
                };
                attach(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    match t.unescape() {
                        Ok(text) => top.text.push_str(&text),
                        Err(_) => top.text.push_str(&String::from_utf8_lossy(&t)),
                    }
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::End(end) => {
                let qname = end.name();
                let name = local_bytes(qname.as_ref());
                if let Some(pos) = stack.iter().rposition(|e| e.name.as_bytes() == name) {
                    while stack.len() > pos {
                        let el = stack.pop().expect("stack is longer than pos");
                        attach(&mut stack, &mut root, el);
                    }
                } else if stack.last().is_some_and(|top| top.children.is_empty()) {
                    let el = stack.pop().expect("stack has a last element");
                    attach(&mut stack, &mut root, el);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    // Unclosed elements (a truncated body): close them so whatever arrived can be judged.
    while let Some(el) = stack.pop() {
        attach(&mut stack, &mut root, el);
    }
    root.ok_or(XmlError::Empty)
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => match root {
            // Elements after the root closed early (a stray end tag): keep them in the root.
            Some(r) => r.children.push(el),
            None => *root = Some(el),
        },
    }
}

fn expect_root(body: &str, expected: &'static str) -> Result<Element, XmlError> {
    let root = parse_tree(body)?;
    if root.name != expected {
        return Err(XmlError::WrongRoot {
            expected,
            got: root.name,
        });
    }
    Ok(root)
}

/// The root element's name, if the body is XML at all. Reads only up to the root's start tag:
/// every answer is asked this (is it an `<Error>` inside a 200?) before it is parsed.
pub fn root_name(body: &str) -> Option<String> {
    let mut reader = Reader::from_str(body.trim_start_matches('\u{feff}'));
    loop {
        match reader.read_event().ok()? {
            Event::Start(start) | Event::Empty(start) => {
                return Some(local_name(start.name().as_ref()))
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// Strips surrounding quotes (plain or left over from `&quot;`) and whitespace from an ETag.
pub fn unquote_etag(s: &str) -> String {
    let t = s.trim();
    let t = t.strip_prefix("&quot;").unwrap_or(t);
    let t = t.strip_suffix("&quot;").unwrap_or(t);
    t.trim_matches('"').to_string()
}

/// Reads COS's dates: RFC 3339 (`2019-05-24T11:49:50Z`, `2020-12-10T03:37:30.000Z`), ISO 8601
/// without a zone (`2017-09-04T04:45:45`, taken as UTC), the legacy `Wed Jan 18 16:04:17 2017`
/// and HTTP dates. `None` when none fits; never an error.
pub fn parse_date(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let no_zone = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    if let Ok(t) = PrimitiveDateTime::parse(s, &no_zone) {
        return Some(t.assume_utc());
    }
    let legacy = format_description!(
        "[weekday repr:short] [month repr:short] [day padding:none] [hour]:[minute]:[second] [year]"
    );
    let collapsed = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Ok(t) = PrimitiveDateTime::parse(&collapsed, &legacy) {
        return Some(t.assume_utc());
    }
    httpdate::parse_http_date(s).ok().map(OffsetDateTime::from)
}

fn parse_bool(s: Option<&str>) -> bool {
    matches!(s.map(str::trim), Some(v) if v.eq_ignore_ascii_case("true"))
}

fn parse_u64(el: &Element, names: &[&str], element: &'static str) -> Result<u64, XmlError> {
    let text = el.text_of(names).ok_or(XmlError::Missing(element))?;
    text.parse().map_err(|_| XmlError::BadValue {
        element,
        what: "number",
        value: text.to_string(),
    })
}

fn opt_u64(el: &Element, names: &[&str]) -> Option<u64> {
    el.non_empty(names).and_then(|t| t.parse().ok())
}

const ENCODING_TYPE: &[&str] = &["EncodingType", "Encoding-Type", "Encoding-type"];

fn url_encoded(root: &Element) -> bool {
    root.non_empty(ENCODING_TYPE)
        .is_some_and(|v| v.eq_ignore_ascii_case("url"))
}

fn decoder(encoded: bool) -> impl Fn(&str) -> String {
    move |s: &str| {
        if encoded {
            percent_decode(s)
        } else {
            s.to_string()
        }
    }
}

/// ListAllMyBucketsResult (GET Service).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketList {
    pub buckets: Vec<BucketInfo>,
    pub is_truncated: bool,
    pub next_marker: Option<String>,
}

pub fn parse_list_buckets(body: &str) -> Result<BucketList, XmlError> {
    let root = expect_root(body, "ListAllMyBucketsResult")?;
    let mut buckets = Vec::new();
    let containers = root
        .children_named("Buckets")
        .flat_map(|b| b.children_named("Bucket"))
        .chain(root.children_named("Bucket"));
    for b in containers {
        let name = b.non_empty(&["Name"]).ok_or(XmlError::Missing("Name"))?;
        buckets.push(BucketInfo {
            name: name.to_string(),
            // COS says `Location`; S3's ListBuckets says `BucketRegion`.
            region: b
                .text_of(&["Location", "Region", "BucketRegion"])
                .unwrap_or("")
                .to_string(),
            created: b
                .text_of(&["CreationDate", "CreateDate"])
                .and_then(parse_date),
        });
    }
    Ok(BucketList {
        buckets,
        is_truncated: parse_bool(root.text_of(&["IsTruncated"])),
        next_marker: root.non_empty(&["NextMarker"]).map(str::to_string),
    })
}

/// ListBucketResult (GET Bucket). Keys, prefixes and markers are decoded when the body says
/// `EncodingType=url`. `next_marker` falls back to the last key or prefix of a truncated page.
pub fn parse_list_objects(body: &str) -> Result<ListObjectsPage, XmlError> {
    let root = expect_root(body, "ListBucketResult")?;
    let dec = decoder(url_encoded(&root));
    let mut objects = Vec::new();
    for c in root.children_named("Contents") {
        let key = c.text_of(&["Key"]).ok_or(XmlError::Missing("Key"))?;
        objects.push(ObjectSummary {
            key: dec(key),
            size: parse_u64(c, &["Size"], "Size")?,
            last_modified: c.text_of(&["LastModified"]).and_then(parse_date),
            etag: unquote_etag(c.text_of(&["ETag"]).unwrap_or("")),
            storage_class: c
                .non_empty(&["StorageClass"])
                .unwrap_or("STANDARD")
                .to_string(),
        });
    }
    let common_prefixes: Vec<String> = root
        .children_named("CommonPrefixes")
        .flat_map(|cp| cp.children_named("Prefix"))
        .map(|p| dec(p.text.trim()))
        .collect();
    let is_truncated = parse_bool(root.text_of(&["IsTruncated"]));
    let next_marker = root.non_empty(&["NextMarker"]).map(&dec).or_else(|| {
        if !is_truncated {
            return None;
        }
        let last_key = objects.last().map(|o| o.key.clone());
        let last_prefix = common_prefixes.last().cloned();
        last_key.into_iter().chain(last_prefix).max()
    });
    Ok(ListObjectsPage {
        objects,
        common_prefixes,
        is_truncated,
        next_marker,
    })
}

/// CopyObjectResult (PUT Object - Copy).
pub fn parse_copy_object(body: &str) -> Result<CopyResult, XmlError> {
    let root = expect_root(body, "CopyObjectResult")?;
    let etag = root.non_empty(&["ETag"]).ok_or(XmlError::Missing("ETag"))?;
    Ok(CopyResult {
        etag: unquote_etag(etag),
        crc64: opt_u64(&root, &["CRC64"]),
        crc64nvme: None,
        last_modified: root.text_of(&["LastModified"]).and_then(parse_date),
    })
}

/// CopyPartResult (Upload Part - Copy). The CRC64 comes from the response header.
pub fn parse_copy_part(body: &str) -> Result<PartResult, XmlError> {
    let root = expect_root(body, "CopyPartResult")?;
    let etag = root.non_empty(&["ETag"]).ok_or(XmlError::Missing("ETag"))?;
    Ok(PartResult {
        etag: unquote_etag(etag),
        crc64: opt_u64(&root, &["CRC64"]),
    })
}

/// InitiateMultipartUploadResult: the upload id.
pub fn parse_initiate(body: &str) -> Result<String, XmlError> {
    let root = expect_root(body, "InitiateMultipartUploadResult")?;
    root.non_empty(&["UploadId"])
        .map(str::to_string)
        .ok_or(XmlError::Missing("UploadId"))
}

#[derive(Serialize)]
#[serde(rename = "CompleteMultipartUpload")]
struct CompleteBody<'a> {
    #[serde(rename = "Part")]
    parts: Vec<CompletePartXml<'a>>,
}

#[derive(Serialize)]
struct CompletePartXml<'a> {
    #[serde(rename = "PartNumber")]
    part_number: u32,
    #[serde(rename = "ETag")]
    etag: std::borrow::Cow<'a, str>,
}

/// The CompleteMultipartUpload request body; ETags are sent quoted, as COS lists them.
pub fn complete_body(parts: &[CompletedPart]) -> String {
    let body = CompleteBody {
        parts: parts
            .iter()
            .map(|p| CompletePartXml {
                part_number: p.part_number,
                etag: format!("\"{}\"", unquote_etag(&p.etag)).into(),
            })
            .collect(),
    };
    // Serialising plain strings and numbers into a String cannot fail.
    quick_xml::se::to_string(&body).unwrap_or_default()
}

/// CompleteMultipartUploadResult; a body without an ETag is an error (as in the Go and Python
/// SDKs). The CRC64 comes from the response header.
pub fn parse_complete(body: &str) -> Result<CompleteResult, XmlError> {
    let root = expect_root(body, "CompleteMultipartUploadResult")?;
    let etag = root.non_empty(&["ETag"]).ok_or(XmlError::Missing("ETag"))?;
    Ok(CompleteResult {
        etag: unquote_etag(etag),
        crc64: opt_u64(&root, &["CRC64"]),
        crc64nvme: None,
        location: root.non_empty(&["Location"]).map(str::to_string),
    })
}

/// ListMultipartUploadsResult.
pub fn parse_list_uploads(body: &str) -> Result<ListUploadsPage, XmlError> {
    let root = expect_root(body, "ListMultipartUploadsResult")?;
    let dec = decoder(url_encoded(&root));
    let mut uploads = Vec::new();
    for u in root.children_named("Upload") {
        let key = u.text_of(&["Key"]).ok_or(XmlError::Missing("Key"))?;
        let id = u
            .non_empty(&["UploadId"])
            .ok_or(XmlError::Missing("UploadId"))?;
        uploads.push(UploadInfo {
            key: dec(key),
            upload_id: id.to_string(),
            initiated: u.text_of(&["Initiated"]).and_then(parse_date),
            storage_class: u.non_empty(&["StorageClass"]).map(str::to_string),
        });
    }
    let common_prefixes = root
        .children_named("CommonPrefixes")
        .flat_map(|cp| cp.children_named("Prefix"))
        .map(|p| dec(p.text.trim()))
        .collect();
    Ok(ListUploadsPage {
        uploads,
        common_prefixes,
        is_truncated: parse_bool(root.text_of(&["IsTruncated"])),
        next_key_marker: root.non_empty(&["NextKeyMarker"]).map(&dec),
        next_upload_id_marker: root.non_empty(&["NextUploadIdMarker"]).map(str::to_string),
    })
}

/// ListPartsResult.
pub fn parse_list_parts(body: &str) -> Result<ListPartsPage, XmlError> {
    let root = expect_root(body, "ListPartsResult")?;
    let mut parts = Vec::new();
    for p in root.children_named("Part") {
        let number = parse_u64(p, &["PartNumber"], "PartNumber")?;
        let part_number = u32::try_from(number).map_err(|_| XmlError::BadValue {
            element: "PartNumber",
            what: "part number",
            value: number.to_string(),
        })?;
        parts.push(PartInfo {
            part_number,
            etag: unquote_etag(p.text_of(&["ETag"]).unwrap_or("")),
            size: parse_u64(p, &["Size"], "Size")?,
            last_modified: p.text_of(&["LastModified"]).and_then(parse_date),
        });
    }
    let is_truncated = parse_bool(root.text_of(&["IsTruncated"]));
    let next_part_number_marker = root
        .non_empty(&["NextPartNumberMarker"])
        .and_then(|t| t.parse().ok())
        .or_else(|| {
            if is_truncated {
                parts.last().map(|p| p.part_number)
            } else {
                None
            }
        });
    Ok(ListPartsPage {
        parts,
        is_truncated,
        next_part_number_marker,
    })
}

/// An `<Error>` document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub resource: Option<String>,
    pub request_id: Option<String>,
    pub trace_id: Option<String>,
}

/// Parses an `<Error>` document; `None` when the body is not one.
pub fn parse_error(body: &str) -> Option<ErrorBody> {
    let root = parse_tree(body).ok()?;
    if root.name != "Error" {
        return None;
    }
    Some(ErrorBody {
        code: root.text_of(&["Code"]).unwrap_or("").to_string(),
        message: root.text_of(&["Message"]).unwrap_or("").to_string(),
        resource: root.non_empty(&["Resource"]).map(str::to_string),
        request_id: root.non_empty(&["RequestId"]).map(str::to_string),
        trace_id: root.non_empty(&["TraceId"]).map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn dates_in_every_form_cos_uses() {
        assert_eq!(
            parse_date("2019-05-24T11:49:50Z"),
            Some(datetime!(2019-05-24 11:49:50 UTC))
        );
        assert_eq!(
            parse_date("2020-12-10T03:37:30.000Z"),
            Some(datetime!(2020-12-10 03:37:30 UTC))
        );
        assert_eq!(
            parse_date("2017-09-04T04:45:45"),
            Some(datetime!(2017-09-04 04:45:45 UTC))
        );
        assert_eq!(
            parse_date("2017-09-04T04:45:45.123"),
            Some(datetime!(2017-09-04 04:45:45.123 UTC))
        );
        assert_eq!(
            parse_date("Wed Jan 18 16:04:17 2017"),
            Some(datetime!(2017-01-18 16:04:17 UTC))
        );
        assert_eq!(
            parse_date("Thu Jan  5 16:04:17 2017"),
            Some(datetime!(2017-01-05 16:04:17 UTC))
        );
        assert_eq!(
            parse_date("Thu, 16 May 2019 06:45:51 GMT"),
            Some(datetime!(2019-05-16 06:45:51 UTC))
        );
        assert_eq!(
            parse_date("2019-05-24T19:49:50+08:00"),
            Some(datetime!(2019-05-24 11:49:50 UTC))
        );
        assert_eq!(parse_date(""), None);
        assert_eq!(parse_date("string"), None);
        assert_eq!(parse_date("date"), None);
    }

    #[test]
    fn etags_lose_their_quotes_in_every_spelling() {
        assert_eq!(
            unquote_etag("\"ba82b57cfdfda8bd17ad4e5879ebb4fe\""),
            "ba82b57cfdfda8bd17ad4e5879ebb4fe"
        );
        assert_eq!(unquote_etag("&quot;abc-3&quot;"), "abc-3");
        assert_eq!(unquote_etag(" abc "), "abc");
        // Escaped quotes arrive unescaped from the tree:
        let page = parse_list_objects(
            "<ListBucketResult><Contents><Key>k</Key><ETag>&quot;5d4f8c3b2b1f0b8f3c6d7e8f9a0b1c2d&quot;</ETag><Size>1</Size></Contents></ListBucketResult>",
        )
        .unwrap();
        assert_eq!(page.objects[0].etag, "5d4f8c3b2b1f0b8f3c6d7e8f9a0b1c2d");
    }

    /// The GET Service doc sample, malformed bits included (`<NexMarker>` closed as
    /// `</NextMarker>`, a stray `</Marker>`).
    #[test]
    fn list_buckets_survives_the_doc_sample() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListAllMyBucketsResult>
  <Owner>
    <ID>qcs::cam::uin/100000000001:uin/100000000001</ID>
    <DisplayName>100000000001</DisplayName>
  </Owner>
  <Marker></Marker></Marker>
  <NexMarker>string</NextMarker>
  <IsTruncated>false</IsTruncated>
  <Buckets>
    <Bucket>
      <Name>examplebucket1-1250000000</Name>
      <Location>ap-beijing</Location>
      <CreationDate>2019-05-24T11:49:50Z</CreationDate>
      <BucketType>cos</BucketType>
    </Bucket>
    <Bucket>
      <Name>examplebucket2-1250000000</Name>
      <Location>ap-beijing</Location>
      <CreationDate>not a date</CreationDate>
    </Bucket>
  </Buckets>
</ListAllMyBucketsResult>"#;
        let list = parse_list_buckets(body).unwrap();
        assert_eq!(list.buckets.len(), 2);
        assert_eq!(
            list.buckets[0],
            BucketInfo {
                name: "examplebucket1-1250000000".into(),
                region: "ap-beijing".into(),
                created: Some(datetime!(2019-05-24 11:49:50 UTC)),
            }
        );
        assert_eq!(list.buckets[1].created, None);
        assert!(!list.is_truncated);
        assert_eq!(list.next_marker, None);
    }

    #[test]
    fn an_s3_bucket_list_gives_each_bucket_its_own_region() {
        let body = r#"<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID></Owner><Buckets><Bucket><Name>a</Name><CreationDate>2026-12-02T09:00:00.000Z</CreationDate><BucketRegion>ap-guangzhou</BucketRegion></Bucket><Bucket><Name>b</Name><CreationDate>2026-12-02T09:00:00.000Z</CreationDate><BucketRegion>ap-shanghai</BucketRegion></Bucket></Buckets></ListAllMyBucketsResult>"#;
        let list = parse_list_buckets(body).unwrap();
        let regions: Vec<_> = list.buckets.iter().map(|b| b.region.as_str()).collect();
        assert_eq!(regions, ["ap-guangzhou", "ap-shanghai"]);
    }

    #[test]
    fn list_buckets_pages() {
        let body = "<ListAllMyBucketsResult><IsTruncated>true</IsTruncated><NextMarker>b-1</NextMarker><Buckets><Bucket><Name>b-1</Name><Location>ap-guangzhou</Location><CreationDate>2020-12-10T03:37:30.000Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>";
        let list = parse_list_buckets(body).unwrap();
        assert!(list.is_truncated);
        assert_eq!(list.next_marker.as_deref(), Some("b-1"));
        let empty =
            parse_list_buckets("<ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>")
                .unwrap();
        assert!(empty.buckets.is_empty());
    }

    #[test]
    fn list_objects_decodes_url_encoded_names() {
        let body = r#"<?xml version='1.0' encoding='utf-8' ?>
<ListBucketResult>
	<Name>examplebucket-1250000000</Name>
	<EncodingType>url</EncodingType>
	<Prefix>%E8%A7%86%E9%A2%91%2F</Prefix>
	<Marker/>
	<MaxKeys>2</MaxKeys>
	<Delimiter>%2F</Delimiter>
	<IsTruncated>true</IsTruncated>
	<NextMarker>%E8%A7%86%E9%A2%91%2Fb%2Bc%25.mov</NextMarker>
	<CommonPrefixes>
		<Prefix>%E8%A7%86%E9%A2%91%2Fraw%20files%2F</Prefix>
	</CommonPrefixes>
	<Contents>
		<Key>%E8%A7%86%E9%A2%91%2Fb%2Bc%25.mov</Key>
		<LastModified>2020-12-10T03:37:30.000Z</LastModified>
		<ETag>&quot;ee8de918d05640145b18f70f4c3aa602&quot;</ETag>
		<Size>1048576</Size>
		<Owner>
			<ID>1250000000</ID>
			<DisplayName>1250000000</DisplayName>
		</Owner>
		<StorageClass>STANDARD_IA</StorageClass>
		<StorageTier>FREQUENT</StorageTier>
	</Contents>
</ListBucketResult>"#;
        let page = parse_list_objects(body).unwrap();
        assert_eq!(page.objects.len(), 1);
        let o = &page.objects[0];
        assert_eq!(o.key, "视频/b+c%.mov");
        assert_eq!(o.size, 1_048_576);
        assert_eq!(o.etag, "ee8de918d05640145b18f70f4c3aa602");
        assert_eq!(o.storage_class, "STANDARD_IA");
        assert_eq!(o.last_modified, Some(datetime!(2020-12-10 03:37:30 UTC)));
        assert_eq!(page.common_prefixes, vec!["视频/raw files/".to_string()]);
        assert!(page.is_truncated);
        assert_eq!(page.next_marker.as_deref(), Some("视频/b+c%.mov"));
    }

    #[test]
    fn list_objects_old_spelling_and_no_next_marker() {
        // Old docs: `Encoding-Type`; a truncated page without NextMarker continues after
        // the greatest key or prefix it returned.
        let body =
            "<ListBucketResult><Encoding-Type>url</Encoding-Type><IsTruncated>true</IsTruncated>\
            <Contents><Key>a%20b</Key><Size>0</Size><ETag>\"x\"</ETag></Contents>\
            <CommonPrefixes><Prefix>z%2F</Prefix></CommonPrefixes></ListBucketResult>";
        let page = parse_list_objects(body).unwrap();
        assert_eq!(page.objects[0].key, "a b");
        assert_eq!(page.objects[0].storage_class, "STANDARD");
        assert_eq!(page.next_marker.as_deref(), Some("z/"));
        // Without encoding-type, `%` stays literal.
        let plain = parse_list_objects(
            "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>100%25</Key><Size>3</Size></Contents></ListBucketResult>",
        )
        .unwrap();
        assert_eq!(plain.objects[0].key, "100%25");
        assert_eq!(plain.next_marker, None);
    }

    #[test]
    fn list_objects_rejects_what_is_not_a_listing() {
        assert!(matches!(
            parse_list_objects("<ListBucketResult><Contents><Key>k</Key><Size>big</Size></Contents></ListBucketResult>"),
            Err(XmlError::BadValue { element: "Size", .. })
        ));
        assert!(matches!(
            parse_list_objects("<Error><Code>NoSuchBucket</Code></Error>"),
            Err(XmlError::WrongRoot { .. })
        ));
        assert!(matches!(parse_list_objects("   "), Err(XmlError::Empty)));
        assert!(parse_list_objects("<html><body>502 Bad Gateway</body>").is_err());
    }

    #[test]
    fn copy_results() {
        let body = "<CopyObjectResult><ETag>\"ba82b57cfdfda8bd17ad4e5879ebb4fe\"</ETag><CRC64>16749565679157681890</CRC64><LastModified>2020-04-10T18:20:30Z</LastModified><VersionId/></CopyObjectResult>";
        let r = parse_copy_object(body).unwrap();
        assert_eq!(r.etag, "ba82b57cfdfda8bd17ad4e5879ebb4fe");
        assert_eq!(r.crc64, Some(16_749_565_679_157_681_890));
        assert_eq!(r.last_modified, Some(datetime!(2020-04-10 18:20:30 UTC)));
        let part = parse_copy_part(
            "<CopyPartResult><ETag>\"ba82b57cfdfda8bd17ad4e5879ebb4fe\"</ETag><LastModified>2017-09-04T04:45:45</LastModified></CopyPartResult>",
        )
        .unwrap();
        assert_eq!(part.etag, "ba82b57cfdfda8bd17ad4e5879ebb4fe");
        assert_eq!(part.crc64, None);
        assert_eq!(
            parse_copy_part("<CopyPartResult><LastModified>x</LastModified></CopyPartResult>"),
            Err(XmlError::Missing("ETag"))
        );
    }

    #[test]
    fn initiate_result() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://www.qcloud.com/document/product/436/7751">
    <Bucket>examplebucket-1250000000</Bucket>
    <Key>exampleobject</Key>
    <UploadId>1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361</UploadId>
</InitiateMultipartUploadResult>"#;
        assert_eq!(
            parse_initiate(body).unwrap(),
            "1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361"
        );
        assert_eq!(
            parse_initiate("<InitiateMultipartUploadResult/>"),
            Err(XmlError::Missing("UploadId"))
        );
    }

    #[test]
    fn complete_body_quotes_etags_in_order() {
        let body = complete_body(&[
            CompletedPart {
                part_number: 1,
                etag: "aa".into(),
            },
            CompletedPart {
                part_number: 2,
                etag: "\"bb\"".into(),
            },
        ]);
        assert_eq!(
            body,
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"aa\"</ETag></Part>\
             <Part><PartNumber>2</PartNumber><ETag>\"bb\"</ETag></Part></CompleteMultipartUpload>"
                .replace("&quot;", "\"")
        );
        // It reads back as the document COS expects.
        let tree = parse_tree(&body).unwrap();
        let parts: Vec<_> = tree.children_named("Part").collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(unquote_etag(parts[1].text_of(&["ETag"]).unwrap()), "bb");
    }

    #[test]
    fn complete_result_after_streamed_whitespace() {
        let body = format!(
            "{}{}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult xmlns=\"http://www.qcloud.com/document/product/436/7751\"><Location>http://examplebucket-1250000000.cos.ap-beijing.myqcloud.com/exampleobject</Location><Bucket>examplebucket-1250000000</Bucket><Key>exampleobject</Key><ETag>\"aa259a62513358f69e98e72e59856d88-3\"</ETag></CompleteMultipartUploadResult>",
            " ".repeat(5000),
            "\n \n".repeat(100)
        );
        let r = parse_complete(&body).unwrap();
        assert_eq!(r.etag, "aa259a62513358f69e98e72e59856d88-3");
        assert_eq!(
            r.location.as_deref(),
            Some("http://examplebucket-1250000000.cos.ap-beijing.myqcloud.com/exampleobject")
        );
        let no_etag =
            "   <CompleteMultipartUploadResult><Bucket>b</Bucket></CompleteMultipartUploadResult>";
        assert_eq!(parse_complete(no_etag), Err(XmlError::Missing("ETag")));
    }

    #[test]
    fn error_documents_even_inside_200_and_after_spaces() {
        let body = format!(
            "{}<?xml version='1.0' encoding='utf-8' ?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The Signature you specified is invalid.</Message><StringToSign>sha1\n1;2\nabc\n</StringToSign><FormatString>put\n/a\n\n\n</FormatString><Resource>examplebucket-1250000000.cos.ap-beijing.myqcloud.com/a</Resource><RequestId>NWQ0NjU3YmRfNDZiYzA4MDlfMjU4YzZfMWRmNWEy</RequestId><TraceId>OGVmYzZiMmQzYjA2OWNhODk0NTRkMTBiOWVmMDAxODc0OWRkZjk0ZDM1NmI1M2E2MTRlY2MzZDhmNmI5MWI1OWBQ</TraceId></Error>",
            " ".repeat(64)
        );
        assert_eq!(root_name(&body).as_deref(), Some("Error"));
        let e = parse_error(&body).unwrap();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        assert_eq!(e.message, "The Signature you specified is invalid.");
        assert_eq!(
            e.request_id.as_deref(),
            Some("NWQ0NjU3YmRfNDZiYzA4MDlfMjU4YzZfMWRmNWEy")
        );
        assert!(e.trace_id.is_some());
        assert!(e.resource.unwrap().ends_with("/a"));
        assert!(parse_error("<CopyPartResult/>").is_none());
        assert!(parse_error("not xml at all <").is_none());
        // A copy that failed after it started answers 200 with this body.
        assert!(matches!(
            parse_copy_part("<Error><Code>InternalError</Code></Error>"),
            Err(XmlError::WrongRoot { .. })
        ));
    }

    #[test]
    fn list_uploads_doc_sample_with_legacy_dates() {
        let body = r#"<ListMultipartUploadsResult>
    <Bucket>examplebucket-1250000000</Bucket>
    <Encoding-Type>url</Encoding-Type>
    <KeyMarker/>
    <UploadIdMarker/>
    <MaxUploads>2</MaxUploads>
    <Prefix/>
    <Delimiter>%2F</Delimiter>
    <IsTruncated>true</IsTruncated>
    <NextKeyMarker>obj%20two</NextKeyMarker>
    <NextUploadIdMarker>1484727270323ddb949d528c629235314a9ead80f0ba5d993a3d76b460e6a9cceb9633b08e</NextUploadIdMarker>
    <Upload>
        <Key>obj%20one</Key>
        <UploadId>1484726657932bcb5b17f7a98a8cad9fc36a340ff204c79bd2f51e7dddf0b6d1da6220520c</UploadId>
        <Initiator>
            <ID>qcs::cam::uin/100000000001:uin/100000000001</ID>
            <DisplayName>100000000001</DisplayName>
        </Initiator>
        <Owner>
            <ID>qcs::cam::uin/100000000001:uin/100000000001</ID>
            <DisplayName>100000000001</DisplayName>
        </Owner>
        <StorageClass>Standard</StorageClass>
        <Initiated>Wed Jan 18 16:04:17 2017</Initiated>
    </Upload>
    <Upload>
        <Key>obj%20two</Key>
        <UploadId>1484727270323ddb949d528c629235314a9ead80f0ba5d993a3d76b460e6a9cceb9633b08e</UploadId>
        <Initiated>2019-08-30T09:41:49.000Z</Initiated>
    </Upload>
    <CommonPrefixes><Prefix>dir%2F</Prefix></CommonPrefixes>
</ListMultipartUploadsResult>"#;
        let page = parse_list_uploads(body).unwrap();
        assert_eq!(page.uploads.len(), 2);
        assert_eq!(page.uploads[0].key, "obj one");
        assert_eq!(page.uploads[0].storage_class.as_deref(), Some("Standard"));
        assert_eq!(
            page.uploads[0].initiated,
            Some(datetime!(2017-01-18 16:04:17 UTC))
        );
        assert_eq!(page.uploads[1].storage_class, None);
        assert_eq!(page.common_prefixes, vec!["dir/".to_string()]);
        assert!(page.is_truncated);
        assert_eq!(page.next_key_marker.as_deref(), Some("obj two"));
        assert!(page
            .next_upload_id_marker
            .as_deref()
            .unwrap()
            .starts_with("14847272"));
    }

    #[test]
    fn list_parts_both_spellings() {
        for tag in ["Encoding-type", "EncodingType"] {
            let body = format!(
                "<ListPartsResult><Bucket>b-1</Bucket><{tag}>url</{tag}><Key>a%20b</Key><UploadId>u</UploadId>\
                 <PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>2</NextPartNumberMarker><MaxParts>2</MaxParts>\
                 <IsTruncated>true</IsTruncated>\
                 <Part><PartNumber>1</PartNumber><LastModified>2019-08-30T09:41:49.000Z</LastModified><ETag>&quot;e1&quot;</ETag><Size>1048576</Size></Part>\
                 <Part><PartNumber>2</PartNumber><LastModified>Wed Jan 18 16:04:17 2017</LastModified><ETag>\"e2\"</ETag><Size>5</Size></Part>\
                 </ListPartsResult>"
            );
            let page = parse_list_parts(&body).unwrap();
            assert_eq!(page.parts.len(), 2);
            assert_eq!(page.parts[0].etag, "e1");
            assert_eq!(page.parts[1].size, 5);
            assert_eq!(
                page.parts[1].last_modified,
                Some(datetime!(2017-01-18 16:04:17 UTC))
            );
            assert!(page.is_truncated);
            assert_eq!(page.next_part_number_marker, Some(2));
        }
        let done =
            parse_list_parts("<ListPartsResult><IsTruncated>false</IsTruncated></ListPartsResult>")
                .unwrap();
        assert!(
            done.parts.is_empty() && !done.is_truncated && done.next_part_number_marker.is_none()
        );
    }

    #[test]
    fn tree_tolerates_truncation_cdata_and_namespaces() {
        let t = parse_tree("<a:Root xmlns:a=\"x\"><a:K><![CDATA[1 < 2]]></a:K><Open>v").unwrap();
        assert_eq!(t.name, "Root");
        assert_eq!(t.text_of(&["K"]), Some("1 < 2"));
        assert_eq!(t.text_of(&["Open"]), Some("v"));
    }
}
