//! The `faircash` command-line tool; see `faircash --help`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    faircash::cli::main()
}
