//! The command tree (clap derive) and the dispatch of each command to its module.

mod admin;
mod bench;
mod connect;
mod consume;
mod credentials;
mod group;
mod key;
mod log_check;
mod output;
mod security;
mod send;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use connect::ClientArgs;

/// The `callboard` command line.
#[derive(Parser)]
#[command(name = "callboard", version, about = "Callboard: an actor-model message broker")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log more on standard error: `-v` info, `-vv` debug (RUST_LOG overrides). `serve` logs at info anyway.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

impl Cli {
    /// The log filter used when RUST_LOG is not set.
    pub fn default_log_level(&self) -> &'static str {
        match (self.verbose, &self.command) {
            (0, Command::Serve(_)) | (1, _) => "info",
            (0, _) => "warn",
            _ => "debug",
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker (zero configuration: data in ./callboard-data, TCP 127.0.0.1:7070, QUIC 127.0.0.1:7071).
    Serve(serve::ServeArgs),
    /// Create, list and delete streams.
    Stream {
        #[command(subcommand)]
        command: admin::StreamCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create, list, describe and delete topics; add partitions.
    Topic {
        #[command(subcommand)]
        command: admin::TopicCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show the broker's status.
    Status {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Send messages: one given with --message, or every line of standard input.
    Send(send::SendArgs),
    /// Print messages from a topic.
    Consume(consume::ConsumeArgs),
    /// List, describe, reset and delete consumer groups.
    Group {
        #[command(subcommand)]
        command: group::GroupCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create, list, change and delete users; grant and revoke permissions.
    User {
        #[command(subcommand)]
        command: security::UserCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create, list and revoke personal access tokens.
    Token {
        #[command(subcommand)]
        command: security::TokenCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Log in with a password and keep a token for this server in ~/.config/callboard/credentials.toml.
    Login(security::LoginArgs),
    /// Revoke and forget the token `login` stored for this server.
    Logout {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show who the credentials log in as, with their permissions.
    Whoami {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Load tool: measure throughput and latency against a running broker.
    Bench(bench::BenchArgs),
    /// Generate a master key for encryption at rest, or rotate it (re-wrapping the topics' data keys).
    Key {
        #[command(subcommand)]
        command: key::KeyCommand,
    },
    /// Work with a partition log directory directly (the broker must not be running on it).
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Recover the log if needed, validate every batch (CRC and records) and print a summary.
    Check {
        /// The partition directory.
        dir: PathBuf,
    },
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Log { command: LogCommand::Check { dir } } = cli.command {
        return log_check::check(dir);
    }
    if let Command::Key { command } = cli.command {
        return key::run(command);
    }
    if let Command::Serve(args) = cli.command {
        return serve::run(args);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Stream { command, client } => admin::stream(command, &client).await,
            Command::Topic { command, client } => admin::topic(command, &client).await,
            Command::Status { client } => admin::status(&client).await,
            Command::Send(args) => send::run(args).await,
            Command::Consume(args) => consume::run(args).await,
            Command::Group { command, client } => group::run(command, &client).await,
            Command::Bench(args) => bench::run(args).await,
            Command::User { command, client } => security::user(command, &client).await,
            Command::Token { command, client } => security::token(command, &client).await,
            Command::Login(args) => security::login(args).await,
            Command::Logout { client } => security::logout(&client).await,
            Command::Whoami { client } => security::whoami(&client).await,
            Command::Serve(_) | Command::Log { .. } | Command::Key { .. } => unreachable!("handled above"),
        }
    })
}
