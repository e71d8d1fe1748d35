//! `haul jobs ls|resume|abort`: journaled copy jobs.

use super::GlobalArgs;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List journaled jobs.
    Ls,
}

pub fn run(_global: &GlobalArgs, _cmd: Command) -> i32 {
    super::fail(super::exit::USAGE, "`haul jobs` is not implemented yet")
}
