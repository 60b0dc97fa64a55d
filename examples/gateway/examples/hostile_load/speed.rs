//! `--speed` (issue 18): what each part of the gateway costs, measured
//! against a bare hyper proxy (and nginx, when installed) in the same run.
//!
//! Processes, all on loopback and sharing the machine's cores: the static
//! upstream, the bare proxy, nginx, and one `tollgate serve` per stack
//! level (authentication only; + the baseline policy; + audit with each
//! durability; policy + audit). The same client drives each over HTTP/2
//! and HTTP/1.1 with 1, 8 and 64 requests in flight, a fixed request count
//! and a time bound, rounds interleaved (A B A B), and prints requests/s,
//! mean/p50/p99 latency, CPU seconds per 1,000 requests and peak RSS of the
//! process under test, with ratios to the bare proxy (each the median of
//! the ratios within a round; every run starts after a `sync`, so one
//! path's log is not written back during the next one's). Then a 10 MB list
//! with masking off and on, a watch of 1,000 events and 64 MiB of exec
//! output through a tunnel.
//!
//! `--against PATH` runs every gateway level a second time with another
//! build of `tollgate`, in the same rounds, and prints each level's
//! requests/s under that build ÷ under this one: an A/B of two builds with
//! the machine's drift in both.
//!
//! `HOSTILE_LOAD_WRAP_BARE=CMD` starts the bare proxy as `CMD <this
//! binary> --bare-proxy …`, for a profiler (`valgrind --tool=callgrind`):
//! its costs counted the way the gateway's are when a wrapper script stands
//! in for the `tollgate` binary beside this one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tokio_rustls::TlsConnector;

use super::args::{Args, Flag, Parsed, Refused, unmatched, usage};
use super::servers::{EXEC_BYTES, WATCH_EVENTS};
use super::{Cluster, Error, client_tls, cpu_seconds, gateway_binary, kubeconfig_ca, until_200};

/// A process (or process tree) under test and where it listens.
struct Under {
    name: &'static str,
    port: u16,
    pid: u32,
    /// nginx: its workers are the master's children.
    tree: bool,
}

/// The stack levels: a name and the configuration lines added to the
/// authentication-only gateway's.
const LEVELS: [(&str, &str); 8] = [
    ("authn only", ""),
    ("authn + policy", "policy:\n  file: policy.yaml\n"),
    // The audit layers with a policy that records nothing: what recording
    // costs beyond the layers around every request. Run only when named
    // (`--only "no records"`).
    (
        NO_RECORDS,
        "audit:\n  policy: audit-policy-no-records.yaml\n  log:\n    path: audit-no-records/audit.log\n    durability: none\n",
    ),
    (
        "authn + audit none",
        "audit:\n  policy: audit-policy.yaml\n  log:\n    path: audit-none/audit.log\n    durability: none\n",
    ),
    (
        "authn + audit batch",
        "audit:\n  policy: audit-policy.yaml\n  log:\n    path: audit-batch/audit.log\n    durability: batch\n",
    ),
    (
        "policy + audit batch",
        "policy:\n  file: policy.yaml\naudit:\n  policy: audit-policy.yaml\n  log:\n    path: audit-pab/audit.log\n    durability: batch\n  sessions:\n    dir: sessions\n",
    ),
    (
        "policy + audit request",
        "policy:\n  file: policy.yaml\naudit:\n  policy: audit-policy.yaml\n  log:\n    path: audit-par/audit.log\n    durability: request\n",
    ),
    ("authn + masking all", "masking:\n  all: true\n"),
];

/// The level run only when `--only` names it.
const NO_RECORDS: &str = "authn + audit, no records";

/// The paths that are not gateway levels: the upstream, straight, and the
/// bare proxy (both always run), and nginx (when it is installed).
const DIRECT: &str = "direct to the upstream";
const BARE: &str = "bare hyper proxy";
const NGINX: &str = "nginx (2 workers)";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Proto {
    H2,
    H1,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::H2 => "HTTP/2",
            Proto::H1 => "HTTP/1.1",
        }
    }
}

/// One measured run.
#[derive(Default, Clone)]
struct Run {
    rps: f64,
    latencies: Vec<Duration>,
    cpu_per_1000: f64,
    failed: u64,
    /// CPU ticks (user, system) of the process's threads during the run,
    /// by thread name.
    threads: ThreadTicks,
}

/// CPU clock ticks (user, system) by thread name, summed over the threads
/// of that name.
type ThreadTicks = std::collections::BTreeMap<String, (u64, u64)>;

/// The CPU ticks of `pid`'s threads, by name (`/proc/PID/task/*/stat`).
fn thread_ticks(pid: u32) -> ThreadTicks {
    let mut out = ThreadTicks::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.filter_map(Result::ok) {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let parsed = (|| {
            let (head, rest) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_owned();
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((name, f.get(11)?.parse::<u64>().ok()?, f.get(12)?.parse::<u64>().ok()?))
        })();
        if let Some((name, user, system)) = parsed {
            let e = out.entry(name).or_default();
            e.0 += user;
            e.1 += system;
        }
    }
    out
}

/// `after` − `before`, by thread name (a thread that ended is left out).
fn ticks_between(before: &ThreadTicks, after: &ThreadTicks) -> ThreadTicks {
    after
        .iter()
        .map(|(name, &(u, s))| {
            let (u0, s0) = before.get(name).copied().unwrap_or_default();
            (name.clone(), (u.saturating_sub(u0), s.saturating_sub(s0)))
        })
        .collect()
}

impl Run {
    fn q(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
        self.latencies[i.min(self.latencies.len() - 1)]
    }

    fn mean(&self) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies.iter().sum::<Duration>() / self.latencies.len() as u32
    }
}

