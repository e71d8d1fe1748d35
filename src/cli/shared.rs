//! What the headless commands and the TUI launcher share: the client, profile and engine
//! configuration built from the config file, the async runtime, and how output is printed.
//!
//! Front-end plumbing only: no copy policy (that is the engine's) and no rendering of events
//! (that is `watch` and `progress`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use super::GlobalArgs;
use crate::config::{self, Profile};
use crate::engine::request::{self, parse_part_size};
use crate::engine::{default_state_dir, EngineConfig, PartSize, StoreOrigin};
use crate::store::client::{CosClient, Endpoint};
use crate::store::s3::S3Client;
use crate::store::{Dialect, ObjectStore};
use crate::units::parse_size;

/// The client, profile and engine configuration a command runs with.
pub(crate) struct Setup {
    /// A `CosClient` or, on a `provider = "s3"` profile, an `S3Client`.
    pub client: Arc<dyn ObjectStore>,
    pub engine: EngineConfig,
    /// `[engine] part_size` from the config, checked.
    pub part_size: Option<PartSize>,
}

/// Loads config and profile, builds the client and the engine config, for URIs of one
/// dialect when given: the profile must speak it (`config::resolve_profile_for`).
pub(crate) fn setup_for(global: &GlobalArgs, dialect: Option<Dialect>) -> Result<Setup, String> {
    setup_with(&global.overrides(), dialect)
}

/// `setup_for` with the profile and endpoint given (`haul jobs` takes them from the journal).
/// The engine records the client's origin (dialect, profile name, endpoint) in every new
/// transfer's journal.
pub(crate) fn setup_with(
    overrides: &config::Overrides,
    dialect: Option<Dialect>,
) -> Result<Setup, String> {
    let settings = config::load(overrides.config.as_deref()).map_err(|e| e.to_string())?;
    let profile = match dialect {
        Some(d) => config::resolve_profile_for(&settings, overrides, d),
        None => config::resolve_profile(&settings, overrides),
    }
    .map_err(|e| e.to_string())?;
    let client: Arc<dyn ObjectStore> = match profile.dialect {
        Dialect::Cos => {
            Arc::new(CosClient::new(profile.client_options()).map_err(|e| e.to_string())?)
        }
        Dialect::S3 => Arc::new(S3Client::new(profile.s3_options()).map_err(|e| e.to_string())?),
    };
    let mut engine = engine_config(&settings, &profile)?;
    engine.origin = Some(origin(&profile));
    Ok(Setup {
        client,
        part_size: config_part_size(&settings)?,
        engine,
    })
}

/// What the journal keeps of a profile: its dialect, name and endpoint (scheme, host and port
/// as `Endpoint::parse` normalises it), never a credential.
pub(crate) fn origin(profile: &Profile) -> StoreOrigin {
    StoreOrigin {
        dialect: profile.dialect,
        profile: Some(profile.name.clone()),
        endpoint: profile
            .endpoint
            .as_deref()
            .and_then(|e| Endpoint::parse(e).ok())
            .map(|e| e.base),
    }
}

/// Where a config error points: the file (or the environment when there is none).
fn where_(settings: &config::Settings) -> String {
    match &settings.path {
        Some(p) => format!("{}: ", p.display()),
        None => String::new(),
    }
}

/// `[engine] part_size`, checked by the engine's own rules.
pub(crate) fn config_part_size(settings: &config::Settings) -> Result<Option<PartSize>, String> {
    settings
        .file
        .engine
        .part_size
        .as_deref()
        .map(|s| parse_part_size("[engine] part_size", s))
        .transpose()
        .map_err(|e| format!("{}{e}", where_(settings)))
}

/// The engine configuration from `[engine]` and the profile (region, state dir). Shared by
/// the headless commands and the TUI; errors name the file and the key at fault.
pub(crate) fn engine_config(
    settings: &config::Settings,
    profile: &Profile,
) -> Result<EngineConfig, String> {
    let sec = &settings.file.engine;
    let at = where_(settings);
    let mut engine = EngineConfig {
        default_region: profile.region.clone(),
        state_dir: sec.state_dir.clone().or_else(default_state_dir),
        ..EngineConfig::default()
    };
    if let Some(n) = sec.concurrency {
        engine.concurrency = request::check_concurrency("[engine] concurrency", n)
            .map_err(|e| format!("{at}{e}"))?;
        engine.concurrency_per_job = engine.concurrency;
    }
    if let Some(n) = sec.concurrency_per_job {
        engine.concurrency_per_job = request::check_concurrency("[engine] concurrency_per_job", n)
            .map_err(|e| format!("{at}{e}"))?;
    }
    if let Some(n) = sec.jobs {
        engine.active_jobs =
            request::check_concurrency("[engine] jobs", n).map_err(|e| format!("{at}{e}"))?;
    }
    if let Some(t) = &sec.single_copy_threshold {
        engine.single_copy_threshold =
            parse_size(t).map_err(|e| format!("{at}[engine] single_copy_threshold: {e}"))?;
    }
    Ok(engine)
}

/// The runtime of an interactive front end (TUI, demo): two workers, so drawing a frame and
/// serving the engine never wait on each other.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// The runtime of a headless command (`cp`, `jobs resume`, `uploads`): one thread. The client
/// only drives requests (copies run inside the server), so one thread keeps up with thousands
/// of requests a second, and it spends no CPU handing tasks and wake-ups between workers:
/// about a fifth less CPU per small object than two workers (benches/bulk.rs b).
pub(crate) fn headless_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// Where the journal lives for `haul jobs` (config, `$HAUL_STATE_DIR`, or the platform dir).
pub(crate) fn state_dir(global: &GlobalArgs) -> Result<PathBuf, String> {
    let settings = config::load(global.config.as_deref()).map_err(|e| e.to_string())?;
    settings
        .file
        .engine
        .state_dir
        .clone()
        .or_else(default_state_dir)
        .ok_or_else(|| "no state directory: set HAUL_STATE_DIR or [engine] state_dir".to_string())
}

/// How a command prints.
pub(crate) struct Output {
    pub json: bool,
    pub quiet: bool,
    pub tty: bool,
}

impl Output {
    pub fn new(json: bool, quiet: bool) -> Output {
        Output {
            json,
            quiet,
            tty: std::io::stderr().is_terminal(),
        }
    }
}
