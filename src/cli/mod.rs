//! The `faircash` command line.

pub mod demo;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// faircash: fair off-line electronic cash.
#[derive(Debug, Parser)]
#[command(
    name = "faircash",
    version,
    about = "Fair off-line electronic cash: withdraw, pay off-line, deposit, catch double spenders",
    after_help = "Examples:\n  faircash demo          run the whole story in memory, narrated"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a narrated scenario in memory: setup, withdrawals, off-line
    /// payments, deposits, a double spend caught and its author identified.
    Demo,
}

/// Runs the command line with the process arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo => {
            let stdout = std::io::stdout();
            match demo::run(&mut stdout.lock()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
