//! The demo data set (`--demo`, `assets/demo.toml`) and the start-up objects of `--bucket` /
//! `--object`: parsing them and putting them into a `State`.
//!
//! Synthetic content is seeded from bucket and key, so the same object always has the same
//! bytes, ETag and CRC64 on every run.

use serde::Deserialize;

use super::content::Content;
use super::faults::hash_str;
use super::state::{Bucket, Meta, Object, State};
use crate::store::endpoint::{BucketName, CosUri};

pub const DEMO_TOML: &str = include_str!("../../assets/demo.toml");

#[derive(Debug, Deserialize)]
struct DemoFile {
    #[serde(default)]
    bucket: Vec<DemoBucket>,
    #[serde(default)]
    object: Vec<DemoObject>,
    #[serde(default)]
    many: Vec<DemoMany>,
}

#[derive(Debug, Deserialize)]
struct DemoBucket {
    name: String,
    region: String,
}

#[derive(Debug, Deserialize)]
struct DemoObject {
    uri: String,
    size: String,
}

#[derive(Debug, Deserialize)]
struct DemoMany {
    bucket: String,
    prefix: String,
    #[serde(default)]
    suffix: String,
    count: usize,
    size: String,
}

/// The seed of a synthetic object: stable across runs.
pub fn seed_for(bucket: &str, key: &str) -> u64 {
    hash_str(&format!("{bucket}/{key}"))
}

/// A synthetic object as `--object` and the demo create it.
pub fn synthetic_object(bucket: &str, key: &str, size: u64, now: i64) -> Object {
    let content = Content::synthetic(seed_for(bucket, key), size);
    Object {
        size,
        crc64: content.crc64(),
        // Synthetic bytes are never read for their ETag, so this cannot fail.
        etag: content.etag_md5_hex().unwrap_or_default(),
        content,
        last_modified: now,
        meta: Meta::standard(),
    }
}

/// `NAME-APPID[@REGION]`
pub fn add_bucket(
    st: &mut State,
    spec: &str,
    default_region: &str,
    now: i64,
) -> anyhow::Result<()> {
    let (name, region) = spec.split_once('@').unwrap_or((spec, default_region));
    let name = BucketName::parse(name).map_err(|e| anyhow::anyhow!("--bucket {spec:?}: {e}"))?;
    st.buckets
        .entry(name.as_str().to_string())
        .or_insert_with(|| Bucket::new(name.as_str(), region, now));
    Ok(())
}

/// `cos://NAME-APPID/KEY=SIZE`; the bucket is created in the default region if missing.
pub fn add_object(
    st: &mut State,
    spec: &str,
    default_region: &str,
    now: i64,
) -> anyhow::Result<()> {
    let (uri, size) = spec.rsplit_once('=').ok_or_else(|| {
        anyhow::anyhow!("--object {spec:?}: write cos://NAME-APPID/KEY=SIZE, e.g. =40TB")
    })?;
    let size = crate::units::parse_size(size).map_err(|e| anyhow::anyhow!("--object: {e}"))?;
    put_synthetic(st, uri, size, default_region, now)
        .map_err(|e| anyhow::anyhow!("--object {spec:?}: {e}"))
}

/// `cos://NAME-APPID/PREFIX=COUNTxSIZE`: COUNT synthetic objects named PREFIX and an
/// 8-digit index from 00000000; the bucket is created in the default region if missing.
pub fn add_objects(
    st: &mut State,
    spec: &str,
    default_region: &str,
    now: i64,
) -> anyhow::Result<()> {
    let usage = || {
        anyhow::anyhow!(
            "--objects {spec:?}: write cos://NAME-APPID/PREFIX=COUNTxSIZE, e.g. =200000x1KiB"
        )
    };
    let (uri, rest) = spec.rsplit_once('=').ok_or_else(usage)?;
    let (count, size) = rest.split_once(['x', 'X']).ok_or_else(usage)?;
    let count: u64 = count.trim().parse().map_err(|_| {
        anyhow::anyhow!("--objects {spec:?}: COUNT {count:?} is not a whole number")
    })?;
    if count > 100_000_000 {
        anyhow::bail!("--objects {spec:?}: at most 100000000 objects fit an 8-digit index");
    }
    let size = crate::units::parse_size(size).map_err(|e| anyhow::anyhow!("--objects: {e}"))?;
    let uri = CosUri::parse(uri).map_err(|e| anyhow::anyhow!("--objects {spec:?}: {e}"))?;
    let b = uri.bucket.as_str();
    let bucket = st
        .buckets
        .entry(b.to_string())
        .or_insert_with(|| Bucket::new(b, default_region, now));
    // Every key has the same length and characters of the same kind: one check.
    let first = format!("{}{:08}", uri.key, 0);
    crate::store::encode::validate_key(&first)
        .map_err(|e| anyhow::anyhow!("--objects {spec:?}: {first:?}: {e}"))?;
    // Built from sorted keys and appended, the map's nodes are full (inserting one by one
    // leaves them about half empty): some 40 % less memory for a large set.
    let mut set: std::collections::BTreeMap<String, Object> = (0..count)
        .map(|i| {
            let key = format!("{}{i:08}", uri.key);
            let o = synthetic_object(b, &key, size, now);
            (key, o)
        })
        .collect();
    bucket.objects.append(&mut set);
    Ok(())
}

