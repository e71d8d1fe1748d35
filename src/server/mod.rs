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
    /// Create COUNT synthetic objects PREFIX00000000, PREFIX00000001, …:
    /// cos://NAME-APPID/PREFIX=COUNTxSIZE, e.g. =200000x1KiB (repeatable).
    #[arg(long = "objects", value_name = "cos://NAME-APPID/PREFIX=COUNTxSIZE")]
    pub object_sets: Vec<String>,
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
    /// How long the `timeout` fault stalls before answering 503, e.g. 60s.
    #[arg(long, value_parser = crate::units::parse_duration, default_value = "60s")]
    pub fault_stall: std::time::Duration,
    #[command(flatten)]
    pub limits: ConnLimits,
}

/// Connection limits (`conns.rs`).
#[derive(Debug, Clone, clap::Args)]
pub struct ConnLimits {
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

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

pub mod access_log;
pub mod auth;
pub mod conns;
pub mod demo;
pub mod error;
pub mod faults;
pub mod model;
pub mod persist;
pub mod service;
pub mod spill;
pub mod state;
pub mod xml;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

/// The fixed demo credentials, used when no `--credentials` is given.
pub const DEMO_SECRET_ID: &str = "AKIDhaulDemoLocalServer0000000000001";
pub const DEMO_SECRET_KEY: &str = "haulDemoSecretKeyForLoopbackOnly01";

/// A running server. Dropping it stops the server (without waiting); `shutdown` waits.
pub struct ServerHandle {
    /// The address it listens on (the real port when `--listen` asked for port 0).
    pub addr: SocketAddr,
    /// Accepted credentials, (SecretId, SecretKey).
    pub credentials: Vec<(String, String)>,
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ServerHandle {
    /// `http://IP:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, closes connections, saves `--data` state, and waits for all that.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Parses `ID:KEY` or `ID:KEY:TOKEN` (a temporary credential, whose token must be sent as
/// `x-cos-security-token`).
fn parse_credentials(specs: &[String]) -> anyhow::Result<auth::Credentials> {
    let mut creds = auth::Credentials::new();
    if specs.is_empty() {
        creds.insert(
            DEMO_SECRET_ID.to_string(),
            auth::Credential {
                secret_key: DEMO_SECRET_KEY.to_string(),
                token: None,
            },
        );
    }
    for spec in specs {
        let mut it = spec.splitn(3, ':');
        let (Some(id), Some(key)) = (it.next(), it.next()) else {
            anyhow::bail!(
                "--credentials takes ID:KEY or ID:KEY:TOKEN (the value given has no ':')"
            );
        };
        if id.is_empty() || key.is_empty() {
            anyhow::bail!("--credentials takes ID:KEY or ID:KEY:TOKEN with a non-empty ID and KEY");
        }
        creds.insert(
            id.to_string(),
            auth::Credential {
                secret_key: key.to_string(),
                token: it.next().map(str::to_string),
            },
        );
    }
    Ok(creds)
}

/// Builds the state from `--data`, `--demo`, `--bucket` and `--object`.
fn initial_state(args: &ServeArgs) -> anyhow::Result<state::State> {
    let now = service::now_secs();
    let mut st = match &args.data {
        Some(dir) => persist::load(dir)?.unwrap_or_default(),
        None => state::State::default(),
    };
    if args.demo {
        demo::load_demo(&mut st, now)?;
    }
    for b in &args.buckets {
        demo::add_bucket(&mut st, b, &args.region, now)?;
    }
    for o in &args.objects {
        demo::add_object(&mut st, o, &args.region, now)?;
    }
    for o in &args.object_sets {
        demo::add_objects(&mut st, o, &args.region, now)?;
    }
    Ok(st)
}

/// Starts the server on `args.listen` and returns once it accepts connections.
pub async fn start(args: ServeArgs) -> anyhow::Result<ServerHandle> {
    let creds = parse_credentials(&args.credentials)?;
    let mut kinds = Vec::new();
    for f in &args.faults {
        kinds.push(faults::Fault::parse(f).ok_or_else(|| {
            anyhow::anyhow!(
                "--faults {f:?} is not a fault kind: use slowdown, internal, reset, error200 or timeout"
            )
        })?);
    }
    let st = initial_state(&args)?;
    let spill = match &args.data {
        Some(dir) => spill::SpillDir::in_data_dir(dir).with_context(|| {
            format!(
                "cannot create {}: haul serve streams large uploads there",
                dir.join("spill").display()
            )
        })?,
        None => spill::SpillDir::temporary().with_context(|| {
            format!(
                "cannot create a directory under {} for large uploads: set TMPDIR to a writable directory",
                std::env::temp_dir().display()
            )
        })?,
    };
    let log = match &args.access_log {
        Some(p) => Some(access_log::AccessLog::open(p)?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}: is the port in use?", args.listen))?;
    let addr = listener.local_addr()?;
    let dirty = args
        .data
        .as_ref()
        .map(|_| Arc::new(tokio::sync::Notify::new()));
    let mut credentials: Vec<(String, String)> = creds
        .iter()
        .map(|(id, c)| (id.clone(), c.secret_key.clone()))
        .collect();
    credentials.sort();
    let shared = Arc::new(service::Shared {
        state: Mutex::new(st),
        creds,
        model: model::Model::new(
            args.latency,
            args.copy_rate,
            args.total_rate,
            args.jitter,
            args.seed,
        ),
        faults: faults::Faults::new(args.fault_rate, kinds, args.seed),
        log,
        seed: args.seed,
        default_region: args.region.clone(),
        seq: AtomicU64::new(0),
        dirty: dirty.clone(),
        stall: args.fault_stall,
        spill,
    });
    let fd_limit = conns::raise_fd_limit();
    let registry = conns::Registry::new(conns::Limits {
        header_timeout: args.limits.header_timeout,
        idle_timeout: args.limits.idle_timeout,
        max_connections: conns::effective_cap(args.limits.max_connections, fd_limit),
    });
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run(
        listener,
        shared,
        registry,
        cancel.clone(),
        args.data.clone(),
        dirty,
    ));
    Ok(ServerHandle {
        addr,
        credentials,
        cancel,
        task: Some(task),
    })
}

async fn run(
    listener: tokio::net::TcpListener,
    shared: Arc<service::Shared>,
    registry: Arc<conns::Registry>,
    cancel: CancellationToken,
    data: Option<PathBuf>,
    dirty: Option<Arc<tokio::sync::Notify>>,
) {
    let saver = match (data.clone(), dirty) {
        (Some(dir), Some(dirty)) => {
            let sh = shared.clone();
            let cancel = cancel.clone();
            Some(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = dirty.notified() => {}
                        _ = cancel.cancelled() => break,
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    save(&sh, &dir).await;
                }
            }))
        }
        _ => None,
    };
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = cancel.cancelled() => break,
        };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors and the like: wait a moment instead of spinning.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        // At the cap with every connection busy: close this one at once.
        let Some(conn) = registry.admit(&cancel) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let sh = shared.clone();
        let reg = registry.clone();
        tokio::spawn(async move {
            let svc = {
                let (reg, conn) = (reg.clone(), conn.clone());
                hyper::service::service_fn(move |req| {
                    // Busy from the complete head until the answer's body is sent or dropped.
                    let busy = reg.busy(&conn);
                    let sh = sh.clone();
                    async move {
                        let resp = service::handle(sh, req).await?;
                        Ok::<_, service::Dropped>(resp.map(|b| {
                            BodyExt::boxed(BodyExt::map_frame(b, move |f| {
                                let _keep = &busy;
                                f
                            }))
                        }))
                    }
                })
            };
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = served => {}
                _ = conn.closed().cancelled() => {}
                _ = reg.expired(&conn) => {}
            }
            reg.closed(&conn);
        });
    }
    if let Some(s) = saver {
        let _ = s.await;
    }
    if let Some(dir) = data {
        save(&shared, &dir).await;
    }
    shared.spill.remove_if_temporary();
}

/// Saves a snapshot (cheap: content bytes are shared) on a blocking thread.
async fn save(sh: &service::Shared, dir: &std::path::Path) {
    let snapshot = sh.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let dir = dir.to_path_buf();
    let saved =
        tokio::task::spawn_blocking(move || persist::save(&dir, &snapshot).map_err(|e| (dir, e)))
            .await;
    match saved {
        Ok(Ok(())) => {}
        Ok(Err((dir, e))) => {
            tracing::error!("cannot save the server state to {}: {e:#}", dir.display())
        }
        Err(e) => tracing::error!("the state saver panicked: {e}"),
    }
}
