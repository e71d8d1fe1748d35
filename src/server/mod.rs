//! The local COS-compatible server (`haul serve`, embedded by `haul demo`, used by every test
//! and benchmark): routing by Host, signature checks, extents-based content, CRC64, latency and
//! bandwidth model, seeded fault injection and an access log.

pub mod content;

use std::net::SocketAddr;
use std::path::PathBuf;

/// Start-up options, shared by `haul serve`, `haul demo` and the test harness.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// Accepted credentials, ID:KEY (repeatable). Without it a fixed demo pair is used and printed.
    #[arg(long = "credentials", value_name = "ID:KEY")]
    pub credentials: Vec<String>,
    /// Default region for buckets created without one.
    #[arg(long, default_value = "ap-guangzhou")]
    pub region: String,
    /// Create a bucket: NAME-APPID[@REGION] (repeatable).
    #[arg(long = "bucket", value_name = "NAME-APPID[@REGION]")]
    pub buckets: Vec<String>,
    /// Create a synthetic object: cos://NAME-APPID/KEY=SIZE, e.g. =64GiB or =40TB (repeatable).
    #[arg(long = "object", value_name = "cos://NAME-APPID/KEY=SIZE")]
    pub objects: Vec<String>,
    /// Load the demo data set (assets/demo.toml).
    #[arg(long)]
    pub demo: bool,
    /// Persist buckets and objects in this directory (in-memory by default).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Latency added to every request, e.g. 50ms.
    #[arg(long, value_parser = crate::units::parse_duration)]
    pub latency: Option<std::time::Duration>,
    /// Copy rate per copy request, e.g. 1GiB/s (a part copy of N bytes takes latency + N/rate).
    #[arg(long, value_parser = crate::units::parse_rate)]
    pub copy_rate: Option<u64>,
    /// Server-wide cap on copy bandwidth, e.g. 10GiB/s.
    #[arg(long, value_parser = crate::units::parse_rate)]
    pub total_rate: Option<u64>,
    /// Random extra latency as a fraction of the modelled time (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    pub jitter: f64,
    /// Probability that a request gets an injected fault (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Fault kinds: slowdown,internal,reset,error200,timeout (default: all).
    #[arg(long, value_delimiter = ',')]
    pub faults: Vec<String>,
    /// Seed for faults and jitter, so runs are reproducible.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write one JSON object a line per request to this file.
    #[arg(long)]
    pub access_log: Option<PathBuf>,
}
