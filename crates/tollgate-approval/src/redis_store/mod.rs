//! Approvals in Redis, shared by several gateway replicas.
//!
//! Each approval is a JSON value under `{tollgate}:approval:<id>`; the
//! latest approval of a request under `{tollgate}:fp:<fingerprint>`; ids by
//! time in the sorted set `{tollgate}:approvals`. The `{tollgate}` hash tag
//! puts every key in one cluster slot, so the one Lua compare-and-set that
//! makes every change (the value read must still be there) runs on one
//! node in a Redis Cluster too: a transition happens once whichever
//! replica attempts it — two replicas racing for a single-use grant get
//! exactly one. Every change is published on `tollgate:approvals:changed`;
//! each replica keeps one subscription and wakes the requests it holds (a
//! cluster forwards publications to every node, so any node will do).
//!
//! The servers are reached through the `redis` crate ([`target`] for the
//! URL forms: one server, TLS, ACL users, Sentinel, Cluster).

mod backend;
pub mod target;

use std::sync::Arc;
use std::time::Duration;

use backend::Backend;
pub use backend::RedisOptions;
use futures_util::StreamExt;
use target::RedisTarget;

use crate::{Approval, ApprovalStore, State, StoreError, Vote};

const CAS: &str = r"
local cur = redis.call('GET', KEYS[1])
if (cur == false and ARGV[1] ~= '') or (cur ~= false and cur ~= ARGV[1]) then return 0 end
if ARGV[7] ~= '*' then
  local f = redis.call('GET', KEYS[2])
  if (f == false and ARGV[7] ~= '') or (f ~= false and f ~= ARGV[7]) then return 0 end
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[5])
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
redis.call('PUBLISH', ARGV[6], ARGV[3])
return 1
";

const CHANNEL: &str = "tollgate:approvals:changed";
const INDEX: &str = "{tollgate}:approvals";

fn key(id: &str) -> String {
    format!("{{tollgate}}:approval:{id}")
}

fn fp_key(fp: &str) -> String {
    format!("{{tollgate}}:fp:{fp}")
}

/// Approvals in Redis (several replicas): one server, TLS, ACL users,
/// Sentinel or Cluster, as the URL says ([`target`]).
///
/// ```no_run
/// # async fn f() -> Result<(), tollgate_approval::StoreError> {
/// use tollgate_approval::{RedisOptions, RedisStore};
/// let plain = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let managed = RedisStore::connect_with(
///     "rediss://tollgate@cache.example.com:6380",
///     RedisOptions::new().password(std::fs::read_to_string("/run/secrets/redis").unwrap_or_default().trim()),
/// )
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RedisStore {
    backend: Arc<Backend>,
    changed: Arc<tokio::sync::Notify>,
}

fn bad_data(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("redis holds an approval that does not parse: {e}"))
}

impl RedisStore {
    /// Connects (and subscribes to changes), with the URL's password and
    /// the system's roots.
    ///
    /// # Errors
    /// A malformed URL or an unreachable server.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, RedisOptions::new()).await
    }

    /// Connects with a password, CA or timeout of `options`.
    ///
    /// # Errors
    /// A malformed URL (named, without its password) or an unreachable
    /// server.
    pub async fn connect_with(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let target = RedisTarget::parse(url).map_err(StoreError::Unavailable)?;
        let backend = Arc::new(Backend::new(&target, target::redacted(url), &options)?);
        let store = RedisStore {
            backend,
            changed: Arc::new(tokio::sync::Notify::new()),
        };
        // At start, one try: a gateway pointed at the wrong Redis says so at
        // once instead of retrying.
        store
            .backend
            .query_within::<String>(&redis::cmd("PING"), Duration::ZERO)
            .await?;
        tokio::spawn(subscribe(store.backend.clone(), Arc::downgrade(&store.changed)));
        Ok(store)
    }

    async fn raw(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend.query(redis::cmd("GET").arg(key(id))).await
    }

    async fn load(&self, id: &str) -> Result<Option<(Vec<u8>, Approval)>, StoreError> {
        match self.raw(id).await? {
            Some(b) => {
                let a: Approval = serde_json::from_slice(&b).map_err(bad_data)?;
                Ok(Some((b, a)))
            }
            None => Ok(None),
        }
    }

    /// Writes `new` if the stored value is still `old` (and, unless
    /// `fp_expect` is `*`, the fingerprint still points at `fp_expect`).
    async fn cas(&self, old: &[u8], new: &Approval, fp_expect: &str) -> Result<bool, StoreError> {
        let json = serde_json::to_vec(new).map_err(bad_data)?;
        let now = crate::now();
        let until = crate::store::forget_at(new);
        let ttl = until.saturating_sub(now).max(60);
        // EVAL, not EVALSHA: approvals are rare, and the script then needs
        // no loading on whichever node (or new master) runs it.
        let mut eval = redis::cmd("EVAL");
        eval.arg(CAS)
            .arg(3)
            .arg(key(&new.id))
            .arg(fp_key(&new.fingerprint))
            .arg(INDEX)
            .arg(old)
            .arg(json)
            .arg(&new.id)
            .arg(new.created_at)
            .arg(ttl)
            .arg(CHANNEL)
            .arg(fp_expect);
        let r: i64 = self.backend.query(&eval).await?;
        Ok(r == 1)
    }

    /// Read, change, compare-and-set, until it sticks.
    async fn update(
        &self,
        id: &str,
        now: u64,
        change: impl Fn(&mut Approval) -> Result<bool, StoreError> + Send + Sync,
    ) -> Result<Option<Approval>, StoreError> {
        for _ in 0..50 {
            let Some((raw, mut a)) = self.load(id).await? else {
                return Err(StoreError::NotFound(id.to_owned()));
            };
            a.state = a.state_at(now);
            if !change(&mut a)? {
                return Ok(None);
            }
            if self.cas(&raw, &a, "*").await? {
                return Ok(Some(a));
            }
        }
        Err(StoreError::Unavailable(
            "redis: too much contention on one approval".to_owned(),
        ))
    }
}

