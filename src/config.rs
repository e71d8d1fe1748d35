//! Configuration: TOML profiles, credentials from the environment, validation errors that name
//! the file, the line and the fix. `assets/config.example.toml` documents every key.
//!
//! Credentials never come from the file's plain text unless the user puts them there, and are
//! never printed.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::store::client::ClientOptions;
use crate::store::s3::address::Addressing;
use crate::store::s3::S3Options;
use crate::store::{CosUri, CredentialSource, Credentials, Dialect, Secret};

/// Region used when neither the profile nor the environment names one.
pub const DEFAULT_REGION: &str = "ap-guangzhou";
/// Profile used when neither `--profile` nor `default_profile` names one.
pub const DEFAULT_PROFILE: &str = "default";
pub const DEFAULT_SECRET_ID_ENV: &str = "TENCENTCLOUD_SECRET_ID";
pub const DEFAULT_SECRET_KEY_ENV: &str = "TENCENTCLOUD_SECRET_KEY";
pub const DEFAULT_SESSION_TOKEN_ENV: &str = "TENCENTCLOUD_SESSION_TOKEN";
/// Overrides the region of every profile for one invocation.
pub const REGION_OVERRIDE_ENV: &str = "HAUL_REGION";
/// Region used when the profile names none (the Tencent Cloud CLI's variable).
pub const REGION_FALLBACK_ENV: &str = "TENCENTCLOUD_REGION";
/// The S3 dialect's defaults (`provider = "s3"`): AWS's variables and region.
pub const S3_DEFAULT_REGION: &str = "us-east-1";
pub const S3_ACCESS_KEY_ENV: &str = "AWS_ACCESS_KEY_ID";
pub const S3_SECRET_KEY_ENV: &str = "AWS_SECRET_ACCESS_KEY";
pub const S3_SESSION_TOKEN_ENV: &str = "AWS_SESSION_TOKEN";
/// Regions of an S3 profile that names none, in this order.
pub const S3_REGION_ENVS: &[&str] = &["AWS_REGION", "AWS_DEFAULT_REGION"];
/// Config file path when `--config` is not given.
pub const CONFIG_ENV: &str = "HAUL_CONFIG";
/// The largest config file haul reads (the example with every key is about 3 KiB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

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
///
/// Values keep their position in the file, so an invalid one is reported at its line.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// "cos" (the default) or "s3" (any S3-compatible store: AWS, MinIO, Ceph RGW, R2,
    /// COS's S3 endpoint).
    pub provider: Option<Spanned<String>>,
    /// S3 profiles only: "auto" (path-style on an IP or localhost endpoint), "path" or
    /// "virtual".
    pub addressing: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    pub endpoint: Option<Spanned<String>>,
    /// Environment variable names holding the credentials (defaults: TENCENTCLOUD_SECRET_ID,
    /// TENCENTCLOUD_SECRET_KEY, TENCENTCLOUD_SESSION_TOKEN).
    pub secret_id_env: Option<Spanned<String>>,
    pub secret_key_env: Option<Spanned<String>>,
    pub session_token_env: Option<Spanned<String>>,
    /// Buckets/prefixes to show when the account may not list buckets.
    #[serde(default)]
    pub access_paths: Vec<Spanned<String>>,
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

/// `[ui]`: user keymap and theme files; the bell when a transfer ends.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiSection {
    pub keymap: Option<PathBuf>,
    pub theme: Option<PathBuf>,
    /// Ring the terminal bell when a transfer finishes or fails (default off).
    #[serde(default)]
    pub bell: bool,
}

/// What the front end asks for beyond the file: `--config`, `--profile`, `--endpoint` (the
/// CLI builds this from its flags, so this layer knows nothing of argument parsing).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Config file to load instead of `$HAUL_CONFIG` / the default file.
    pub config: Option<PathBuf>,
    /// Profile to use instead of `default_profile`.
    pub profile: Option<String>,
    /// Endpoint that beats the profile's.
    pub endpoint: Option<String>,
}

/// A resolved profile: everything needed to build a client.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub region: String,
    /// Endpoint override (`--endpoint` beats the profile's).
    pub endpoint: Option<String>,
    pub credentials: Credentials,
    /// Where the credentials came from, for error hints.
    pub credential_source: CredentialSource,
    pub access_paths: Vec<CosUri>,
    /// The API this profile speaks: `provider = "cos"` or `"s3"`.
    pub dialect: Dialect,
    /// How an S3 profile addresses buckets (unused by COS profiles).
    pub addressing: Addressing,
}

