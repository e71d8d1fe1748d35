//! `haul` with no subcommand: the TUI on the configured profile (COS or S3). Also the session runner that
//! `haul demo` shares: build the client (its request observer feeding the Log screen), start the
//! engine, log to a file in the state directory, run the UI, and shut the engine down so running
//! jobs are journaled.
//!
//! Configuration and credential errors print one line and exit 2 before the terminal is
//! touched. Nothing here writes to the screen while the UI owns it: tracing goes to a file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{exit, fail, GlobalArgs};
use crate::config;
use crate::engine::{Command, CopyOptions, Engine, EngineConfig, Event};
use crate::store::client::{ClientOptions, CosClient};
use crate::store::s3::{S3Client, S3Options};
use crate::store::{Dialect, ObjectStore, RequestRecord};
use crate::ui::{self, UiOptions};

/// How long quitting waits for the engine to stop running jobs and journal them.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(15);
/// The log file in the state directory, and the size at which it is rotated to `.1`.
const LOG_FILE: &str = "haul.log";
const LOG_ROTATE_BYTES: u64 = 16 << 20;

pub fn run(global: &GlobalArgs) -> i32 {
    let session = match configure(global) {
        Ok(s) => s,
        Err(e) => return fail(exit::USAGE, e),
    };
    let rt = match super::shared::runtime() {
        Ok(r) => r,
        Err(e) => return fail(exit::FAILED, e),
    };
    rt.block_on(session.run())
}

/// Everything checkable before the terminal is touched: config, profile, credentials, the
/// endpoint and the copy defaults.
fn configure(global: &GlobalArgs) -> Result<Session, String> {
    let settings = config::load(global.config.as_deref()).map_err(|e| e.to_string())?;
    let profile =
        config::resolve_profile(&settings, &global.overrides()).map_err(|e| e.to_string())?;
    let mut engine = super::shared::engine_config(&settings, &profile)?;
    // The TUI's transfers record their store too, so `haul jobs resume` finds it.
    engine.origin = Some(super::shared::origin(&profile));
    let mut copy_defaults = CopyOptions {
        verify: engine.verify,
        ..CopyOptions::default()
    };
    if let Some(p) = super::shared::config_part_size(&settings)? {
        copy_defaults.part_size = p;
    }
    let client = match profile.dialect {
        Dialect::Cos => StoreOptions::Cos(profile.client_options()),
        Dialect::S3 => StoreOptions::S3(profile.s3_options()),
    };
    // Catch an empty key or a bad endpoint now, not behind the alternate screen.
    client
        .clone()
        .connect()
        .map_err(|e| format!("profile {:?}: {e}", profile.name))?;
    let mut ui = UiOptions::new(profile.name.clone());
    ui.dialect = profile.dialect;
    ui.store_label = client.label();
    ui.keymap_path = settings.file.ui.keymap.clone();
    ui.theme_path = settings.file.ui.theme.clone();
    ui.bell = settings.file.ui.bell;
    ui.access_paths = profile.access_paths.clone();
    ui.copy_defaults = copy_defaults;
    Ok(Session {
        log_dir: engine.state_dir.clone(),
        client,
        engine,
        ui,
    })
}

/// The store a session talks to: COS, or an S3 endpoint.
#[derive(Clone)]
pub(crate) enum StoreOptions {
    Cos(ClientOptions),
    S3(S3Options),
}

impl StoreOptions {
    fn base_mut(&mut self) -> &mut ClientOptions {
        match self {
            StoreOptions::Cos(o) => o,
            StoreOptions::S3(o) => &mut o.base,
        }
    }

    /// The client for these options.
    fn connect(self) -> Result<Arc<dyn ObjectStore>, String> {
        Ok(match self {
            StoreOptions::Cos(o) => Arc::new(CosClient::new(o).map_err(|e| e.to_string())?),
            StoreOptions::S3(o) => Arc::new(S3Client::new(o).map_err(|e| e.to_string())?),
        })
    }

