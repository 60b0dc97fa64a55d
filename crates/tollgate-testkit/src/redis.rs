//! Real `redis-server` processes on free loopback ports, for tests that
//! share state between gateway replicas: one server (plain, TLS, with an
//! ACL user), a master with a replica watched by Sentinels, and a
//! three-node Redis Cluster.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, TestCa};

fn io(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::other(format!("{what}: {e}")))
}

fn free_port() -> Result<u16, Error> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| io("finding a free port", e))
}

/// How to start a plain [`RedisServer`] (TLS ones: [`RedisTls`]).
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RedisOptions {
    /// An ACL user (name, password) with every right; the `default` user
    /// is switched off.
    pub user: Option<(String, String)>,
    /// A replica of the master on this port.
    pub replica_of: Option<u16>,
    /// A Redis Cluster node.
    pub cluster: bool,
    /// `requirepass` (the `default` user's password), and `masterauth`
    /// for a replica.
    pub password: Option<String>,
}

/// A `redis-server` child process, killed when dropped.
///
/// ```no_run
/// let redis = tollgate_testkit::RedisServer::start()?;
/// println!("{}", redis.url());
/// # Ok::<_, tollgate_testkit::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    tls: bool,
    user: Option<(String, String)>,
    /// A cluster node's bus port (`--cluster-port`).
    bus_port: Option<u16>,
    /// `requirepass`: [`RedisServer::command`] authenticates with it.
    password: Option<String>,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts a plain one; `redis-server` must be on PATH (the README's
    /// test command installs it).
    ///
    /// # Errors
    /// When it is not installed or does not start listening.
    pub fn start() -> Result<RedisServer, Error> {
        Self::start_with(RedisOptions::default())
    }

    /// Starts one as `options` says.
    ///
    /// # Errors
    /// When it is not installed, a certificate cannot be made, or it does
    /// not start listening.
    pub fn start_with(options: RedisOptions) -> Result<RedisServer, Error> {
        retrying(|| {
            let (port, dir, mut args) = scratch()?;
            args.extend(["--port".into(), port.to_string()]);
            if let Some((user, pass)) = &options.user {
                args.extend(acl_args(user, pass));
            }
            if let Some(master) = options.replica_of {
                args.extend(["--replicaof".into(), "127.0.0.1".into(), master.to_string()]);
            }
            if let Some(p) = &options.password {
                args.extend(["--requirepass".into(), p.clone(), "--masterauth".into(), p.clone()]);
            }
            let bus_port = if options.cluster { Some(free_port()?) } else { None };
            if let Some(bus) = bus_port {
                // The bus port is chosen too: Redis's default (port + 10000)
                // is past 65535 for a fifth of the ephemeral range.
                args.extend([
                    "--cluster-enabled".into(),
                    "yes".into(),
                    "--cluster-port".into(),
                    bus.to_string(),
                    "--cluster-config-file".into(),
                    dir.join("nodes.conf").display().to_string(),
                    "--cluster-node-timeout".into(),
                    "2000".into(),
                ]);
            }
            let mut server = RedisServer {
                child: Some(spawn("redis-server", &args, &dir)?),
                port,
                tls: false,
                user: options.user.clone(),
                bus_port,
                password: options.password.clone(),
                dir,
            };
            server.wait_ready()?;
            Ok(server)
        })
    }

    /// `redis://127.0.0.1:<port>` (`rediss://` with TLS; with the ACL
    /// user's name and password when it has one).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        match &self.user {
            Some((u, p)) => format!("{scheme}://{u}:{p}@127.0.0.1:{}", self.port),
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it (SIGKILL) now, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs one command over plain TCP (not for TLS servers or ACL users;
    /// after `AUTH` with its `requirepass` when it has one) and returns the
    /// reply as text (an error reply is `Err`).
    ///
    /// # Errors
    /// When the server cannot be reached or answers with an error.
    pub fn command(&self, args: &[&str]) -> Result<String, Error> {
        command(self.port, self.password.as_deref(), args)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(program: &str, args: &[String], dir: &Path) -> Result<Child, Error> {
    let log = std::fs::File::create(dir.join("server.log")).map_err(|e| io("creating a redis log", e))?;
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| io(&format!("starting {program} (apt-get install redis-server)"), e))
}

/// Starts a server up to three times: a port found free can be taken by
/// another test's process before `redis-server` binds it, and then that
/// `redis-server` exits.
fn retrying(mut start: impl FnMut() -> Result<RedisServer, Error>) -> Result<RedisServer, Error> {
    let mut attempt = 1;
    loop {
        match start() {
            Ok(server) => return Ok(server),
            Err(e) if attempt == 3 => return Err(e),
            Err(_) => attempt += 1,
        }
    }
}

impl RedisServer {
    /// Waits until the process answers on its port: a plain server (or a
    /// Sentinel) answers `PING` (`NOAUTH` counts: it is serving), which it
    /// only does once every port it needs is bound; a TLS one must accept
    /// connections and still be running.
    fn wait_ready(&mut self) -> Result<(), Error> {
        for _ in 0..500 {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                let last = log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
                return Err(io(
                    "redis-server",
                    format!("exited ({status}) before serving on port {}: {last}", self.port),
                ));
            }
            let ready = if self.tls {
                TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            } else {
                answers_ping(self.port)
            };
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(io(
            "redis-server",
            format!("did not start serving on port {}", self.port),
        ))
    }
}

/// Whether something on `port` answers `PING` with a Redis reply.
fn answers_ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    if s.set_read_timeout(Some(Duration::from_secs(1))).is_err() || s.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).is_ok() && (line.starts_with('+') || line.starts_with('-'))
}

