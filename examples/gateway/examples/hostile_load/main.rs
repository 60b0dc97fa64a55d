//! The hostile-load harness (issue 15): the gateway, alone in its own
//! process, under one attack at a time while a steady client with a valid
//! token lists pods; every figure is compared with the same client and no
//! attack, measured in the same run. Loopback only.
//!
//! ```sh
//! cargo build --release -p tollgate-gateway --bin tollgate --example hostile_load
//! target/release/examples/hostile_load            # 10 s per phase
//! target/release/examples/hostile_load --seconds 5 --only flood
//! ```
//!
//! The harness process holds the test API server and the identity
//! providers (as `tollgate demo` writes them), a hung identity provider
//! (accepts, never answers), and the attackers, which connect from
//! 127.0.0.2 and up (so per-address limits apply to them and not to the
//! steady client on 127.0.0.1). It prints, per attack: the steady client's
//! success rate and p50/p99 against the no-attack baseline, the attack's
//! requests or connections, the gateway's peak RSS and open descriptors,
//! and the audit records written. It exits 1 when a steady request failed,
//! a p99 was over 3× the baseline's, or the RSS reached 200 MB.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Where the gateway listens and how to reach it.
#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    tls: TlsConnector,
    token: String,
}

impl Target {
    /// A TLS connection from `local` (an attacker's address) or 127.0.0.1.
    async fn connect(&self, local: Option<IpAddr>) -> Result<TlsStream<tokio::net::TcpStream>, Error> {
        let sock = TcpSocket::new_v4()?;
        if let Some(ip) = local {
            sock.bind(SocketAddr::new(ip, 0))?;
        }
        let tcp = tokio::time::timeout(Duration::from_secs(5), sock.connect(self.addr)).await??;
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1")?.to_owned();
        Ok(tokio::time::timeout(Duration::from_secs(5), self.tls.connect(name, tcp)).await??)
    }

    /// An HTTP/1.1 connection for a series of requests.
    async fn http(&self, local: Option<IpAddr>) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, Error> {
        let io = self.connect(local).await?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(send)
    }
}

/// The attacker's address number `i`: 127.0.0.2 to 127.0.0.251.
fn attacker(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % 250) as u8))
}

/// One request and its whole answer; the status code.
async fn send(
    conn: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    req: http::Request<Full<Bytes>>,
) -> Result<u16, Error> {
    conn.ready().await?;
    let res = tokio::time::timeout(Duration::from_secs(30), conn.send_request(req)).await??;
    let code = res.status().as_u16();
    res.into_body().collect().await?;
    Ok(code)
}

fn get(path: &str, token: Option<&str>) -> http::Request<Full<Bytes>> {
    let mut b = http::Request::get(path).header("host", "gateway");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Full::default()).unwrap_or_default()
}

/// What the steady client saw in one phase.
#[derive(Default)]
struct Steady {
    ok: u64,
    failed: u64,
    latencies: Vec<Duration>,
}

impl Steady {
    fn quantile(&self, q: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort_unstable();
        if l.is_empty() {
            return Duration::ZERO;
        }
        let i = ((l.len() as f64 - 1.0) * q).round() as usize;
        l[i.min(l.len() - 1)]
    }
}

/// 20 `GET …/pods` a second on one kept-alive connection from 127.0.0.1,
/// reconnecting after a failure, until `stop`.
async fn steady(t: Target, stop: Arc<AtomicBool>) -> Steady {
    let mut s = Steady::default();
    let mut conn = None;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let start = Instant::now();
        let result = async {
            if conn.is_none() {
                conn = Some(t.http(None).await?);
            }
            let c = conn.as_mut().ok_or("no connection")?;
            send(c, get("/api/v1/namespaces/default/pods", Some(&t.token))).await
        }
        .await;
        match result {
            Ok(200) => {
                s.ok += 1;
                s.latencies.push(start.elapsed());
            }
            Ok(code) => {
                eprintln!("steady: HTTP {code}");
                s.failed += 1;
            }
            Err(e) => {
                eprintln!("steady: {e}");
                s.failed += 1;
                conn = None;
            }
        }
    }
    s
}

