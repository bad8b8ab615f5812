//! The `callboard` command: `serve` runs the broker; the client commands (`stream`, `topic`, `status`, `send`,
//! `consume`, `group`) talk to a running one over TCP or QUIC; `bench` is the load tool; `log check` inspects a
//! partition directory offline.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool prints its output

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // RUST_LOG wins; otherwise `serve` logs at info and the client commands only warnings and errors, unless `-v`
    // (info) or `-vv` (debug) asks for more.
    let default_level = args.default_log_level();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_level.into()))
        .init();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