    /// Provider and endpoint, for the bucket list: "provider s3 · endpoint http://…".
    fn label(&self) -> String {
        let (provider, endpoint) = match self {
            StoreOptions::Cos(o) => (
                "cos",
                o.endpoint
                    .clone()
                    .unwrap_or_else(|| "https://BUCKET.cos.REGION.myqcloud.com".into()),
            ),
            StoreOptions::S3(o) => (
                "s3",
                o.base
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", o.region)),
            ),
        };
        format!("provider {provider} · endpoint {endpoint}")
    }
}

/// One TUI session: a client, an engine and the UI on top.
pub(crate) struct Session {
    pub client: StoreOptions,
    pub engine: EngineConfig,
    pub ui: UiOptions,
    /// Where `haul.log` goes; `None` logs nowhere.
    pub log_dir: Option<PathBuf>,
}

impl Session {
    /// Runs the UI until the user quits, then stops the engine (bounded wait). Returns the exit
    /// code. Must run inside a tokio runtime.
    pub(crate) async fn run(self) -> i32 {
        if let Some(dir) = &self.log_dir {
            init_log(dir);
        }
        let (record_tx, record_rx) = mpsc::unbounded_channel::<RequestRecord>();
        let mut client_opts = self.client;
        client_opts.base_mut().observer = Some(Arc::new(move |r: RequestRecord| {
            let _ = record_tx.send(r);
        }));
        let store = match client_opts.connect() {
            Ok(c) => c,
            Err(e) => return fail(exit::USAGE, e),
        };
        tracing::info!(title = %self.ui.title, "starting the engine");
        let handle = Engine::start(store, self.engine);
        let commands = handle.commands.clone();
        let (ui_tx, ui_rx) = mpsc::unbounded_channel();
        let forwarder = tokio::spawn(forward(handle.events, record_rx, ui_tx));
        let result = ui::run(handle.commands, ui_rx, self.ui).await;
        // The UI sends Shutdown on every way out; sending it again is harmless.
        let _ = commands.send(Command::Shutdown);
        drop(commands);
        let stopped = tokio::time::timeout(SHUTDOWN_WAIT, forwarder).await.is_ok();
        if !stopped {
            tracing::warn!("the engine did not stop within {SHUTDOWN_WAIT:?}");
            eprintln!(
                "haul: the engine did not stop within {}s; jobs with finished parts stay in the journal and resume from there",
                SHUTDOWN_WAIT.as_secs()
            );
        }
        match result {
            Ok(()) => {
                tracing::info!("quit");
                exit::OK
            }
            Err(e) => {
                tracing::error!("the UI failed: {e:#}");
                fail(exit::FAILED, format!("{e:#}"))
            }
        }
    }
}

/// Merges the engine's events and the client's request records into the UI's one channel.
/// Ends when the engine's event stream closes (after Shutdown), whether or not the UI still
/// listens, so waiting on it means waiting for the engine.
async fn forward(
    mut events: mpsc::UnboundedReceiver<Event>,
    mut records: mpsc::UnboundedReceiver<RequestRecord>,
    ui: mpsc::UnboundedSender<Event>,
) {
    let mut records_open = true;
    loop {
        tokio::select! {
            biased;
            ev = events.recv() => match ev {
                Some(ev) => { let _ = ui.send(ev); }
                None => break,
            },
            r = records.recv(), if records_open => match r {
                Some(r) => { let _ = ui.send(Event::Request(r)); }
                None => records_open = false,
            },
        }
    }
}

/// Points tracing at `<dir>/haul.log` (appending; rotated to `haul.log.1` past 16 MiB). The
/// filter is `$HAUL_LOG` (e.g. `debug`), default `info`. Failing to open the file logs nowhere:
/// the screen belongs to the UI.
pub(crate) fn init_log(dir: &Path) {
    use tracing_subscriber::EnvFilter;
    if crate::private_files::create_dir_all(dir).is_err() {
        return;
    }
    let path = dir.join(LOG_FILE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
        let _ = std::fs::rename(&path, dir.join(format!("{LOG_FILE}.1")));
    }
    let Ok(file) = crate::private_files::open_append(&path) else {
        return;
    };
    let filter = EnvFilter::try_from_env("HAUL_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}
