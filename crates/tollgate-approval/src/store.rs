//! Where approvals live: a store behind an async trait (several gateway
//! replicas need a shared one), with atomic transitions and a way to wait
//! for a decision without polling. [`MemoryStore`] serves one replica.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::{Approval, Person, State, Vote};

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No approval has this id.
    #[error("no approval {0}")]
    NotFound(String),
    /// The approval is no longer pending.
    #[error("approval {id} is {state}, not pending")]
    NotPending {
        /// The id.
        id: String,
        /// Its state.
        state: &'static str,
    },
    /// The requester tried to approve their own request.
    #[error("nobody approves their own request")]
    SelfApproval,
    /// The person may not decide this approval.
    #[error("{who} is not an approver of {id} (approvers: {approvers})")]
    NotAnApprover {
        /// Who tried.
        who: String,
        /// The id.
        id: String,
        /// Who may.
        approvers: String,
    },
    /// The store cannot be reached.
    #[error("the approval store is unavailable: {0}")]
    Unavailable(String),
}

/// A store of approvals.
#[async_trait::async_trait]
pub trait ApprovalStore: Send + Sync + std::fmt::Debug + 'static {
    /// The live approval for this request (pending, approved with uses
    /// left, or recently denied), or `new` stored as pending.
    async fn request(&self, new: Approval, now: u64) -> Result<Approval, StoreError>;

    /// Uses one grant of an approved approval for this fingerprint, if any:
    /// atomic, so two identical requests racing for a single-use grant get
    /// exactly one.
    async fn consume(&self, fingerprint: &str, now: u64) -> Result<Option<Approval>, StoreError>;

    /// One approval.
    async fn get(&self, id: &str, now: u64) -> Result<Option<Approval>, StoreError>;

    /// All approvals, newest first.
    async fn list(&self, now: u64) -> Result<Vec<Approval>, StoreError>;

    /// An approver's decision; approved once enough distinct approvers
    /// agreed. The caller has checked that `vote.by` may decide.
    async fn decide(&self, id: &str, vote: Vote, approve: bool, now: u64) -> Result<Approval, StoreError>;

    /// Waits (woken by the store, no polling) until the approval changes
    /// or `timeout` passes; the approval as it then is.
    async fn wait(&self, id: &str, timeout: Duration) -> Result<Option<Approval>, StoreError>;

    /// Whether the store answers now (`/readyz`); an in-process store
    /// always does.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<String, Approval>,
    /// The latest approval per fingerprint.
    by_fingerprint: HashMap<String, String>,
}

/// Approvals in memory (one gateway replica).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tollgate_approval::{ApprovalStore, MemoryStore};
/// let store = MemoryStore::default();
/// assert!(store.list(0).await.unwrap().is_empty());
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<tokio::sync::Notify>,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// When an approval is forgotten: a day after it could last have been
/// used (the Redis store sets the same time as the key's expiry).
pub(crate) fn forget_at(a: &Approval) -> u64 {
    a.pending_until.max(a.grant_until.unwrap_or(0)) + a.grant_seconds + 86_400
}

fn settle(a: &mut Approval, now: u64) {
    let s = a.state_at(now);
    a.state = s;
}

#[async_trait::async_trait]
impl ApprovalStore for MemoryStore {
    async fn request(&self, new: Approval, now: u64) -> Result<Approval, StoreError> {
        let mut g = self.lock();
        // Approvals past their time are dropped, so the store stays bounded
        // by what can still matter.
        let gone: Vec<String> = g
            .by_id
            .values()
            .filter(|a| now > forget_at(a))
            .map(|a| a.id.clone())
            .collect();
        for id in gone {
            if let Some(a) = g.by_id.remove(&id)
                && g.by_fingerprint.get(&a.fingerprint) == Some(&id)
            {
                g.by_fingerprint.remove(&a.fingerprint);
            }
        }
        if let Some(id) = g.by_fingerprint.get(&new.fingerprint).cloned()
            && let Some(a) = g.by_id.get_mut(&id)
        {
            settle(a, now);
            let live = match a.state {
                State::Pending | State::Approved => true,
                // A denial answers the same request until the approval
                // would have expired; then the request may be asked again.
                State::Denied => now < a.pending_until,
                State::Expired | State::Consumed => false,
            };
            if live {
                return Ok(a.clone());
            }
        }
        g.by_fingerprint.insert(new.fingerprint.clone(), new.id.clone());
        g.by_id.insert(new.id.clone(), new.clone());
        drop(g);
        self.changed.notify_waiters();
        Ok(new)
    }

