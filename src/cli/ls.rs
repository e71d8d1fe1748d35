//! `haul ls`: buckets, or objects and prefixes under a URI, printed as pages arrive.
//!
//! A front end on `store`: one client, one listing, no retries of its own. Text for people
//! (one line an entry), `--json` for programs (one JSON object a line). Every failure ends in
//! one `haul: …` line and the exit code of docs/architecture.md §4; a closed stdout (`| head`) ends the
//! listing quietly.

use std::io::Write;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{exit, fail, GlobalArgs};
use crate::config;
use crate::store::client::CosClient;
use crate::store::s3::S3Client;
use crate::store::{
    BucketInfo, BucketName, CosUri, Dialect, Error, ListObjectsPage, ListObjectsRequest,
    ObjectStore,
};
use crate::text::escape_control;
use crate::units::format_size;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// cos://BUCKET-APPID/[PREFIX] or s3://BUCKET/[PREFIX]; without it (or with just cos:// or
    /// s3://), list buckets.
    pub uri: Option<String>,
    /// One JSON object a line.
    #[arg(long)]
    pub json: bool,
    /// Entries asked for per request (1–1000; COS's default is 1000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: Option<u32>,
}

/// Why the listing stopped early.
enum Stop {
    /// stdout was closed: not an error.
    Closed,
    Failed(String),
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Stop::Closed
        } else {
            Stop::Failed(format!("cannot write the listing: {e}"))
        }
    }
}

/// One store to list, and what to call it when it cannot be reached.
struct Conn {
    store: Box<dyn ObjectStore>,
    /// The endpoint, or "COS" / "S3" for the provider's own.
    target: String,
    dialect: Dialect,
}