/// A CA and a server certificate for TLS-serving test Redis servers.
///
/// ```no_run
/// let tls = tollgate_testkit::RedisTls::new()?;
/// let redis = tls.start(None)?;
/// assert!(redis.url().starts_with("rediss://"));
/// std::fs::write("/tmp/redis-ca.pem", &tls.ca_pem)?;
/// # Ok::<_, tollgate_testkit::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisTls {
    /// The CA's certificate (what clients trust), PEM.
    pub ca_pem: String,
    cert: crate::CertifiedKey,
}

impl RedisTls {
    /// A new CA and a certificate for `localhost` and `127.0.0.1`.
    ///
    /// # Errors
    /// When the certificates cannot be made.
    pub fn new() -> Result<RedisTls, Error> {
        let ca = TestCa::new("tollgate test Redis CA")?;
        let cert = ca.server_cert(&["localhost", "127.0.0.1"])?;
        Ok(RedisTls {
            ca_pem: ca.cert_pem.clone(),
            cert,
        })
    }

    fn files_in(dir: &Path) -> (String, String, String) {
        let f = |n: &str| dir.join(n).display().to_string();
        (f("ca.pem"), f("server.pem"), f("server-key.pem"))
    }

    /// Starts a TLS-only server (with this ACL user, if any).
    ///
    /// # Errors
    /// When it does not start.
    pub fn start(&self, user: Option<(&str, &str)>) -> Result<RedisServer, Error> {
        retrying(|| self.start_once(user))
    }

    fn start_once(&self, user: Option<(&str, &str)>) -> Result<RedisServer, Error> {
        let (port, dir, mut args) = scratch()?;
        let (ca, cert, key) = Self::files_in(&dir);
        for (path, pem) in [
            (&ca, &self.ca_pem),
            (&cert, &self.cert.cert_pem),
            (&key, &self.cert.key_pem),
        ] {
            std::fs::write(path, pem).map_err(|e| io("writing a redis certificate", e))?;
        }
        args.extend([
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            cert,
            "--tls-key-file".into(),
            key,
            "--tls-ca-cert-file".into(),
            ca,
            "--tls-auth-clients".into(),
            "no".into(),
        ]);
        if let Some((u, p)) = user {
            args.extend(acl_args(u, p));
        }
        let mut server = RedisServer {
            child: Some(spawn("redis-server", &args, &dir)?),
            port,
            tls: true,
            user: user.map(|(u, p)| (u.to_owned(), p.to_owned())),
            bus_port: None,
            password: None,
            dir,
        };
        server.wait_ready()?;
        Ok(server)
    }
}