    async fn consume(&self, fingerprint: &str, now: u64) -> Result<Option<Approval>, StoreError> {
        let mut g = self.lock();
        let Some(id) = g.by_fingerprint.get(fingerprint).cloned() else {
            return Ok(None);
        };
        let Some(a) = g.by_id.get_mut(&id) else { return Ok(None) };
        settle(a, now);
        if a.state != State::Approved || a.uses_left == 0 {
            return Ok(None);
        }
        a.uses_left -= 1;
        if a.uses_left == 0 {
            a.state = State::Consumed;
        }
        let out = a.clone();
        drop(g);
        self.changed.notify_waiters();
        Ok(Some(out))
    }

    async fn get(&self, id: &str, now: u64) -> Result<Option<Approval>, StoreError> {
        let mut g = self.lock();
        Ok(g.by_id.get_mut(id).map(|a| {
            settle(a, now);
            a.clone()
        }))
    }

    async fn list(&self, now: u64) -> Result<Vec<Approval>, StoreError> {
        let mut g = self.lock();
        let mut all: Vec<Approval> = g
            .by_id
            .values_mut()
            .map(|a| {
                settle(a, now);
                a.clone()
            })
            .collect();
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(all)
    }

    async fn decide(&self, id: &str, vote: Vote, approve: bool, now: u64) -> Result<Approval, StoreError> {
        let mut g = self.lock();
        let a = g.by_id.get_mut(id).ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        settle(a, now);
        if a.state != State::Pending {
            return Err(StoreError::NotPending {
                id: id.to_owned(),
                state: a.state.as_str(),
            });
        }
        if vote.by.same(&a.requester) {
            return Err(StoreError::SelfApproval);
        }
        if approve {
            if !a.approvals.iter().any(|v| v.by.same(&vote.by)) {
                a.approvals.push(vote);
            }
            if a.approvals.len() >= a.approvers.count as usize {
                a.state = State::Approved;
                a.grant_until = Some(now + a.grant_seconds);
            }
        } else {
            a.denial = Some(vote);
            a.state = State::Denied;
        }
        let out = a.clone();
        drop(g);
        self.changed.notify_waiters();
        Ok(out)
    }

    async fn wait(&self, id: &str, timeout: Duration) -> Result<Option<Approval>, StoreError> {
        crate::store::wait_for_change(self, &self.changed, id, timeout).await
    }
}

/// Waits until approval `id` is no longer what it was, woken by `changed`
/// (which the store notifies on every change), or until `timeout`; the
/// approval as it then is. Shared by the stores.
pub(crate) async fn wait_for_change(
    store: &dyn ApprovalStore,
    changed: &tokio::sync::Notify,
    id: &str,
    timeout: Duration,
) -> Result<Option<Approval>, StoreError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let before = store.get(id, crate::now()).await?;
    if before.as_ref().is_none_or(|a| a.state != State::Pending) {
        return Ok(before);
    }
    loop {
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let current = store.get(id, crate::now()).await?;
        if current != before {
            return Ok(current);
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return store.get(id, crate::now()).await;
        }
    }
}

/// Checks that `who` may decide `a`.
///
/// # Errors
/// [`StoreError::SelfApproval`] or [`StoreError::NotAnApprover`].
pub fn check_approver(a: &Approval, who: &Person) -> Result<(), StoreError> {
    if who.same(&a.requester) {
        return Err(StoreError::SelfApproval);
    }
    if !a.approvers.admits(who) {
        return Err(StoreError::NotAnApprover {
            who: who.username.clone(),
            id: a.id.clone(),
            approvers: a.approvers.describe(),
        });
    }
    Ok(())
}
