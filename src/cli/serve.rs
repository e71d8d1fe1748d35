//! `haul serve`: the local COS-compatible server in the foreground.
//!
//! Owns the flags and turns them into a `server::ServeConfig` (credentials from argv, a
//! file or `HAUL_SERVE_CREDENTIALS`). Prints `listening http://IP:PORT` as the very first
//! line on stdout (scripts wait for it), then the credentials to use — a secret the user gave
//! is never printed, only its id and where it came from; runs until SIGINT or SIGTERM, then
//! exits 0.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::GlobalArgs;
use crate::server::{ServeConfig, ServeCredential, CREDENTIALS_ENV};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free one. Beyond loopback, credentials are required.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// Accepted credentials, ID:KEY[:TOKEN] (repeatable; visible in `ps`: prefer
    /// --credentials-file or $HAUL_SERVE_CREDENTIALS). Without any, a fixed demo pair is used
    /// and printed, on loopback only. Each pair is also an S3 access key id and secret (the
    /// same port answers requests signed with AWS Signature V4).
    #[arg(long = "credentials", value_name = "ID:KEY[:TOKEN]")]
    pub credentials: Vec<String>,
    /// Read accepted credentials from this file: one ID:KEY[:TOKEN] a line, `#` comments.
    #[arg(long, value_name = "PATH")]
    pub credentials_file: Option<PathBuf>,
    /// Default region for buckets created without one.
    #[arg(long, default_value = "ap-guangzhou")]
    pub region: String,
    /// Create a bucket: NAME-APPID[@REGION] (repeatable).
    #[arg(long = "bucket", value_name = "NAME-APPID[@REGION]")]
    pub buckets: Vec<String>,
    /// Create a synthetic object: cos://NAME-APPID/KEY=SIZE, e.g. =64GiB or =40TB (repeatable).
    #[arg(long = "object", value_name = "cos://NAME-APPID/KEY=SIZE")]
    pub objects: Vec<String>,
    /// Create COUNT synthetic objects PREFIX00000000, PREFIX00000001, …:
    /// cos://NAME-APPID/PREFIX=COUNTxSIZE, e.g. =200000x1KiB (repeatable).
    #[arg(long = "objects", value_name = "cos://NAME-APPID/PREFIX=COUNTxSIZE")]
    pub object_sets: Vec<String>,
    /// Load the demo data set (assets/demo.toml).
    #[arg(long)]
    pub demo: bool,
    /// Persist buckets and objects in this directory (in-memory by default); one server at a time.
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
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction)]
    pub jitter: f64,
    /// Probability that a request gets an injected fault (0.0–1.0).
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction)]
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
    /// How long the `timeout` fault stalls before answering 503, e.g. 60s.
    #[arg(long, value_parser = crate::units::parse_duration, default_value = "60s")]
    pub fault_stall: std::time::Duration,
    /// Close a connection that has not sent a complete request head this long after it opened.
    #[arg(long, value_parser = crate::units::parse_duration, default_value = "10s")]
    pub header_timeout: std::time::Duration,
    /// Close a keep-alive connection idle this long between requests.
    #[arg(long, value_parser = crate::units::parse_duration, default_value = "60s")]
    pub idle_timeout: std::time::Duration,
    /// Most connections open at once; a new one evicts the oldest half-open or idle one.
    /// Lowered to fit the file-descriptor limit.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
}

/// A fraction 0.0–1.0 (`--jitter`, `--fault-rate`).
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Ok(_) => Err(format!("{s} is outside 0.0–1.0 (0.1 = one in ten)")),
        Err(_) => Err(format!("{s:?} is not a number from 0.0 to 1.0")),
    }
}

/// The largest credentials file read, so a wrong path (a device, a huge file) fails at once.
const MAX_CREDENTIALS_FILE: u64 = 64 * 1024;

impl Args {
    /// The server config these flags describe, credentials read from every source given.
    pub fn into_config(self) -> Result<ServeConfig, String> {
        self.load().map(|(config, _)| config)
    }

    /// The config and, for each credential, where it came from (for the banner).
    fn load(self) -> Result<(ServeConfig, Vec<String>), String> {
        let mut credentials = Vec::new();
        let mut sources = Vec::new();
        for spec in &self.credentials {
            credentials
                .push(ServeCredential::parse(spec).map_err(|e| format!("--credentials: {e}"))?);
            sources.push("--credentials".to_string());
        }
        if let Some(path) = &self.credentials_file {
            for c in read_credentials_file(path)? {
                credentials.push(c);
                sources.push(format!("--credentials-file {}", path.display()));
            }
        }
        if let Some(value) = std::env::var_os(CREDENTIALS_ENV) {
            let value = value
                .into_string()
                .map_err(|_| format!("${CREDENTIALS_ENV} is not UTF-8"))?;
            for (n, spec) in entries(&value) {
                let c = ServeCredential::parse(spec)
                    .map_err(|e| format!("${CREDENTIALS_ENV} entry {n}: {e}"))?;
                credentials.push(c);
                sources.push(format!("${CREDENTIALS_ENV}"));
            }
        }
        let config = ServeConfig {
            listen: self.listen,
            credentials,
            region: self.region,
            buckets: self.buckets,
            objects: self.objects,
            object_sets: self.object_sets,
            demo: self.demo,
            data: self.data,
            latency: self.latency,
            copy_rate: self.copy_rate,
            total_rate: self.total_rate,
            jitter: self.jitter,
            fault_rate: self.fault_rate,
            faults: self.faults,
            seed: self.seed,
            access_log: self.access_log,
            fault_stall: self.fault_stall,
            limits: crate::server::ConnLimits {
                header_timeout: self.header_timeout,
                idle_timeout: self.idle_timeout,
                max_connections: self.max_connections,
            },
        };
        Ok((config, sources))
    }
}