/// Starts an attack: the target, its stop flag, and the counter of its
/// connections or requests.
type Launch = dyn Fn(Target, Arc<AtomicBool>, Arc<AtomicU64>) -> tokio::task::JoinHandle<()>;

/// An attack: a name, what it does, and how hard (stated in the output).
struct Attack {
    name: &'static str,
    shape: String,
    run: Box<Launch>,
}

/// `n` tasks, each running `body(i)` until `stop`.
fn tasks<F, Fut>(n: usize, stop: Arc<AtomicBool>, body: F) -> tokio::task::JoinHandle<()>
where
    F: Fn(usize, Arc<AtomicBool>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let body = Arc::new(body);
    tokio::spawn(async move {
        let handles: Vec<_> = (0..n).map(|i| tokio::spawn(body(i, stop.clone()))).collect();
        for h in handles {
            let _ = h.await;
        }
    })
}

/// `n` connections from attacker addresses, each sending `head` and then
/// `drip` once a second (nothing, when empty) until the gateway closes it
/// — then another — or `stop`; counts the connections made.
fn trickle(
    t: Target,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    n: usize,
    head: Vec<u8>,
    drip: &'static [u8],
) -> tokio::task::JoinHandle<()> {
    let head = Arc::new(head);
    tasks(n, stop, move |i, stop| {
        let (t, count, head) = (t.clone(), count.clone(), head.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = t.connect(Some(attacker(i))).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                count.fetch_add(1, Ordering::Relaxed);
                if s.write_all(&head).await.is_err() {
                    continue;
                }
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if !drip.is_empty() && s.write_all(drip).await.is_err() {
                        break;
                    }
                }
            }
        }
    })
}

/// A request loop of `n` attackers at `per_task` requests a second each.
fn request_flood(
    t: Target,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    n: usize,
    per_task: u64,
    make: impl Fn(usize) -> http::Request<Full<Bytes>> + Send + Sync + 'static,
) -> tokio::task::JoinHandle<()> {
    let make = Arc::new(make);
    tasks(n, stop, move |i, stop| {
        let (t, count, make) = (t.clone(), count.clone(), make.clone());
        async move {
            let mut conn = None;
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_task.max(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                if conn.is_none() {
                    conn = t.http(Some(attacker(i))).await.ok();
                }
                let Some(c) = conn.as_mut() else { continue };
                match send(c, make(i)).await {
                    Ok(_) => {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => conn = None,
                }
            }
        }
    })
}

/// A JWT-shaped token: `iss`, a random `kid`, and a signature of noise.
fn forged_token(iss: &str) -> String {
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let mut noise = [0u8; 256];
    let _ = aws_lc_rs::rand::fill(&mut noise);
    let kid = b64(&noise[..9]);
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = serde_json::json!({"iss": iss, "sub": "attacker", "aud": tollgate_gateway::demo::AUDIENCE,
                                    "iat": now, "exp": now + 600});
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(&noise)
    )
}

/// The flags of the attack run (`--speed` has its own).
const ATTACK_FLAGS: &[args::Flag] = &[
    args::Flag {
        name: "--seconds",
        value: Some("N"),
        help: "seconds per phase (default 10)",
    },
    args::Flag {
        name: "--only",
        value: Some("TEXT"),
        help: "only the attacks whose name contains TEXT",
    },
];

/// The attacks' names, in the order they run (`--only` is checked against
/// them before anything starts; a test holds them equal to [`attacks`]'s).
const ATTACKS: [&str; 7] = [
    "slow headers",
    "slow bodies (valid token)",
    "idle TLS connections",
    "token-less flood",
    "3 MiB bodies, no token",
    "garbage tokens",
    "hung issuer",
];

