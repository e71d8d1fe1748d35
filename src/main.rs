fn main() {
    std::process::exit(haul::cli::main());
}