fn put_synthetic(
    st: &mut State,
    uri: &str,
    size: u64,
    default_region: &str,
    now: i64,
) -> anyhow::Result<()> {
    let uri = CosUri::parse(uri)?;
    if uri.is_prefix() {
        anyhow::bail!("{uri} names a prefix, not an object");
    }
    let b = uri.bucket.as_str();
    let bucket = st
        .buckets
        .entry(b.to_string())
        .or_insert_with(|| Bucket::new(b, default_region, now));
    bucket
        .objects
        .insert(uri.key.clone(), synthetic_object(b, &uri.key, size, now));
    Ok(())
}

/// Loads `assets/demo.toml` into the state.
pub fn load_demo(st: &mut State, now: i64) -> anyhow::Result<()> {
    load_toml(st, DEMO_TOML, now)
}

pub fn load_toml(st: &mut State, text: &str, now: i64) -> anyhow::Result<()> {
    let demo: DemoFile =
        toml::from_str(text).map_err(|e| anyhow::anyhow!("the demo data set is invalid: {e}"))?;
    for b in &demo.bucket {
        add_bucket(st, &format!("{}@{}", b.name, b.region), &b.region, now)?;
    }
    for o in &demo.object {
        let size = crate::units::parse_size(&o.size).map_err(|e| anyhow::anyhow!("{e}"))?;
        put_synthetic(st, &o.uri, size, "ap-guangzhou", now)?;
    }
    for m in &demo.many {
        let size = crate::units::parse_size(&m.size).map_err(|e| anyhow::anyhow!("{e}"))?;
        for i in 0..m.count {
            let uri = format!("cos://{}/{}{i:05}{}", m.bucket, m.prefix, m.suffix);
            put_synthetic(st, &uri, size, "ap-guangzhou", now)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_set_loads_with_buckets_in_two_regions_and_thousands_of_thumbs() {
        let mut st = State::default();
        load_demo(&mut st, 0).expect("demo.toml parses");
        let regions: std::collections::BTreeSet<_> =
            st.buckets.values().map(|b| b.region.as_str()).collect();
        assert!(regions.len() >= 2);
        let media = &st.buckets["media-1250000000"];
        assert!(
            media
                .objects
                .keys()
                .filter(|k| k.starts_with("thumbs/"))
                .count()
                >= 3000
        );
        assert!(media.objects.values().any(|o| o.size >= 40_000_000_000_000));
    }

    #[test]
    fn objects_spec_makes_count_keys_with_an_8_digit_index_and_refuses_bad_specs() {
        let mut st = State::default();
        add_objects(&mut st, "cos://many-1250000000/p/=3x1KiB", "ap-beijing", 0).expect("parses");
        let bucket = &st.buckets["many-1250000000"];
        assert_eq!(bucket.region, "ap-beijing");
        let keys: Vec<&String> = bucket.objects.keys().collect();
        assert_eq!(keys, ["p/00000000", "p/00000001", "p/00000002"]);
        assert!(bucket.objects.values().all(|o| o.size == 1024));
        for bad in [
            "cos://many-1250000000/p/=3",
            "cos://many-1250000000/p/=x1KiB",
            "cos://many-1250000000/p/=3xlots",
            "cos://many-1250000000/p/",
            "cos://many-1250000000/p/=100000001x1",
        ] {
            assert!(add_objects(&mut st, bad, "ap-beijing", 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn synthetic_seed_is_stable() {
        assert_eq!(seed_for("b-1", "k"), seed_for("b-1", "k"));
        assert_ne!(seed_for("b-1", "k"), seed_for("b-1", "k2"));
    }
}