fn attacks(github: String, hung: String) -> Vec<Attack> {
    vec![
        Attack {
            name: "slow headers",
            shape: "200 connections, one header line a second".to_owned(),
            run: Box::new(|t, stop, count| {
                let head = b"GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: gw\r\n".to_vec();
                trickle(t, stop, count, 200, head, b"X-Slow: 1\r\n")
            }),
        },
        Attack {
            name: "slow bodies (valid token)",
            shape: "100 connections, Content-Length 3 MB, 1 KiB a second".to_owned(),
            run: Box::new(|t, stop, count| {
                let head = format!(
                    "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 3000000\r\n\r\n",
                    t.token
                );
                trickle(t, stop, count, 100, head.into_bytes(), &[b' '; 1024])
            }),
        },
        Attack {
            name: "idle TLS connections",
            shape: "500 connections, handshake then silence".to_owned(),
            run: Box::new(|t, stop, count| trickle(t, stop, count, 500, Vec::new(), b"")),
        },
        Attack {
            name: "token-less flood",
            shape: "32 connections × 50 requests/s (1,600/s offered)".to_owned(),
            run: Box::new(|t, stop, count| {
                request_flood(t, stop, count, 32, 50, |_| {
                    get("/api/v1/namespaces/default/secrets", None)
                })
            }),
        },
        Attack {
            name: "3 MiB bodies, no token",
            shape: "16 connections × 5 requests/s (80/s offered), each pushing its 3 MiB body until the answer"
                .to_owned(),
            run: Box::new(|t, stop, count| {
                tasks(16, stop, move |i, stop| {
                    let (t, count) = (t.clone(), count.clone());
                    async move {
                        let chunk = vec![b' '; 64 * 1024];
                        let mut tick = tokio::time::interval(Duration::from_millis(200));
                        while !stop.load(Ordering::Relaxed) {
                            tick.tick().await;
                            let Ok(s) = t.connect(Some(attacker(i))).await else {
                                continue;
                            };
                            let (mut r, mut w) = tokio::io::split(s);
                            let push = async {
                                let head = "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 3145728\r\n\r\n";
                                w.write_all(head.as_bytes()).await?;
                                for _ in 0..48 {
                                    w.write_all(&chunk).await?;
                                }
                                std::future::pending::<std::io::Result<()>>().await
                            };
                            let mut answer = [0u8; 12];
                            tokio::select! {
                                _ = push => {}
                                r = tokio::io::AsyncReadExt::read_exact(&mut r, &mut answer) => {
                                    if r.is_ok() && answer.starts_with(b"HTTP/1.1 401") {
                                        count.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            }
                        }
                    }
                })
            }),
        },
        Attack {
            name: "garbage tokens",
            shape: "32 connections × 50 requests/s: noise, and the demo issuer with random kids".to_owned(),
            run: Box::new(move |t, stop, count| {
                let github = github.clone();
                request_flood(t, stop, count, 32, 50, move |i| {
                    let token = if i % 2 == 0 {
                        forged_token(&github)
                    } else {
                        format!("garbage-{i}-{}", "x".repeat(i % 100))
                    };
                    get("/api/v1/namespaces/default/pods", Some(&token))
                })
            }),
        },
        Attack {
            name: "hung issuer",
            shape: "32 connections × 50 requests/s of tokens from an issuer that accepts and never answers".to_owned(),
            run: Box::new(move |t, stop, count| {
                let hung = hung.clone();
                request_flood(t, stop, count, 32, 50, move |_| {
                    get("/api/v1/namespaces/default/pods", Some(&forged_token(&hung)))
                })
            }),
        },
    ]
}

/// The gateway process's resident memory and open descriptors.
fn sample(pid: u32) -> (u64, usize) {
    let rss_kb = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    (rss_kb, fds)
}

/// CPU seconds a process has used (user + system), from `/proc`.
fn cpu_seconds(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(0.0)
}

/// The gateway's own time for the steady client's requests recorded after
/// byte `from` of the audit log: from `requestReceivedTimestamp` to the
/// `ResponseComplete` stage.
fn gateway_latencies(log: &Path, from: u64) -> Vec<Duration> {
    let Ok(bytes) = std::fs::read(log) else {
        return Vec::new();
    };
    let start = usize::try_from(from).unwrap_or(0).min(bytes.len());
    String::from_utf8_lossy(&bytes[start..])
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| {
            e["stage"] == "ResponseComplete"
                && e["verb"] == "list"
                && e["user"]["username"].as_str().is_some_and(|u| u.starts_with("github:"))
        })
        .filter_map(|e| {
            let received = tollgate_audit::parse_time(e["requestReceivedTimestamp"].as_str()?)?;
            tollgate_audit::parse_time(e["stageTimestamp"].as_str()?)?.checked_sub(received)
        })
        .collect()
}

/// Lines in the audit directory's files (records, aggregates included).
fn records(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path()).ok())
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .sum()
}

