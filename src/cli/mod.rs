//! The headless command line: one file per subcommand.

/// Parses argv, runs the command and returns the process exit code (DESIGN.md §4).
pub fn main() -> i32 {
    eprintln!("haul: not built yet");
    2
}
