//! The storage layer: COS's XML API (`client`) and the S3 API (`s3`) behind one async
//! `ObjectStore` trait.
//!
//! Knows HTTP, signing and XML; knows nothing of jobs or screens. The engine talks to storage
//! only through `ObjectStore`, so tests can swap in a double and a profile picks the dialect.

pub mod client;
pub mod encode;
pub mod endpoint;
pub mod error;
pub mod s3;
pub mod sign;
pub mod xml;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use endpoint::{BucketName, CosUri, Dialect, ObjectRef};
pub use error::{Error, NetworkKind, Result, ServiceError};

/// The COS API operations haul uses, named as COS names them. Also the `op` of the server's
/// access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    ListBuckets,
    PutBucket,
    HeadBucket,
    ListObjects,
    HeadObject,
    GetObject,
    PutObject,
    DeleteObject,
    PutObjectCopy,
    InitiateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListMultipartUploads,
    ListParts,
    DeleteBucket,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::ListBuckets => "ListBuckets",
            Op::PutBucket => "PutBucket",
            Op::HeadBucket => "HeadBucket",
            Op::ListObjects => "ListObjects",
            Op::HeadObject => "HeadObject",
            Op::GetObject => "GetObject",
            Op::PutObject => "PutObject",
            Op::DeleteObject => "DeleteObject",
            Op::PutObjectCopy => "PutObjectCopy",
            Op::InitiateMultipartUpload => "InitiateMultipartUpload",
            Op::UploadPart => "UploadPart",
            Op::UploadPartCopy => "UploadPartCopy",
            Op::CompleteMultipartUpload => "CompleteMultipartUpload",
            Op::AbortMultipartUpload => "AbortMultipartUpload",
            Op::ListMultipartUploads => "ListMultipartUploads",
            Op::ListParts => "ListParts",
            Op::DeleteBucket => "DeleteBucket",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// COS's storage classes, as `x-cos-storage-class` spells them (the planner, the server and the
/// copy dialog all take this list).
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "STANDARD_IA",
    "ARCHIVE",
    "DEEP_ARCHIVE",
    "INTELLIGENT_TIERING",
    "MAZ_STANDARD",
    "MAZ_STANDARD_IA",
    "MAZ_INTELLIGENT_TIERING",
];

/// A secret string: never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself; call only where it is used (signing, the token header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// COS credentials. `Debug` never shows the key or token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub secret_id: String,
    pub secret_key: Secret,
    /// Temporary credentials carry a session token (`x-cos-security-token`).
    pub token: Option<Secret>,
}

/// Where a client's credentials came from, named in the hint of an authentication error
/// ("check the secret id (TENCENTCLOUD_SECRET_ID)"). Descriptions of places, never values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialSource {
    /// e.g. `TENCENTCLOUD_SECRET_ID`, or `PROD_ID (secret_id_env of profile "prod" in …)`.
    pub secret_id: String,
    pub secret_key: String,
    pub session_token: String,
}

impl Default for CredentialSource {
    /// The Tencent Cloud variables haul reads when a profile names no others.
    fn default() -> Self {
        CredentialSource {
            secret_id: "TENCENTCLOUD_SECRET_ID".to_string(),
            secret_key: "TENCENTCLOUD_SECRET_KEY".to_string(),
            session_token: "TENCENTCLOUD_SESSION_TOKEN".to_string(),
        }
    }
}

/// A bucket as GET Service lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketInfo {
    pub name: String,
    pub region: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub created: Option<OffsetDateTime>,
}

/// One page of GET Bucket (list objects v1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListObjectsRequest {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub marker: Option<String>,
    pub max_keys: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectSummary {
    pub key: String,
    pub size: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_modified: Option<OffsetDateTime>,
    /// Without the surrounding quotes.
    pub etag: String,
    pub storage_class: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListObjectsPage {
    pub objects: Vec<ObjectSummary>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// Where the next page starts (COS sends it only when truncated; derived otherwise).
    pub next_marker: Option<String>,
}

/// Content headers and metadata that travel with an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHeaders {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub expires: Option<String>,
    /// `x-cos-meta-*`, names without the prefix, lowercased.
    pub meta: BTreeMap<String, String>,
    /// `x-cos-storage-class`; `None` means the bucket default (STANDARD).
    pub storage_class: Option<String>,
}

/// What HEAD Object says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    /// Without the surrounding quotes.
    pub etag: String,
    pub last_modified: Option<OffsetDateTime>,
    pub crc64: Option<u64>,
    /// S3's full-object `x-amz-checksum-crc64nvme` (CRC-64/NVME): another polynomial than
    /// `crc64` (COS's CRC-64/XZ), so the two are never compared (`engine::verify::Checksums`).
    pub crc64nvme: Option<u64>,
    /// `STANDARD` when COS sends no `x-cos-storage-class`.
    pub storage_class: String,
    pub headers: ObjectHeaders,
}

