//! Connections to the servers a [`RedisTarget`] names, through the `redis`
//! crate: one multiplexed connection (or cluster connection) shared by
//! every request, replaced after a connection-level failure; Sentinel is
//! asked again for the master each time.

use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection, PubSub};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo,
    RedisError, RedisFuture, RetryMethod, TlsCertificates, TlsMode, Value,
};
use tokio::sync::Mutex;

use super::target::{RedisTarget, Topology};
use crate::StoreError;

/// How to reach the servers besides the URL.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct RedisOptions {
    /// Overrides the URL's password (read from a file by the configuration).
    pub password: Option<String>,
    /// The Sentinels' own password (their `requirepass`), for a
    /// `redis+sentinel://` URL; without it the Sentinels are asked without
    /// one (the URL's password is the Redis nodes').
    pub sentinel_password: Option<String>,
    /// PEM certificates to trust for `rediss://` instead of the operating
    /// system's store.
    pub ca_pem: Option<Vec<u8>>,
    /// Connecting, and each reply (default 5 s).
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field(
                "sentinel_password",
                &self.sentinel_password.as_ref().map(|_| "<redacted>"),
            )
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RedisOptions {
    /// No overrides: the URL's password, the system's roots, 5 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// The password (instead of the URL's).
    #[must_use]
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// The Sentinels' own password (`requirepass` in their
    /// configuration), for a `redis+sentinel://` URL.
    #[must_use]
    pub fn sentinel_password(mut self, password: impl Into<String>) -> Self {
        self.sentinel_password = Some(password.into());
        self
    }

    /// The certificates to trust (PEM), instead of the system's.
    #[must_use]
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// The connect and reply timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// A command connection.
#[derive(Clone)]
pub(super) enum Conn {
    Node(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Node(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Node(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Node(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

enum Servers {
    Single(Client),
    Sentinel(Mutex<SentinelClient>),
    /// The cluster, and a client per seed node for the subscription (a
    /// cluster forwards every publication to every node).
    Cluster(ClusterClient, Vec<Client>),
}

/// The servers, and the current command connection.
pub(super) struct Backend {
    servers: Servers,
    /// Shown in errors: the URL without its password.
    pub(super) shown: String,
    timeout: Duration,
    /// The connection and its generation (a failed generation is dropped
    /// once, not again after a newer one replaced it).
    current: Mutex<(u64, Option<Conn>)>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("servers", &self.shown)
            .finish_non_exhaustive()
    }
}

/// How long a command keeps being tried while the connection fails under
/// it: long enough to ride out a Sentinel failover (the master is declared
/// down after `down-after-milliseconds`, then a replica is promoted) or a
/// cluster's slot move; a held request waits anyway.
const RETRY_BUDGET: Duration = Duration::from_secs(15);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl Backend {
    pub(super) fn new(target: &RedisTarget, shown: String, options: &RedisOptions) -> Result<Backend, StoreError> {
        let bad = |e: RedisError| StoreError::Unavailable(format!("redis ({shown}): {e}"));
        if options.sentinel_password.is_some() && !matches!(target.topology, Topology::Sentinel { .. }) {
            return Err(StoreError::Unavailable(format!(
                "redis ({shown}): a Sentinel password is given, but the URL is not redis+sentinel:// or rediss+sentinel://"
            )));
        }
        let password = options.password.clone().or_else(|| target.password.clone());
        let mut settings = RedisConnectionInfo::default().set_db(target.db);
        if let Some(u) = &target.username {
            settings = settings.set_username(u);
        }
        if let Some(p) = &password {
            settings = settings.set_password(p);
        }
        let certs = || TlsCertificates {
            client_tls: None,
            root_cert: options.ca_pem.clone(),
        };
        let addr = |(host, port): &(String, u16)| {
            if target.tls {
                ConnectionAddr::TcpTls {
                    host: host.clone(),
                    port: *port,
                    insecure: false,
                    tls_params: None,
                }
            } else {
                ConnectionAddr::Tcp(host.clone(), *port)
            }
        };
        let client = |node: &(String, u16)| -> Result<Client, RedisError> {
            let info: ConnectionInfo = addr(node).into_connection_info()?.set_redis_settings(settings.clone());
            if target.tls && options.ca_pem.is_some() {
                Client::build_with_tls(info, certs())
            } else {
                Client::open(info)
            }
        };
        let servers = match &target.topology {
            Topology::Single => Servers::Single(client(&target.nodes[0]).map_err(bad)?),
            Topology::Sentinel { master } => {
                let mut b =
                    SentinelClientBuilder::new(target.nodes.iter().map(addr), master, SentinelServerType::Master)
                        .map_err(bad)?
                        .set_client_to_redis_db(target.db);
                if let Some(u) = &target.username {
                    b = b.set_client_to_redis_username(u);
                }
                if let Some(p) = &password {
                    b = b.set_client_to_redis_password(p);
                }
                if let Some(p) = &options.sentinel_password {
                    b = b.set_client_to_sentinel_password(p);
                }
                if target.tls {
                    b = b
                        .set_client_to_redis_tls_mode(TlsMode::Secure)
                        .set_client_to_sentinel_tls_mode(TlsMode::Secure);
                    if options.ca_pem.is_some() {
                        b = b
                            .set_client_to_redis_certificates(certs())
                            .set_client_to_sentinel_certificates(certs());
                    }
                }
                Servers::Sentinel(Mutex::new(b.build().map_err(bad)?))
            }
            Topology::Cluster => {
                let infos = target
                    .nodes
                    .iter()
                    .map(|n| addr(n).into_connection_info())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(bad)?;
                let timeout = options.timeout.unwrap_or(DEFAULT_TIMEOUT);
                let mut b = ClusterClientBuilder::new(infos)
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(3);
                if let Some(u) = &target.username {
                    b = b.username(u);
                }
                if let Some(p) = &password {
                    b = b.password(p);
                }
                if target.tls {
                    b = b.tls(TlsMode::Secure);
                    if options.ca_pem.is_some() {
                        b = b.certs(certs());
                    }
                }
                let seeds = target.nodes.iter().map(client).collect::<Result<_, _>>().map_err(bad)?;
                Servers::Cluster(b.build().map_err(bad)?, seeds)
            }
        };
        Ok(Backend {
            servers,
            shown,
            timeout: options.timeout.unwrap_or(DEFAULT_TIMEOUT),
            current: Mutex::new((0, None)),
        })
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable(format!("redis ({}): {e}", self.shown))
    }

    fn config(&self) -> AsyncConnectionConfig {
        AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
    }

    /// The client of the server that takes writes (Sentinel is asked).
    async fn writable(&self) -> Result<Client, RedisError> {
        match &self.servers {
            Servers::Single(c) => Ok(c.clone()),
            Servers::Sentinel(s) => {
                let mut s = s.lock().await;
                match tokio::time::timeout(self.timeout, s.async_get_client()).await {
                    Ok(r) => r,
                    Err(_) => Err(RedisError::from(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no sentinel answered in time",
                    ))),
                }
            }
            Servers::Cluster(..) => Err(RedisError::from((
                redis::ErrorKind::Client,
                "a cluster has no single writable server",
            ))),
        }
    }

    async fn open(&self) -> Result<Conn, RedisError> {
        match &self.servers {
            Servers::Cluster(c, _) => match tokio::time::timeout(self.timeout, c.get_async_connection()).await {
                Ok(r) => r.map(Conn::Cluster),
                Err(_) => Err(RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the cluster did not answer in time",
                ))),
            },
            _ => {
                let client = self.writable().await?;
                client
                    .get_multiplexed_async_connection_with_config(&self.config())
                    .await
                    .map(Conn::Node)
            }
        }
    }

    async fn connection(&self) -> Result<(u64, Conn), RedisError> {
        let mut g = self.current.lock().await;
        if let Some(c) = &g.1 {
            return Ok((g.0, c.clone()));
        }
        let c = self.open().await?;
        g.0 += 1;
        g.1 = Some(c.clone());
        Ok((g.0, c))
    }

    async fn forget(&self, generation: u64) {
        let mut g = self.current.lock().await;
        if g.0 == generation {
            g.1 = None;
        }
    }

    /// Runs `cmd`, reconnecting with backoff when the connection (not the
    /// command) failed: a dropped or refused connection, a timeout, or a
    /// read-only replica that was the master before a failover.
    pub(super) async fn query<T: redis::FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        self.query_within(cmd, RETRY_BUDGET).await
    }

    /// [`Backend::query`], retrying for at most `budget` (zero: one try).
    pub(super) async fn query_within<T: redis::FromRedisValue>(
        &self,
        cmd: &Cmd,
        budget: Duration,
    ) -> Result<T, StoreError> {
        let mut backoff = FIRST_BACKOFF;
        let mut last = None;
        let started = tokio::time::Instant::now();
        for attempt in 0u32.. {
            if attempt > 0 {
                if started.elapsed() + backoff > budget {
                    break;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            let (generation, mut conn) = match self.connection().await {
                Ok(c) => c,
                Err(e) if retryable(&e) => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(self.unavailable(e)),
            };
            match cmd.query_async::<T>(&mut conn).await {
                Ok(v) => return Ok(v),
                Err(e) if retryable(&e) => {
                    tracing::warn!(error = %e, servers = %self.shown, "the approval store's connection failed; reconnecting");
                    self.forget(generation).await;
                    last = Some(e);
                }
                Err(e) => return Err(self.unavailable(e)),
            }
        }
        Err(self.unavailable(last.map_or_else(|| "no connection".to_owned(), |e| e.to_string())))
    }

    /// A fresh subscription connection (on the master, or on the next
    /// seed node of a cluster).
    pub(super) async fn subscriber(&self, round: usize) -> Result<PubSub, StoreError> {
        let client = match &self.servers {
            Servers::Cluster(_, seeds) => seeds[round % seeds.len()].clone(),
            _ => self.writable().await.map_err(|e| self.unavailable(e))?,
        };
        match tokio::time::timeout(self.timeout, client.get_async_pubsub()).await {
            Ok(r) => r.map_err(|e| self.unavailable(e)),
            Err(_) => Err(self.unavailable("the subscription did not connect in time")),
        }
    }
}

/// Connecting, and each reply.
pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

fn retryable(e: &RedisError) -> bool {
    // A wrong password or certificate does not get better by asking again.
    if e.kind() == redis::ErrorKind::AuthenticationFailed
        || std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData)
    {
        return false;
    }
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.retry_method(),
            RetryMethod::Reconnect
                | RetryMethod::RetryImmediately
                | RetryMethod::WaitAndRetry
                | RetryMethod::RefreshSlotsAndRetry
                | RetryMethod::ReconnectFromInitialConnections
        )
}