/// One phase: the steady client, and the attack if any.
struct Phase {
    name: &'static str,
    shape: String,
    steady: Steady,
    attack_ops: u64,
    peak_rss_kb: u64,
    peak_fds: usize,
    records: usize,
    /// CPU used by the gateway, by this harness (steady client, API
    /// server, identity providers) and by the attacker process, in cores.
    gateway_cpu: f64,
    harness_cpu: f64,
    attacker_cpu: f64,
    /// The steady requests as the gateway timed them (its audit records).
    gateway_side: Steady,
}

/// How to reach the gateway, for an attacker process.
#[derive(serde::Serialize, serde::Deserialize)]
struct TargetFile {
    port: u16,
    kubeconfig: PathBuf,
    token: String,
    github: String,
    hung: String,
}

impl TargetFile {
    fn target(&self) -> Result<Target, Error> {
        Ok(Target {
            addr: SocketAddr::from(([127, 0, 0, 1], self.port)),
            tls: tls_for(&self.kubeconfig)?,
            token: self.token.clone(),
        })
    }
}

/// The attacker process: runs attack `name` until its standard input
/// closes, then prints how many connections or requests it made.
async fn attacker_main(name: &str, target: &Path) -> Result<(), Error> {
    let file: TargetFile = serde_json::from_slice(&std::fs::read(target)?)?;
    let t = file.target()?;
    let all = attacks(file.github.clone(), file.hung.clone());
    let a = all.iter().find(|a| a.name == name).ok_or("no such attack")?;
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let task = (a.run)(t, stop.clone(), count.clone());
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    println!("{}", count.load(Ordering::Relaxed));
    Ok(())
}

/// Starts the attacker process for `name` at the lowest CPU priority: on a
/// shared machine its own work (encrypting bodies, handshakes) must not
/// compete with the gateway, as it would not from another machine.
fn spawn_attacker(name: &str, target: &Path) -> Result<tokio::process::Child, Error> {
    let exe = std::env::current_exe()?;
    let mut c = tokio::process::Command::new("nice");
    c.args(["-n", "19"]).arg(&exe);
    let args = ["--attack", name, "--target"];
    let child = c
        .args(args)
        .arg(target)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    Ok(match child {
        Ok(child) => child,
        // No `nice`: the attacker runs at normal priority.
        Err(_) => tokio::process::Command::new(&exe)
            .args(args)
            .arg(target)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?,
    })
}

