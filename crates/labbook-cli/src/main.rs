//! `labbook`: look at runs without a browser.
//!
//! ```text
//! labbook ls [DIR] [--tag T] [--group G] [--state S] [--where 'val/acc>0.9'] [--sort COL] [--json]
//! labbook show RUN [--metric KEY]...
//! labbook export [RUN]... [--group G] [--tag T] [--where C] [--format csv|jsonl|parquet] [--out results]
//! labbook compare RUN RUN...
//! labbook watch [RUN] [--metric KEY]...
//! (each of these five with --server URL reads a server: ENTITY/PROJECT for DIR,
//! ENTITY/PROJECT/ID for RUN)
//! labbook sweep CONFIG | labbook sweep show SWEEP | labbook agent SWEEP [--count N]
//! labbook sync [PATH]... [--dry-run] [--include-synced] [--follow] [-p PROJECT] [-e ENTITY]
//! labbook login [--host URL] [--relogin] | labbook logout [--host URL]
//! labbook status [--json] [--offline] | labbook doctor [--offline]
//! labbook clean [DIR] [--older-than AGE] [--max-size SIZE] [--dry-run] [--force]
//! labbook serve [--data DIR] [--listen ADDR] | serve user add NAME | serve key new|revoke
//! labbook serve team add NAME | serve team add-member TEAM USER
//! ```
//!
//! Every command reads `.env.local` and `.env` in the working directory as `init` does
//! (variables already set win).
//!
//! RUN is a run directory or a run id under DIR (default: `$WANDB_DIR` or the working
//! directory); with `--server URL`, `entity/project/run-id` on that server (key from
//! `WANDB_API_KEY`, `.env` or netrc, as `init` finds it). Runs written by labbook and by the official client both work, including
//! runs still being written and runs torn by a crash.

mod account;
mod clean;
mod commands;
mod disk;
mod doctor;
mod export;
mod history;
mod index;
mod parquet_export;
mod remote;
mod run_log;
mod serve;
mod sweeps;
mod sync;
mod table;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "labbook",
    version,
    about = "Look at, compare and export W&B-format runs, offline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// One CSV file per table (history, system metrics), JSON for summary and config.
    Csv,
    /// JSON files: history and system metrics as JSON lines.
    #[value(alias = "jsonl")]
    Json,
    /// Parquet files for history and system metrics, typed columns.
    Parquet,
}