/// Starts one Sentinel watching the master on `master_port`; with
/// `password`, the master's and its own (`requirepass`).
fn sentinel(master_port: u16, password: Option<&str>) -> Result<RedisServer, Error> {
    let port = free_port()?;
    let dir = std::env::temp_dir().join(format!("tollgate-sentinel-{port}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| io("creating a sentinel directory", e))?;
    let conf = dir.join("sentinel.conf");
    let auth = password.map_or(String::new(), |p| {
        format!("sentinel auth-pass mymaster {p}\nrequirepass {p}\n")
    });
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor mymaster 127.0.0.1 {master_port} 2\nsentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 10000\nsentinel parallel-syncs mymaster 1\n{auth}",
            dir.display(),
        ),
    )
    .map_err(|e| io("writing sentinel.conf", e))?;
    let mut server = RedisServer {
        child: Some(spawn(
            "redis-server",
            &[conf.display().to_string(), "--sentinel".to_owned()],
            &dir,
        )?),
        port,
        tls: false,
        user: None,
        bus_port: None,
        password: password.map(str::to_owned),
        dir,
    };
    server.wait_ready()?;
    Ok(server)
}

/// A free port, a scratch directory for it, and the arguments every test
/// server gets (loopback only, no persistence, that directory).
fn scratch() -> Result<(u16, PathBuf, Vec<String>), Error> {
    let port = free_port()?;
    let dir = std::env::temp_dir().join(format!("tollgate-redis-{port}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| io("creating a redis directory", e))?;
    let args = vec![
        "--bind".into(),
        "127.0.0.1".into(),
        "--save".into(),
        String::new(),
        "--appendonly".into(),
        "no".into(),
        "--dir".into(),
        dir.display().to_string(),
    ];
    Ok((port, dir, args))
}

fn acl_args(user: &str, pass: &str) -> Vec<String> {
    vec![
        "--user".into(),
        "default".into(),
        "off".into(),
        "--user".into(),
        user.into(),
        "on".into(),
        format!(">{pass}"),
        "~*".into(),
        "&*".into(),
        "+@all".into(),
    ]
}

/// One command over plain TCP (after `AUTH password`), the reply
/// flattened to text.
fn command(port: u16, password: Option<&str>, args: &[&str]) -> Result<String, Error> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| io("connecting to redis", e))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| io("redis", e))?;
    let encode = |args: &[&str]| {
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        req
    };
    let mut req = password.map_or(String::new(), |p| encode(&["AUTH", p]));
    req.push_str(&encode(args));
    s.write_all(req.as_bytes()).map_err(|e| io("writing to redis", e))?;
    let mut r = BufReader::new(s);
    if password.is_some() {
        read_reply(&mut r)?;
    }
    read_reply(&mut r)
}

fn read_reply(r: &mut impl BufRead) -> Result<String, Error> {
    let mut line = String::new();
    r.read_line(&mut line).map_err(|e| io("reading from redis", e))?;
    let line = line.trim_end();
    let (kind, rest) = line.split_at(line.len().min(1));
    match kind {
        "+" | ":" => Ok(rest.to_owned()),
        "-" => Err(io("redis answered", rest)),
        "$" => {
            let n: i64 = rest.parse().map_err(|e| io("redis reply", e))?;
            if n < 0 {
                return Ok(String::new());
            }
            let mut buf = vec![0; usize::try_from(n).unwrap_or(0) + 2];
            std::io::Read::read_exact(r, &mut buf).map_err(|e| io("reading from redis", e))?;
            buf.truncate(buf.len() - 2);
            Ok(String::from_utf8_lossy(&buf).into_owned())
        }
        "*" => {
            let n: i64 = rest.parse().map_err(|e| io("redis reply", e))?;
            let mut items = Vec::new();
            for _ in 0..n.max(0) {
                items.push(read_reply(r)?);
            }
            Ok(items.join("\n"))
        }
        _ => Err(io("redis reply", format!("unexpected {line:?}"))),
    }
}

