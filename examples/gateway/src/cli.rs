//! The `tollgate` command line (also `kubectl tollgate` when the binary
//! is installed as `kubectl-tollgate`): parsing and dispatch only, every
//! command's logic lives in its crate.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::LogFormat;
#[cfg(feature = "demo")]
use crate::demo;
use crate::{Config, shutdown_signal, start};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tollgate_approval::cli::{ApprovalsArgs, WhoAmIArgs};
use tollgate_audit::cli::SessionsCommand;

use tollgate_review::cli::ReviewArgs;
use tollgate_rules::cli::PolicyCommand;

#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about = "A Layer 7 security gateway in front of the Kubernetes API server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the gateway with a configuration file.
    Serve {
        /// The YAML configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Only check the configuration and every file it names (policy,
        /// audit policy, AuthenticationConfiguration, owners, kubeconfigs,
        /// TLS files), then exit: 0 when all are usable.
        #[arg(long)]
        check: bool,
    },
    /// Runs a test API server with the gateway in front of it, and writes a
    /// kubeconfig for kubectl.
    #[cfg(feature = "demo")]
    Demo {
        /// Where to write the kubeconfig, certificates and config.
        #[arg(long, default_value = "tollgate-demo")]
        dir: PathBuf,
        /// The gateway's listen address.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: std::net::SocketAddr,
    },
    /// Checks or tries out a policy file.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Lists, shows, approves and denies held requests on a running gateway.
    Approvals(ApprovalsArgs),
    /// The identity and owner a running gateway sees for your credentials.
    Whoami(WhoAmIArgs),
    /// A completion script for bash, zsh, fish, elvish or powershell.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// The man page (roff), for `man -l -` or a man directory.
    Man,
    /// An owner-centred access review of the audit trail.
    Review(ReviewArgs),
    /// Reads the audit trail: requests, their records, terminal recordings.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Mints a token from a running demo's test issuer (demo issuers only).
    #[cfg(feature = "demo")]
    Token {
        /// The directory `tollgate demo` wrote.
        #[arg(long, default_value = "tollgate-demo")]
        demo_dir: PathBuf,
        /// `github` (GitHub Actions-shaped) or `bots`.
        #[arg(long, default_value = "github")]
        issuer: String,
        /// A claim to set, `key=value` (JSON values allowed); repeatable.
        #[arg(long = "claim", value_parser = tollgate_rules::cli::parse_claim)]
        claims: Vec<(String, String)>,
        /// Lifetime: 30s, 10m, 1h30m, 2d; negative for an expired token.
        #[arg(long, default_value = "1h", allow_hyphen_values = true)]
        ttl: String,
    },
}

/// Logs to standard error ([`tollgate_metrics::logs::init_stderr`]).
fn init_logging(format: LogFormat) {
    tollgate_metrics::logs::init_stderr(matches!(format, LogFormat::Json));
}

/// The command line's definition, named `kubectl tollgate` for the plugin.
pub fn command(plugin: bool) -> clap::Command {
    let c = Cli::command();
    if plugin {
        c.name("kubectl-tollgate").bin_name("kubectl tollgate")
    } else {
        c
    }
}

/// Parses the process's arguments and runs the command; the binary's
/// `main`. Invoked as `kubectl-tollgate` (kubectl's plugin convention), it
/// names itself `kubectl tollgate` in help and errors.
pub async fn main() -> ExitCode {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let plugin = std::path::Path::new(&argv0)
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("kubectl-"));
    let cli = match Cli::from_arg_matches(&command(plugin).get_matches()) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    // `serve` logs as its configuration says; every other command as text.
    let serve_config = match &cli.command {
        Command::Serve { config, check: false } => Some(Config::load(config)),
        _ => None,
    };
    init_logging(match &serve_config {
        Some(Ok(c)) => c.log.format,
        _ => LogFormat::Text,
    });
    if let Err(e) = tollgate_proxy::no_transparent_huge_pages() {
        tracing::warn!(error = %e, "transparent huge pages stay on: the allocator may zero 2 MiB pages under load");
    }
    let result = match cli.command {
        Command::Serve { config, check: true } => Config::load(&config)
            .map_err(|e| e.to_string())
            .and_then(|c| crate::check(&c).map_err(|e| e.to_string()))
            .map(|summary| println!("{summary}")),
        Command::Serve { config, check: false } => match serve_config.unwrap_or_else(|| Config::load(&config)) {
            Ok(c) => match start(&c).await {
                Ok(running) => {
                    shutdown_signal().await;
                    running.terminate().await;
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        },
        Command::Policy { command } => command.run(&mut std::io::stdout().lock()).map_err(|e| e.to_string()),
        Command::Approvals(args) => args.run(&mut std::io::stdout().lock()).await.map_err(|e| e.to_string()),
        Command::Whoami(args) => args.run(&mut std::io::stdout().lock()).await.map_err(|e| e.to_string()),
        Command::Completions { shell } => {
            let mut c = command(false);
            clap_complete::generate(shell, &mut c, "tollgate", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => clap_mangen::Man::new(command(false))
            .render(&mut std::io::stdout())
            .map_err(|e| e.to_string()),
        Command::Review(args) => args.run().map_err(|e| e.to_string()),
        Command::Sessions { command } => command.run(&mut std::io::stdout().lock()).map_err(|e| e.to_string()),
        #[cfg(feature = "demo")]
        Command::Token {
            demo_dir,
            issuer,
            claims,
            ttl,
        } => demo::parse_ttl(&ttl)
            .and_then(|ttl| demo::mint(&demo_dir, &issuer, &claims, ttl).map_err(|e| e.to_string()))
            .map(|token| println!("{token}")),
        #[cfg(feature = "demo")]
        Command::Demo { dir, listen } => match demo::start(&dir, listen).await {
            Ok(d) => {
                println!("{}", d.instructions());
                shutdown_signal().await;
                d.gateway.shutdown().await;
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{}: {message}", if plugin { "kubectl tollgate" } else { "tollgate" });
            ExitCode::FAILURE
        }
    }
}
