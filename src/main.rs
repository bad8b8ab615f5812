//! The `callboard` command: `serve` runs the broker; the client commands (`stream`, `topic`, `status`, `send`,
//! `consume`, `group`) talk to a running one over TCP or QUIC; `bench` is the load tool; `log check` inspects a
//! partition directory offline.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool prints its output

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