/// All rounds of one path in one cell, merged: requests/s of each round,
/// latencies of all.
#[derive(Default)]
struct Cell {
    rounds: Vec<f64>,
    /// Mean latency of each round.
    means: Vec<Duration>,
    all: Run,
    cpu: Vec<f64>,
    failed: u64,
    /// Thread ticks over all rounds, and the requests they served.
    threads: ThreadTicks,
    requests: u64,
}

impl Cell {
    fn add(&mut self, r: Run) {
        self.rounds.push(r.rps);
        self.means.push(r.mean());
        self.cpu.push(r.cpu_per_1000);
        self.failed += r.failed;
        self.requests += r.latencies.len() as u64;
        for (name, (u, s)) in &r.threads {
            let e = self.threads.entry(name.clone()).or_default();
            e.0 += u;
            e.1 += s;
        }
        self.all.latencies.extend(r.latencies);
        self.all.latencies.sort_unstable();
    }

    /// Requests/s as a multiple of `base`'s: the median, over the rounds,
    /// of the two paths' ratio in the same round. Each round runs every
    /// path back to back, so a machine that speeds up or slows down between
    /// rounds (on these shared VMs it does, by up to 2×) moves both sides
    /// of a round's ratio alike; a ratio of the two medians would mix
    /// rounds run at different speeds.
    fn ratio_to(&self, base: &Cell) -> f64 {
        median(self.ratios_to(base))
    }

    /// Each round's ratio of requests/s to `base`'s ([`Cell::ratio_to`]
    /// is their median).
    fn ratios_to(&self, base: &Cell) -> Vec<f64> {
        self.rounds
            .iter()
            .zip(&base.rounds)
            .map(|(a, b)| a / b.max(1e-9))
            .collect()
    }

    fn cpu(&self) -> f64 {
        self.cpu.iter().sum::<f64>() / self.cpu.len().max(1) as f64
    }
}

/// The median (the mean of the middle two of an even count); 0 for none.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// How the client reaches the paths.
struct Client {
    h1: TlsConnector,
    h2: TlsConnector,
    token: String,
    /// `--user-agent N`: sent with every request (none by default).
    user_agent: Option<http::HeaderValue>,
}

enum Conn {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Conn {
    async fn send(&mut self, req: http::Request<Full<Bytes>>) -> Result<http::Response<hyper::body::Incoming>, Error> {
        Ok(match self {
            Conn::H1(s) => {
                s.ready().await?;
                s.send_request(req).await?
            }
            Conn::H2(s) => {
                s.ready().await?;
                s.send_request(req).await?
            }
        })
    }
}

impl Client {
    async fn connect(&self, port: u16, proto: Proto) -> Result<Conn, Error> {
        let tcp = tokio::net::TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        tcp.set_nodelay(true)?;
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1")?.to_owned();
        Ok(match proto {
            Proto::H1 => {
                let io = self.h1.connect(name, tcp).await?;
                let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
                tokio::spawn(async move {
                    let _ = conn.with_upgrades().await;
                });
                Conn::H1(send)
            }
            Proto::H2 => {
                let io = self.h2.connect(name, tcp).await?;
                let (send, conn) =
                    hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), TokioIo::new(io))
                        .await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Conn::H2(send)
            }
        })
    }

    fn get(&self, path: &str, proto: Proto) -> http::Request<Full<Bytes>> {
        let mut b = http::Request::get(path).header("authorization", format!("Bearer {}", self.token));
        b = match proto {
            Proto::H1 => b.header("host", "127.0.0.1"),
            Proto::H2 => b.uri(format!("https://127.0.0.1{path}")),
        };
        if let Some(ua) = &self.user_agent {
            b = b.header(http::header::USER_AGENT, ua);
        }
        b.body(Full::default()).unwrap_or_default()
    }

    /// `n` GETs of the 1 KB Pod with `inflight` in flight (HTTP/2:
    /// connections of up to 8 streams; HTTP/1.1: one connection each),
    /// within `bound`.
    async fn drive(&self, p: &Under, proto: Proto, inflight: usize, n: u64, bound: Duration) -> Result<Run, Error> {
        let conns = match proto {
            Proto::H2 => inflight.div_ceil(8),
            Proto::H1 => inflight,
        };
        // What earlier runs left in the page cache is written back now, not
        // during this run: an audit log written with `durability: none` is
        // written back by the kernel up to 30 s later, taking CPU from
        // whichever path is being measured then.
        tokio::process::Command::new("sync").status().await?;
        let mut cs = Vec::with_capacity(conns);
        for _ in 0..conns {
            cs.push(Some(self.connect(p.port, proto).await?));
        }
        let path = "/api/v1/namespaces/default/pods/web-0";
        // Warm up: every connection, and the gateway's verified-token cache.
        for c in cs.iter_mut().flatten() {
            for _ in 0..20 {
                let res = c.send(self.get(path, proto)).await?;
                res.into_body().collect().await?;
            }
        }
        let next = Arc::new(AtomicU64::new(0));
        let cpu_before = cpu_of(p);
        let threads_before = thread_ticks(p.pid);
        let started = Instant::now();
        let deadline = started + bound;
        let mut tasks = Vec::with_capacity(inflight);
        for i in 0..inflight {
            // HTTP/2 senders are shared; an HTTP/1.1 one is handed out once.
            let mut conn = match &cs[i % conns] {
                Some(Conn::H2(s)) => Conn::H2(s.clone()),
                _ => cs[i % conns].take().ok_or("an HTTP/1.1 connection handed out twice")?,
            };
            let next = next.clone();
            let req = self.get(path, proto);
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(usize::try_from(n).unwrap_or(0) / inflight + 1);
                let mut failed = 0u64;
                while next.fetch_add(1, Ordering::Relaxed) < n && Instant::now() < deadline {
                    let t = Instant::now();
                    let ok = match conn.send(req.clone()).await {
                        Ok(res) => {
                            let code = res.status();
                            res.into_body().collect().await.is_ok() && code == 200
                        }
                        Err(_) => false,
                    };
                    if ok {
                        lat.push(t.elapsed());
                    } else {
                        failed += 1;
                    }
                }
                (lat, failed)
            }));
        }
        let mut run = Run::default();
        for t in tasks {
            let (lat, failed) = t.await?;
            run.latencies.extend(lat);
            run.failed += failed;
        }
        let took = started.elapsed().as_secs_f64();
        let done = run.latencies.len() as f64;
        run.rps = done / took;
        run.cpu_per_1000 = (cpu_of(p) - cpu_before) / done.max(1.0) * 1000.0;
        run.threads = ticks_between(&threads_before, &thread_ticks(p.pid));
        run.latencies.sort_unstable();
        Ok(run)
    }
}

