//! `haul demo`: the TUI on an embedded local server loaded with the demo data set, with a
//! latency model and a few injected faults so copies take visible seconds and show retries.
//!
//! Needs no account, config or credentials, and ignores the user's config, profile and
//! credential variables entirely. The demo keeps its own state directory (`<state dir>/demo`:
//! journal, server data, log), so demo jobs never mix with real ones, and "pause and quit" then
//! `haul demo` again resumes them against the same persisted server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::tui::Session;
use super::{exit, fail, GlobalArgs};
use crate::engine::{default_state_dir, CopyOptions, EngineConfig};
use crate::server::{self, ServeConfig, DEMO_SECRET_ID, DEMO_SECRET_KEY};
use crate::store::{Credentials, Secret};
use crate::ui::UiOptions;
use crate::units::{parse_duration, parse_rate};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Latency the demo server adds to every request.
    #[arg(long, default_value = "40ms", value_parser = parse_duration)]
    pub latency: Duration,
    /// How fast one copy request copies on the demo server (a part of N bytes takes
    /// latency + N / rate).
    #[arg(long, default_value = "256MiB/s", value_parser = parse_rate)]
    pub copy_rate: u64,
    /// Random extra time, as a fraction of the modelled time (0.0–1.0).
    #[arg(long, default_value_t = 0.2)]
    pub jitter: f64,
    /// Share of requests that get an injected fault (0.0–1.0): SlowDown, InternalError or a 200
    /// with an error body. The engine retries them; watch the Log screen.
    #[arg(long, default_value_t = 0.02)]
    pub fault_rate: f64,
    /// Seed for faults and jitter (default: a new one each run).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Start from scratch: forget the demo's jobs and the demo server's copies.
    #[arg(long)]
    pub fresh: bool,
}

/// The demo profile's name, shown in the tab bar.
const TITLE: &str = "demo";
/// Fault kinds the demo injects: all are retried quickly (no stalls, no resets).
const FAULTS: &[&str] = &["slowdown", "internal", "error200"];

pub fn run(_global: &GlobalArgs, args: Args) -> i32 {
    if !(0.0..=1.0).contains(&args.fault_rate) || !(0.0..=1.0).contains(&args.jitter) {
        return fail(
            exit::USAGE,
            "--fault-rate and --jitter take a fraction between 0.0 and 1.0",
        );
    }
    let dir = demo_dir();
    if let Err(e) = crate::private_files::create_dir_all(&dir) {
        return fail(
            exit::FAILED,
            format!(
                "cannot create the demo state directory {}: {e}; set HAUL_STATE_DIR to a writable directory",
                dir.display()
            ),
        );
    }
    let _lock = match Lock::take(&dir) {
        Ok(l) => l,
        Err(e) => return fail(exit::USAGE, e),
    };
    if args.fresh {
        if let Err(e) = wipe(&dir) {
            return fail(
                exit::FAILED,
                format!("cannot clear the demo state in {}: {e}", dir.display()),
            );
        }
    }
    let rt = match super::shared::runtime() {
        Ok(r) => r,
        Err(e) => return fail(exit::FAILED, e),
    };
    rt.block_on(demo(args, dir))
}

async fn demo(args: Args, dir: PathBuf) -> i32 {
    super::tui::init_log(&dir);
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let serve = ServeConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        demo: true,
        data: Some(dir.join("server")),
        latency: Some(args.latency),
        copy_rate: Some(args.copy_rate),
        jitter: args.jitter,
        fault_rate: args.fault_rate,
        faults: FAULTS.iter().map(|s| s.to_string()).collect(),
        seed,
        ..ServeConfig::default()
    };
    let server = match server::start(serve).await {
        Ok(s) => s,
        Err(e) => {
            return fail(
                exit::FAILED,
                format!(
                    "cannot start the demo server: {e:#}; `haul demo --fresh` starts from scratch"
                ),
            )
        }
    };
    let credentials = Credentials {
        secret_id: DEMO_SECRET_ID.to_string(),
        secret_key: Secret::new(DEMO_SECRET_KEY),
        token: None,
    };
    let mut client = crate::store::client::ClientOptions::new(credentials);
    client.endpoint = Some(server.endpoint());
    let engine = EngineConfig {
        default_region: "ap-guangzhou".into(),
        state_dir: Some(dir.clone()),
        ..EngineConfig::default()
    };
    let mut ui = UiOptions::new(TITLE);
    ui.copy_defaults = CopyOptions::default();
    let session = Session {
        client: super::tui::StoreOptions::Cos(client),
        engine,
        ui,
        log_dir: Some(dir),
    };
    tracing::info!(endpoint = %server.endpoint(), seed, "demo server started");
    let code = session.run().await;
    // Saves the server state (uploads and their parts) so the next `haul demo` resumes.
    server.shutdown().await;
    code
}

/// `<state dir>/demo`; without any state dir, a directory under the system temp dir.
fn demo_dir() -> PathBuf {
    match default_state_dir() {
        Some(d) => d.join("demo"),
        None => std::env::temp_dir().join("haul-demo"),
    }
}

/// Removes the demo's journal and server data (not the log).
fn wipe(dir: &Path) -> std::io::Result<()> {
    for sub in ["jobs", "transfers", "server"] {
        match std::fs::remove_dir_all(dir.join(sub)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// An exclusive lock on the demo state directory: two demos would overwrite each other's
/// server data. Released when dropped (and by the OS when the process ends).
struct Lock(std::fs::File);

impl Lock {
    fn take(dir: &Path) -> Result<Lock, String> {
        use std::os::fd::AsRawFd;
        let path = dir.join("lock");
        let file = crate::private_files::with_file_mode(&mut std::fs::OpenOptions::new())
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        // SAFETY: flock on a file descriptor we own and keep open for the lock's lifetime.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(format!(
                "another `haul demo` is running on {}: quit it first, or give this one its own HAUL_STATE_DIR",
                dir.display()
            ));
        }
        Ok(Lock(file))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking the descriptor we locked; it stays open until the field drops.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}