impl Profile {
    /// Options for a `store::client::CosClient` on this profile: its credentials (and where
    /// they came from), its endpoint, default timeouts, no observer.
    pub fn client_options(&self) -> ClientOptions {
        let mut opts = ClientOptions::new(self.credentials.clone());
        opts.endpoint = self.endpoint.clone();
        opts.credential_source = self.credential_source.clone();
        opts
    }

    /// Options for a `store::s3::S3Client` on this profile: the same, plus its region and
    /// addressing.
    pub fn s3_options(&self) -> S3Options {
        S3Options {
            base: self.client_options(),
            region: self.region.clone(),
            addressing: self.addressing,
        }
    }
}

/// A loaded configuration: the file (or defaults) plus where it came from.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub path: Option<PathBuf>,
    pub file: ConfigFile,
    /// The file's text, to turn a value's position into a line and column.
    pub text: String,
}

impl Settings {
    /// `FILE:LINE:COLUMN` of a value from the file (just the file when it has no text).
    fn at(&self, span: std::ops::Range<usize>) -> String {
        let file = self
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the config file".to_string());
        if self.text.is_empty() {
            return file;
        }
        let (line, column) = line_col(&self.text, span.start);
        format!("{file}:{line}:{column}")
    }
}

/// What went wrong with the configuration. Every message names the file or variable at fault
/// and the fix; none ever contains a credential.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config file {} does not exist: create it (see assets/config.example.toml) or fix --config / {CONFIG_ENV}", path.display())]
    NotFound { path: PathBuf },
    #[error("config file {} is {kind}, not a regular file: point --config / {CONFIG_ENV} at a TOML file (see assets/config.example.toml)", path.display())]
    NotAFile {
        path: PathBuf,
        /// "a directory", "a FIFO", "a character device" …
        kind: &'static str,
    },
    #[error("config file {} is larger than {}: point --config / {CONFIG_ENV} at the right file (a config file is a few KiB)", path.display(), crate::units::format_size(MAX_CONFIG_BYTES))]
    TooLarge { path: PathBuf },
    #[error("cannot read config file {}: {source}; check its permissions or fix --config / {CONFIG_ENV}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}{hint}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        /// The fix, starting with "; " (empty when there is nothing to add).
        hint: String,
    },
    #[error(
        "unknown profile {name:?}{}: known profiles are {}",
        in_file(path),
        list_or_none(known)
    )]
    UnknownProfile {
        name: String,
        known: Vec<String>,
        path: Option<PathBuf>,
    },
    #[error("no credentials for profile {profile:?}: set {} (and {token_var} for temporary keys), or name other variables with secret_id_env / secret_key_env in the profile", missing.join(" and "))]
    MissingCredentials {
        profile: String,
        /// The variables that are unset or empty.
        missing: Vec<String>,
        token_var: String,
    },
    #[error("profile {profile:?}{}: {message}", in_file(path))]
    Invalid {
        profile: String,
        path: Option<PathBuf>,
        message: String,
    },
    /// A value in the file is wrong: `at` is `FILE:LINE:COLUMN`.
    #[error("{at}: profile {profile:?}: {message}")]
    InvalidValue {
        at: String,
        profile: String,
        message: String,
    },
}

fn in_file(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| format!(" in {}", p.display()))
        .unwrap_or_default()
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none (add a [profiles.NAME] table to the config file)".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The default config file: `<platform config dir>/haul/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("haul").join("config.toml"))
}