/// CPU seconds of a path's process (and, for nginx, its workers).
fn cpu_of(p: &Under) -> f64 {
    let mut total = cpu_seconds(&p.pid.to_string());
    if p.tree {
        for child in children(p.pid) {
            total += cpu_seconds(&child.to_string());
        }
    }
    total
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|c| {
            std::fs::read_to_string(format!("/proc/{c}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse::<u32>().ok())
                == Some(pid)
        })
        .collect()
}

/// Peak resident memory (VmHWM) in MB, summed over nginx's processes.
fn peak_rss_mb(p: &Under) -> f64 {
    let one = |pid: u32| -> f64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            })
            .unwrap_or(0.0)
            / 1024.0
    };
    let mut total = one(p.pid);
    if p.tree {
        total += children(p.pid).into_iter().map(one).sum::<f64>();
    }
    total
}

/// Starts `cmd`, reads the port from its first line of output.
async fn spawn_server(mut cmd: tokio::process::Command) -> Result<(tokio::process::Child, u16), Error> {
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::BufReader::new(out).read_line(&mut line),
    )
    .await??;
    let port = line.trim().parse()?;
    Ok((child, port))
}

fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn nginx_conf(d: &Path, port: u16, upstream: u16) -> String {
    let d = d.display();
    format!(
        "worker_processes 2;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\ndaemon off;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  keepalive_requests 10000000;\n  client_body_temp_path {d}/nginx-body;\n  proxy_temp_path {d}/nginx-proxy;\n\
         \x20 map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}\n\
         \x20 upstream api {{ server 127.0.0.1:{upstream}; keepalive 64; }}\n\
         \x20 server {{\n    listen 127.0.0.1:{port} ssl http2;\n    ssl_certificate {d}/gateway.crt;\n    ssl_certificate_key {d}/gateway.key;\n\
         \x20   location / {{\n      proxy_pass https://api;\n      proxy_http_version 1.1;\n      proxy_ssl_session_reuse on;\n\
         \x20     proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection $connection_upgrade;\n      proxy_buffering off;\n    }}\n  }}\n}}\n"
    )
}

/// The harness's options.
struct Options {
    requests: u64,
    rounds: usize,
    bound: Duration,
    only: String,
    extras: bool,
    /// `--inflight N`: only this concurrency (all three by default).
    inflight: Option<usize>,
    /// `--proto h2|h1`: only this protocol (both by default).
    proto: Option<Proto>,
    /// `--threads`: each cell's CPU per request by thread as well.
    threads: bool,
    /// `--against PATH`: every gateway level run a second time by the
    /// `tollgate` binary at PATH, in the same rounds, for a paired A/B of
    /// two builds (`"LEVEL [against]"` in the tables).
    against: Option<PathBuf>,
    /// `--user-agent N`: the client's `User-Agent`, N bytes (none by
    /// default). Every audit record carries it (up to 1,024 bytes), so it
    /// sizes the records without changing anything else a level does.
    user_agent: Option<usize>,
}

/// The longest `--user-agent` (the gateway's default header limits take
/// far more; this keeps a typo from sending megabytes).
const MAX_USER_AGENT: usize = 8192;

/// A `User-Agent` of `n` bytes: a product name, then padding.
fn user_agent(n: usize) -> http::HeaderValue {
    let mut v = String::from("hostile-load/1 ");
    v.truncate(n);
    while v.len() < n {
        v.push('x');
    }
    http::HeaderValue::from_str(&v).unwrap_or_else(|_| http::HeaderValue::from_static("hostile-load/1"))
}

/// The flags of `--speed`.
const FLAGS: &[Flag] = &[
    Flag {
        name: "--requests",
        value: Some("N"),
        help: "requests per run at 64 in flight (N/2 at 8, N/8 at 1; default 20000)",
    },
    Flag {
        name: "--rounds",
        value: Some("N"),
        help: "rounds, interleaved A B A B (default 2)",
    },
    Flag {
        name: "--seconds",
        value: Some("N"),
        help: "the most a run takes (default 10)",
    },
    Flag {
        name: "--only",
        value: Some("A|B"),
        help: "the paths whose name contains A or B (the direct upstream and the bare proxy always run)",
    },
    Flag {
        name: "--inflight",
        value: Some("1|8|64"),
        help: "only this concurrency (all three by default)",
    },
    Flag {
        name: "--proto",
        value: Some("h2|h1"),
        help: "only this protocol (both by default)",
    },
    Flag {
        name: "--no-extras",
        value: None,
        help: "without the 10 MB list, the watch and the exec tunnel",
    },
    Flag {
        name: "--threads",
        value: None,
        help: "each cell's CPU per request by thread as well",
    },
    Flag {
        name: "--against",
        value: Some("PATH"),
        help: "every gateway level run a second time by the tollgate binary at PATH (an A/B of two builds)",
    },
    Flag {
        name: "--user-agent",
        value: Some("N"),
        help: "the client sends a User-Agent of N bytes (at most 8192; none by default): audit records carry it, so this sizes them",
    },
];