#[derive(Subcommand)]
enum Command {
    /// List runs as a table.
    Ls {
        /// A wandb directory, a folder holding one, or a run directory; with --server,
        /// ENTITY/PROJECT.
        dir: Option<PathBuf>,
        /// Read the runs of this W&B-protocol server (labbook serve, or W&B's).
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Only runs with this tag (repeatable: all must match).
        #[arg(long)]
        tag: Vec<String>,
        /// Only runs in this group.
        #[arg(long)]
        group: Option<String>,
        /// Only runs in this state: finished, failed, running, crashed.
        #[arg(long)]
        state: Option<String>,
        /// Only runs whose summary meets a condition, e.g. 'val/acc>0.9' (repeatable).
        #[arg(long = "where")]
        conditions: Vec<String>,
        /// Sort by a column (id, name, state, start, duration, steps) or a summary key.
        #[arg(long)]
        sort: Option<String>,
        /// Summary metrics to show as columns (default: up to 3 numeric ones).
        #[arg(long = "metric")]
        metrics: Vec<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one run: metadata, config, summary, files, alerts and metric sparklines.
    Show {
        /// A run directory or run id; with --server, ENTITY/PROJECT/ID.
        run: String,
        /// Read the run from this W&B-protocol server.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Where to look for run ids.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Metrics to draw as sparklines (default: up to 4 numeric history keys).
        #[arg(long = "metric")]
        metrics: Vec<String>,
    },
    /// Export runs to a results folder: runs.csv, and per run run_summary.json,
    /// metrics_history, system_metrics and its artifacts.
    Export {
        /// Run directories or run ids; with --server, ENTITY/PROJECT/ID, or ENTITY/PROJECT
        /// to choose among its runs. None: every run under --dir that the choices pass.
        runs: Vec<String>,
        /// Only runs in this group.
        #[arg(long)]
        group: Option<String>,
        /// Only runs with this tag (repeatable: all must match).
        #[arg(long)]
        tag: Vec<String>,
        /// Only runs meeting a condition: 'summary.val/acc>0.9', 'config.lr<=0.01'
        /// (repeatable).
        #[arg(long = "where")]
        conditions: Vec<String>,
        /// Format of the history and system-metrics files.
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// Output directory (runs.csv and one folder per run inside it).
        #[arg(long, default_value = "results")]
        out: PathBuf,
        /// Where to look for runs.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Read the runs from this W&B-protocol server.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
    },
    /// Create a local sweep from a W&B sweep config (YAML or JSON); prints its id.
    Sweep(SweepArgs),
    /// A W&B-protocol server on a data directory: the official client, `wandb sync`,
    /// labbook's online mode and `labbook sync` write to it.
    Serve(serve::ServeArgs),
    /// Run a sweep's trials, one after another or several at once.
    Agent {
        /// The sweep id.
        sweep: String,
        /// At most this many trials in this invocation.
        #[arg(long)]
        count: Option<u64>,
        /// Trials running at once.
        #[arg(long, default_value_t = 1)]
        parallel: usize,
        /// The root the sweep (and its runs) live under.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// A live view of a run while it trains (q to quit).
    Watch {
        /// A run directory or run id (default: the latest run); with --server,
        /// ENTITY/PROJECT/ID.
        run: Option<String>,
        /// Follow the run on this W&B-protocol server.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Where to look for runs.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Metrics to chart (default: up to 4 numeric history keys).
        #[arg(long = "metric")]
        metrics: Vec<String>,
    },
    /// Upload offline runs to a W&B server (WANDB_BASE_URL, key from WANDB_API_KEY or
    /// netrc), as `wandb sync` does; runs either tool synced are skipped.
    Sync {
        /// `.wandb` files, run directories or wandb directories (default: ./wandb).
        paths: Vec<PathBuf>,
        /// List what would be uploaded, upload nothing.
        #[arg(long)]
        dry_run: bool,
        /// Upload runs already marked synced again.
        #[arg(long)]
        include_synced: bool,
        /// Also upload runs whose directory is not `offline-…`.
        #[arg(long)]
        include_online: bool,
        /// Upload into this project.
        #[arg(short, long)]
        project: Option<String>,
        /// Upload into this entity.
        #[arg(short, long)]
        entity: Option<String>,
        /// The server (default: WANDB_BASE_URL, else https://api.wandb.ai).
        #[arg(long)]
        base_url: Option<String>,
        /// Runs uploaded at once.
        #[arg(short = 'n', long, default_value_t = 4)]
        parallel: usize,
        /// Upload runs still being written too, following each until its writer finishes
        /// (without it they are skipped).
        #[arg(long)]
        follow: bool,
        /// Delete each run directory once it is uploaded, as `wandb sync --clean` frees
        /// space.
        #[arg(long)]
        clean: bool,
    },
    /// Store an API key for a server in ~/.netrc, as `wandb login` does, after checking it.
    Login {
        /// The server (default: WANDB_BASE_URL, the settings file, else W&B's); kept in the
        /// settings file for later commands and runs.
        #[arg(long)]
        host: Option<String>,
        /// Ask for a key even if one that works is stored.
        #[arg(long)]
        relogin: bool,
    },
    /// Remove the stored API key of a server from ~/.netrc.
    Logout {
        /// The server (default: as `login`).
        #[arg(long)]
        host: Option<String>,
    },
    /// Where runs go and what they would use (mode, project, entity, server, key), and
    /// where each came from.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Do not ask the server whether the key works.
        #[arg(long)]
        offline: bool,
    },
    /// Check what a run that does not appear depends on, one line each, with the fix.
    Doctor {
        /// Skip the checks that need the server.
        #[arg(long)]
        offline: bool,
    },
    /// Delete synced runs that are old, or the oldest synced runs beyond a size budget.
    /// A run being written is never deleted; one not synced only with --force.
    Clean {
        /// A wandb directory, a folder holding one (default: WANDB_DIR or .).
        dir: Option<PathBuf>,
        /// Delete runs started longer ago than this: 90s, 30m, 12h, 7d, 2w.
        #[arg(long, value_parser = disk::parse_age)]
        older_than: Option<f64>,
        /// Delete the oldest runs until the rest fit in this: 500MB, 20GiB.
        #[arg(long, value_parser = disk::parse_size)]
        max_size: Option<u64>,
        /// List what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Delete runs that are not synced too.
        #[arg(long)]
        force: bool,
    },
    /// Compare runs: config differences and summary metrics side by side.
    Compare {
        /// Two or more run directories or run ids; with --server, ENTITY/PROJECT/ID.
        #[arg(required = true, num_args = 2..)]
        runs: Vec<String>,
        /// Read the runs from this W&B-protocol server.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Where to look for run ids.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct SweepArgs {
    #[command(subcommand)]
    command: Option<SweepCommand>,
    /// The sweep config file.
    config: Option<PathBuf>,
    /// The seed of random and bayes choices (default: from the sweep id).
    #[arg(long)]
    seed: Option<u64>,
    /// The root the sweep (and its runs) live under.
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum SweepCommand {
    /// The trials ranked by the metric, the best configuration, and how bayes converged.
    Show {
        /// The sweep id.
        sweep: String,
        /// The root the sweep lives under.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

fn default_root(dir: Option<PathBuf>) -> PathBuf {
    dir.or_else(|| std::env::var_os("WANDB_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Diagnostics (labbook's warnings, `labbook serve`'s request lines, and with `RUST_LOG`
/// whatever it asks for: `debug`, `labbook=trace`, ...) go to stderr, as text or (`serve
/// --log-format json`) JSON lines. A `RUST_LOG` that does not parse is named and ignored.
fn init_logging(serving: Option<serve::LogFormat>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => v
            .parse::<tracing_subscriber::filter::Targets>()
            .unwrap_or_else(|e| {
                eprintln!("labbook: RUST_LOG={v:?} is not a filter ({e}); showing warnings");
                tracing_subscriber::filter::Targets::new().with_default(tracing::Level::WARN)
            }),
        _ if serving.is_some() => tracing_subscriber::filter::Targets::new()
            .with_default(tracing::Level::WARN)
            .with_target("labbook_server", tracing::Level::INFO),
        _ => tracing_subscriber::filter::Targets::new().with_default(tracing::Level::WARN),
    };
    let json = serving == Some(serve::LogFormat::Json);
    let text = (!json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .without_time()
    });
    // JSON lines carry their time: a collector reading them later has no other.
    let json = json.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json)
        .try_init();
}

/// Loads `.env.local`, then `.env`, from the working directory into the environment, as
/// `init` reads them: a variable already set is kept, and `.env.local` wins over `.env`.
fn load_dotenv() -> anyhow::Result<()> {
    let _ = account::PROCESS_ENV.set(
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect(),
    );
    for name in [".env.local", ".env"] {
        match dotenvy::from_filename(name) {
            Ok(_) => {}
            Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => anyhow::bail!("{name}: {e}"),
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(match &cli.command {
        Command::Serve(args) => Some(serve::log_format(args)),
        _ => None,
    });
    if let Err(e) = load_dotenv() {
        eprintln!("labbook: {e:#}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Login { host, relogin } => account::login(&account::LoginArgs { host, relogin }),
        Command::Logout { host } => account::logout(host.as_deref()),
        Command::Status { json, offline } => {
            account::status(&account::StatusArgs { json, offline })
        }
        Command::Doctor { offline } => match doctor::doctor(offline) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Command::Ls {
            dir,
            server,
            tag,
            group,
            state,
            conditions,
            sort,
            metrics,
            json,
        } => commands::ls(
            &default_root(dir),
            &commands::LsOptions {
                server,
                tags: tag,
                group,
                state,
                conditions,
                sort,
                metrics,
                json,
            },
        ),
        Command::Show {
            run,
            server,
            dir,
            metrics,
        } => commands::show(&run, &default_root(dir), server.as_deref(), &metrics),
        Command::Export {
            runs,
            group,
            tag,
            conditions,
            format,
            out,
            dir,
            server,
        } => export::export(&export::ExportArgs {
            runs,
            group,
            tags: tag,
            conditions,
            format,
            out,
            root: default_root(dir),
            server,
        }),
        Command::Clean {
            dir,
            older_than,
            max_size,
            dry_run,
            force,
        } => clean::clean(
            &default_root(dir),
            &clean::CleanArgs {
                older_than,
                max_size,
                dry_run,
                force,
            },
        ),
        Command::Compare { runs, server, dir } => {
            commands::compare(&runs, &default_root(dir), server.as_deref())
        }
        Command::Sync {
            paths,
            dry_run,
            include_synced,
            include_online,
            project,
            entity,
            base_url,
            parallel,
            follow,
            clean,
        } => sync::sync(&sync::SyncArgs {
            paths,
            dry_run,
            include_synced,
            include_online,
            entity,
            project,
            base_url,
            parallel,
            follow,
            clean,
        }),
        Command::Sweep(SweepArgs {
            command: Some(SweepCommand::Show { sweep, dir }),
            ..
        }) => sweeps::show(&sweep, &default_root(dir)),
        Command::Sweep(SweepArgs {
            config: Some(config),
            seed,
            dir,
            ..
        }) => sweeps::create(&config, &default_root(dir), seed),
        Command::Sweep(_) => Err(anyhow::anyhow!(
            "give a sweep config file, or `sweep show SWEEP`"
        )),
        Command::Agent {
            sweep,
            count,
            parallel,
            dir,
        } => sweeps::agent(&sweep, &default_root(dir), count, parallel),
        Command::Serve(args) => serve::serve(args),
        Command::Watch {
            run,
            server: Some(url),
            metrics,
            ..
        } => watch::watch_server(&url, run.as_deref(), &metrics),
        Command::Watch {
            run, dir, metrics, ..
        } => {
            let root = default_root(dir);
            index::latest_or(run.as_deref(), &root).and_then(|d| watch::watch(&d, &metrics))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("labbook: {e:#}");
            ExitCode::from(2)
        }
    }
}