/// Loads the configuration from `path` (`--config`), else `$HAUL_CONFIG`, else the default
/// file. A missing default file means defaults; a missing file that was asked for is an error.
pub fn load(path: Option<&Path>) -> Result<Settings, Error> {
    let explicit = path.map(Path::to_path_buf).or_else(|| {
        std::env::var_os(CONFIG_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    match explicit {
        Some(p) => load_file(&p, true),
        None => match default_path() {
            Some(p) => load_file(&p, false),
            None => Ok(Settings::default()),
        },
    }
}

fn load_file(path: &Path, required: bool) -> Result<Settings, Error> {
    let text = match read_config_text(path) {
        Ok(t) => t,
        Err(Error::Read { source: e, .. }) if e.kind() == std::io::ErrorKind::NotFound => {
            return if required {
                Err(Error::NotFound {
                    path: path.to_path_buf(),
                })
            } else {
                Ok(Settings::default())
            };
        }
        Err(e) => return Err(e),
    };
    let file = parse(&text, path)?;
    Ok(Settings {
        path: Some(path.to_path_buf()),
        file,
        text,
    })
}

/// Reads a config file without blocking or reading without bound: it must be a regular file
/// (a FIFO, a device such as /dev/zero or a directory is refused before any read) of at most
/// `MAX_CONFIG_BYTES`, in UTF-8.
fn read_config_text(path: &Path) -> Result<String, Error> {
    use std::io::Read as _;
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        // Opening a FIFO for reading waits for a writer; non-blocking opens at once, and the
        // type check below refuses it before any read.
        use std::os::unix::fs::OpenOptionsExt;
        open.custom_flags(libc::O_NONBLOCK);
    }
    let file = open.open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(Error::NotAFile {
            path: path.to_path_buf(),
            kind: file_kind(&meta.file_type()),
        });
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        // It grew while we read it.
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        ))
    })
}

