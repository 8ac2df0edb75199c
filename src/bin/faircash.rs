//! The `faircash` command-line tool; see `faircash --help`.
#![forbid(unsafe_code)]

/// jemalloc keeps freed pages for reuse: a large deposit's verification
/// (megabytes of points and digits for one multiscalar multiplication)
/// then does not fault in fresh pages on every request (BENCHMARKS.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    faircash::cli::main()
}
