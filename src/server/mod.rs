//! The local COS-compatible server (`haul serve`, embedded by `haul demo`, used by every test
//! and benchmark), which also answers S3 (SigV4) on the same port: routing by Host, signature
//! checks, extents-based content, CRC64, latency and bandwidth model, seeded fault injection
//! and an access log.

pub mod content;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Start-up configuration of the server: what `haul serve`'s flags become (`cli/serve.rs`
/// owns the flags), and what `haul demo`, the tests and the benchmarks fill in directly.
/// Checked by `start`, so every way in gets the same refusals.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Accepted credentials. Empty: the fixed, public demo pair, on a loopback address only.
    pub credentials: Vec<ServeCredential>,
    /// Default region for buckets created without one.
    pub region: String,
    /// Buckets to create: NAME-APPID[@REGION].
    pub buckets: Vec<String>,
    /// Synthetic objects to create: cos://NAME-APPID/KEY=SIZE.
    pub objects: Vec<String>,
    /// Sets of synthetic objects PREFIX00000000, PREFIX00000001, …:
    /// cos://NAME-APPID/PREFIX=COUNTxSIZE.
    pub object_sets: Vec<String>,
    /// Load the demo data set (assets/demo.toml).
    pub demo: bool,
    /// Persist buckets and objects in this directory (locked while the server runs).
    pub data: Option<PathBuf>,
    /// Latency added to every request.
    pub latency: Option<Duration>,
    /// Copy rate per copy request, bytes/s.
    pub copy_rate: Option<u64>,
    /// Server-wide cap on copy bandwidth, bytes/s.
    pub total_rate: Option<u64>,
    /// Random extra latency as a fraction of the modelled time, 0.0–1.0.
    pub jitter: f64,
    /// Probability that a request gets an injected fault, 0.0–1.0.
    pub fault_rate: f64,
    /// Fault kinds by name: slowdown, internal, reset, error200, timeout (empty: all).
    pub faults: Vec<String>,
    /// Seed for faults and jitter.
    pub seed: u64,
    /// Write one JSON object a line per request to this file.
    pub access_log: Option<PathBuf>,
    /// How long the `timeout` fault stalls before answering 503.
    pub fault_stall: Duration,
    /// Connection limits.
    pub limits: ConnLimits,
}

/// Connection limits (`conns.rs`).
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Close a connection that has not sent a complete request head this long after it opened.
    pub header_timeout: Duration,
    /// Close a keep-alive connection idle this long between requests.
    pub idle_timeout: Duration,
    /// Most connections open at once; a new one evicts the oldest half-open or idle one.
    /// Lowered to fit the file-descriptor limit.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            credentials: Vec::new(),
            region: "ap-guangzhou".into(),
            buckets: Vec::new(),
            objects: Vec::new(),
            object_sets: Vec::new(),
            demo: false,
            data: None,
            latency: None,
            copy_rate: None,
            total_rate: None,
            jitter: 0.0,
            fault_rate: 0.0,
            faults: Vec::new(),
            seed: 1,
            access_log: None,
            fault_stall: Duration::from_secs(60),
            limits: ConnLimits::default(),
        }
    }
}

/// One accepted key pair, with the token of a temporary credential. `Debug` hides the key
/// and the token, so a config can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct ServeCredential {
    pub id: String,
    pub key: String,
    pub token: Option<String>,
}

impl std::fmt::Debug for ServeCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeCredential")
            .field("id", &self.id)
            .field("key", &"…")
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

impl ServeCredential {
    /// Parses `ID:KEY` or `ID:KEY:TOKEN`. The error never repeats the value (it holds a
    /// secret).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut it = spec.trim().splitn(3, ':');
        let (Some(id), Some(key)) = (it.next(), it.next()) else {
            return Err("expected ID:KEY or ID:KEY:TOKEN, found no ':'".into());
        };
        if id.is_empty() || key.is_empty() {
            return Err("expected ID:KEY or ID:KEY:TOKEN with a non-empty ID and KEY".into());
        }
        let token = it.next().map(str::to_string);
        if token.as_deref() == Some("") {
            return Err("expected ID:KEY:TOKEN with a non-empty TOKEN (or ID:KEY)".into());
        }
        Ok(ServeCredential {
            id: id.to_string(),
            key: key.to_string(),
            token,
        })
    }
}

pub mod access_log;
pub mod auth;
pub mod aws_chunked;
pub mod checksum;
pub mod conns;
pub mod data_lock;
pub mod demo;
pub mod dialect;
pub mod error;
pub mod faults;
pub mod model;
pub mod persist;
pub mod s3_auth;
pub mod service;
pub mod spill;
pub mod state;
pub mod wire;
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

/// The accepted credentials: the given ones, or the public demo pair when none are given.
fn credentials(given: &[ServeCredential]) -> auth::Credentials {
    let mut creds = auth::Credentials::new();
    if given.is_empty() {
        creds.insert(
            DEMO_SECRET_ID.to_string(),
            auth::Credential {
                secret_key: DEMO_SECRET_KEY.to_string(),
                token: None,
            },
        );
    }
    for c in given {
        creds.insert(
            c.id.clone(),
            auth::Credential {
                secret_key: c.key.clone(),
                token: c.token.clone(),
            },
        );
    }
    creds
}

/// Refusals that hold for every way of starting the server.
fn check(config: &ServeConfig) -> anyhow::Result<Vec<faults::Fault>> {
    for (flag, v) in [
        ("--fault-rate", config.fault_rate),
        ("--jitter", config.jitter),
    ] {
        if !(0.0..=1.0).contains(&v) {
            anyhow::bail!("{flag} {v} is outside 0.0–1.0: it is a fraction (0.1 = one in ten)");
        }
    }
    if config.credentials.is_empty() && !config.listen.ip().is_loopback() {
        anyhow::bail!(
            "refusing to listen on {} without credentials: the demo key pair is public (it is in the README), so anyone who can reach this address could read, overwrite and delete every object. Give your own with --credentials-file PATH or ${} (lines ID:KEY[:TOKEN]), or listen on 127.0.0.1",
            config.listen,
            CREDENTIALS_ENV
        );
    }
    let mut kinds = Vec::new();
    for f in &config.faults {
        kinds.push(faults::Fault::parse(f).ok_or_else(|| {
            anyhow::anyhow!(
                "--faults {f:?} is not a fault kind: use slowdown, internal, reset, error200 or timeout"
            )
        })?);
    }
    Ok(kinds)
}

/// The environment variable `haul serve` reads credentials from (lines or commas of
/// ID:KEY[:TOKEN]), so they need not appear in argv and `ps`.
pub const CREDENTIALS_ENV: &str = "HAUL_SERVE_CREDENTIALS";

/// Builds the state from `--data`, `--demo`, `--bucket` and `--object`.
fn initial_state(args: &ServeConfig) -> anyhow::Result<state::State> {
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
pub async fn start(args: ServeConfig) -> anyhow::Result<ServerHandle> {
    let kinds = check(&args)?;
    let creds = credentials(&args.credentials);
    // Lock `--data` before reading it: a second server on it would delete this one's blobs.
    let lock = match &args.data {
        Some(dir) => Some(data_lock::DataLock::take(dir)?),
        None => None,
    };
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
    let cancel_run = cancel.clone();
    let task = tokio::spawn(async move {
        run(
            listener,
            shared,
            registry,
            cancel_run,
            args.data.clone(),
            dirty,
        )
        .await;
        // Released only after the final save.
        drop(lock);
    });
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
