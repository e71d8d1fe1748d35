//! An in-process `ObjectStore` double for engine tests and benches: buckets, synthetic objects
//! (size, ETag, CRC64 — no bytes), multipart uploads, fault injection, per-part delay, and
//! counters (calls per op, parts in flight now and at most).
//!
//! Not a COS emulator (that is `server`): it models just what the engine's policies depend on.
//! Compiled only for tests and with the `test-double` feature (which the dev-dependency on
//! this crate enables), never into the shipped binary.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use crate::store::{
    BucketInfo, BucketName, ByteRange, CompleteResult, CompletedPart, CopyObjectRequest,
    CopyResult, Error, ListObjectsPage, ListObjectsRequest, ListPartsPage, ListUploadsPage,
    ListUploadsRequest, ObjectHeaders, ObjectMeta, ObjectRef, ObjectStore, ObjectSummary, Op,
    PartInfo, PartResult, PutResult, Result, ServiceError, UploadInfo, UploadPartCopyRequest,
};

/// A COS-style service error.
pub fn service_error(op: Op, status: u16, code: &str) -> Error {
    Error::service(ServiceError {
        op,
        resource: "cos://test".into(),
        status,
        code: code.into(),
        message: format!("{code} (test double)"),
        request_id: Some("test-request".into()),
        in_200: false,
        server_date: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000)),
        credential_source: None,
    })
}

/// A stored object: metadata only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemObject {
    pub size: u64,
    pub etag: String,
    pub crc64: Option<u64>,
    pub storage_class: String,
    pub headers: ObjectHeaders,
}

#[derive(Debug, Clone)]
struct MemPart {
    etag: String,
    size: u64,
    /// (source etag, range) it was copied from.
    from: (String, ByteRange),
}

#[derive(Debug, Clone)]
struct MemUpload {
    bucket: String,
    key: String,
    headers: ObjectHeaders,
    parts: BTreeMap<u32, MemPart>,
}

impl MemUpload {
    /// An upload id names one upload of one key, as on COS: under any other key it is
    /// `NoSuchUpload`.
    fn is_for(&self, obj: &ObjectRef) -> bool {
        self.bucket == obj.bucket.as_str() && self.key == obj.key
    }
}

/// What a fault hook sees.
#[derive(Debug, Clone)]
pub struct Call {
    pub op: Op,
    pub key: String,
    pub part: Option<u32>,
}

type Fault = Box<dyn FnMut(&Call) -> Option<Error> + Send>;

#[derive(Default)]
struct State {
    buckets: BTreeMap<String, String>,
    objects: BTreeMap<(String, String), MemObject>,
    uploads: HashMap<String, MemUpload>,
    calls: Vec<Call>,
    in_flight: usize,
    max_in_flight: usize,
    in_flight_per_upload: HashMap<String, usize>,
    max_in_flight_per_upload: HashMap<String, usize>,
    clock_corrections: Vec<SystemTime>,
    part_delay: Duration,
    fault: Option<Fault>,
    /// Ops whose next call takes effect and then reports a dropped connection.
    lose_reply: Vec<Op>,
}

/// The test double. Cheap to clone through `Arc`.
#[derive(Default)]
pub struct MemStore {
    state: Mutex<State>,
    next_id: AtomicU64,
}

struct InFlight<'a> {
    store: &'a MemStore,
    upload: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut s = self.store.lock();
        s.in_flight -= 1;
        if let Some(n) = s.in_flight_per_upload.get_mut(&self.upload) {
            *n -= 1;
        }
    }
}

