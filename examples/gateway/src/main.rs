//! `tollgate`: the Tollgate gateway.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
#[cfg(feature = "demo")]
use tollgate_gateway::demo;
use tollgate_gateway::{Config, shutdown_signal, start};

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
    Approvals {
        #[command(subcommand)]
        command: ApprovalsCommand,
        /// A kubeconfig naming the gateway and your own token.
        #[arg(long, global = true, default_value = "tollgate-demo/approver.kubeconfig")]
        kubeconfig: PathBuf,
    },
    /// An owner-centred access review of the audit trail.
    Review {
        /// Audit log files or directories (rotated and .gz files too).
        #[arg(long, required = true)]
        audit: Vec<PathBuf>,
        /// Only since: a duration (30d, 12h) or an RFC 3339 time.
        #[arg(long, visible_alias = "from")]
        since: Option<String>,
        /// Only before this RFC 3339 time.
        #[arg(long)]
        to: Option<String>,
        /// Only this owner.
        #[arg(long)]
        owner: Option<String>,
        /// html, md, json or csv.
        #[arg(long, default_value = "md")]
        format: String,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// RBAC objects to compare with what was used (YAML or JSON; repeatable).
        #[arg(long)]
        rbac: Vec<PathBuf>,
        /// The current configuration (tollgate.yaml, an AuthenticationConfiguration
        /// or an owner rules list; repeatable): flags issuers no longer configured
        /// and owners no rule names.
        #[arg(long)]
        owners: Vec<PathBuf>,
    },
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
        #[arg(long = "claim", value_parser = parse_claim)]
        claims: Vec<(String, String)>,
        /// Lifetime: 30s, 10m, 1h30m, 2d; negative for an expired token.
        #[arg(long, default_value = "1h", allow_hyphen_values = true)]
        ttl: String,
    },
}