/// Non-empty, non-comment entries of a credentials list (lines, or commas within a line),
/// numbered from 1 by line.
fn entries(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().flat_map(|(i, line)| {
        line.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.starts_with('#'))
            .map(move |e| (i + 1, e))
    })
}

fn read_credentials_file(path: &Path) -> Result<Vec<ServeCredential>, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("--credentials-file {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("--credentials-file {shown} is not a regular file"));
    }
    if meta.len() > MAX_CREDENTIALS_FILE {
        return Err(format!(
            "--credentials-file {shown} is {} bytes, over the {MAX_CREDENTIALS_FILE}-byte limit: is it the right file?",
            meta.len()
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: --credentials-file {shown} is readable by other users; `chmod 600` it"
            );
        }
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--credentials-file {shown}: {e}"))?;
    let mut out = Vec::new();
    for (n, spec) in entries(&text) {
        out.push(
            ServeCredential::parse(spec)
                .map_err(|e| format!("--credentials-file {shown} line {n}: {e}"))?,
        );
    }
    if out.is_empty() {
        return Err(format!(
            "--credentials-file {shown} holds no credentials: write one ID:KEY[:TOKEN] a line"
        ));
    }
    Ok(out)
}

pub fn run(_global: &GlobalArgs, args: Args) -> i32 {
    let (config, sources) = match args.load() {
        Ok(c) => c,
        Err(e) => return super::fail(super::exit::USAGE, e),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return super::fail(super::exit::FAILED, format!("cannot start tokio: {e}")),
    };
    rt.block_on(serve(config, sources))
}

async fn serve(config: ServeConfig, sources: Vec<String>) -> i32 {
    // Install the signal handlers before announcing the address, so that a SIGTERM sent as
    // soon as the first line appears is already handled.
    let signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            return super::fail(
                super::exit::FAILED,
                format!("cannot install signal handlers: {e}"),
            )
        }
    };
    let given: Vec<(String, String)> = config
        .credentials
        .iter()
        .map(|c| c.id.clone())
        .zip(sources)
        .collect();
    let handle = match crate::server::start(config).await {
        Ok(h) => h,
        Err(e) => return super::fail(super::exit::USAGE, format!("{e:#}")),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening {}", handle.endpoint());
    if given.is_empty() {
        for (id, key) in &handle.credentials {
            let _ = writeln!(
                out,
                "credentials {id}:{key} (the public demo pair; loopback only)"
            );
        }
    } else {
        for (id, source) in &given {
            let _ = writeln!(out, "credentials {id}:******** (key from {source})");
        }
    }
    let _ = writeln!(
        out,
        "s3: the same port answers S3 (Signature V4, path-style): each ID:KEY is also an access key id and secret, e.g. AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY=… aws --endpoint-url {} s3 ls",
        handle
            .credentials
            .first()
            .map(|c| c.0.as_str())
            .unwrap_or(""),
        handle.endpoint()
    );
    let _ = writeln!(
        out,
        "try: TENCENTCLOUD_SECRET_ID={} TENCENTCLOUD_SECRET_KEY=… haul --endpoint {} ls",
        handle
            .credentials
            .first()
            .map(|c| c.0.as_str())
            .unwrap_or(""),
        handle.endpoint()
    );
    let _ = out.flush();
    drop(out);
    if !handle.addr.ip().is_loopback() {
        eprintln!(
            "warning: serving plain HTTP on {}: requests and answers cross the network unencrypted",
            handle.addr
        );
    }
    signals.wait().await;
    handle.shutdown().await;
    super::exit::OK
}

#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Signals)
    }

    async fn wait(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_lists_take_lines_commas_and_skip_comments() {
        let got: Vec<(usize, &str)> = entries("# keys\nA:a, B:b:tok\n\n  C:c  \n#D:d\n").collect();
        assert_eq!(got, [(2, "A:a"), (2, "B:b:tok"), (4, "C:c")]);
    }

    #[test]
    fn a_credential_needs_an_id_and_a_key_and_a_token_when_it_has_a_colon() {
        let c = ServeCredential::parse("AKID:key:to:ken").expect("parses");
        assert_eq!(
            (c.id.as_str(), c.key.as_str(), c.token.as_deref()),
            ("AKID", "key", Some("to:ken"))
        );
        for bad in ["AKID", ":key", "AKID:", "AKID:key:"] {
            let e = ServeCredential::parse(bad).expect_err(bad);
            assert!(!e.contains("AKID"), "the value is not echoed: {e}");
        }
        let debug = format!("{:?}", ServeCredential::parse("AKID:s3cret:t0ken"));
        assert!(
            debug.contains("AKID") && !debug.contains("s3cret") && !debug.contains("t0ken"),
            "Debug hides key and token: {debug}"
        );
    }

    #[test]
    fn fractions_are_zero_to_one() {
        assert_eq!(parse_fraction("0"), Ok(0.0));
        assert_eq!(parse_fraction("1.0"), Ok(1.0));
        assert_eq!(parse_fraction("0.25"), Ok(0.25));
        for bad in ["2", "-0.1", "NaN", "inf", "x"] {
            assert!(parse_fraction(bad).is_err(), "{bad}");
        }
    }
}