async fn phase(t: &Target, pid: u32, audit: &Path, attack: Option<(&Attack, &Path)>, seconds: u64) -> Phase {
    let before = records(audit);
    let log_from = std::fs::metadata(audit.join("audit.log")).map(|m| m.len()).unwrap_or(0);
    let mut attacker = match attack {
        Some((a, target)) => match spawn_attacker(a.name, target) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("the attacker did not start: {e}");
                None
            }
        },
        None => None,
    };
    // Let the attack build up before measuring.
    if attack.is_some() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let attacker_pid = attacker
        .as_ref()
        .and_then(tokio::process::Child::id)
        .map(|p| p.to_string());
    let a0 = attacker_pid.as_deref().map_or(0.0, cpu_seconds);
    let (g0, h0, t0) = (cpu_seconds(&pid.to_string()), cpu_seconds("self"), Instant::now());
    // The steady client runs on a runtime of its own.
    let steady_stop = Arc::new(AtomicBool::new(false));
    let (steady_t, steady_s) = (t.clone(), steady_stop.clone());
    let steady_task = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(steady(steady_t, steady_s)))
            .unwrap_or_default()
    });
    let (mut peak_rss_kb, mut peak_fds) = (0, 0);
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        let (rss, fds) = sample(pid);
        peak_rss_kb = peak_rss_kb.max(rss);
        peak_fds = peak_fds.max(fds);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    steady_stop.store(true, Ordering::Relaxed);
    let steady = tokio::task::spawn_blocking(move || steady_task.join().unwrap_or_default())
        .await
        .unwrap_or_default();
    let elapsed = t0.elapsed().as_secs_f64();
    let gateway_cpu = (cpu_seconds(&pid.to_string()) - g0) / elapsed;
    let harness_cpu = (cpu_seconds("self") - h0) / elapsed;
    let attacker_cpu = attacker_pid.as_deref().map_or(0.0, |p| (cpu_seconds(p) - a0) / elapsed);
    let mut attack_ops = 0;
    if let Some(mut c) = attacker.take() {
        drop(c.stdin.take());
        if let Ok(Ok(out)) = tokio::time::timeout(Duration::from_secs(10), c.wait_with_output()).await {
            attack_ops = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0);
        }
    }
    // Let the gateway close what the attack left, and the recorder write.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Phase {
        name: attack.map_or("no attack (baseline)", |(a, _)| a.name),
        shape: attack.map_or_else(|| "—".to_owned(), |(a, _)| a.shape.clone()),
        steady,
        attack_ops,
        peak_rss_kb,
        peak_fds,
        records: records(audit).saturating_sub(before),
        gateway_cpu,
        harness_cpu,
        attacker_cpu,
        gateway_side: Steady {
            latencies: gateway_latencies(&audit.join("audit.log"), log_from),
            ..Steady::default()
        },
    }
}

/// The demo's test API server and identity providers, on a runtime of
/// their own in this process (so the harness's own tasks never delay
/// their answers); the demo's gateway is stopped: each gateway under test
/// is a `tollgate serve` process of its own.
struct Cluster {
    github: String,
    kubeconfig: PathBuf,
    done: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Cluster {
    async fn start(d: &Path) -> Result<Cluster, Error> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(String, PathBuf), String>>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let demo_dir = d.to_path_buf();
        let cluster = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            rt.block_on(async move {
                let demo = match tollgate_gateway::demo::start(&demo_dir, SocketAddr::from(([127, 0, 0, 1], 0))).await {
                    Ok(demo) => demo,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let github = demo.github.url().to_owned();
                let tollgate_gateway::demo::Demo {
                    gateway,
                    api_server: _api,
                    github: _gh,
                    bots: _bots,
                    people: _people,
                    kubeconfig,
                    ..
                } = demo;
                gateway.shutdown().await;
                let _ = ready_tx.send(Ok((github, kubeconfig)));
                let _ = done_rx.await;
            });
        });
        let (github, kubeconfig) = tokio::task::spawn_blocking(move || ready_rx.recv())
            .await?
            .map_err(|e| e.to_string())??;
        Ok(Cluster {
            github,
            kubeconfig,
            done: done_tx,
            thread: cluster,
        })
    }

    async fn stop(self) {
        let _ = self.done.send(());
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// Tries `attempt` every 100 ms until it answers 200 (30 s at most); the
/// last answer or error otherwise.
async fn until_200<F, Fut>(mut attempt: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u16, Error>>,
{
    let mut last = String::new();
    for _ in 0..300 {
        match attempt().await {
            Ok(200) => return Ok(()),
            Ok(code) => last = format!("HTTP {code}"),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last)
}

/// Accepts connections and never answers: an identity provider that hangs.
async fn hung_issuer() -> Result<String, Error> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("https://127.0.0.1:{}", l.local_addr()?.port());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    Ok(url)
}

fn gateway_binary() -> Result<PathBuf, Error> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("tollgate"))
        .ok_or("cannot place the tollgate binary")?;
    if !bin.exists() {
        return Err(format!(
            "{} not found: build it with `cargo build --release -p tollgate-gateway --bin tollgate --example hostile_load`",
            bin.display()
        )
        .into());
    }
    Ok(bin)
}

