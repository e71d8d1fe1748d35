//! `haul uploads ls|abort`: incomplete multipart uploads.

use super::GlobalArgs;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List incomplete multipart uploads under cos://BUCKET-APPID/[PREFIX].
    Ls { uri: String },
}

pub fn run(_global: &GlobalArgs, _cmd: Command) -> i32 {
    super::fail(super::exit::USAGE, "`haul uploads` is not implemented yet")
}