impl Options {
    /// The options of `args` (after `--speed`), or `None` for `--help`.
    fn parse(args: &[String]) -> Result<Option<Options>, String> {
        let a = match Args::parse(args, FLAGS)? {
            Parsed::Help => return Ok(None),
            Parsed::Run(a) => a,
        };
        let only = a.text("--only").unwrap_or_default().to_owned();
        if !only.is_empty() {
            // The direct upstream and the bare proxy run anyway; naming
            // one of them alone measures just the floor.
            let names: Vec<&str> = [DIRECT, BARE, NGINX]
                .into_iter()
                .chain(LEVELS.iter().map(|(n, _)| *n))
                .collect();
            let unknown = unmatched(&only, &names);
            if !unknown.is_empty() {
                return Err(format!(
                    "--only {only:?}: {} names no path; the paths are: {}",
                    unknown.iter().map(|w| format!("{w:?}")).collect::<Vec<_>>().join(", "),
                    names.join(", ")
                ));
            }
        }
        let against = a.text("--against").map(PathBuf::from);
        if let Some(p) = against.as_deref().filter(|p| !p.is_file()) {
            return Err(format!(
                "--against {}: no such file (the path of another tollgate binary)",
                p.display()
            ));
        }
        let user_agent = a.number::<usize>("--user-agent", 1)?;
        if let Some(n) = user_agent.filter(|n| *n > MAX_USER_AGENT) {
            return Err(format!("--user-agent {n}: at most {MAX_USER_AGENT} bytes"));
        }
        Ok(Some(Options {
            requests: a.number("--requests", 1)?.unwrap_or(20_000),
            user_agent,
            rounds: a.number("--rounds", 1)?.unwrap_or(2),
            bound: Duration::from_secs(a.number("--seconds", 1)?.unwrap_or(10)),
            only,
            extras: !a.has("--no-extras"),
            threads: a.has("--threads"),
            against,
            inflight: a.one_of("--inflight", &["1", "8", "64"])?.map(|n| match n {
                "1" => 1,
                "8" => 8,
                _ => 64,
            }),
            proto: a.one_of("--proto", &["h2", "h1"])?.map(|p| match p {
                "h1" => Proto::H1,
                _ => Proto::H2,
            }),
        }))
    }

    /// Whether the path `name` is measured: every path but *no records*
    /// without `--only`, else those it names. The direct upstream and the
    /// bare proxy always are.
    fn selects(&self, name: &str) -> bool {
        if self.only.is_empty() {
            !name.starts_with(NO_RECORDS)
        } else {
            self.only.split('|').any(|w| name.contains(w))
        }
    }
}

/// Everything `--speed` starts; dropped at the end (children stopped).
struct Setup {
    children: Vec<tokio::process::Child>,
    paths: Vec<Under>,
    client: Client,
}

/// How long the children have to exit when asked before they are killed.
const STOP_WITHIN: Duration = Duration::from_secs(10);