/// An HTTP/1.1 TLS client trusting the CA a kubeconfig names.
fn tls_for(kubeconfig: &Path) -> Result<TlsConnector, Error> {
    client_tls(&[&kubeconfig_ca(kubeconfig)?], b"http/1.1")
}

/// The PEM of the CA a kubeconfig's first cluster names.
fn kubeconfig_ca(kubeconfig: &Path) -> Result<String, Error> {
    let kc: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(kubeconfig)?)?;
    let pem = base64::engine::general_purpose::STANDARD.decode(
        kc["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .ok_or("no CA in the kubeconfig")?,
    )?;
    Ok(String::from_utf8(pem)?)
}

/// A TLS client (rustls with aws-lc-rs) trusting `cas` (PEM), offering
/// one ALPN protocol.
fn client_tls(cas: &[&str], alpn: &[u8]) -> Result<TlsConnector, Error> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for pem in cas {
        for c in rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(c?)?;
        }
    }
    let mut config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

mod args;
mod servers;
mod speed;

/// The gateway's allocator, so the bare proxy (this binary) is measured
/// with what the gateway is.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // As the gateway does: the bare proxy runs with the gateway's allocator
    // and its settings.
    tollgate_proxy::no_transparent_huge_pages()?;
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2), args.get(3)) {
        (Some("--static-upstream"), Some(dir), _) => return servers::static_upstream(Path::new(dir)).await,
        (Some("--bare-proxy"), Some(dir), Some(port)) => {
            return servers::bare_proxy(Path::new(dir), SocketAddr::from(([127, 0, 0, 1], port.parse()?))).await;
        }
        (Some("--speed"), _, _) => return speed::run(&args).await,
        _ => {}
    }
    if let (Some("--attack"), Some(name), Some("--target"), Some(target)) = (
        args.get(1).map(String::as_str),
        args.get(2),
        args.get(3).map(String::as_str),
        args.get(4),
    ) {
        return attacker_main(name, Path::new(target)).await;
    }
    // Checked before anything starts.
    let parsed = args::Args::parse(args.get(1..).unwrap_or_default(), ATTACK_FLAGS);
    let flags = match parsed.map_err(args::Refused)? {
        args::Parsed::Help => {
            print!("{}", args::usage("", ATTACK_FLAGS));
            println!("\n  --speed [FLAGS]          the speed comparison instead (hostile_load --speed --help)");
            return Ok(());
        }
        args::Parsed::Run(flags) => flags,
    };
    let seconds = flags.number("--seconds", 1u64).map_err(args::Refused)?.unwrap_or(10);
    // `--only TEXT`: the attacks whose name contains TEXT.
    let only = flags.text("--only").unwrap_or_default().to_owned();
    if !only.is_empty() && !ATTACKS.iter().any(|a| a.contains(only.as_str())) {
        let attacks = ATTACKS.join(", ");
        return Err(args::Refused(format!("--only {only:?} names no attack; the attacks are: {attacks}")).into());
    }
    let bin = gateway_binary()?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();

    let cluster = Cluster::start(d).await?;
    let (github, kubeconfig) = (cluster.github.clone(), cluster.kubeconfig.clone());
    let hung = hung_issuer().await?;
    let mut authn: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(d.join("authn.yaml"))?)?;
    if let Some(jwt) = authn["jwt"].as_array_mut() {
        jwt.push(serde_json::json!({
            "issuer": {"url": hung, "audiences": [tollgate_gateway::demo::AUDIENCE]},
            "claimMappings": {"username": {"claim": "sub", "prefix": "hung:"}}
        }));
    }
    std::fs::write(d.join("authn.yaml"), serde_json::to_string_pretty(&authn)?)?;
    let port = TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
    let yaml: String = std::fs::read_to_string(d.join("tollgate.yaml"))?
        .lines()
        .map(|l| {
            if l.starts_with("listen: ") {
                format!("listen: 127.0.0.1:{port}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(d.join("tollgate.yaml"), yaml)?;
    let log = std::fs::File::create(d.join("gateway.log"))?;
    let mut child = tokio::process::Command::new(&bin)
        .args(["serve", "--config"])
        .arg(d.join("tollgate.yaml"))
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("the gateway exited")?;
    let target = Target {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        tls: tls_for(&kubeconfig)?,
        token: tollgate_gateway::demo::mint(d, "github", &[], 3600)?,
    };
    // Wait until it answers.
    let up = until_200(|| async {
        let mut c = target.http(None).await?;
        send(&mut c, get("/api/v1/namespaces/default/pods", Some(&target.token))).await
    })
    .await;
    if let Err(last) = up {
        let log = std::fs::read_to_string(d.join("gateway.log")).unwrap_or_default();
        return Err(format!("the gateway did not come up ({last}); its log:\n{log}").into());
    }
    let audit = d.join("audit");
    let target_file = d.join("target.json");
    std::fs::write(
        &target_file,
        serde_json::to_vec(&TargetFile {
            port,
            kubeconfig: kubeconfig.clone(),
            token: target.token.clone(),
            github: github.clone(),
            hung: hung.clone(),
        })?,
    )?;
    println!(
        "tollgate hostile-load harness: gateway pid {pid}, {seconds} s per phase, steady client 20 GET/s from 127.0.0.1, attackers from 127.0.0.2–251\n"
    );
    let mut phases = vec![phase(&target, pid, &audit, None, seconds).await];
    for a in attacks(github, hung).iter().filter(|a| a.name.contains(&only)) {
        eprintln!("… {}", a.name);
        phases.push(phase(&target, pid, &audit, Some((a, &target_file)), seconds).await);
    }
    let base_p99 = phases[0].steady.quantile(0.99);
    let base_gw_p99 = phases[0].gateway_side.quantile(0.99);
    let mut failures: Vec<String> = Vec::new();
    println!(
        "| attack | shape | steady ok | p50 | p99 | p99 / baseline | gateway-side p99 / baseline | attack conns or requests | gateway CPU | attacker CPU (nice 19) | harness CPU | peak RSS | peak fds | audit records |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for p in &phases {
        let s = &p.steady;
        let total = s.ok + s.failed;
        let p99 = s.quantile(0.99);
        let ratio = p99.as_secs_f64() / base_p99.as_secs_f64().max(1e-9);
        println!(
            "| {} | {} | {}/{} | {:.1} ms | {:.1} ms | {:.2}× | {:.2} ms, {:.2}× | {} | {:.2} | {:.2} | {:.2} | {:.0} MB | {} | {} |",
            p.name,
            p.shape,
            s.ok,
            total,
            s.quantile(0.5).as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            ratio,
            p.gateway_side.quantile(0.99).as_secs_f64() * 1e3,
            p.gateway_side.quantile(0.99).as_secs_f64() / base_gw_p99.as_secs_f64().max(1e-9),
            p.attack_ops,
            p.gateway_cpu,
            p.attacker_cpu,
            p.harness_cpu,
            p.peak_rss_kb as f64 / 1024.0,
            p.peak_fds,
            p.records
        );
        if s.failed > 0 {
            failures.push(format!("{}: {} steady requests failed", p.name, s.failed));
        }
        if ratio > 3.0 {
            failures.push(format!("{}: p99 {ratio:.2}× the baseline's (limit 3×)", p.name));
        }
        if p.peak_rss_kb >= 200 * 1024 {
            failures.push(format!(
                "{}: peak RSS {} MB (limit 200 MB)",
                p.name,
                p.peak_rss_kb / 1024
            ));
        }
    }
    let _ = child.kill().await;
    cluster.stop().await;
    if !failures.is_empty() {
        return Err(failures.join("; ").into());
    }
    println!("\nall attacks: every steady request succeeded, p99 within 3× of the baseline, RSS under 200 MB");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_attacks_are_the_ones_only_is_checked_against() {
        let names: Vec<&str> = super::attacks(String::new(), String::new())
            .iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, super::ATTACKS);
    }
}
