//! Bucket regions: HEAD Bucket in the default region first; on NoSuchBucket, look the bucket up
//! in ListBuckets' `region`. Cached per engine.
//!
//! I/O through `ObjectStore` only; retries through `retry`.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

use crate::store::{BucketName, Error, ObjectStore};

use super::retry::{retry, RetryPolicy, Stop};

#[derive(Debug)]
pub struct Regions {
    default: String,
    cache: Mutex<HashMap<String, String>>,
}

impl Regions {
    pub fn new(default: impl Into<String>) -> Regions {
        Regions {
            default: default.into(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn cached(&self, bucket: &BucketName) -> Option<String> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(bucket.as_str())
            .cloned()
    }

    fn remember(&self, bucket: &BucketName, region: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(bucket.to_string(), region.to_string());
    }

    /// The bucket's region, discovering it once.
    pub async fn resolve(
        &self,
        store: &dyn ObjectStore,
        bucket: &BucketName,
        policy: &RetryPolicy,
        stop: &CancellationToken,
    ) -> Result<String, Stop> {
        if let Some(r) = self.cached(bucket) {
            return Ok(r);
        }
        let head = retry(
            store,
            policy,
            stop,
            true,
            |_, _, _| {},
            |_| store.head_bucket(bucket, &self.default),
        )
        .await;
        match head {
            Ok(region) => {
                let region = if region.is_empty() {
                    self.default.clone()
                } else {
                    region
                };
                self.remember(bucket, &region);
                Ok(region)
            }
            Err(Stop::Failed { error, attempts }) if error.is_not_found() => {
                let buckets = retry(
                    store,
                    policy,
                    stop,
                    true,
                    |_, _, _| {},
                    |_| store.list_buckets(),
                )
                .await?;
                match buckets.iter().find(|b| b.name == bucket.as_str()) {
                    Some(b) => {
                        self.remember(bucket, &b.region);
                        Ok(b.region.clone())
                    }
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