/// A master, one replica and three Sentinels (quorum 2) watching it as
/// `mymaster`, failing over one second after the master stops answering.
///
/// ```no_run
/// let mut s = tollgate_testkit::RedisSentinels::start()?;
/// println!("{}", s.url()); // redis+sentinel://127.0.0.1:…,…/mymaster
/// s.kill_master();
/// s.wait_for_new_master(std::time::Duration::from_secs(30))?;
/// # Ok::<_, tollgate_testkit::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisSentinels {
    /// The first master, then the replica (the master after a failover).
    pub servers: Vec<RedisServer>,
    sentinels: Vec<RedisServer>,
}

impl RedisSentinels {
    /// Starts them and waits until every Sentinel knows the replica.
    ///
    /// # Errors
    /// When a process does not start or the setup does not settle.
    pub fn start() -> Result<RedisSentinels, Error> {
        Self::start_with_password(None)
    }

    /// [`RedisSentinels::start`], every server and Sentinel requiring
    /// `password` (`requirepass`; as the Bitnami chart's default
    /// `auth.sentinel: true` sets them up).
    ///
    /// # Errors
    /// When a process does not start or the setup does not settle.
    pub fn start_with_password(password: Option<&str>) -> Result<RedisSentinels, Error> {
        let master = RedisServer::start_with(RedisOptions {
            password: password.map(str::to_owned),
            ..RedisOptions::default()
        })?;
        let replica = RedisServer::start_with(RedisOptions {
            replica_of: Some(master.port),
            password: password.map(str::to_owned),
            ..RedisOptions::default()
        })?;
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            sentinels.push(retrying(|| sentinel(master.port, password))?);
        }
        let s = RedisSentinels {
            servers: vec![master, replica],
            sentinels,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let synced = s
                .servers
                .get(1)
                .and_then(|r| r.command(&["INFO", "replication"]).ok())
                .is_some_and(|i| i.contains("master_link_status:up"));
            let known = s.sentinels.iter().all(|x| {
                x.command(&["SENTINEL", "replicas", "mymaster"])
                    .is_ok_and(|r| r.contains(&s.servers[1].port.to_string()))
            });
            if synced && known {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return Err(io(
                    "redis sentinels",
                    "the replica did not sync or was not seen in 30 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `redis+sentinel://127.0.0.1:<s1>,…/mymaster`.
    pub fn url(&self) -> String {
        let list: Vec<String> = self.sentinels.iter().map(|s| format!("127.0.0.1:{}", s.port)).collect();
        format!("redis+sentinel://{}/mymaster", list.join(","))
    }

    /// The port the Sentinels name as master now.
    ///
    /// # Errors
    /// When no Sentinel answers.
    pub fn master_port(&self) -> Result<u16, Error> {
        for s in &self.sentinels {
            if let Ok(r) = s.command(&["SENTINEL", "get-master-addr-by-name", "mymaster"])
                && let Some(p) = r.lines().nth(1).and_then(|p| p.parse().ok())
            {
                return Ok(p);
            }
        }
        Err(io("redis sentinels", "no sentinel named a master"))
    }

    /// Waits until the replica holds `key` (replication is asynchronous).
    ///
    /// # Errors
    /// When it does not within 10 s.
    pub fn wait_replicated(&self, key: &str) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.servers[1].command(&["EXISTS", key]).is_ok_and(|n| n == "1") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(io("redis replica", format!("{key} was not replicated in 10 s")))
    }

    /// Kills the first master (SIGKILL).
    pub fn kill_master(&mut self) {
        self.servers[0].kill();
    }

    /// Waits until the Sentinels name the replica as master and it takes
    /// writes.
    ///
    /// # Errors
    /// When that does not happen within `timeout`.
    pub fn wait_for_new_master(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        let replica = self.servers[1].port;
        while Instant::now() < deadline {
            if self.master_port().is_ok_and(|p| p == replica)
                && self.servers[1]
                    .command(&["ROLE"])
                    .is_ok_and(|r| r.starts_with("master"))
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(io("redis sentinels", format!("no failover within {timeout:?}")))
    }
}

/// A three-master Redis Cluster (no replicas), every slot assigned.
///
/// ```no_run
/// let c = tollgate_testkit::RedisCluster::start()?;
/// println!("{}", c.url()); // redis+cluster://127.0.0.1:…,…,…
/// # Ok::<_, tollgate_testkit::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    /// The nodes.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three nodes, splits the 16,384 slots between them with
    /// `CLUSTER ADDSLOTSRANGE`, joins them with `CLUSTER MEET` and waits
    /// until every node says `cluster_state:ok`.
    ///
    /// # Errors
    /// When a node does not start or the cluster does not form.
    pub fn start() -> Result<RedisCluster, Error> {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(RedisServer::start_with(RedisOptions {
                cluster: true,
                ..RedisOptions::default()
            })?);
        }
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        for (n, (from, to)) in nodes.iter().zip(ranges) {
            n.command(&["CLUSTER", "ADDSLOTSRANGE", &from.to_string(), &to.to_string()])?;
        }
        for n in &nodes[1..] {
            let bus = n
                .bus_port
                .ok_or_else(|| io("redis cluster", "a node without a bus port"))?;
            nodes[0].command(&["CLUSTER", "MEET", "127.0.0.1", &n.port.to_string(), &bus.to_string()])?;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = nodes.iter().all(|n| {
                n.command(&["CLUSTER", "INFO"])
                    .is_ok_and(|i| i.contains("cluster_state:ok") && i.contains("cluster_known_nodes:3"))
            });
            if ok {
                return Ok(RedisCluster { nodes });
            }
            if Instant::now() > deadline {
                return Err(io("redis cluster", "did not reach cluster_state:ok in 30 s"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `redis+cluster://127.0.0.1:<a>,127.0.0.1:<b>,127.0.0.1:<c>`.
    pub fn url(&self) -> String {
        let list: Vec<String> = self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        format!("redis+cluster://{}", list.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_that_is_not_redis_does_not_count_as_ready() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepting = std::thread::spawn(move || {
            // Accept and hang up without a reply, as a process that bound
            // the port and then exits does.
            let _ = listener.accept();
        });
        assert!(!answers_ping(port));
        accepting.join().unwrap();
    }

    #[test]
    fn a_server_that_exits_at_start_is_reported_with_its_log() {
        let (port, dir, mut args) = scratch().unwrap();
        // A cluster bus port past 65535 (what port + 10000 was for a fifth
        // of the ephemeral range): redis-server refuses it and exits.
        args.extend(["--port".into(), port.to_string()]);
        args.extend([
            "--cluster-enabled".into(),
            "yes".into(),
            "--cluster-port".into(),
            "70000".into(),
        ]);
        let mut server = RedisServer {
            child: Some(spawn("redis-server", &args, &dir).unwrap()),
            port,
            tls: false,
            user: None,
            bus_port: None,
            password: None,
            dir,
        };
        let e = server.wait_ready().unwrap_err().to_string();
        assert!(e.contains("exited") && e.contains("65535"), "{e}");
    }

    #[test]
    fn cluster_nodes_answer_ping_once_started() {
        let node = RedisServer::start_with(RedisOptions {
            cluster: true,
            ..RedisOptions::default()
        })
        .unwrap();
        assert!(answers_ping(node.port()));
        assert_eq!(node.command(&["PING"]).unwrap(), "PONG");
    }
}
