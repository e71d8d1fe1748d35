//! `haul ls`: buckets, or objects and prefixes under a URI, printed as pages arrive.

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// cos://BUCKET-APPID/[PREFIX]; without it, list buckets.
    pub uri: Option<String>,
    /// One JSON object a line.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_global: &GlobalArgs, _args: Args) -> i32 {
    super::fail(super::exit::USAGE, "`haul ls` is not implemented yet")
}
