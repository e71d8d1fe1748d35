//! `haul cp`: one copy (or a prefix with --recursive), headless.

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source: cos://BUCKET-APPID/KEY (or a prefix ending in / with --recursive).
    pub source: String,
    /// Destination: cos://BUCKET-APPID/KEY, or a prefix ending in /.
    pub destination: String,
}

pub fn run(_global: &GlobalArgs, _args: Args) -> i32 {
    super::fail(super::exit::USAGE, "`haul cp` is not implemented yet")
}