pub fn run(global: &GlobalArgs, args: Args) -> i32 {
    // `s3://` alone lists the S3 profile's buckets, as no URI lists COS's.
    let (uri, dialect) = match args.uri.as_deref() {
        None | Some("cos://") => (None, None),
        Some("s3://") => (None, Some(Dialect::S3)),
        Some(u) => match CosUri::parse(u) {
            Ok(u) => {
                let d = u.dialect();
                (Some(u), Some(d))
            }
            Err(e) => return fail(exit::USAGE, e),
        },
    };
    let settings = match config::load(global.config.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(exit::USAGE, e),
    };
    let overrides = global.overrides();
    let profile = match dialect {
        Some(d) => config::resolve_profile_for(&settings, &overrides, d),
        None => config::resolve_profile(&settings, &overrides),
    };
    let profile = match profile {
        Ok(p) => p,
        Err(e) => return fail(exit::USAGE, e),
    };
    let store: Result<Box<dyn ObjectStore>, Error> = match profile.dialect {
        Dialect::Cos => CosClient::new(profile.client_options()).map(|c| Box::new(c) as _),
        Dialect::S3 => S3Client::new(profile.s3_options()).map(|c| Box::new(c) as _),
    };
    let client = match store {
        Ok(store) => Conn {
            store,
            target: profile.endpoint.clone().unwrap_or_else(|| {
                match profile.dialect {
                    Dialect::Cos => "COS",
                    Dialect::S3 => "S3",
                }
                .to_string()
            }),
            dialect: profile.dialect,
        },
        Err(e) => return fail(exit::USAGE, e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(exit::FAILED, format!("cannot start the async runtime: {e}")),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = runtime.block_on(async {
        match &uri {
            None => list_buckets(&client, args.json, &mut out).await,
            Some(uri) => {
                let listing = Listing {
                    uri,
                    json: args.json,
                    page_size: args.page_size,
                };
                list_objects(&client, &profile.region, &listing, &mut out).await
            }
        }
    });
    match result {
        Ok(()) | Err(Stop::Closed) => exit::OK,
        Err(Stop::Failed(message)) => fail(exit::FAILED, message),
    }
}

fn date(t: Option<OffsetDateTime>) -> Option<String> {
    t.and_then(|t| t.format(&Rfc3339).ok())
}

/// One line for a store error: network failures name what could not be reached.
fn describe(client: &Conn, e: &Error) -> String {
    let text = match e {
        Error::Network {
            resource,
            kind,
            message,
            ..
        } => {
            let target = &client.target;
            format!(
                "cannot reach {target} for {resource} ({}): {message}; check --endpoint, the network and any proxy",
                match kind {
                    crate::store::NetworkKind::Connect => "connection failed",
                    crate::store::NetworkKind::Timeout => "timed out",
                    crate::store::NetworkKind::Reset => "connection dropped",
                    crate::store::NetworkKind::Other => "network error",
                }
            )
        }
        other => other.to_string(),
    };
    text.replace(['\n', '\r'], " ")
}

async fn list_buckets(client: &Conn, json: bool, out: &mut impl Write) -> Result<(), Stop> {
    let buckets = client
        .store
        .list_buckets()
        .await
        .map_err(|e| Stop::Failed(describe(client, &e)))?;
    for b in &buckets {
        write_bucket(b, json, out)?;
    }
    out.flush()?;
    Ok(())
}

fn write_bucket(b: &BucketInfo, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    if json {
        let v = serde_json::json!({
            "name": b.name,
            "region": b.region,
            "created": date(b.created),
        });
        writeln!(out, "{v}")
    } else {
        writeln!(
            out,
            "{:<50}  {:<18}  {}",
            escape_control(&b.name),
            escape_control(&b.region),
            date(b.created).unwrap_or_else(|| "-".to_string())
        )
    }
}

fn write_page(page: &ListObjectsPage, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    for p in &page.common_prefixes {
        if json {
            writeln!(out, "{}", serde_json::json!({ "prefix": p }))?;
        } else {
            writeln!(
                out,
                "{:>10}  {:<20}  {:<12}  {}",
                "PRE",
                "",
                "",
                escape_control(p)
            )?;
        }
    }
    for o in &page.objects {
        if json {
            let v = serde_json::json!({
                "key": o.key,
                "size": o.size,
                "last_modified": date(o.last_modified),
                "etag": o.etag,
                "storage_class": o.storage_class,
            });
            writeln!(out, "{v}")?;
        } else {
            writeln!(
                out,
                "{:>10}  {:<20}  {:<12}  {}",
                format_size(o.size),
                date(o.last_modified).unwrap_or_else(|| "-".to_string()),
                escape_control(&o.storage_class),
                escape_control(&o.key)
            )?;
        }
    }
    out.flush()
}

/// What to list and how to print it.
struct Listing<'a> {
    uri: &'a CosUri,
    json: bool,
    page_size: Option<u32>,
}

/// Lists under `uri` with delimiter `/`, page after page. The bucket is first addressed in the
/// profile's region; on `NoSuchBucket` its real region is looked up with GET Service.
async fn list_objects(
    client: &Conn,
    region: &str,
    listing: &Listing<'_>,
    out: &mut impl Write,
) -> Result<(), Stop> {
    let Listing {
        uri,
        json,
        page_size,
    } = *listing;
    let mut request = ListObjectsRequest {
        prefix: uri.key.clone(),
        delimiter: Some("/".to_string()),
        marker: None,
        max_keys: page_size,
    };
    let bucket = &uri.bucket;
    // S3 names a bucket's region in HEAD Bucket's answer (even from the wrong region).
    let looked_up;
    let region = match client.dialect {
        Dialect::S3 => {
            looked_up = client
                .store
                .head_bucket(bucket, region)
                .await
                .map_err(|e| Stop::Failed(describe(client, &e)))?;
            looked_up.as_str()
        }
        Dialect::Cos => region,
    };
    let (region, first) = match client.store.list_objects(bucket, region, &request).await {
        Ok(page) => (region.to_string(), page),
        Err(e) if e.code() == Some("NoSuchBucket") => {
            let found = find_region(client, bucket, region, &e).await?;
            let page = client
                .store
                .list_objects(bucket, &found, &request)
                .await
                .map_err(|e| Stop::Failed(describe(client, &e)))?;
            (found, page)
        }
        Err(e) => return Err(Stop::Failed(describe(client, &e))),
    };
    let mut page = first;
    loop {
        write_page(&page, json, out)?;
        if !page.is_truncated {
            return Ok(());
        }
        let next = match page.next_marker.take() {
            Some(m) if Some(&m) != request.marker.as_ref() => m,
            _ => {
                return Err(Stop::Failed(format!(
                    "the listing of {uri} stopped moving (truncated page without a new marker): the server is not answering like COS"
                )))
            }
        };
        request.marker = Some(next);
        page = client
            .store
            .list_objects(bucket, &region, &request)
            .await
            .map_err(|e| Stop::Failed(describe(client, &e)))?;
    }
}

/// The region of `bucket` according to GET Service, or a clear failure.
async fn find_region(
    client: &Conn,
    bucket: &BucketName,
    tried: &str,
    original: &Error,
) -> Result<String, Stop> {
    let buckets = match client.store.list_buckets().await {
        Ok(b) => b,
        Err(_) => {
            return Err(Stop::Failed(format!(
                "bucket {bucket} does not exist in {tried} and the account's bucket list could not be read to find its region ({}): check the name, or set the region with HAUL_REGION",
                original.request_id().map(|r| format!("NoSuchBucket, request {r}")).unwrap_or_else(|| "NoSuchBucket".to_string())
            )))
        }
    };
    match buckets.iter().find(|b| b.name == bucket.as_str()) {
        Some(b) if !b.region.is_empty() && b.region != tried => Ok(b.region.clone()),
        // Listed in the region we tried, yet missing there: report COS's own answer.
        Some(_) => Err(Stop::Failed(describe(client, original))),
        None => Err(Stop::Failed(format!(
            "bucket {bucket} does not exist (not in {tried}, not among the account's {} buckets): check the name, NAME-APPID",
            buckets.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ObjectSummary;

    #[test]
    fn json_lines_have_the_documented_fields() {
        let page = ListObjectsPage {
            objects: vec![ObjectSummary {
                key: "dir/a b".into(),
                size: 5,
                last_modified: Some(time::macros::datetime!(2020-12-10 03:37:30 UTC)),
                etag: "abc".into(),
                storage_class: "STANDARD".into(),
            }],
            common_prefixes: vec!["dir/sub/".into()],
            is_truncated: false,
            next_marker: None,
        };
        let mut out = Vec::new();
        write_page(&page, true, &mut out).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0], serde_json::json!({"prefix": "dir/sub/"}));
        assert_eq!(
            lines[1],
            serde_json::json!({"key": "dir/a b", "size": 5, "last_modified": "2020-12-10T03:37:30Z",
                               "etag": "abc", "storage_class": "STANDARD"})
        );
        let mut out = Vec::new();
        write_bucket(
            &BucketInfo {
                name: "b-1".into(),
                region: "ap-beijing".into(),
                created: None,
            },
            true,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap().trim(),
            r#"{"created":null,"name":"b-1","region":"ap-beijing"}"#
        );
    }

    #[test]
    fn text_lines_show_size_date_class_and_key() {
        let page = ListObjectsPage {
            objects: vec![ObjectSummary {
                key: "k".into(),
                size: 1536,
                last_modified: None,
                etag: "e".into(),
                storage_class: "ARCHIVE".into(),
            }],
            common_prefixes: vec!["p/".into()],
            ..ListObjectsPage::default()
        };
        let mut out = Vec::new();
        write_page(&page, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].trim_start().starts_with("PRE") && lines[0].ends_with("p/"));
        assert!(
            lines[1].contains("1.50 KiB")
                && lines[1].contains("ARCHIVE")
                && lines[1].ends_with("  k")
        );
    }

    #[test]
    fn control_characters_are_escaped_in_text_and_exact_in_json() {
        let page = ListObjectsPage {
            objects: vec![ObjectSummary {
                key: "a\u{1b}]0;pwned\u{7}\nb".into(),
                size: 1,
                last_modified: None,
                etag: "e".into(),
                storage_class: "STANDARD".into(),
            }],
            common_prefixes: vec!["p\r/".into()],
            ..ListObjectsPage::default()
        };
        let mut out = Vec::new();
        write_page(&page, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text:?}");
        assert!(lines[0].ends_with("p\\r/"), "{text:?}");
        assert!(lines[1].ends_with("a\\x1b]0;pwned\\x07\\nb"), "{text:?}");
        let mut out = Vec::new();
        write_page(&page, true, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let keys: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(keys[0]["prefix"], "p\r/");
        assert_eq!(keys[1]["key"], "a\u{1b}]0;pwned\u{7}\nb");
        let mut out = Vec::new();
        write_bucket(
            &BucketInfo {
                name: "b\u{1b}-1".into(),
                region: "ap\n".into(),
                created: None,
            },
            false,
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("b\\x1b-1 ") && text.contains("ap\\n "),
            "{text:?}"
        );
    }
}
