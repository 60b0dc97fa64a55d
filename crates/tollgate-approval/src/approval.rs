//! What an approval is: the request it covers (by fingerprint), who asked,
//! who may decide, and its state.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate_kube::Identity;
use tollgate_rules::ApprovalSpec;

/// Where an approval is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for approvers.
    Pending,
    /// Approved: the grant may be used.
    Approved,
    /// Denied, with a reason.
    Denied,
    /// Not decided, or not used, in time.
    Expired,
    /// The grant was used up.
    Consumed,
}

impl State {
    /// The name in the API and records.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Denied => "denied",
            State::Expired => "expired",
            State::Consumed => "consumed",
        }
    }
}

/// A verified person or workload, as an approval names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Person {
    /// The token's issuer.
    pub issuer: String,
    /// The token's subject.
    pub subject: String,
    /// The user name.
    pub username: String,
    /// Groups.
    pub groups: Vec<String>,
    /// The business owner.
    pub owner: String,
}

impl Person {
    /// From a verified identity.
    pub fn of(id: &Identity) -> Self {
        Person {
            issuer: id.issuer.clone(),
            subject: id.subject.clone(),
            username: id.username.clone(),
            groups: id.groups.clone(),
            owner: id.owner.name.clone(),
        }
    }

    /// The same principal (issuer and subject).
    pub fn same(&self, other: &Person) -> bool {
        self.issuer == other.issuer && self.subject == other.subject
    }
}

/// One approver's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Vote {
    /// Who.
    pub by: Person,
    /// When (seconds since the epoch).
    pub at: u64,
    /// Why (required for a denial).
    pub reason: String,
}

impl Vote {
    /// A vote now.
    pub fn new(by: Person, at: u64, reason: impl Into<String>) -> Self {
        Vote {
            by,
            at,
            reason: reason.into(),
        }
    }
}

/// Who may decide, and how many must agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Approvers {
    /// Any of these groups.
    pub groups: Vec<String>,
    /// Identities of these owners.
    pub owners: Vec<String>,
    /// These user names.
    pub users: Vec<String>,
    /// Distinct approvers needed.
    pub count: u32,
}

impl Approvers {
    /// From a rule's approval settings.
    pub fn of(spec: &ApprovalSpec) -> Self {
        Approvers {
            groups: spec.groups.clone(),
            owners: spec.owners.clone(),
            users: spec.users.clone(),
            count: spec.count,
        }
    }

    /// Whether `p` may decide.
    pub fn admits(&self, p: &Person) -> bool {
        self.users.contains(&p.username)
            || self.owners.contains(&p.owner)
            || p.groups.iter().any(|g| self.groups.contains(g))
    }

    /// A short description: `2 of group platform-admins, user alice`.
    pub fn describe(&self) -> String {
        let mut who: Vec<String> = Vec::new();
        who.extend(self.groups.iter().map(|g| format!("group {g}")));
        who.extend(self.owners.iter().map(|o| format!("owner {o}")));
        who.extend(self.users.iter().map(|u| format!("user {u}")));
        format!("{} of {}", self.count, who.join(", "))
    }
}

/// What the approval covers, for the approver to read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RequestSummary {
    /// The Kubernetes verb.
    pub verb: String,
    /// Path and query (secret-shaped values masked).
    pub request_uri: String,
    /// Namespace.
    pub namespace: String,
    /// Resource (with subresource).
    pub resource: String,
    /// Name.
    pub name: String,
    /// A kubectl-like command line.
    pub command: String,
    /// The body, redacted; left out when it is larger than
    /// [`MAX_STORED_BODY_BYTES`] (then `body_omitted` says how large).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The SHA-256 of the whole body as sent (hex), so a reviewer can tell
    /// which request this was even when the body is not kept.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body_sha256: String,
    /// Why the body is not kept (its size), when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_omitted: Option<String>,
}

/// The most bytes of a redacted body an approval keeps (64 KiB): a held
/// request's body is stored for as long as the approval lives, in memory or
/// in Redis, and shown to approvers.
pub const MAX_STORED_BODY_BYTES: usize = 64 * 1024;

/// The most approvals one requester may have pending at once; past it a
/// new request that needs one gets 429 until some are decided or expire.
pub const MAX_PENDING_PER_REQUESTER: usize = 20;

/// One approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Approval {
    /// Its id (`apr-` and 16 hex digits).
    pub id: String,
    /// The fingerprint of the request it covers.
    pub fingerprint: String,
    /// Its state.
    pub state: State,
    /// The rule that asked for it.
    pub rule: String,
    /// The rule's message.
    pub message: String,
    /// Who asked.
    pub requester: Person,
    /// What was asked.
    pub request: RequestSummary,
    /// Who may decide.
    pub approvers: Approvers,
    /// Approvals given so far.
    pub approvals: Vec<Vote>,
    /// The denial, when denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denial: Option<Vote>,
    /// When it was asked (seconds since the epoch).
    pub created_at: u64,
    /// Until when it may be decided.
    pub pending_until: u64,
    /// How long a grant lasts once approved (seconds).
    pub grant_seconds: u64,
    /// Until when the grant may be used (once approved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_until: Option<u64>,
    /// Uses left once approved.
    pub uses_left: u32,
}

impl Approval {
    /// The state at `now`: pending or approved approvals past their time
    /// are expired.
    pub fn state_at(&self, now: u64) -> State {
        match self.state {
            State::Pending if now >= self.pending_until => State::Expired,
            State::Approved if self.grant_until.is_some_and(|g| now >= g) => State::Expired,
            s => s,
        }
    }

    /// The approvers' names so far.
    pub fn approver_names(&self) -> Vec<String> {
        self.approvals.iter().map(|v| v.by.username.clone()).collect()
    }

    /// What the audit record of a request under this approval says of it:
    /// `state`, the approvers, the deciding reason and when it was asked
    /// and decided.
    pub fn note(&self, state: &str) -> tollgate_rules::ApprovalNote {
        let (reason, decided) = match (&self.denial, self.state) {
            (Some(d), _) => (d.reason.clone(), Some(d.at)),
            (None, State::Approved | State::Consumed) => (
                self.approvals.last().map(|v| v.reason.clone()).unwrap_or_default(),
                self.approvals.last().map(|v| v.at),
            ),
            _ => (String::new(), None),
        };
        let by = match &self.denial {
            Some(d) => vec![d.by.username.clone()],
            None => self.approver_names(),
        };
        tollgate_rules::ApprovalNote::new(self.id.clone(), state, by)
            .with_reason(reason)
            .with_times(self.created_at, decided)
    }
}
