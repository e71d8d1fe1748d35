//! `haul` with no subcommand: the TUI on the configured profile.

use super::GlobalArgs;

pub fn run(_global: &GlobalArgs) -> i32 {
    super::fail(super::exit::USAGE, "the TUI is not implemented yet")
}
