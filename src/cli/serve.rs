//! `haul serve`: the local COS-compatible server in the foreground.

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub options: crate::server::ServeArgs,
}

pub fn run(_global: &GlobalArgs, _args: Args) -> i32 {
    super::fail(super::exit::USAGE, "`haul serve` is not implemented yet")
}
