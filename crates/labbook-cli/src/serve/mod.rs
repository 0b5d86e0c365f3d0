//! `labbook serve`: a W&B-protocol server on a data directory (SQLite and a blob
//! directory), and the commands that manage its users and keys.

mod admin;
mod settings;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use labbook_server::{DataDir, Server, ServerConfig};

use admin::ServeCommand;
use settings::{FileSettings, Given, Settings};

/// How long a stop waits for requests in flight.
const STOP_BOUND: Duration = Duration::from_secs(10);

/// Each setting is a flag, or its `LABBOOK_SERVE_*` variable, or a key of
/// `labbook-serve.toml` in the data directory, in that order.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    #[command(subcommand)]
    command: Option<ServeCommand>,
    /// The data directory: the database, the blobs, the key secret, labbook-serve.toml.
    #[arg(
        long,
        global = true,
        env = "LABBOOK_SERVE_DATA",
        default_value = "labbook-data"
    )]
    data: PathBuf,
    /// The address to listen on [default: 127.0.0.1:8080, only this machine].
    #[arg(long, env = "LABBOOK_SERVE_LISTEN")]
    listen: Option<SocketAddr>,
    /// How log lines (one per request, and warnings) are written to stderr: `text` to read,
    /// `json` (one object per line) for a log collector [default: text].
    #[arg(long, global = true, env = "LABBOOK_SERVE_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "LABBOOK_SERVE_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "LABBOOK_SERVE_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// The largest request body, in MiB [default: 256].
    #[arg(long, env = "LABBOOK_SERVE_BODY_LIMIT_MIB")]
    body_limit_mib: Option<usize>,
    /// The largest `file_stream` body once decompressed, in MiB [default: 64].
    #[arg(long, env = "LABBOOK_SERVE_DECOMPRESSED_LIMIT_MIB")]
    decompressed_limit_mib: Option<usize>,
    /// The largest GraphQL document, in KiB [default: 1024].
    #[arg(long, env = "LABBOOK_SERVE_GRAPHQL_LIMIT_KIB")]
    graphql_limit_kib: Option<usize>,
    /// Import the offline runs under DIR (its `offline-run-*` directories, up to three
    /// levels down) as they are written; repeatable. Nothing is written into DIR. In the
    /// variable, directories are separated by `:`.
    #[arg(
        long,
        value_name = "DIR",
        env = "LABBOOK_SERVE_WATCH",
        value_delimiter = ':'
    )]
    watch: Vec<PathBuf>,
    /// Serve W&B's test-fixture service (user management for W&B's own system tests,
    /// without a key) on this loopback port. For testing only: refused unless --listen is
    /// a loopback address.
    #[arg(long, value_name = "PORT")]
    test_fixtures: Option<u16>,
}

/// How `labbook serve` writes its log lines.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// `key=value` text.
    Text,
    /// One JSON object per line.
    Json,
}

/// The log format asked for, by flag, variable or the data directory's file (a file that
/// cannot be read is reported when the command runs; logging starts before).
pub(crate) fn log_format(args: &ServeArgs) -> LogFormat {
    args.log_format
        .or_else(|| FileSettings::read(&args.data).ok()?.log_format().ok()?)
        .unwrap_or(LogFormat::Text)
}

pub(crate) fn serve(args: ServeArgs) -> Result<()> {
    let file = FileSettings::read(&args.data)?;
    file.log_format()?;
    let given = Given {
        listen: args.listen,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        body_limit_mib: args.body_limit_mib,
        decompressed_limit_mib: args.decompressed_limit_mib,
        graphql_limit_kib: args.graphql_limit_kib,
        watch: args.watch,
    };
    let settings = settings::resolve(given, file)?;
    let (data, first) = DataDir::open(&args.data)?;
    match args.command {
        None => run(&data, first, settings, args.test_fixtures),
        Some(command) => admin::admin(&data, command, &public_url(&settings)),
    }
}

/// The URL a browser on this machine opens for `settings` (an unspecified address, which
/// listens everywhere, is opened as loopback).
fn public_url(settings: &Settings) -> String {
    let mut addr = settings.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let scheme = if settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{addr}")
}

fn run(
    data: &DataDir,
    first: Option<labbook_server::FirstStart>,
    settings: Settings,
    test_fixtures: Option<u16>,
) -> Result<()> {
    let listen = settings.listen;
    let mut config = ServerConfig::from_data_dir(data, listen);
    config.limits = settings.limits;
    let secure = settings.tls.is_some();
    config.tls = settings.tls;
    config.test_fixtures = test_fixtures;
    if !settings.watch.is_empty() {
        config.watch = Some(labbook_server::WatchOptions::new(settings.watch.clone()));
    }
    let server = Server::start(config).with_context(|| format!("cannot serve on {listen}"))?;
    let url = server.base_url();
    println!(
        "labbook serve: data in {} (SQLite), listening on {url}",
        data.path.display()
    );
    match data.signin_token(labbook_server::FIRST_USER) {
        Ok(token) => {
            println!("open the dashboard: {url}/login?token={token}   (one-time sign-in link)")
        }
        Err(e) => eprintln!("labbook serve: no sign-in link: {e}"),
    }
    if let Some(first) = first {
        println!(
            "first start: created user {:?}; API key (shown once): {}",
            first.user, first.key
        );
    }
    for dir in &settings.watch {
        println!("importing offline runs under {}", dir.display());
    }
    if let Some(port) = test_fixtures {
        println!("test fixtures (W&B's system tests): http://127.0.0.1:{port}");
    }
    println!("point a client at it:  labbook login --host {url}");
    if !listen.ip().is_loopback() && !secure {
        eprintln!(
            "labbook serve: warning: {listen} is reachable from other machines without TLS: \
             API keys would travel in clear; give it --tls-cert and --tls-key, or put a TLS \
             proxy in front"
        );
    }
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("cannot handle SIGINT and SIGTERM")?;
    let _ = stop_rx.recv();
    eprintln!(
        "labbook serve: stopping (requests in flight get up to {}s)",
        STOP_BOUND.as_secs()
    );
    server.shutdown_gracefully(STOP_BOUND);
    data.checkpoint()?;
    eprintln!("labbook serve: stopped");
    Ok(())
}
