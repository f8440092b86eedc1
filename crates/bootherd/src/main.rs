//! The `bootherd` binary: parse the command line, start logging, run, map errors to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = bootherd::cli::Cli::parse();
    bootherd::logging::init(cli.log_format);
    match bootherd::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("bootherd: {err:#}");
            ExitCode::FAILURE
        }
    }
}
