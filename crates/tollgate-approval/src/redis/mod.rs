//! Approvals in Redis, shared by several gateway replicas.
//!
//! Each approval is a JSON value under `tollgate:approval:<id>`; the latest
//! approval of a request under `tollgate:fp:<fingerprint>`; ids by time in
//! the sorted set `tollgate:approvals`. Every change goes through one Lua
//! compare-and-set (the value read must still be there), so a transition
//! happens once whichever replica attempts it — two replicas racing for a
//! single-use grant get exactly one. Every change is published on
//! `tollgate:approvals:changed`; each replica keeps one subscription and
//! wakes the requests it holds.

mod resp;

use std::sync::Arc;
use std::time::Duration;

pub(crate) use resp::read_reply;
use resp::{Conn, Reply, Target};
use tokio::sync::Mutex;

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
const INDEX: &str = "tollgate:approvals";

fn key(id: &str) -> String {
    format!("tollgate:approval:{id}")
}

fn fp_key(fp: &str) -> String {
    format!("tollgate:fp:{fp}")
}

/// Approvals in Redis (several replicas).
///
/// ```no_run
/// # async fn f() -> Result<(), tollgate_approval::StoreError> {
/// let store = tollgate_approval::RedisStore::connect("redis://127.0.0.1:6379").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RedisStore {
    target: Target,
    conn: Arc<Mutex<Option<Conn>>>,
    changed: Arc<tokio::sync::Notify>,
}

fn bad_data(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("redis holds an approval that does not parse: {e}"))
}

impl RedisStore {
    /// Connects (and subscribes to changes).
    ///
    /// # Errors
    /// A malformed URL or an unreachable server.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let target = Target::parse(url).map_err(StoreError::Unavailable)?;
        let first = Conn::open(&target).await?;
        let store = RedisStore {
            target: target.clone(),
            conn: Arc::new(Mutex::new(Some(first))),
            changed: Arc::new(tokio::sync::Notify::new()),
        };
        tokio::spawn(subscribe(target, Arc::downgrade(&store.changed)));
        Ok(store)
    }

    /// One command on the shared connection (reconnecting once).
    async fn cmd(&self, args: &[&[u8]]) -> Result<Reply, StoreError> {
        let mut g = self.conn.lock().await;
        for attempt in 0..2 {
            if g.is_none() {
                *g = Some(Conn::open(&self.target).await?);
            }
            let Some(c) = g.as_mut() else { continue };
            match c.cmd(args).await {
                Ok(r) => return Ok(r),
                Err(e) if attempt == 0 && !e.to_string().contains("ERR") => *g = None,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable("redis: no connection".to_owned()))
    }

    async fn raw(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.cmd(&[b"GET", key(id).as_bytes()]).await?.bulk())
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
        let ttl = until.saturating_sub(now).max(60).to_string();
        let r = self
            .cmd(&[
                b"EVAL",
                CAS.as_bytes(),
                b"3",
                key(&new.id).as_bytes(),
                fp_key(&new.fingerprint).as_bytes(),
                INDEX.as_bytes(),
                old,
                &json,
                new.id.as_bytes(),
                new.created_at.to_string().as_bytes(),
                ttl.as_bytes(),
                CHANNEL.as_bytes(),
                fp_expect.as_bytes(),
            ])
            .await?;
        Ok(r.int() == Some(1))
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
async fn subscribe(target: Target, changed: std::sync::Weak<tokio::sync::Notify>) {
    loop {
        if changed.strong_count() == 0 {
            return;
        }
        match Conn::open(&target).await {
            Ok(mut c) => {
                if c.send(&[b"SUBSCRIBE", CHANNEL.as_bytes()]).await.is_ok() {
                    if let Some(n) = changed.upgrade() {
                        n.notify_waiters();
                    }
                    while let Ok(_msg) = c.read().await {
                        let Some(n) = changed.upgrade() else { return };
                        n.notify_waiters();
                    }
                }
                tracing::warn!("the approval store's subscription dropped; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, "the approval store's subscription cannot connect"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[async_trait::async_trait]
impl ApprovalStore for RedisStore {
    async fn request(&self, new: Approval, now: u64) -> Result<Approval, StoreError> {
        for _ in 0..50 {
            let current = self.cmd(&[b"GET", fp_key(&new.fingerprint).as_bytes()]).await?.bulk();
            let current = current.map(|b| String::from_utf8_lossy(&b).into_owned());
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
        let Some(id) = self.cmd(&[b"GET", fp_key(fingerprint).as_bytes()]).await?.bulk() else {
            return Ok(None);
        };
        let id = String::from_utf8_lossy(&id).into_owned();
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
        let ids = match self.cmd(&[b"ZREVRANGE", INDEX.as_bytes(), b"0", b"999"]).await? {
            Reply::Array(Some(items)) => items.into_iter().filter_map(Reply::bulk).collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        let mut out = Vec::new();
        for id in ids {
            match self.get(&String::from_utf8_lossy(&id), now).await? {
                Some(a) => out.push(a),
                // Its key expired: the index forgets it too.
                None => {
                    self.cmd(&[b"ZREM", INDEX.as_bytes(), &id]).await?;
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
        self.cmd(&[b"PING"]).await.map(drop)
    }

    async fn wait(&self, id: &str, timeout: Duration) -> Result<Option<Approval>, StoreError> {
        crate::store::wait_for_change(self, &self.changed, id, timeout).await
    }
}
