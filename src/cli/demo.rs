//! `haul demo`: the TUI on an embedded server with the demo data set.

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_global: &GlobalArgs, _args: Args) -> i32 {
    super::fail(super::exit::USAGE, "`haul demo` is not implemented yet")
}
