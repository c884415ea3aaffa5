//! The `lab` binary: parses arguments, runs one verb, prints an error chain once.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = lab::cli::Args::parse();
    lab::kernel::raise_fd_limit();
    match lab::cli::run(args) {
        Ok(verdict) => verdict.into(),
        Err(error) => {
            use std::io::Write;
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                let _ = writeln!(stderr, "  caused by: {cause}");
                source = cause.source();
            }
            lab::cli::Verdict::Invalid.into()
        }
    }
}