#[derive(Debug, Subcommand)]
enum ApprovalsCommand {
    /// The approvals, newest first.
    List {
        /// Only this state: pending, approved, denied, expired, consumed.
        #[arg(long)]
        state: Option<String>,
    },
    /// One approval, with the request it covers (body redacted).
    Show {
        /// The approval id.
        id: String,
    },
    /// Approves a request (you cannot approve your own).
    Approve {
        /// The approval id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Denies a request; the requester sees the reason.
    Deny {
        /// The approval id.
        id: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
enum SessionsCommand {
    /// One line per request: when, who, owner, what, outcome.
    List {
        /// Audit log files or directories (rotated and .gz files too).
        #[arg(long, required = true)]
        audit: Vec<PathBuf>,
        /// Only this owner.
        #[arg(long)]
        owner: Option<String>,
        /// Only this user.
        #[arg(long)]
        user: Option<String>,
        /// Only since: a duration (30m, 2h, 7d) or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only this verb.
        #[arg(long)]
        verb: Option<String>,
    },
    /// Every record of one request, bodies included (redacted).
    Show {
        /// The audit ID.
        id: String,
        /// Audit log files or directories.
        #[arg(long, required = true)]
        audit: Vec<PathBuf>,
    },
    /// Plays a terminal recording (asciicast v2; asciinema plays it too).
    Replay {
        /// The .cast file.
        file: PathBuf,
        /// Playback speed.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// The longest single pause, in seconds.
        #[arg(long, default_value_t = 2.0)]
        max_idle: f64,
        /// The most time spent in pauses, in seconds; the rest plays at once.
        #[arg(long, default_value_t = 600.0)]
        max_total: f64,
        /// Write the recording as it is, terminal controls included (OSC,
        /// DCS and the like can set the clipboard or title of the terminal
        /// it is played in: only for recordings you trust).
        #[arg(long)]
        raw: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Validates a policy file; errors name the file, line and field.
    Check {
        /// The policy file.
        file: PathBuf,
    },
    /// Shows what a policy decides for one request, and every rule that matched.
    Test {
        /// The policy file.
        #[arg(long)]
        policy: PathBuf,
        /// `METHOD PATH[?QUERY]`, e.g. 'DELETE /apis/apps/v1/namespaces/prod/deployments/web'.
        #[arg(long)]
        request: String,
        /// The user name.
        #[arg(long)]
        user: Option<String>,
        /// A group; repeatable.
        #[arg(long = "group")]
        groups: Vec<String>,
        /// The owner.
        #[arg(long)]
        owner: Option<String>,
        /// A token claim `key=value` (JSON values allowed); repeatable.
        #[arg(long = "claim", value_parser = parse_claim)]
        claims: Vec<(String, String)>,
        /// A file with the request body.
        #[arg(long)]
        body: Option<PathBuf>,
        /// The body's content type.
        #[arg(long, default_value = "application/json")]
        content_type: String,
    },
}

fn parse_claim(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config } => match Config::load(&config) {
            Ok(c) => match start(&c).await {
                Ok(running) => {
                    shutdown_signal().await;
                    tracing::info!("shutting down; draining in-flight requests");
                    running.shutdown().await;
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        },
        Command::Policy {
            command: PolicyCommand::Check { file },
        } => tollgate_gateway::policy_cli::check(&file),
        Command::Policy {
            command:
                PolicyCommand::Test {
                    policy,
                    request,
                    user,
                    groups,
                    owner,
                    claims,
                    body,
                    content_type,
                },
        } => tollgate_gateway::policy_cli::test(&tollgate_gateway::policy_cli::TestInput {
            policy,
            request,
            user,
            groups,
            owner,
            claims,
            body,
            content_type,
        }),
        Command::Approvals { command, kubeconfig } => {
            use tollgate_gateway::approvals_cli;
            let mut out = std::io::stdout().lock();
            match command {
                ApprovalsCommand::List { state } => approvals_cli::list(&kubeconfig, state.as_deref(), &mut out).await,
                ApprovalsCommand::Show { id } => approvals_cli::show(&kubeconfig, &id, &mut out).await,
                ApprovalsCommand::Approve { id, reason } => {
                    approvals_cli::decide(&kubeconfig, &id, true, reason.as_deref(), &mut out).await
                }
                ApprovalsCommand::Deny { id, reason } => {
                    approvals_cli::decide(&kubeconfig, &id, false, Some(&reason), &mut out).await
                }
            }
        }
        Command::Review {
            audit,
            since,
            to,
            owner,
            format,
            out,
            rbac,
            owners,
        } => {
            let mut args = tollgate_gateway::review_cli::ReviewArgs::default();
            args.audit = audit;
            args.since = since;
            args.to = to;
            args.owner = owner;
            args.format = format;
            args.rbac = rbac;
            args.owners = owners;
            // The file is written only once the report is whole.
            tollgate_gateway::review_cli::review(&args).and_then(|text| match out {
                Some(path) => std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display())),
                None => {
                    std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()).map_err(|e| e.to_string())
                }
            })
        }
        Command::Sessions { command } => {
            use tollgate_gateway::sessions_cli;
            let mut out = std::io::stdout().lock();
            match command {
                SessionsCommand::List {
                    audit,
                    owner,
                    user,
                    since,
                    verb,
                } => sessions_cli::list(
                    &audit,
                    &sessions_cli::ListFilter::new(owner, user, since, verb),
                    &mut out,
                ),
                SessionsCommand::Show { id, audit } => sessions_cli::show(&audit, &id, &mut out),
                SessionsCommand::Replay {
                    file,
                    speed,
                    max_idle,
                    max_total,
                    raw,
                } => sessions_cli::replay(
                    &file,
                    sessions_cli::ReplayOptions {
                        speed,
                        max_idle,
                        max_total,
                        raw,
                    },
                    &mut out,
                ),
            }
        }
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
            eprintln!("tollgate: {message}");
            ExitCode::FAILURE
        }
    }
}
