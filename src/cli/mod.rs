//! The headless command line: argument parsing here, one file per subcommand.
//!
//! Front end only: commands build an engine or a client and render results; they never decide
//! retry or copy policy themselves.

pub mod cp;
pub mod demo;
pub mod jobs;
pub mod ls;
pub mod progress;
pub mod serve;
pub mod shared;
pub mod tui;
pub mod uploads;
pub mod watch;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Exit codes (docs/architecture.md §4).
pub mod exit {
    pub const OK: i32 = 0;
    /// The operation failed.
    pub const FAILED: i32 = 1;
    /// Usage or configuration error; nothing was changed.
    pub const USAGE: i32 = 2;
    /// Interrupted; the copy is left resumable.
    pub const INTERRUPTED: i32 = 130;
}

/// Options every subcommand accepts, before or after its name.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GlobalArgs {
    /// Profile to use from the config file (default: the config's `default_profile`, else "default").
    #[arg(long, global = true, env = "HAUL_PROFILE")]
    pub profile: Option<String>,
    /// Config file (default: $HAUL_CONFIG, else ~/.config/haul/config.toml).
    #[arg(long, global = true, env = "HAUL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Send every request to this address (e.g. http://127.0.0.1:9000), keeping COS host names.
    #[arg(long, global = true)]
    pub endpoint: Option<String>,
}

impl GlobalArgs {
    /// The flags the config layer takes (it knows nothing of clap).
    pub fn overrides(&self) -> crate::config::Overrides {
        crate::config::Overrides {
            config: self.config.clone(),
            profile: self.profile.clone(),
            endpoint: self.endpoint.clone(),
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "haul",
    version,
    about = "A terminal copy manager for object storage (Tencent Cloud COS)",
    long_about = "Browse buckets, queue server-side copies of objects up to 48.82 TB, and watch \
                  every part live. Without a subcommand, opens the TUI on the default profile."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the TUI on an embedded local server with demo data: no account needed.
    Demo(demo::Args),
    /// Run the local COS-compatible server (the same port answers S3, Signature V4).
    Serve(Box<serve::Args>),
    /// List buckets, or objects and prefixes under cos://BUCKET-APPID/[PREFIX].
    Ls(ls::Args),
    /// Copy an object (or a prefix with --recursive) server-side.
    Cp(cp::Args),
    /// Incomplete multipart uploads: list or abort them.
    #[command(subcommand)]
    Uploads(uploads::Command),
    /// Journaled copy jobs: list, resume or abort them.
    #[command(subcommand)]
    Jobs(jobs::Command),
}

/// Parses argv, runs the command and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        None => tui::run(&cli.global),
        Some(Command::Demo(args)) => demo::run(&cli.global, args),
        Some(Command::Serve(args)) => serve::run(&cli.global, *args),
        Some(Command::Ls(args)) => ls::run(&cli.global, args),
        Some(Command::Cp(args)) => cp::run(&cli.global, args),
        Some(Command::Uploads(cmd)) => uploads::run(&cli.global, cmd),
        Some(Command::Jobs(cmd)) => jobs::run(&cli.global, cmd),
    }
}

/// Prints `haul: <message>` to stderr, control characters escaped (a message may quote a key
/// or a server's words), and returns `code`.
pub fn fail(code: i32, message: impl std::fmt::Display) -> i32 {
    eprintln!(
        "haul: {}",
        crate::text::escape_control(&message.to_string())
    );
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_are_accepted_after_the_subcommand() {
        let cli = Cli::try_parse_from(["haul", "ls", "--profile", "p", "--endpoint", "http://x"])
            .unwrap();
        assert_eq!(cli.global.profile.as_deref(), Some("p"));
        assert_eq!(cli.global.endpoint.as_deref(), Some("http://x"));
    }
}