impl MemStore {
    pub fn new() -> Arc<MemStore> {
        Arc::new(MemStore::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_bucket(&self, name: &str, region: &str) {
        self.lock().buckets.insert(name.into(), region.into());
    }

    /// Puts a synthetic object; its ETag and CRC64 derive from `seed`.
    pub fn put(&self, bucket: &str, key: &str, size: u64, seed: u64) -> MemObject {
        let obj = MemObject {
            size,
            etag: format!("{:032x}", seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ size),
            crc64: Some(seed ^ size.rotate_left(17)),
            storage_class: "STANDARD".into(),
            headers: ObjectHeaders {
                content_type: Some("application/octet-stream".into()),
                ..Default::default()
            },
        };
        self.lock()
            .objects
            .insert((bucket.into(), key.into()), obj.clone());
        obj
    }

    pub fn object(&self, bucket: &str, key: &str) -> Option<MemObject> {
        self.lock()
            .objects
            .get(&(bucket.to_string(), key.to_string()))
            .cloned()
    }

    pub fn set_part_delay(&self, d: Duration) {
        self.lock().part_delay = d;
    }

    /// Every call consults `f` first; `Some(error)` fails it (before any effect).
    pub fn set_fault(&self, f: impl FnMut(&Call) -> Option<Error> + Send + 'static) {
        self.lock().fault = Some(Box::new(f));
    }

    /// The next call of `op` takes effect on the server but its reply is lost (network reset).
    pub fn lose_next_reply(&self, op: Op) {
        self.lock().lose_reply.push(op);
    }

    fn reply_lost(&self, op: Op) -> Result<()> {
        let mut s = self.lock();
        match s.lose_reply.iter().position(|o| *o == op) {
            Some(i) => {
                s.lose_reply.remove(i);
                Err(Error::Network {
                    op,
                    resource: "cos://test".into(),
                    kind: crate::store::NetworkKind::Reset,
                    message: "connection reset (test double)".into(),
                })
            }
            None => Ok(()),
        }
    }

    pub fn clear_fault(&self) {
        self.lock().fault = None;
    }

    pub fn count(&self, op: Op) -> usize {
        self.lock().calls.iter().filter(|c| c.op == op).count()
    }

    /// Part numbers copied with Upload Part - Copy calls (attempts included).
    pub fn part_calls(&self) -> Vec<u32> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.op == Op::UploadPartCopy)
            .filter_map(|c| c.part)
            .collect()
    }

    pub fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight
    }

    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    pub fn max_in_flight_for(&self, upload_id: &str) -> usize {
        self.lock()
            .max_in_flight_per_upload
            .get(upload_id)
            .copied()
            .unwrap_or(0)
    }

    pub fn upload_ids(&self) -> Vec<String> {
        let mut v: Vec<_> = self.lock().uploads.keys().cloned().collect();
        v.sort();
        v
    }

    pub fn upload_part_numbers(&self, upload_id: &str) -> Vec<u32> {
        self.lock()
            .uploads
            .get(upload_id)
            .map(|u| u.parts.keys().copied().collect())
            .unwrap_or_default()
    }

    pub fn clock_corrections(&self) -> usize {
        self.lock().clock_corrections.len()
    }

    /// Replaces the source object's ETag as if it was overwritten.
    pub fn change_etag(&self, bucket: &str, key: &str) {
        if let Some(o) = self
            .lock()
            .objects
            .get_mut(&(bucket.to_string(), key.to_string()))
        {
            o.etag = format!("changed-{}", o.etag);
        }
    }

    fn call(&self, op: Op, key: &str, part: Option<u32>) -> Result<()> {
        let call = Call {
            op,
            key: key.into(),
            part,
        };
        let mut s = self.lock();
        s.calls.push(call.clone());
        if let Some(f) = s.fault.as_mut() {
            if let Some(e) = f(&call) {
                return Err(e);
            }
        }
        Ok(())
    }

    fn bucket_region(&self, bucket: &BucketName) -> Result<String> {
        self.lock()
            .buckets
            .get(bucket.as_str())
            .cloned()
            .ok_or_else(|| service_error(Op::HeadBucket, 404, "NoSuchBucket"))
    }

    fn source(&self, op: Op, src: &ObjectRef, if_match: Option<&str>) -> Result<MemObject> {
        let s = self.lock();
        let obj = s
            .objects
            .get(&(src.bucket.to_string(), src.key.clone()))
            .cloned()
            .ok_or_else(|| service_error(op, 404, "NoSuchKey"))?;
        if if_match.is_some_and(|m| m != obj.etag) {
            return Err(service_error(op, 412, "PreconditionFailed"));
        }
        Ok(obj)
    }
}

