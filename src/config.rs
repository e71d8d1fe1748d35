//! Configuration: TOML profiles, credentials from the environment, validation errors that name
//! the file, the line and the fix. `assets/config.example.toml` documents every key.
//!
//! Credentials never come from the file's plain text unless the user puts them there, and are
//! never printed.

use std::path::PathBuf;

use serde::Deserialize;

use crate::store::{CosUri, Credentials};

/// The whole config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Profile used when `--profile` is not given.
    pub default_profile: Option<String>,
    #[serde(default)]
    pub profiles: std::collections::BTreeMap<String, ProfileConfig>,
    #[serde(default)]
    pub engine: EngineSection,
    #[serde(default)]
    pub ui: UiSection,
}

/// One `[profiles.NAME]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// Only "cos" today.
    pub provider: Option<String>,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    /// Environment variable names holding the credentials (defaults: TENCENTCLOUD_SECRET_ID,
    /// TENCENTCLOUD_SECRET_KEY, TENCENTCLOUD_SESSION_TOKEN).
    pub secret_id_env: Option<String>,
    pub secret_key_env: Option<String>,
    pub session_token_env: Option<String>,
    /// Buckets/prefixes to show when the account may not list buckets.
    #[serde(default)]
    pub access_paths: Vec<String>,
}

/// `[engine]`: copy defaults. Every field optional; the engine has its own defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// Parts in flight across all jobs.
    pub concurrency: Option<usize>,
    /// Parts in flight per job.
    pub concurrency_per_job: Option<usize>,
    /// Jobs running at once.
    pub jobs: Option<usize>,
    /// "auto" or a size such as "256MiB".
    pub part_size: Option<String>,
    /// Objects at or below this size use one PUT Object - Copy, e.g. "64MiB".
    pub single_copy_threshold: Option<String>,
    /// Where the journal lives (default: $HAUL_STATE_DIR, else the platform state dir).
    pub state_dir: Option<PathBuf>,
}

/// `[ui]`: user keymap and theme files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiSection {
    pub keymap: Option<PathBuf>,
    pub theme: Option<PathBuf>,
}

/// A resolved profile: everything needed to build a client.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub region: String,
    /// Endpoint override (`--endpoint` beats the profile's).
    pub endpoint: Option<String>,
    pub credentials: Credentials,
    pub access_paths: Vec<CosUri>,
}

/// A loaded configuration: the file (or defaults) plus where it came from.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub path: Option<PathBuf>,
    pub file: ConfigFile,
}
