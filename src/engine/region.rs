//! Bucket regions: HEAD Bucket in the default region first; on NoSuchBucket, look the bucket up
//! in ListBuckets' `region`. Cached per engine, and looked up once: concurrent callers for one
//! bucket share the lookup in flight.
//!
//! I/O through `ObjectStore` only; retries through `retry`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;

use tokio_util::sync::CancellationToken;

use crate::store::{BucketName, Error, ObjectStore};

use super::retry::{retry, RetryPolicy, Stop};

#[derive(Debug)]
pub struct Regions {
    default: String,
    cache: Mutex<HashMap<String, Arc<OnceCell<String>>>>,
}

impl Regions {
    pub fn new(default: impl Into<String>) -> Regions {
        Regions {
            default: default.into(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cell(&self, bucket: &BucketName) -> Arc<OnceCell<String>> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(cache.entry(bucket.to_string()).or_default())
    }

    pub fn cached(&self, bucket: &BucketName) -> Option<String> {
        self.cell(bucket).get().cloned()
    }

    /// The bucket's region, discovering it once; retries are told to `on_retry(attempt that
    /// failed, wait, error)`.
    pub async fn resolve(
        &self,
        store: &dyn ObjectStore,
        bucket: &BucketName,
        policy: &RetryPolicy,
        stop: &CancellationToken,
    ) -> Result<String, Stop> {
        self.resolve_with(store, bucket, policy, stop, &|_, _, _| {})
            .await
    }

    pub async fn resolve_with(
        &self,
        store: &dyn ObjectStore,
        bucket: &BucketName,
        policy: &RetryPolicy,
        stop: &CancellationToken,
        on_retry: &(dyn Fn(u32, Duration, &Error) + Sync),
    ) -> Result<String, Stop> {
        let cell = self.cell(bucket);
        cell.get_or_try_init(|| self.lookup(store, bucket, policy, stop, on_retry))
            .await
            .cloned()
    }

    async fn lookup(
        &self,
        store: &dyn ObjectStore,
        bucket: &BucketName,
        policy: &RetryPolicy,
        stop: &CancellationToken,
        on_retry: &(dyn Fn(u32, Duration, &Error) + Sync),
    ) -> Result<String, Stop> {
        let head = retry(
            store,
            policy,
            stop,
            true,
            |a, w, e| on_retry(a, w, e),
            |_| store.head_bucket(bucket, &self.default),
        )
        .await;
        match head {
            Ok(region) if region.is_empty() => Ok(self.default.clone()),
            Ok(region) => Ok(region),
            Err(Stop::Failed { error, attempts }) if error.is_not_found() => {
                let buckets = retry(
                    store,
                    policy,
                    stop,
                    true,
                    |a, w, e| on_retry(a, w, e),
                    |_| store.list_buckets(),
                )
                .await?;
                match buckets.iter().find(|b| b.name == bucket.as_str()) {
                    Some(b) => Ok(b.region.clone()),
                    None => Err(Stop::Failed {
                        error: Error::InvalidInput(format!(
                            "bucket {bucket} was not found in {} nor in the account's bucket list ({error}): check the name (NAME-APPID) and the credentials",
                            self.default
                        )),
                        attempts,
                    }),
                }
            }
            Err(e) => Err(e),
        }
    }
}