/// An inclusive byte range `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    /// `bytes=first-last`.
    pub fn header_value(&self) -> String {
        format!("bytes={}-{}", self.first, self.last)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    pub etag: String,
    pub crc64: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetadataDirective {
    #[default]
    Copy,
    Replaced,
}

/// Conditions on the copy source; COS answers 412 when one fails.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopySourceConditions {
    /// An ETag without quotes; the client quotes it.
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<OffsetDateTime>,
    pub if_unmodified_since: Option<OffsetDateTime>,
}

/// PUT Object - Copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyObjectRequest {
    pub source: ObjectRef,
    pub destination: ObjectRef,
    pub directive: MetadataDirective,
    /// Sent only with `MetadataDirective::Replaced` (storage class always).
    pub headers: ObjectHeaders,
    pub conditions: CopySourceConditions,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyResult {
    pub etag: String,
    pub crc64: Option<u64>,
    /// S3's full-object `x-amz-checksum-crc64nvme` (CRC-64/NVME): another polynomial than
    /// `crc64` (COS's CRC-64/XZ), so the two are never compared (`engine::verify::Checksums`).
    pub crc64nvme: Option<u64>,
    pub last_modified: Option<OffsetDateTime>,
}

/// Upload Part - Copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPartCopyRequest {
    pub destination: ObjectRef,
    pub upload_id: String,
    pub part_number: u32,
    pub source: ObjectRef,
    /// `None` copies the whole source.
    pub range: Option<ByteRange>,
    pub conditions: CopySourceConditions,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartResult {
    /// Without the surrounding quotes.
    pub etag: String,
    pub crc64: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedPart {
    pub part_number: u32,
    /// Without the surrounding quotes.
    pub etag: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteResult {
    pub etag: String,
    pub crc64: Option<u64>,
    /// S3's full-object `x-amz-checksum-crc64nvme` (CRC-64/NVME): another polynomial than
    /// `crc64` (COS's CRC-64/XZ), so the two are never compared (`engine::verify::Checksums`).
    pub crc64nvme: Option<u64>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListUploadsRequest {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    pub upload_id_marker: Option<String>,
    pub max_uploads: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadInfo {
    pub key: String,
    pub upload_id: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub initiated: Option<OffsetDateTime>,
    pub storage_class: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListUploadsPage {
    pub uploads: Vec<UploadInfo>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    pub part_number: u32,
    /// Without the surrounding quotes.
    pub etag: String,
    pub size: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_modified: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPartsPage {
    pub parts: Vec<PartInfo>,
    pub is_truncated: bool,
    pub next_part_number_marker: Option<u32>,
}

/// One finished HTTP exchange, for the Log screen and `--verbose`. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub op: Op,
    pub method: &'static str,
    pub resource: String,
    /// `None` when no answer came (network failure).
    pub status: Option<u16>,
    pub code: Option<String>,
    pub latency: Duration,
    pub request_id: Option<String>,
}

/// Receives every `RequestRecord`; must not block.
pub type RequestObserver = Arc<dyn Fn(RequestRecord) + Send + Sync>;

/// Everything haul needs from an object store. One request per call: no retries here (the
/// engine owns retry policy), no pagination loops (callers page).
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// GET Service: all buckets of the account.
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>>;
    /// HEAD Bucket on `bucket` in `region`: the region COS reports (`x-cos-bucket-region`).
    async fn head_bucket(&self, bucket: &BucketName, region: &str) -> Result<String>;
    async fn list_objects(
        &self,
        bucket: &BucketName,
        region: &str,
        req: &ListObjectsRequest,
    ) -> Result<ListObjectsPage>;
    async fn head_object(&self, obj: &ObjectRef) -> Result<ObjectMeta>;
    async fn get_object(&self, obj: &ObjectRef, range: Option<ByteRange>) -> Result<Bytes>;
    async fn put_object(
        &self,
        obj: &ObjectRef,
        body: Bytes,
        headers: &ObjectHeaders,
    ) -> Result<PutResult>;
    async fn delete_object(&self, obj: &ObjectRef) -> Result<()>;
    async fn copy_object(&self, req: &CopyObjectRequest) -> Result<CopyResult>;
    /// Initiate Multipart Upload; returns the upload id.
    async fn initiate_multipart(&self, obj: &ObjectRef, headers: &ObjectHeaders) -> Result<String>;
    async fn upload_part(
        &self,
        obj: &ObjectRef,
        upload_id: &str,
        part_number: u32,
        body: Bytes,
    ) -> Result<PartResult>;
    async fn upload_part_copy(&self, req: &UploadPartCopyRequest) -> Result<PartResult>;
    async fn complete_multipart(
        &self,
        obj: &ObjectRef,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<CompleteResult>;
    async fn abort_multipart(&self, obj: &ObjectRef, upload_id: &str) -> Result<()>;
    async fn list_multipart_uploads(
        &self,
        bucket: &BucketName,
        region: &str,
        req: &ListUploadsRequest,
    ) -> Result<ListUploadsPage>;
    async fn list_parts(
        &self,
        obj: &ObjectRef,
        upload_id: &str,
        part_number_marker: Option<u32>,
        max_parts: Option<u32>,
    ) -> Result<ListPartsPage>;
    /// Tells the signer what time the server thinks it is (after `RequestTimeTooSkewed`).
    fn correct_clock(&self, _server_time: SystemTime) {}
}
