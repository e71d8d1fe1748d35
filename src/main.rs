// jemalloc: a copy of many small objects allocates and frees a few hundred small buffers per
// request (URL, headers, signature, XML). glibc's malloc spent about a quarter of the client's
// CPU on them; jemalloc halves that and keeps peak RSS lower than glibc's (benches/bulk.rs b;
// mimalloc was as fast but doubled RSS).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    std::process::exit(haul::cli::main());
}