/// Keeps one subscription open and wakes waiters on every change (and
/// after every reconnect, when changes may have been missed).
async fn subscribe(backend: Arc<Backend>, changed: std::sync::Weak<tokio::sync::Notify>) {
    let mut round = 0usize;
    loop {
        if changed.strong_count() == 0 {
            return;
        }
        match backend.subscriber(round).await {
            Ok(mut sub) => match sub.subscribe(CHANNEL).await {
                Ok(()) => {
                    if let Some(n) = changed.upgrade() {
                        n.notify_waiters();
                    }
                    let mut messages = sub.on_message();
                    while messages.next().await.is_some() {
                        let Some(n) = changed.upgrade() else { return };
                        n.notify_waiters();
                    }
                    tracing::warn!(servers = %backend.shown, "the approval store's subscription dropped; reconnecting");
                }
                Err(e) => tracing::warn!(error = %e, servers = %backend.shown, "the approval store cannot subscribe"),
            },
            Err(e) => tracing::warn!(error = %e, "the approval store's subscription cannot connect"),
        }
        round = round.wrapping_add(1);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[async_trait::async_trait]
impl ApprovalStore for RedisStore {
    async fn request(&self, new: Approval, now: u64) -> Result<Approval, StoreError> {
        for _ in 0..50 {
            let current: Option<String> = self
                .backend
                .query(redis::cmd("GET").arg(fp_key(&new.fingerprint)))
                .await?;
            if let Some(id) = &current
                && let Some((_, mut a)) = self.load(id).await?
            {
                a.state = a.state_at(now);
                let live = match a.state {
                    State::Pending | State::Approved => true,
                    State::Denied => now < a.pending_until,
                    State::Expired | State::Consumed => false,
                };
                if live {
                    return Ok(a);
                }
            }
            if self.cas(b"", &new, current.as_deref().unwrap_or("")).await? {
                return Ok(new);
            }
        }
        Err(StoreError::Unavailable(
            "redis: too much contention on one request".to_owned(),
        ))
    }

    async fn consume(&self, fingerprint: &str, now: u64) -> Result<Option<Approval>, StoreError> {
        let Some(id): Option<String> = self.backend.query(redis::cmd("GET").arg(fp_key(fingerprint))).await? else {
            return Ok(None);
        };
        match self
            .update(&id, now, |a| {
                if a.state != State::Approved || a.uses_left == 0 {
                    return Ok(false);
                }
                a.uses_left -= 1;
                if a.uses_left == 0 {
                    a.state = State::Consumed;
                }
                Ok(true)
            })
            .await
        {
            Err(StoreError::NotFound(_)) => Ok(None),
            other => other,
        }
    }

    async fn get(&self, id: &str, now: u64) -> Result<Option<Approval>, StoreError> {
        Ok(self.load(id).await?.map(|(_, mut a)| {
            a.state = a.state_at(now);
            a
        }))
    }

    async fn list(&self, now: u64) -> Result<Vec<Approval>, StoreError> {
        let ids: Vec<String> = self
            .backend
            .query(redis::cmd("ZREVRANGE").arg(INDEX).arg(0).arg(999))
            .await?;
        let mut out = Vec::new();
        for id in ids {
            match self.get(&id, now).await? {
                Some(a) => out.push(a),
                // Its key expired: the index forgets it too.
                None => {
                    self.backend
                        .query::<i64>(redis::cmd("ZREM").arg(INDEX).arg(&id))
                        .await?;
                }
            }
        }
        Ok(out)
    }

    async fn decide(&self, id: &str, vote: Vote, approve: bool, now: u64) -> Result<Approval, StoreError> {
        let out = self
            .update(id, now, |a| {
                if a.state != State::Pending {
                    return Err(StoreError::NotPending {
                        id: a.id.clone(),
                        state: a.state.as_str(),
                    });
                }
                if vote.by.same(&a.requester) {
                    return Err(StoreError::SelfApproval);
                }
                if approve {
                    if !a.approvals.iter().any(|v| v.by.same(&vote.by)) {
                        a.approvals.push(vote.clone());
                    }
                    if a.approvals.len() >= a.approvers.count as usize {
                        a.state = State::Approved;
                        a.grant_until = Some(now + a.grant_seconds);
                    }
                } else {
                    a.denial = Some(vote.clone());
                    a.state = State::Denied;
                }
                Ok(true)
            })
            .await?;
        out.ok_or_else(|| StoreError::NotFound(id.to_owned()))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // Readiness asks: one try, so a probe is answered quickly.
        self.backend
            .query_within::<String>(&redis::cmd("PING"), Duration::ZERO)
            .await
            .map(drop)
    }

    async fn wait(&self, id: &str, timeout: Duration) -> Result<Option<Approval>, StoreError> {
        crate::store::wait_for_change(self, &self.changed, id, timeout).await
    }
}