#[async_trait]
impl ObjectStore for MemStore {
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        self.call(Op::ListBuckets, "", None)?;
        Ok(self
            .lock()
            .buckets
            .iter()
            .map(|(n, r)| BucketInfo {
                name: n.clone(),
                region: r.clone(),
                created: None,
            })
            .collect())
    }

    async fn head_bucket(&self, bucket: &BucketName, region: &str) -> Result<String> {
        self.call(Op::HeadBucket, "", None)?;
        let r = self.bucket_region(bucket)?;
        if r != region {
            return Err(service_error(Op::HeadBucket, 404, "NoSuchBucket"));
        }
        Ok(r)
    }

    async fn list_objects(
        &self,
        bucket: &BucketName,
        _region: &str,
        req: &ListObjectsRequest,
    ) -> Result<ListObjectsPage> {
        self.call(Op::ListObjects, &req.prefix, None)?;
        let s = self.lock();
        let max = req.max_keys.unwrap_or(1000).max(1) as usize;
        let mut objects: Vec<ObjectSummary> = s
            .objects
            .iter()
            .filter(|((b, k), _)| b == bucket.as_str() && k.starts_with(&req.prefix))
            .filter(|((_, k), _)| req.marker.as_ref().is_none_or(|m| k > m))
            .take(max + 1)
            .map(|((_, k), o)| ObjectSummary {
                key: k.clone(),
                size: o.size,
                last_modified: None,
                etag: o.etag.clone(),
                storage_class: o.storage_class.clone(),
            })
            .collect();
        let is_truncated = objects.len() > max;
        objects.truncate(max);
        Ok(ListObjectsPage {
            next_marker: is_truncated
                .then(|| objects.last().map(|o| o.key.clone()))
                .flatten(),
            objects,
            is_truncated,
            ..Default::default()
        })
    }

    async fn head_object(&self, obj: &ObjectRef) -> Result<ObjectMeta> {
        self.call(Op::HeadObject, &obj.key, None)?;
        let o = self.source(Op::HeadObject, obj, None)?;
        Ok(ObjectMeta {
            size: o.size,
            etag: o.etag,
            last_modified: None,
            crc64: o.crc64,
            crc64nvme: None,
            storage_class: o.storage_class,
            headers: o.headers,
        })
    }

    async fn get_object(&self, obj: &ObjectRef, _range: Option<ByteRange>) -> Result<Bytes> {
        self.call(Op::GetObject, &obj.key, None)?;
        Err(Error::InvalidInput(
            "the test double stores no bytes".into(),
        ))
    }

    async fn put_object(
        &self,
        obj: &ObjectRef,
        body: Bytes,
        _h: &ObjectHeaders,
    ) -> Result<PutResult> {
        self.call(Op::PutObject, &obj.key, None)?;
        let o = self.put(obj.bucket.as_str(), &obj.key, body.len() as u64, 1);
        Ok(PutResult {
            etag: o.etag,
            crc64: o.crc64,
        })
    }

    async fn delete_object(&self, obj: &ObjectRef) -> Result<()> {
        self.call(Op::DeleteObject, &obj.key, None)?;
        self.lock()
            .objects
            .remove(&(obj.bucket.to_string(), obj.key.clone()));
        Ok(())
    }

    async fn copy_object(&self, req: &CopyObjectRequest) -> Result<CopyResult> {
        self.call(Op::PutObjectCopy, &req.destination.key, None)?;
        let delay = self.lock().part_delay;
        tokio::time::sleep(delay).await;
        let mut o = self.source(
            Op::PutObjectCopy,
            &req.source,
            req.conditions.if_match.as_deref(),
        )?;
        if let Some(c) = &req.headers.storage_class {
            o.storage_class = c.clone();
        }
        self.lock().objects.insert(
            (
                req.destination.bucket.to_string(),
                req.destination.key.clone(),
            ),
            o.clone(),
        );
        Ok(CopyResult {
            etag: o.etag,
            crc64: o.crc64,
            crc64nvme: None,
            last_modified: None,
        })
    }

    async fn initiate_multipart(&self, obj: &ObjectRef, headers: &ObjectHeaders) -> Result<String> {
        self.call(Op::InitiateMultipartUpload, &obj.key, None)?;
        let id = format!(
            "upload-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed) + 1
        );
        self.lock().uploads.insert(
            id.clone(),
            MemUpload {
                bucket: obj.bucket.to_string(),
                key: obj.key.clone(),
                headers: headers.clone(),
                parts: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    async fn upload_part(
        &self,
        obj: &ObjectRef,
        _u: &str,
        n: u32,
        _b: Bytes,
    ) -> Result<PartResult> {
        self.call(Op::UploadPart, &obj.key, Some(n))?;
        Err(Error::InvalidInput("the test double copies only".into()))
    }

    async fn upload_part_copy(&self, req: &UploadPartCopyRequest) -> Result<PartResult> {
        self.call(
            Op::UploadPartCopy,
            &req.destination.key,
            Some(req.part_number),
        )?;
        let delay = {
            let mut s = self.lock();
            s.in_flight += 1;
            s.max_in_flight = s.max_in_flight.max(s.in_flight);
            let n = {
                let n = s
                    .in_flight_per_upload
                    .entry(req.upload_id.clone())
                    .or_default();
                *n += 1;
                *n
            };
            let m = s
                .max_in_flight_per_upload
                .entry(req.upload_id.clone())
                .or_default();
            *m = (*m).max(n);
            s.part_delay
        };
        let _g = InFlight {
            store: self,
            upload: req.upload_id.clone(),
        };
        tokio::time::sleep(delay).await;
        let src = self.source(
            Op::UploadPartCopy,
            &req.source,
            req.conditions.if_match.as_deref(),
        )?;
        let range = req.range.unwrap_or(ByteRange {
            first: 0,
            last: src.size.saturating_sub(1),
        });
        if range.last >= src.size {
            return Err(service_error(Op::UploadPartCopy, 416, "InvalidRange"));
        }
        let etag = format!(
            "{:x}-{}-{}",
            range.first,
            range.last,
            &src.etag[..8.min(src.etag.len())]
        );
        let mut s = self.lock();
        let up = s
            .uploads
            .get_mut(&req.upload_id)
            .filter(|u| u.is_for(&req.destination))
            .ok_or_else(|| service_error(Op::UploadPartCopy, 404, "NoSuchUpload"))?;
        up.parts.insert(
            req.part_number,
            MemPart {
                etag: etag.clone(),
                size: range.len(),
                from: (src.etag.clone(), range),
            },
        );
        Ok(PartResult { etag, crc64: None })
    }

    async fn complete_multipart(
        &self,
        obj: &ObjectRef,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<CompleteResult> {
        self.call(Op::CompleteMultipartUpload, &obj.key, None)?;
        let mut s = self.lock();
        let up = s
            .uploads
            .get(upload_id)
            .filter(|u| u.is_for(obj))
            .cloned()
            .ok_or_else(|| service_error(Op::CompleteMultipartUpload, 404, "NoSuchUpload"))?;
        let mut size = 0;
        let mut next = 0;
        let mut src_etag = None;
        for (i, p) in parts.iter().enumerate() {
            let have = up
                .parts
                .get(&p.part_number)
                .filter(|h| h.etag == p.etag && p.part_number as usize == i + 1)
                .ok_or_else(|| service_error(Op::CompleteMultipartUpload, 400, "InvalidPart"))?;
            if have.from.1.first != next {
                return Err(service_error(
                    Op::CompleteMultipartUpload,
                    400,
                    "InvalidPart",
                ));
            }
            next = have.from.1.last + 1;
            size += have.size;
            src_etag = Some(have.from.0.clone());
        }
        // The CRC64 is the source's when the parts are one source, whole and in order.
        let crc64 = s
            .objects
            .values()
            .find(|o| Some(&o.etag) == src_etag.as_ref() && o.size == size)
            .and_then(|o| o.crc64);
        let etag = format!("{:032x}-{}", size, parts.len());
        let obj_new = MemObject {
            size,
            etag: etag.clone(),
            crc64,
            storage_class: up
                .headers
                .storage_class
                .clone()
                .unwrap_or_else(|| "STANDARD".into()),
            headers: up.headers.clone(),
        };
        s.objects
            .insert((up.bucket.clone(), up.key.clone()), obj_new);
        s.uploads.remove(upload_id);
        drop(s);
        self.reply_lost(Op::CompleteMultipartUpload)?;
        Ok(CompleteResult {
            etag,
            crc64,
            crc64nvme: None,
            location: None,
        })
    }

    async fn abort_multipart(&self, obj: &ObjectRef, upload_id: &str) -> Result<()> {
        self.call(Op::AbortMultipartUpload, &obj.key, None)?;
        let mut s = self.lock();
        if !s.uploads.get(upload_id).is_some_and(|u| u.is_for(obj)) {
            return Err(service_error(Op::AbortMultipartUpload, 404, "NoSuchUpload"));
        }
        s.uploads.remove(upload_id);
        Ok(())
    }

    async fn list_multipart_uploads(
        &self,
        bucket: &BucketName,
        _region: &str,
        req: &ListUploadsRequest,
    ) -> Result<ListUploadsPage> {
        self.call(Op::ListMultipartUploads, &req.prefix, None)?;
        let s = self.lock();
        let mut uploads: Vec<UploadInfo> = s
            .uploads
            .iter()
            .filter(|(_, u)| u.bucket == bucket.as_str() && u.key.starts_with(&req.prefix))
            .map(|(id, u)| UploadInfo {
                key: u.key.clone(),
                upload_id: id.clone(),
                initiated: None,
                storage_class: u.headers.storage_class.clone(),
            })
            .collect();
        uploads.sort_by(|a, b| (&a.key, &a.upload_id).cmp(&(&b.key, &b.upload_id)));
        // After (key-marker, upload-id-marker), at most max-uploads (default and cap 1000),
        // as COS pages them; the upload-id marker counts only with a key marker.
        let key_marker = req.key_marker.as_deref().unwrap_or("");
        let id_marker = req
            .upload_id_marker
            .as_deref()
            .filter(|_| !key_marker.is_empty());
        uploads.retain(|u| {
            key_marker.is_empty()
                || u.key.as_str() > key_marker
                || id_marker.is_some_and(|m| u.key == key_marker && u.upload_id.as_str() > m)
        });
        let max = req.max_uploads.unwrap_or(1000).min(1000) as usize;
        let is_truncated = uploads.len() > max;
        uploads.truncate(max);
        let last = uploads.last().filter(|_| is_truncated);
        Ok(ListUploadsPage {
            next_key_marker: last.map(|u| u.key.clone()),
            next_upload_id_marker: last.map(|u| u.upload_id.clone()),
            is_truncated,
            uploads,
            ..Default::default()
        })
    }

    async fn list_parts(
        &self,
        obj: &ObjectRef,
        upload_id: &str,
        marker: Option<u32>,
        max_parts: Option<u32>,
    ) -> Result<ListPartsPage> {
        self.call(Op::ListParts, &obj.key, None)?;
        let s = self.lock();
        let up = s
            .uploads
            .get(upload_id)
            .filter(|u| u.is_for(obj))
            .ok_or_else(|| service_error(Op::ListParts, 404, "NoSuchUpload"))?;
        let max = max_parts.unwrap_or(1000).min(1000) as usize;
        let all: Vec<PartInfo> = up
            .parts
            .range(marker.map_or(0, |m| m + 1)..)
            .map(|(n, p)| PartInfo {
                part_number: *n,
                etag: p.etag.clone(),
                size: p.size,
                last_modified: None,
            })
            .collect();
        let is_truncated = all.len() > max;
        let parts: Vec<PartInfo> = all.into_iter().take(max).collect();
        Ok(ListPartsPage {
            next_part_number_marker: parts.last().map(|p| p.part_number).filter(|_| is_truncated),
            parts,
            is_truncated,
        })
    }

    fn correct_clock(&self, server_time: SystemTime) {
        self.lock().clock_corrections.push(server_time);
    }
}