/// What a non-regular file is, for the error message.
fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Parses config text; `path` is only used in error messages.
pub fn parse(text: &str, path: &Path) -> Result<ConfigFile, Error> {
    toml::from_str::<ConfigFile>(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let (line, column) = line_col(text, offset);
        let message = e.message().trim().to_string();
        let hint = parse_hint(&message);
        Error::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message,
            hint,
        }
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn parse_hint(message: &str) -> String {
    if message.starts_with("unknown field") {
        "; remove or rename the key (assets/config.example.toml documents every key)".to_string()
    } else if message.contains("invalid type") {
        "; check the value's type (quote strings, e.g. part_size = \"256MiB\")".to_string()
    } else {
        String::new()
    }
}

/// Resolves the profile to use: `--profile`, else `default_profile`, else "default". The
/// "default" profile may be absent: environment variables and flags alone are enough.
///
/// Region: `$HAUL_REGION` if set, else the profile's `region`, else `$TENCENTCLOUD_REGION`,
/// else `ap-guangzhou`. Endpoint: `--endpoint`, else the profile's `endpoint`. Credentials:
/// the environment variables the profile names (TENCENTCLOUD_SECRET_ID / _SECRET_KEY /
/// _SESSION_TOKEN by default).
pub fn resolve_profile(settings: &Settings, overrides: &Overrides) -> Result<Profile, Error> {
    resolve_profile_with(settings, overrides, &|name| std::env::var(name).ok())
}

/// `resolve_profile` for URIs of one dialect (`cos://` or `s3://`): a profile without a
/// `provider` takes that dialect, one whose `provider` says otherwise is refused with the fix.
///
/// An S3 profile's defaults are AWS's: credentials from AWS_ACCESS_KEY_ID /
/// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, region from `$HAUL_REGION`, the profile,
/// `$AWS_REGION`, `$AWS_DEFAULT_REGION`, else us-east-1.
pub fn resolve_profile_for(
    settings: &Settings,
    overrides: &Overrides,
    dialect: Dialect,
) -> Result<Profile, Error> {
    resolve_profile_in(
        settings,
        overrides,
        &|name| std::env::var(name).ok(),
        Some(dialect),
    )
}

/// `resolve_profile` with the environment passed in (tests use a map).
pub fn resolve_profile_with(
    settings: &Settings,
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Profile, Error> {
    resolve_profile_in(settings, overrides, env, None)
}

/// `resolve_profile_for` with the environment passed in; `wanted` `None` takes the
/// profile's own provider.
pub fn resolve_profile_in(
    settings: &Settings,
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
    wanted: Option<Dialect>,
) -> Result<Profile, Error> {
    let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let name = overrides
        .profile
        .clone()
        .or_else(|| settings.file.default_profile.clone())
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
    let empty = ProfileConfig::default();
    let config = match settings.file.profiles.get(&name) {
        Some(p) => p,
        None if name == DEFAULT_PROFILE => &empty,
        None => {
            return Err(Error::UnknownProfile {
                name,
                known: settings.file.profiles.keys().cloned().collect(),
                path: settings.path.clone(),
            })
        }
    };
    let invalid_at = |span: std::ops::Range<usize>, message: String| Error::InvalidValue {
        at: settings.at(span),
        profile: name.clone(),
        message,
    };
    let dialect = match &config.provider {
        Some(provider) => {
            let d = match provider.get_ref().to_ascii_lowercase().as_str() {
                "cos" => Dialect::Cos,
                "s3" => Dialect::S3,
                other => {
                    return Err(invalid_at(
                        provider.span(),
                        format!(
                            "provider {other:?} is not supported: use provider = \"cos\" (COS's own API) or \"s3\" (any S3-compatible store)"
                        ),
                    ))
                }
            };
            if let Some(w) = wanted.filter(|w| *w != d) {
                return Err(invalid_at(
                    provider.span(),
                    format!(
                        "this profile has provider = {:?}, so it cannot open {w}:// URIs: pass --profile with a profile whose provider is \"{w}\" (see assets/config.example.toml)",
                        provider.get_ref()
                    ),
                ));
            }
            d
        }
        None => wanted.unwrap_or(Dialect::Cos),
    };
    let addressing = match &config.addressing {
        None => Addressing::Auto,
        Some(a) if dialect == Dialect::Cos => {
            return Err(invalid_at(
                a.span(),
                "addressing applies to provider = \"s3\" profiles only: remove it".to_string(),
            ))
        }
        Some(a) => Addressing::parse(a.get_ref()).ok_or_else(|| {
            invalid_at(
                a.span(),
                format!("addressing {:?} is not auto, path or virtual", a.get_ref()),
            )
        })?,
    };
    let (default_region, region_fallbacks, id_default, key_default, token_default) = match dialect {
        Dialect::Cos => (
            DEFAULT_REGION,
            &[REGION_FALLBACK_ENV][..],
            DEFAULT_SECRET_ID_ENV,
            DEFAULT_SECRET_KEY_ENV,
            DEFAULT_SESSION_TOKEN_ENV,
        ),
        Dialect::S3 => (
            S3_DEFAULT_REGION,
            S3_REGION_ENVS,
            S3_ACCESS_KEY_ENV,
            S3_SECRET_KEY_ENV,
            S3_SESSION_TOKEN_ENV,
        ),
    };
    let region_fallback = region_fallbacks
        .iter()
        .find_map(|v| env(v).map(|r| (*v, r)));
    let region = if let Some(r) = env(REGION_OVERRIDE_ENV) {
        if !valid_region(&r) {
            return Err(Error::Invalid {
                profile: name.clone(),
                path: None,
                message: format!(
                    "{REGION_OVERRIDE_ENV}={r:?} is not a COS region name: write it like ap-guangzhou"
                ),
            });
        }
        r
    } else if let Some(r) = &config.region {
        if !valid_region(r.get_ref()) {
            return Err(invalid_at(
                r.span(),
                format!(
                    "region {:?} is not a COS region name: write it like ap-guangzhou",
                    r.get_ref()
                ),
            ));
        }
        r.get_ref().clone()
    } else if let Some((var, r)) = region_fallback {
        if !valid_region(&r) {
            return Err(Error::Invalid {
                profile: name.clone(),
                path: None,
                message: format!(
                    "{var}={r:?} is not a region name: write it like {default_region}"
                ),
            });
        }
        r
    } else {
        default_region.to_string()
    };
    let endpoint = match (&overrides.endpoint, &config.endpoint) {
        (Some(e), _) => {
            crate::store::client::Endpoint::parse(e).map_err(|m| Error::Invalid {
                profile: name.clone(),
                path: None,
                message: format!("--endpoint: {m}"),
            })?;
            Some(e.clone())
        }
        (None, Some(e)) => {
            crate::store::client::Endpoint::parse(e.get_ref())
                .map_err(|m| invalid_at(e.span(), format!("endpoint: {m}")))?;
            Some(e.get_ref().clone())
        }
        (None, None) => None,
    };
    let mut access_paths = Vec::new();
    for p in &config.access_paths {
        let uri = CosUri::parse(p.get_ref())
            .map_err(|e| invalid_at(p.span(), format!("access_paths: {e}")))?;
        if uri.dialect() != dialect {
            return Err(invalid_at(
                p.span(),
                format!(
                    "access_paths: {uri} is not a {dialect}:// URI, and this profile speaks {dialect}: list {dialect}:// paths, or set provider"
                ),
            ));
        }
        access_paths.push(uri);
    }
    // Each credential's variable, and where it was named: the default, or a profile key
    // (then the hint says where, so a typo in the variable name is found at its line).
    let var = |key: &Option<Spanned<String>>, default: &str, key_name: &str| match key {
        Some(v) => (
            v.get_ref().clone(),
            format!(
                "{} (named by {key_name} at {})",
                v.get_ref(),
                settings.at(v.span())
            ),
        ),
        None => (default.to_string(), default.to_string()),
    };
    let (id_var, id_place) = var(&config.secret_id_env, id_default, "secret_id_env");
    let (key_var, key_place) = var(&config.secret_key_env, key_default, "secret_key_env");
    let (token_var, token_place) = var(
        &config.session_token_env,
        token_default,
        "session_token_env",
    );
    let credential_source = CredentialSource {
        secret_id: id_place.clone(),
        secret_key: key_place.clone(),
        session_token: token_place.clone(),
    };
    let secret_id = env(&id_var);
    let secret_key = env(&key_var);
    let (secret_id, secret_key) = match (secret_id, secret_key) {
        (Some(id), Some(key)) => (id, key),
        (id, key) => {
            let mut missing = Vec::new();
            if id.is_none() {
                missing.push(id_place);
            }
            if key.is_none() {
                missing.push(key_place);
            }
            return Err(Error::MissingCredentials {
                profile: name,
                missing,
                token_var: token_place,
            });
        }
    };
    Ok(Profile {
        name,
        region,
        endpoint,
        credentials: Credentials {
            secret_id: secret_id.trim().to_string(),
            secret_key: Secret::new(secret_key.trim()),
            token: env(&token_var).map(|t| Secret::new(t.trim())),
        },
        credential_source,
        access_paths,
        dialect,
        addressing,
    })
}

/// COS region names: lowercase letters, digits and `-` (`ap-guangzhou`, `na-siliconvalley`).
fn valid_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 64
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(text: &str) -> Settings {
        Settings {
            path: Some(PathBuf::from("/etc/haul.toml")),
            file: parse(text, Path::new("/etc/haul.toml")).unwrap(),
            text: text.to_string(),
        }
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const CREDS: &[(&str, &str)] = &[
        ("TENCENTCLOUD_SECRET_ID", "AKIDexample"),
        ("TENCENTCLOUD_SECRET_KEY", "sekrit-key"),
    ];

    fn global(profile: Option<&str>, endpoint: Option<&str>) -> Overrides {
        Overrides {
            profile: profile.map(str::to_string),
            config: None,
            endpoint: endpoint.map(str::to_string),
        }
    }

    #[test]
    fn example_config_parses_and_resolves() {
        let text = include_str!("../assets/config.example.toml");
        let file = parse(text, Path::new("config.example.toml")).unwrap();
        assert!(!file.profiles.is_empty());
        let s = Settings {
            path: None,
            file,
            text: String::new(),
        };
        for name in s.file.profiles.keys() {
            let mut pairs = CREDS.to_vec();
            pairs.push(("SHANGHAI_SECRET_ID", "id"));
            pairs.push(("SHANGHAI_SECRET_KEY", "key"));
            pairs.extend_from_slice(AWS);
            pairs.extend_from_slice(&[
                ("MINIO_ACCESS_KEY", "id"),
                ("MINIO_SECRET_KEY", "key"),
                ("CEPH_ACCESS_KEY", "id"),
                ("CEPH_SECRET_KEY", "key"),
                ("R2_ACCESS_KEY_ID", "id"),
                ("R2_SECRET_ACCESS_KEY", "key"),
            ]);
            let p = resolve_profile_with(&s, &global(Some(name), None), &env_of(&pairs))
                .unwrap_or_else(|e| panic!("profile {name}: {e}"));
            assert_eq!(&p.name, name);
        }
        assert!(s.file.engine.concurrency.is_some());
    }

    const AWS: &[(&str, &str)] = &[
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "aws-sekrit"),
        ("AWS_SESSION_TOKEN", "aws-token"),
    ];

    #[test]
    fn an_s3_profile_reads_aws_variables_and_region_then_defaults_to_us_east_1() {
        let s = Settings::default();
        let for_s3 = |pairs: &[(&str, &str)]| {
            resolve_profile_in(&s, &global(None, None), &env_of(pairs), Some(Dialect::S3))
        };
        let p = for_s3(AWS).unwrap();
        assert_eq!(p.dialect, Dialect::S3);
        assert_eq!(p.credentials.secret_id, "AKIAEXAMPLE");
        assert_eq!(p.credentials.secret_key.expose(), "aws-sekrit");
        assert_eq!(
            p.credentials.token.as_ref().map(|t| t.expose()),
            Some("aws-token")
        );
        assert_eq!(p.region, S3_DEFAULT_REGION);
        assert_eq!(p.credential_source.secret_key, "AWS_SECRET_ACCESS_KEY");
        let mut pairs = AWS.to_vec();
        pairs.push(("AWS_DEFAULT_REGION", "eu-west-1"));
        assert_eq!(for_s3(&pairs).unwrap().region, "eu-west-1");
        pairs.push(("AWS_REGION", "eu-central-1"));
        assert_eq!(for_s3(&pairs).unwrap().region, "eu-central-1");
        // COS's variables are not an S3 profile's.
        let e = for_s3(CREDS).unwrap_err().to_string();
        assert!(e.contains("AWS_ACCESS_KEY_ID"), "{e}");
    }

    #[test]
    fn a_profile_of_one_provider_refuses_the_other_dialect_with_the_fix() {
        let s = settings(
            "[profiles.default]\nprovider = \"cos\"\n[profiles.minio]\nprovider = \"s3\"\nendpoint = \"http://127.0.0.1:9000\"\naddressing = \"path\"\n",
        );
        let e = resolve_profile_in(&s, &global(None, None), &env_of(AWS), Some(Dialect::S3))
            .unwrap_err()
            .to_string();
        assert!(e.contains("s3:// URIs") && e.contains("--profile"), "{e}");
        let p = resolve_profile_in(
            &s,
            &global(Some("minio"), None),
            &env_of(AWS),
            Some(Dialect::S3),
        )
        .unwrap();
        assert_eq!(p.addressing, Addressing::Path);
        assert_eq!(p.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        let p = resolve_profile_with(&s, &global(Some("minio"), None), &env_of(AWS)).unwrap();
        assert_eq!(
            p.dialect,
            Dialect::S3,
            "the provider alone picks the dialect"
        );
        let bad = settings("[profiles.default]\naddressing = \"path\"\n");
        let e = resolve_profile_with(&bad, &global(None, None), &env_of(CREDS))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/etc/haul.toml:2:") && e.contains("provider = \"s3\""),
            "{e}"
        );
    }

    #[test]
    fn environment_alone_is_enough() {
        let s = Settings::default();
        let p = resolve_profile_with(&s, &global(None, None), &env_of(CREDS)).unwrap();
        assert_eq!(p.name, "default");
        assert_eq!(p.region, DEFAULT_REGION);
        assert_eq!(p.endpoint, None);
        assert_eq!(p.credentials.secret_id, "AKIDexample");
        assert_eq!(p.credentials.secret_key.expose(), "sekrit-key");
        assert_eq!(p.credentials.token, None);
        assert!(!format!("{p:?}").contains("sekrit"));
    }

    #[test]
    fn region_precedence_is_override_then_profile_then_fallback() {
        let s = settings("[profiles.default]\nregion = \"ap-beijing\"\n");
        let mut pairs = CREDS.to_vec();
        pairs.push(("TENCENTCLOUD_REGION", "ap-chengdu"));
        let p = resolve_profile_with(&s, &global(None, None), &env_of(&pairs)).unwrap();
        assert_eq!(p.region, "ap-beijing");
        pairs.push(("HAUL_REGION", "ap-shanghai"));
        let p = resolve_profile_with(&s, &global(None, None), &env_of(&pairs)).unwrap();
        assert_eq!(p.region, "ap-shanghai");
        let p = resolve_profile_with(
            &Settings::default(),
            &global(None, None),
            &env_of(&[CREDS[0], CREDS[1], ("TENCENTCLOUD_REGION", "ap-chengdu")]),
        )
        .unwrap();
        assert_eq!(p.region, "ap-chengdu");
    }

    #[test]
    fn flags_beat_the_file() {
        let s = settings(
            "default_profile = \"sh\"\n[profiles.sh]\nregion = \"ap-shanghai\"\nendpoint = \"http://10.0.0.1:80\"\n[profiles.bj]\nregion = \"ap-beijing\"\n",
        );
        let p = resolve_profile_with(&s, &global(None, None), &env_of(CREDS)).unwrap();
        assert_eq!((p.name.as_str(), p.region.as_str()), ("sh", "ap-shanghai"));
        assert_eq!(p.endpoint.as_deref(), Some("http://10.0.0.1:80"));
        let p = resolve_profile_with(
            &s,
            &global(Some("bj"), Some("http://127.0.0.1:9000")),
            &env_of(CREDS),
        )
        .unwrap();
        assert_eq!((p.name.as_str(), p.region.as_str()), ("bj", "ap-beijing"));
        assert_eq!(p.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    }

    #[test]
    fn credentials_come_from_the_named_variables() {
        let s = settings(
            "[profiles.x]\nsecret_id_env = \"X_ID\"\nsecret_key_env = \"X_KEY\"\nsession_token_env = \"X_TOKEN\"\n",
        );
        let p = resolve_profile_with(
            &s,
            &global(Some("x"), None),
            &env_of(&[("X_ID", "id"), ("X_KEY", "key"), ("X_TOKEN", "tok")]),
        )
        .unwrap();
        assert_eq!(p.credentials.secret_id, "id");
        assert_eq!(
            p.credentials.token.as_ref().map(|t| t.expose()),
            Some("tok")
        );
    }

    #[test]
    fn missing_credentials_name_the_variables() {
        let e = resolve_profile_with(
            &Settings::default(),
            &global(None, None),
            &env_of(&[
                ("TENCENTCLOUD_SECRET_ID", "id"),
                ("TENCENTCLOUD_SECRET_KEY", " "),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("TENCENTCLOUD_SECRET_KEY"), "{e}");
        assert!(!e.contains("TENCENTCLOUD_SECRET_ID and"), "{e}");
        assert!(e.contains("TENCENTCLOUD_SESSION_TOKEN"), "{e}");
        let e = resolve_profile_with(&Settings::default(), &global(None, None), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY"),
            "{e}"
        );
    }

    #[test]
    fn unknown_profile_lists_the_known_ones() {
        let s = settings("[profiles.prod]\n[profiles.staging]\n");
        let e = resolve_profile_with(&s, &global(Some("dev"), None), &env_of(CREDS))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"dev\""), "{e}");
        assert!(e.contains("\"prod\", \"staging\""), "{e}");
        assert!(e.contains("/etc/haul.toml"), "{e}");
        let s = settings("default_profile = \"gone\"\n");
        let e = resolve_profile_with(&s, &global(None, None), &env_of(CREDS))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"gone\"") && e.contains("none"), "{e}");
    }

    #[test]
    fn unknown_keys_name_the_line_and_the_known_keys() {
        let text = "[profiles.default]\nregion = \"ap-beijing\"\nendpiont = \"http://x\"\n";
        let e = parse(text, Path::new("/tmp/c.toml")).unwrap_err();
        match &e {
            Error::Parse { line, column, .. } => assert_eq!((*line, *column), (3, 1)),
            other => panic!("{other:?}"),
        }
        let msg = e.to_string();
        assert!(msg.starts_with("/tmp/c.toml:3:1: "), "{msg}");
        assert!(
            msg.contains("endpiont") && msg.contains("endpoint"),
            "{msg}"
        );
    }

    #[test]
    fn syntax_and_type_errors_name_the_position() {
        let e = parse("[engine]\nconcurrency = \"lots\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml:2:"), "{e}");
        assert!(e.contains("type"), "{e}");
        let e = parse("[engine\n", Path::new("c.toml")).unwrap_err();
        assert!(matches!(e, Error::Parse { line: 1, .. }), "{e:?}");
    }

    #[test]
    fn invalid_values_are_reported_with_the_fix() {
        let s = settings("[profiles.default]\nprovider = \"gcs\"\n");
        let e = resolve_profile_with(&s, &global(None, None), &env_of(CREDS))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("provider = \"cos\"") && e.contains("\"s3\""),
            "{e}"
        );
        assert!(
            e.starts_with("/etc/haul.toml:2:12: profile \"default\": "),
            "{e}"
        );
        let s = settings("[profiles.default]\n\nregion = \"Guang Zhou\"\n");
        let e = resolve_profile_with(&s, &global(None, None), &env_of(CREDS))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ap-guangzhou"), "{e}");
        assert!(e.starts_with("/etc/haul.toml:3:10: "), "{e}");
        // A bad region from the environment names the variable, not the file.
        let mut pairs = CREDS.to_vec();
        pairs.push(("HAUL_REGION", "Shang Hai"));
        let e = resolve_profile_with(&s, &global(None, None), &env_of(&pairs))
            .unwrap_err()
            .to_string();
        assert!(e.contains("HAUL_REGION=\"Shang Hai\" is not"), "{e}");
        assert!(!e.contains("haul.toml"), "{e}");
        let s = settings("[profiles.default]\naccess_paths = [\"gs://x/y\"]\n");
        let e = resolve_profile_with(&s, &global(None, None), &env_of(CREDS))
            .unwrap_err()
            .to_string();
        assert!(e.contains("access_paths") && e.contains("cos://"), "{e}");
        let s = settings("[profiles.default]\naccess_paths = [\"s3://xyz/y\"]\n");
        let e = resolve_profile_with(&s, &global(None, None), &env_of(CREDS))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a cos:// URI"), "{e}");
        let e = resolve_profile_with(
            &Settings::default(),
            &global(None, Some("ftp://x")),
            &env_of(CREDS),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--endpoint") && e.contains("http"), "{e}");
        let s = settings("[profiles.default]\nendpoint = \"http://h:1/path\"\n");
        let e = resolve_profile_with(&s, &global(None, None), &env_of(CREDS))
            .unwrap_err()
            .to_string();
        assert!(e.contains("endpoint") && e.contains("path"), "{e}");
    }

    #[test]
    fn files_are_loaded_or_reported() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        let e = load(Some(&missing)).unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
        assert!(e.to_string().contains("nope.toml"));
        assert!(load_file(&missing, false).unwrap().path.is_none());
        let good = dir.path().join("c.toml");
        std::fs::write(&good, "default_profile = \"a\"\n[profiles.a]\n").unwrap();
        let s = load(Some(&good)).unwrap();
        assert_eq!(s.path.as_deref(), Some(good.as_path()));
        assert_eq!(s.file.default_profile.as_deref(), Some("a"));
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[ui]\nkeymap = 3\n").unwrap();
        let e = load(Some(&bad)).unwrap_err().to_string();
        assert!(e.contains("bad.toml:2:"), "{e}");
    }

    #[test]
    fn only_regular_files_of_sane_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let e = load(Some(dir.path())).unwrap_err();
        assert!(
            matches!(
                e,
                Error::NotAFile {
                    kind: "a directory",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("HAUL_CONFIG"), "{e}");
        let e = load(Some(Path::new("/dev/zero"))).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("config file /dev/zero is a character device, not a regular file"),
            "{e}"
        );
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = load(Some(&fifo)).unwrap_err();
        assert!(matches!(e, Error::NotAFile { kind: "a FIFO", .. }), "{e:?}");
        let big = dir.path().join("big.toml");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_CONFIG_BYTES + 1).unwrap();
        let e = load(Some(&big)).unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e:?}");
        assert!(e.to_string().contains("1.00 MiB"), "{e}");
        let binary = dir.path().join("bin.toml");
        std::fs::write(&binary, b"a = \"\xff\"\n").unwrap();
        let e = load(Some(&binary)).unwrap_err().to_string();
        assert!(e.contains("not UTF-8"), "{e}");
    }

    #[test]
    fn credential_hints_name_the_profile_key_that_named_the_variable() {
        let s = settings("[profiles.x]\nsecret_id_env = \"X_ID\"\n");
        let p = resolve_profile_with(
            &s,
            &global(Some("x"), None),
            &env_of(&[("X_ID", "id"), ("TENCENTCLOUD_SECRET_KEY", "key")]),
        )
        .unwrap();
        assert_eq!(
            p.credential_source.secret_id,
            "X_ID (named by secret_id_env at /etc/haul.toml:2:17)"
        );
        let e = resolve_profile_with(&s, &global(Some("x"), None), &env_of(CREDS))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("set X_ID (named by secret_id_env at /etc/haul.toml:2:17) (and"),
            "{e}"
        );
        assert_eq!(p.credential_source.secret_key, "TENCENTCLOUD_SECRET_KEY");
        assert_eq!(p.client_options().credential_source, p.credential_source);
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx", 99), (2, 2));
    }
}