impl Drop for Setup {
    /// Every child is asked to stop and given [`STOP_WITHIN`] before it is
    /// killed: this binary's servers (the upstream, the bare proxy) by
    /// closing their standard input, the gateways and nginx's master by
    /// SIGTERM. A process that exits by itself runs its exit handlers: a
    /// build instrumented for profile-guided optimization writes its
    /// profile then (`scripts/pgo-build`). nginx's master, killed outright,
    /// would also leave its workers running, holding the harness's output
    /// open.
    fn drop(&mut self) {
        for child in &mut self.children {
            if child.stdin.take().is_none()
                && let Some(pid) = child.id()
            {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
        }
        let until = Instant::now() + STOP_WITHIN;
        while Instant::now() < until {
            let running = self
                .children
                .iter_mut()
                .map(|c| usize::from(matches!(c.try_wait(), Ok(None))))
                .sum::<usize>();
            let workers = self
                .paths
                .iter()
                .filter(|u| u.tree)
                .any(|u| !children(u.pid).is_empty());
            if running == 0 && !workers {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The suffix of a level run by the `--against` binary.
const AGAINST: &str = " [against]";

/// A level's configuration for its `--against` twin: the audit log and
/// the sessions directory of its own. Two gateways appending to one log
/// would each rotate (rename) the file the other writes, and each would
/// find the file grown by writes it did not make.
fn twin_files(extra: &str) -> String {
    extra
        .replace("/audit.log", "-against/audit.log")
        .replace("dir: sessions", "dir: sessions-against")
}

/// Starts the direct upstream, the bare proxy, and the paths `o` selects
/// (with `--against`, each selected level's twin too).
async fn setup(d: &Path, cluster: &Cluster, o: &Options) -> Result<Setup, Error> {
    let exe = std::env::current_exe()?;
    let ca = tollgate_testkit::TestCa::new("static upstream CA")?;
    let cert = ca.server_cert(&["127.0.0.1", "localhost"])?;
    std::fs::write(d.join("upstream.crt"), &cert.cert_pem)?;
    std::fs::write(d.join("upstream.key"), &cert.key_pem)?;
    std::fs::write(d.join("upstream-ca.crt"), &ca.cert_pem)?;
    std::fs::write(
        d.join("audit-policy-no-records.yaml"),
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: None\n",
    )?;
    let mut children = Vec::new();
    let mut paths = Vec::new();

    let mut cmd = tokio::process::Command::new(&exe);
    cmd.arg("--static-upstream").arg(d);
    let (child, upstream) = spawn_server(cmd).await?;
    paths.push(Under {
        name: DIRECT,
        port: upstream,
        pid: child.id().ok_or("exited")?,
        tree: false,
    });
    children.push(child);
    std::fs::write(
        d.join("static.kubeconfig"),
        tollgate_testkit::kubeconfig(
            &format!("https://127.0.0.1:{upstream}"),
            &ca.cert_pem,
            Some("upstream-token"),
        ),
    )?;

    let mut cmd = match std::env::var_os("HOSTILE_LOAD_WRAP_BARE") {
        Some(w) => {
            let mut c = tokio::process::Command::new(w);
            c.arg(&exe);
            c
        }
        None => tokio::process::Command::new(&exe),
    };
    cmd.arg("--bare-proxy").arg(d).arg(upstream.to_string());
    let (child, port) = spawn_server(cmd).await?;
    paths.push(Under {
        name: BARE,
        port,
        pid: child.id().ok_or("exited")?,
        tree: false,
    });
    children.push(child);

    if !o.selects(NGINX) {
        // Not measured: not started.
    } else if let Ok(nginx) = which("nginx") {
        let port = free_port()?;
        for t in ["nginx-body", "nginx-proxy"] {
            std::fs::create_dir_all(d.join(t))?;
        }
        std::fs::write(d.join("nginx.conf"), nginx_conf(d, port, upstream))?;
        let child = tokio::process::Command::new(nginx)
            .arg("-p")
            .arg(d)
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        paths.push(Under {
            name: NGINX,
            port,
            pid: child.id().ok_or("exited")?,
            tree: true,
        });
        children.push(child);
    } else {
        eprintln!("nginx is not installed (apt-get install nginx-light): its row is left out");
    }

    let bin = gateway_binary()?;
    let levels = LEVELS.into_iter().filter(|(name, _)| o.selects(name));
    let twins = o.against.as_deref().map(|a| {
        levels.clone().map(|(name, extra)| -> (&'static str, String, PathBuf) {
            // Leaked once per run: a path's name lives as long as the run.
            (
                Box::leak(format!("{name}{AGAINST}").into_boxed_str()),
                twin_files(extra),
                a.to_owned(),
            )
        })
    });
    let levels = levels
        .map(|(name, extra)| (name, extra.to_owned(), bin.clone()))
        .chain(twins.into_iter().flatten());
    for (name, extra, bin) in levels {
        // Named for the level, so a profiler can find its process.
        let slug: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let file = d.join(format!("level-{slug}.yaml"));
        // Port 0: the gateway binds a free port itself and names it in its
        // log. (A port picked here and handed over could be taken before
        // the gateway binds it — by another level's gateway or a
        // connection's local port — and the measured path would then be
        // whoever took it, with the level's own gateway gone.)
        std::fs::write(
            &file,
            format!(
                "listen: 127.0.0.1:0\ntls:\n  cert: gateway.crt\n  key: gateway.key\n\
                 upstream:\n  kubeconfig: static.kubeconfig\n  identity: impersonate\n\
                 authentication:\n  mode: oidc\n  config: authn.yaml\n  owners: owners.yaml\n  unmapped: allow\n\
                 shutdown:\n  graceSeconds: 0\n  drainSeconds: 1\n{extra}"
            ),
        )?;
        let log_path = d.join(format!("level-{slug}.log"));
        let log = std::fs::File::create(&log_path)?;
        let mut child = tokio::process::Command::new(&bin)
            .args(["serve", "--config"])
            .arg(&file)
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let port = bound_port(name, &log_path, &mut child).await?;
        paths.push(Under {
            name,
            port,
            pid: child.id().ok_or("the gateway exited")?,
            tree: false,
        });
        children.push(child);
    }
    let gateway_ca = kubeconfig_ca(&cluster.kubeconfig)?;
    let client = Client {
        h1: client_tls(&[&gateway_ca, &ca.cert_pem], b"http/1.1")?,
        h2: client_tls(&[&gateway_ca, &ca.cert_pem], b"h2")?,
        token: tollgate_gateway::demo::mint(d, "github", &[], 3600)?,
        user_agent: o.user_agent.map(user_agent),
    };
    // Every path answers before anything is measured.
    for p in &paths {
        let up = until_200(|| async {
            let mut c = client.connect(p.port, Proto::H1).await?;
            let res = c
                .send(client.get("/api/v1/namespaces/default/pods/web-0", Proto::H1))
                .await?;
            Ok(res.status().as_u16())
        })
        .await;
        if let Err(last) = up {
            return Err(format!(
                "{} on port {} did not come up: {last} (logs in {})",
                p.name,
                p.port,
                d.display()
            )
            .into());
        }
    }
    // And each answer came from the path's own process: one that exited
    // (its port taken by another) is not measured as whoever answered.
    for (p, child) in paths.iter().zip(children.iter_mut()) {
        if let Some(status) = child.try_wait()? {
            return Err(format!("{} exited ({status}) after starting (logs in {})", p.name, d.display()).into());
        }
    }
    Ok(Setup {
        children,
        paths,
        client,
    })
}

/// The port a gateway started with `listen: 127.0.0.1:0` bound, from the
/// "tollgate is serving addr=…" line of its log; an error when it exits
/// first or never says.
async fn bound_port(name: &str, log: &Path, child: &mut tokio::process::Child) -> Result<u16, Error> {
    for _ in 0..600 {
        if let Some(port) = std::fs::read_to_string(log).ok().as_deref().and_then(serving_port) {
            return Ok(port);
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!("{name} exited ({status}) before serving: its log is {}", log.display()).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "{name} did not say it was serving within 30 s: its log is {}",
        log.display()
    )
    .into())
}

/// The port of the address in a gateway log's "tollgate is serving" line.
fn serving_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains("tollgate is serving"))?;
    let addr = line.split_whitespace().find_map(|w| w.strip_prefix("addr="))?;
    addr.rsplit_once(':')?.1.parse().ok()
}

fn which(name: &str) -> Result<PathBuf, Error> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{name} not found").into())
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// Runs the comparison and prints it as Markdown.
pub(crate) async fn run(args: &[String]) -> Result<(), Error> {
    // Checked before anything starts (or a directory is made).
    let parsed = Options::parse(args.get(2..).unwrap_or_default());
    let Some(o) = parsed.map_err(Refused)? else {
        print!("{}", usage("--speed ", FLAGS));
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let result = compare(&o, dir.path()).await;
    if result.is_err() {
        // The processes' logs and configurations, for whoever looks into it.
        let kept = dir.keep();
        eprintln!(
            "the run failed: its files (logs, configurations) are kept in {}",
            kept.display()
        );
    }
    result
}

async fn compare(o: &Options, d: &Path) -> Result<(), Error> {
    let cluster = Cluster::start(d).await?;
    let s = setup(d, &cluster, o).await?;
    // `setup` started only what is measured.
    let selected: Vec<usize> = (0..s.paths.len()).collect();
    println!(
        "tollgate speed comparison: {} requests per run (fewer at low concurrency), ≤ {} s per run, {} rounds interleaved; 1 KB Pod GETs with a verified OIDC token over TLS; everything on this machine's {} cores\n",
        o.requests,
        o.bound.as_secs(),
        o.rounds,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let mut summary: Vec<(Proto, usize, Vec<Cell>)> = Vec::new();
    for proto in [Proto::H2, Proto::H1] {
        if o.proto.is_some_and(|p| p != proto) {
            continue;
        }
        for inflight in [1usize, 8, 64] {
            if o.inflight.is_some_and(|i| i != inflight) {
                continue;
            }
            let n = match inflight {
                1 => o.requests / 8,
                8 => o.requests / 2,
                _ => o.requests,
            };
            let mut cells: Vec<Cell> = (0..s.paths.len()).map(|_| Cell::default()).collect();
            for _round in 0..o.rounds {
                for &i in &selected {
                    eprintln!("… {} {inflight} in flight: {}", proto.name(), s.paths[i].name);
                    let r = s.client.drive(&s.paths[i], proto, inflight, n, o.bound).await?;
                    cells[i].add(r);
                }
            }
            print_cell(&s.paths, &selected, proto, inflight, &cells);
            if o.threads {
                print_threads(&s.paths, &selected, &cells);
            }
            summary.push((proto, inflight, cells));
        }
    }
    print_checks(&s.paths, &summary);
    if o.against.is_some() {
        print_against(&s.paths, &summary);
    }
    if o.extras {
        extras(&s, d).await?;
    }
    drop(s);
    cluster.stop().await;
    Ok(())
}

fn print_cell(paths: &[Under], selected: &[usize], proto: Proto, inflight: usize, cells: &[Cell]) {
    let direct = cells[0].all.mean();
    let bare_added = cells[1].all.mean().saturating_sub(direct);
    println!("\n### {}, {inflight} in flight\n", proto.name());
    println!(
        "| path | requests/s (rounds) | × bare proxy | mean | p50 | p99 | mean added to direct | × bare's added | CPU s / 1,000 req | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &i in selected {
        let c = &cells[i];
        let added = c.all.mean().saturating_sub(direct);
        let rounds: Vec<String> = c.rounds.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "| {} | {} | {:.2}× | {} | {} | {} | {} | {} | {:.3} | {:.0} MB |{}",
            paths[i].name,
            rounds.join(" / "),
            c.ratio_to(&cells[1]),
            us(c.all.mean()),
            us(c.all.q(0.5)),
            us(c.all.q(0.99)),
            if i == 0 { "—".to_owned() } else { us(added) },
            if i < 2 {
                "—".to_owned()
            } else {
                format!("{:.2}×", added.as_secs_f64() / bare_added.as_secs_f64().max(1e-9))
            },
            c.cpu(),
            peak_rss_mb(&paths[i]),
            if c.failed > 0 {
                format!(" **{} failed**", c.failed)
            } else {
                String::new()
            }
        );
    }
}

/// Each selected process's CPU per request by thread name (µs, user +
/// system), over all rounds: where a level's extra time goes (the request
/// tasks on the runtime's workers, or the audit log's threads). nginx's
/// workers are other processes and not counted.
fn print_threads(paths: &[Under], selected: &[usize], cells: &[Cell]) {
    let mut names: Vec<&str> = selected
        .iter()
        .flat_map(|&i| cells[i].threads.iter())
        .filter(|(_, (u, s))| u + s > 0)
        .map(|(n, _)| n.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    // One tick is 10 ms (USER_HZ 100, as `cpu_seconds` reads it).
    let per_request = |ticks: u64, c: &Cell| ticks as f64 * 10_000.0 / c.requests.max(1) as f64;
    println!("\nCPU µs per request by thread, user + system (`--threads`):\n");
    println!("| path | {} | all |", names.join(" | "));
    println!("|---|{}---|", "---|".repeat(names.len()));
    for &i in selected.iter().filter(|&&i| !paths[i].tree) {
        let c = &cells[i];
        let cols: Vec<String> = names
            .iter()
            .map(|n| match c.threads.get(*n) {
                Some(&(u, s)) if u + s > 0 => format!("{:.1} + {:.1}", per_request(u, c), per_request(s, c)),
                _ => "—".to_owned(),
            })
            .collect();
        let all: u64 = c.threads.values().map(|(u, s)| u + s).sum();
        println!(
            "| {} | {} | {:.1} |",
            paths[i].name,
            cols.join(" | "),
            per_request(all, c)
        );
    }
}

/// Each level run by the `--against` binary ÷ the same level run by this
/// one: the median of the rounds' ratios, as every ratio here.
fn print_against(paths: &[Under], summary: &[(Proto, usize, Vec<Cell>)]) {
    println!("\n### `--against` binary ÷ this one, requests/s\n");
    for (proto, inflight, cells) in summary {
        for (i, p) in paths.iter().enumerate() {
            let Some(level) = p.name.strip_suffix(AGAINST) else {
                continue;
            };
            let Some(j) = paths.iter().position(|q| q.name == level) else {
                continue;
            };
            if cells[i].rounds.is_empty() || cells[j].rounds.is_empty() {
                continue;
            }
            let rounds: Vec<String> = cells[i]
                .rounds
                .iter()
                .zip(&cells[j].rounds)
                .map(|(a, b)| format!("{:.2}", a / b.max(1e-9)))
                .collect();
            println!(
                "- {} {inflight} in flight, {level}: {:.2}× (rounds {})",
                proto.name(),
                cells[i].ratio_to(&cells[j]),
                rounds.join(" / ")
            );
        }
    }
}

fn print_checks(paths: &[Under], summary: &[(Proto, usize, Vec<Cell>)]) {
    let idx = |name: &str| paths.iter().position(|p| p.name == name);
    let cell = |proto: Proto, inflight: usize, name: &str| {
        let i = idx(name)?;
        summary
            .iter()
            .find(|(p, n, _)| *p == proto && *n == inflight)
            .and_then(|(_, _, c)| c.get(i))
            .filter(|c| !c.rounds.is_empty())
    };
    println!("\n### Against issue 18's targets\n");
    for proto in [Proto::H2, Proto::H1] {
        let line = |what: &str, v: Option<Vec<f64>>, target: f64, higher: bool, unit: &str| match v {
            Some(v) if !v.is_empty() => println!("- {} {what}: {}", proto.name(), verdict(&v, target, higher, unit)),
            _ => println!("- {} {what}: not measured (filtered out)", proto.name()),
        };
        let ratio = |a: &str, b: &str, n: usize| Some(cell(proto, n, a)?.ratios_to(cell(proto, n, b)?));
        line(
            "policy + audit batch ÷ authn only, 64 in flight",
            ratio("policy + audit batch", "authn only", 64),
            0.9,
            true,
            "×",
        );
        line(
            "audit none ÷ authn only, 64 in flight",
            ratio("authn + audit none", "authn only", 64),
            0.95,
            true,
            "×",
        );
        line(
            "authn only ÷ bare proxy, 64 in flight",
            ratio("authn only", BARE, 64),
            0.95,
            true,
            "×",
        );
        // At 1 in flight, per round as the ratios are: what each round's
        // means give (the verdict takes their median).
        let per_round = |f: &dyn Fn(usize) -> Option<f64>| -> Option<Vec<f64>> {
            let n = cell(proto, 1, DIRECT)?.means.len();
            (0..n).map(f).collect()
        };
        let mean = |name: &str, r: usize| -> Option<f64> { Some(cell(proto, 1, name)?.means.get(r)?.as_secs_f64()) };
        let added = |name: &str, r: usize| -> Option<f64> { Some((mean(name, r)? - mean(DIRECT, r)?).max(0.0)) };
        line(
            "authn only's added latency ÷ bare proxy's, 1 in flight",
            per_round(&|r| Some(added("authn only", r)? / added(BARE, r)?.max(1e-9))),
            1.3,
            false,
            "×",
        );
        line(
            "policy + audit batch mean − authn only mean, 1 in flight",
            per_round(&|r| Some((mean("policy + audit batch", r)? - mean("authn only", r)?) * 1e6)),
            100.0,
            false,
            " µs",
        );
        line(
            "policy + audit batch p99 ÷ p50, 1 in flight",
            (|| {
                let c = cell(proto, 1, "policy + audit batch")?;
                Some(vec![c.all.q(0.99).as_secs_f64() / c.all.q(0.5).as_secs_f64().max(1e-9)])
            })(),
            3.0,
            false,
            "×",
        );
    }
}

/// A target's verdict from its per-round values: the median against the
/// target, and, with more than one round, the rounds' spread — and whether
/// the target lies within it, where another run may well read the other
/// way (on these shared machines a run's rounds differ by several points).
fn verdict(rounds: &[f64], target: f64, higher: bool, unit: &str) -> String {
    let v = median(rounds.to_vec());
    let ok = if higher { v >= target } else { v <= target };
    let (low, high) = rounds
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
    let spread = if rounds.len() > 1 {
        format!("rounds {low:.2}–{high:.2}{unit}; ")
    } else {
        String::new()
    };
    let within = if rounds.len() > 1 && low < target && target < high {
        " (the target is within the rounds' spread)"
    } else {
        ""
    };
    format!(
        "{v:.2}{unit} ({spread}target {} {target}{unit}) — {}{within}",
        if higher { "≥" } else { "≤" },
        if ok { "met" } else { "**missed**" },
    )
}

/// The 10 MB list, the watch and the exec tunnel.
async fn extras(s: &Setup, d: &Path) -> Result<(), Error> {
    let by = |name: &str| s.paths.iter().find(|p| p.name == name);
    println!("\n### Large bodies, streams and tunnels (HTTP/2 unless said; best of 3)\n");
    println!("| what | path | time | throughput | CPU s of the path |");
    println!("|---|---|---|---|---|");
    let list_paths = [BARE, "authn only", "authn + masking all", "policy + audit batch"];
    for name in list_paths {
        let Some(p) = by(name) else { continue };
        let mut best = (Duration::MAX, 0usize, 0.0);
        for _ in 0..3 {
            let mut c = s.client.connect(p.port, Proto::H2).await?;
            let cpu = cpu_of(p);
            let t = Instant::now();
            let res = c.send(s.client.get("/api/v1/pods", Proto::H2)).await?;
            let body = res.into_body().collect().await?.to_bytes();
            let took = t.elapsed();
            if took < best.0 {
                best = (took, body.len(), cpu_of(p) - cpu);
            }
        }
        println!(
            "| 10 MB PodList | {name} | {:.1} ms | {:.0} MB/s | {:.3} |",
            best.0.as_secs_f64() * 1e3,
            best.1 as f64 / 1e6 / best.0.as_secs_f64(),
            best.2
        );
    }
    for name in [BARE, "authn only", "policy + audit batch"] {
        let Some(p) = by(name) else { continue };
        let mut best = (Duration::MAX, 0usize);
        for _ in 0..3 {
            let mut c = s.client.connect(p.port, Proto::H2).await?;
            let t = Instant::now();
            let res = c
                .send(s.client.get("/api/v1/namespaces/default/pods?watch=true", Proto::H2))
                .await?;
            let body = res.into_body().collect().await?.to_bytes();
            let events = body.iter().filter(|&&b| b == b'\n').count();
            if t.elapsed() < best.0 {
                best = (t.elapsed(), events);
            }
        }
        println!(
            "| watch, {WATCH_EVENTS} events | {name} | {:.1} ms | {:.0} events/s ({} received) | — |",
            best.0.as_secs_f64() * 1e3,
            best.1 as f64 / best.0.as_secs_f64(),
            best.1
        );
    }
    for name in [BARE, "policy + audit batch"] {
        let Some(p) = by(name) else { continue };
        let mut best = (Duration::MAX, 0u64, 0.0);
        for _ in 0..3 {
            let cpu = cpu_of(p);
            let t = Instant::now();
            let bytes = exec(&s.client, p.port).await?;
            if t.elapsed() < best.0 {
                best = (t.elapsed(), bytes, cpu_of(p) - cpu);
            }
        }
        println!(
            "| exec, {} MiB of stdout over WebSocket (HTTP/1.1) | {name} | {:.1} ms | {:.0} MB/s ({} bytes) | {:.3} |",
            EXEC_BYTES >> 20,
            best.0.as_secs_f64() * 1e3,
            best.1 as f64 / 1e6 / best.0.as_secs_f64(),
            best.1,
            best.2
        );
    }
    let sessions = std::fs::read_dir(d.join("sessions")).map(|r| r.count()).unwrap_or(0);
    println!("\n(the policy + audit gateway recorded {sessions} exec sessions)");
    Ok(())
}

/// An exec over WebSocket: the bytes read after the 101 until the close.
async fn exec(c: &Client, port: u16) -> Result<u64, Error> {
    let Conn::H1(mut send) = c.connect(port, Proto::H1).await? else {
        return Err("not HTTP/1.1".into());
    };
    let req = http::Request::get("/api/v1/namespaces/default/pods/web-0/exec?command=ls&stdout=true")
        .header("host", "127.0.0.1")
        .header("authorization", format!("Bearer {}", c.token))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-protocol", "v5.channel.k8s.io")
        .body(Full::default())?;
    send.ready().await?;
    let res = send.send_request(req).await?;
    if res.status() != 101 {
        let code = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        return Err(format!("exec: HTTP {code}: {}", String::from_utf8_lossy(&body)).into());
    }
    let io = hyper::upgrade::on(res).await?;
    let mut io = TokioIo::new(io);
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = io.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    /// A level and its `--against` twin run side by side: every file a
    /// level writes (its audit log, its sessions) is the twin's own.
    #[test]
    fn a_twin_writes_files_of_its_own() {
        let mut written = 0;
        for (name, extra) in super::LEVELS {
            let twin = super::twin_files(extra);
            for line in extra.lines().filter(|l| l.contains("path:") || l.contains("dir:")) {
                written += 1;
                assert!(!twin.lines().any(|l| l == line), "{name}: its twin writes {line:?} too");
            }
        }
        assert!(written >= 6, "the levels' logs and sessions were looked at");
    }

    /// A level's port is read from its gateway's log (it binds port 0):
    /// the line `tollgate serve` writes, as it writes it; nothing from a
    /// log without it.
    #[test]
    fn a_gateways_port_is_read_from_its_log() {
        let log = "2026-12-05T10:25:49.397799Z  INFO tollgate_gateway: starting\n\
                   2026-12-05T10:25:49.397799Z  INFO tollgate_gateway: tollgate is serving addr=127.0.0.1:18444 upstream=https://127.0.0.1:33773\n";
        assert_eq!(super::serving_port(log), Some(18444));
        assert_eq!(super::serving_port("tollgate is serving addr=[::1]:9443"), Some(9443));
        for no in [
            "",
            "INFO tollgate_gateway: starting",
            "tollgate is serving upstream=https://127.0.0.1:1",
            "tollgate is serving addr=127.0.0.1:x",
        ] {
            assert_eq!(super::serving_port(no), None, "{no:?}");
        }
    }

    /// `--user-agent N` sends exactly N bytes; a length out of range is
    /// refused with the flag named.
    #[test]
    fn a_user_agent_has_the_length_asked_for() {
        for n in [1, 5, 15, 16, 1024, super::MAX_USER_AGENT] {
            assert_eq!(super::user_agent(n).len(), n);
        }
        let parse = |v: &str| {
            super::Options::parse(&["--user-agent".to_owned(), v.to_owned()]).map(|o| o.map(|o| o.user_agent))
        };
        assert_eq!(parse("1024").ok().flatten().flatten(), Some(1024));
        for bad in ["0", "8193", "lots"] {
            let e = parse(bad).err().unwrap_or_default();
            assert!(e.contains("--user-agent"), "{bad}: {e}");
        }
    }

    /// The verdict is the median's; the spread and whether the target
    /// falls inside it are said beside it.
    #[test]
    fn a_verdict_gives_the_median_and_the_rounds_spread() {
        use super::verdict;
        assert_eq!(
            verdict(&[0.91, 0.87, 0.88], 0.9, true, "×"),
            "0.88× (rounds 0.87–0.91×; target ≥ 0.9×) — **missed** (the target is within the rounds' spread)"
        );
        assert_eq!(
            verdict(&[0.97, 0.96, 0.99], 0.95, true, "×"),
            "0.97× (rounds 0.96–0.99×; target ≥ 0.95×) — met"
        );
        assert_eq!(
            verdict(&[1.25, 1.35], 1.3, false, "×"),
            "1.30× (rounds 1.25–1.35×; target ≤ 1.3×) — met (the target is within the rounds' spread)"
        );
        assert_eq!(verdict(&[2.4], 3.0, false, "×"), "2.40× (target ≤ 3×) — met");
        assert_eq!(
            verdict(&[120.0, 80.0, 130.0], 100.0, false, " µs"),
            "120.00 µs (rounds 80.00–130.00 µs; target ≤ 100 µs) — **missed** (the target is within the rounds' spread)"
        );
    }
}
