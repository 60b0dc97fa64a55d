//! The report's model and the streaming pass that fills it: counters per
//! owner and identity, never the records themselves, and every map bounded
//! so a year of records (or a flood of forged tokens) cannot grow it
//! without end.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tollgate_audit::{Event, Stage, parse_time};

use crate::Use;

/// A use as five interned strings: verb, group, resource, namespace, name.
type UseKey = [u32; 5];

/// Each string a use is made of, kept once (a use then costs 20 bytes,
/// not five allocations).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Interner {
    ids: std::collections::HashMap<String, u32>,
    strings: Vec<String>,
}

impl Interner {
    fn find(&self, parts: [&str; 5]) -> Option<UseKey> {
        let mut k = [0; 5];
        for (slot, p) in k.iter_mut().zip(parts) {
            *slot = *self.ids.get(p)?;
        }
        Some(k)
    }

    fn intern(&mut self, parts: [&str; 5]) -> UseKey {
        parts.map(|p| match self.ids.get(p) {
            Some(id) => *id,
            None => {
                let id = u32::try_from(self.strings.len()).unwrap_or(u32::MAX);
                self.strings.push(p.to_owned());
                self.ids.insert(p.to_owned(), id);
                id
            }
        })
    }

    fn use_of(&self, k: &UseKey) -> Use {
        let s = |i: u32| self.strings.get(i as usize).map_or("", String::as_str);
        Use::resource(s(k[0]), s(k[1]), s(k[2]), s(k[3]), s(k[4]))
    }
}

/// How many audit IDs are kept behind each figure.
pub(crate) const SAMPLES: usize = 10;
/// How many distinct keys a counter map keeps before it counts the rest
/// under [`OTHER`].
pub(crate) const KEYS: usize = 10_000;
/// How many sessions are listed per owner (all are counted).
pub(crate) const SESSIONS: usize = 1_000;
/// How many distinct uses (user, verb, resource, namespace) are kept for
/// granted vs used, across all users.
pub(crate) const USES: usize = 250_000;
/// The key that counts whatever a full map could not name.
pub const OTHER: &str = "(others, not itemised)";

/// Adds `n` under `key`, or under [`OTHER`] once the map holds [`KEYS`] keys.
fn bump(map: &mut BTreeMap<String, u64>, key: &str, n: u64) {
    if let Some(v) = map.get_mut(key) {
        *v += n;
    } else if map.len() < KEYS {
        map.insert(key.to_owned(), n);
    } else {
        *map.entry(OTHER.to_owned()).or_default() += n;
    }
}

/// One identity as the records name it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct IdentitySummary {
    /// The token's issuer.
    pub issuer: String,
    /// The token's subject.
    pub subject: String,
    /// The user name the cluster saw.
    pub username: String,
    /// The first request (MicroTime).
    pub first_seen: String,
    /// The last request (MicroTime).
    pub last_seen: String,
    /// Requests made.
    pub requests: u64,
    /// Whether the issuer is still configured (known only after
    /// [`Review::check_issuers`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_configured: Option<bool>,
}

/// What the records say of one approval.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ApprovalSeen {
    /// The command that asked.
    pub command: String,
    /// Attempts held (or refused) while it was pending.
    pub held: u64,
    /// The last state seen: `approved`, `denied`, `expired`, `pending`.
    pub state: String,
    /// Who decided.
    pub approvers: String,
    /// The approver's reason.
    pub reason: String,
    /// The first attempt (MicroTime).
    pub requested_at: String,
    /// When the request went through, or was refused as denied.
    pub decided_at: String,
    /// Seconds from the first attempt to `decided_at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waited_seconds: Option<u64>,
}

/// One exec/attach session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SessionSeen {
    /// When it started (MicroTime).
    pub at: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// `exec` or `attach`.
    pub kind: String,
    /// The command, kubectl-like.
    pub command: String,
    /// The recording's path (or why there is none).
    pub recording: String,
    /// The recording's SHA-256, as written when the session ended.
    pub sha256: String,
    /// The exit code, when the stream reported one.
    pub exit_code: String,
}

/// Everything one owner's identities did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct OwnerSummary {
    /// The owner (`unmapped` when no owner rule matched).
    pub owner: String,
    /// The owner's team, when known.
    pub team: String,
    /// The owner's contact, when known.
    pub contact: String,
    /// Whether an owner rule mapped these identities.
    pub mapped: bool,
    /// Whether a current owner rule still names this owner (known only
    /// after [`Review::check_owners`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_rules: Option<bool>,
    /// The identities, by `issuer subject`.
    pub identities: BTreeMap<String, IdentitySummary>,
    /// Requests by `verb group/resource[/subresource]` (or URL path).
    pub by_verb_resource: BTreeMap<String, u64>,
    /// Requests by namespace (`(cluster)` for cluster scope).
    pub by_namespace: BTreeMap<String, u64>,
    /// Reads (get, list, watch).
    pub reads: u64,
    /// Everything else.
    pub writes: u64,
    /// Refusals by rule (or reason).
    pub denials: BTreeMap<String, u64>,
    /// Rules that matched in dry-run mode (would have blocked).
    pub dry_run_hits: BTreeMap<String, u64>,
    /// Approvals, by id.
    pub approvals: BTreeMap<String, ApprovalSeen>,
    /// How many approvals ended in each state (`approved`, `denied`,
    /// `expired`, `pending`); requested = the sum.
    pub approval_states: BTreeMap<String, u64>,
    /// Exec/attach sessions by audit ID (the first thousand listed).
    pub sessions: BTreeMap<String, SessionSeen>,
    /// Exec/attach sessions in all.
    pub sessions_total: u64,
    /// Requests per day (`YYYY-MM-DD`), for the activity chart.
    pub per_day: BTreeMap<String, u64>,
    /// Up to ten audit IDs behind each verb-and-resource figure, so a
    /// reviewer can trace it to the records (bounded: never all of them).
    pub samples: BTreeMap<String, Vec<String>>,
}

/// An issuer the records name that the current configuration does not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct IssuerSeen {
    /// Identities from it.
    pub identities: u64,
    /// Their requests.
    pub requests: u64,
    /// The last request (MicroTime).
    pub last_seen: String,
}

/// Activity nobody answers for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Unaccountable {
    /// Refused tokens, by `source IP — reason`.
    pub unauthenticated: BTreeMap<String, u64>,
    /// Identities no owner rule mapped (listed under their owner,
    /// `unmapped`).
    pub unmapped_identities: u64,
    /// Whether the issuers were checked against a configuration.
    pub issuers_checked: bool,
    /// Issuers the records name that are no longer configured.
    pub unknown_issuers: BTreeMap<String, IssuerSeen>,
    /// Whether the owners were checked against the owner rules.
    pub owners_checked: bool,
    /// Owners on the records that no current owner rule names, with
    /// their requests.
    pub owners_not_in_rules: BTreeMap<String, u64>,
}

/// The report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Review {
    /// Requests counted (one per request: its final record).
    pub requests: u64,
    /// The earliest request (MicroTime).
    pub from: String,
    /// The latest request (MicroTime).
    pub to: String,
    /// By owner.
    pub owners: BTreeMap<String, OwnerSummary>,
    /// Activity nobody answers for.
    pub unaccountable: Unaccountable,
    /// Granted versus used, per identity as the cluster sees it (with
    /// [`Review::compare_rbac`]).
    pub access: Vec<crate::Comparison>,
    /// What in the RBAC input could not be followed.
    pub rbac_warnings: Vec<String>,
    /// Distinct uses beyond the limit, not compared with the RBAC input.
    pub uses_not_itemised: u64,
    /// What each user (as the cluster saw it) did that reached the cluster.
    #[serde(skip)]
    used: BTreeMap<String, (Vec<String>, BTreeSet<UseKey>)>,
    /// The strings uses are made of, each kept once.
    #[serde(skip)]
    strings: Interner,
    /// How many uses `used` holds.
    #[serde(skip)]
    uses: usize,
    /// Object names worth keeping (those RBAC rules name in
    /// `resourceNames`); any other name is dropped, so a trail of
    /// generated names does not grow the review.
    #[serde(skip)]
    names: BTreeSet<String>,
}

fn is_read(verb: &str) -> bool {
    matches!(verb, "get" | "list" | "watch")
}

fn seconds_between(from: &str, to: &str) -> Option<u64> {
    Some(parse_time(to)?.checked_sub(parse_time(from)?)?.as_secs())
}

impl Review {
    /// Adds one record; only the final stage of each request counts
    /// (`ResponseComplete` or `Panic`), so nothing per request is kept.
    ///
    /// ```
    /// use tollgate_audit::{Event, Level, Stage};
    /// use tollgate_review::Review;
    /// let mut r = Review::default();
    /// let mut e = Event::new("a", Level::Metadata, Stage::ResponseComplete);
    /// e.verb = "delete".into();
    /// e.annotations.insert("tollgate.dev/owner".into(), "payments".into());
    /// r.add(&e);
    /// assert_eq!(r.owners["payments"].writes, 1);
    /// ```
    pub fn add(&mut self, e: &Event) {
        if !matches!(e.stage, Stage::ResponseComplete | Stage::Panic) {
            return;
        }
        self.requests += 1;
        let t = &e.request_received_timestamp;
        if self.from.is_empty() || *t < self.from {
            self.from.clone_from(t);
        }
        if *t > self.to {
            self.to.clone_from(t);
        }
        if e.tollgate("decision") == Some("unauthenticated") {
            let src = e.source_ips.last().map_or("?", String::as_str);
            let why = e.tollgate("authentication-failure").unwrap_or("no reason recorded");
            // An aggregate record stands for many refusals.
            let n = e.tollgate("aggregated-count").and_then(|n| n.parse().ok()).unwrap_or(1);
            bump(&mut self.unaccountable.unauthenticated, &format!("{src} — {why}"), n);
            return;
        }
        let named = e.tollgate("owner").unwrap_or("unmapped");
        // Bounded like every other map: owners past the cap share one row.
        let owner = if self.owners.len() < KEYS || self.owners.contains_key(named) {
            named
        } else {
            OTHER
        };
        let mapped = e.tollgate("owner").is_some() && e.tollgate("owner-mapped") != Some("false");
        let o = self.owners.entry(owner.to_owned()).or_insert_with(|| OwnerSummary {
            owner: owner.to_owned(),
            mapped,
            ..OwnerSummary::default()
        });
        if o.contact.is_empty() {
            o.contact = e.tollgate("owner-contact").unwrap_or("").to_owned();
        }
        if o.team.is_empty() {
            o.team = e.tollgate("owner-team").unwrap_or("").to_owned();
        }
        let issuer = e.tollgate("issuer").unwrap_or("");
        let subject = e.tollgate("subject").unwrap_or("");
        // Records without a token's issuer and subject (the API server's
        // own audit log, `mode: none`) are told apart by user name.
        let key = if issuer.is_empty() && subject.is_empty() {
            format!("user {}", e.user.username)
        } else {
            format!("{issuer} {subject}")
        };
        if o.identities.len() < KEYS || o.identities.contains_key(&key) {
            let id = o.identities.entry(key).or_insert_with(|| IdentitySummary {
                issuer: issuer.to_owned(),
                subject: subject.to_owned(),
                username: e.user.username.clone(),
                first_seen: t.clone(),
                last_seen: t.clone(),
                ..IdentitySummary::default()
            });
            if !mapped && id.requests == 0 {
                self.unaccountable.unmapped_identities += 1;
            }
            id.requests += 1;
            if *t < id.first_seen {
                id.first_seen.clone_from(t);
            }
            if *t > id.last_seen {
                id.last_seen.clone_from(t);
            }
        }
        let what = match &e.object_ref {
            Some(r) => {
                let mut s = if r.api_group.is_empty() {
                    r.resource.clone()
                } else {
                    format!("{}/{}", r.api_group, r.resource)
                };
                if !r.subresource.is_empty() {
                    s.push('/');
                    s.push_str(&r.subresource);
                }
                s
            }
            None => e.request_uri.split('?').next().unwrap_or("").to_owned(),
        };
        let row = format!("{} {what}", e.verb);
        bump(&mut o.by_verb_resource, &row, 1);
        let row = if o.by_verb_resource.contains_key(&row) {
            row
        } else {
            OTHER.to_owned()
        };
        let ids = o.samples.entry(row).or_default();
        if ids.len() < SAMPLES {
            ids.push(e.audit_id.clone());
        }
        bump(&mut o.per_day, t.get(..10).unwrap_or(""), 1);
        let ns = e
            .object_ref
            .as_ref()
            .map(|r| r.namespace.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or("(cluster)");
        bump(&mut o.by_namespace, ns, 1);
        if is_read(&e.verb) {
            o.reads += 1;
        } else {
            o.writes += 1;
        }
        let code = e.code().unwrap_or(0);
        if matches!(code, 401 | 403) && e.tollgate("approval-id").is_none() {
            bump(&mut o.denials, &refusal_cause(e, code), 1);
        }
        if let Some(rules) = e.tollgate("dry-run-rules") {
            for r in rules.split(',').filter(|r| !r.is_empty()) {
                bump(&mut o.dry_run_hits, r, 1);
            }
        }
        if let Some(aid) = e.tollgate("approval-id")
            && !e.request_uri.starts_with("/tollgate/")
        {
            approval(o, aid, e, code);
        }
        session(o, e, code);
        let forwarded = matches!(e.tollgate("decision"), Some("allow" | "warn" | "approved"));
        self.used_by(e, forwarded);
    }

    /// Remembers who acted (an identity that used nothing still holds its
    /// grants) and what reached the cluster, for [`Review::compare_rbac`].
    fn used_by(&mut self, e: &Event, forwarded: bool) {
        let who = e.impersonated_user.as_ref().unwrap_or(&e.user);
        if who.username.is_empty() || (self.used.len() >= KEYS && !self.used.contains_key(&who.username)) {
            return;
        }
        let entry = self.used.entry(who.username.clone()).or_default();
        if !who.groups.is_empty() {
            entry.0.clone_from(&who.groups);
        }
        if !forwarded {
            return;
        }
        let res;
        let (group, resource, namespace, name) = match &e.object_ref {
            Some(r) => {
                res = if r.subresource.is_empty() {
                    r.resource.clone()
                } else {
                    format!("{}/{}", r.resource, r.subresource)
                };
                let name = if self.names.contains(&r.name) {
                    r.name.as_str()
                } else {
                    ""
                };
                (r.api_group.as_str(), res.as_str(), r.namespace.as_str(), name)
            }
            None => {
                let path = e.request_uri.split('?').next().unwrap_or("");
                // Tollgate's own API (approvals) never reaches the cluster.
                if !path.starts_with('/') || path.starts_with("/tollgate/") {
                    return;
                }
                ("", path, "", "")
            }
        };
        let parts = [e.verb.as_str(), group, resource, namespace, name];
        let entry = self.used.entry(who.username.clone()).or_default();
        if self.strings.find(parts).is_some_and(|k| entry.1.contains(&k)) {
            return;
        }
        if self.uses < USES {
            entry.1.insert(self.strings.intern(parts));
            self.uses += 1;
        } else {
            self.uses_not_itemised += 1;
        }
    }

    /// Keeps these object names for granted vs used (the names RBAC rules
    /// list in `resourceNames`, [`crate::Rbac::resource_names`]): call it
    /// before adding records. Other names are not kept.
    ///
    /// ```
    /// let mut r = tollgate_review::Review::default();
    /// r.keep_resource_names(["web-config".to_owned()]);
    /// ```
    pub fn keep_resource_names(&mut self, names: impl IntoIterator<Item = String>) {
        self.names.extend(names);
    }

    /// Compares what each identity used with what `rbac` grants it.
    ///
    /// ```
    /// use tollgate_review::{Rbac, Review};
    /// let mut r = Review::default();
    /// r.compare_rbac(&Rbac::default());
    /// assert!(r.access.is_empty(), "nobody did anything");
    /// ```
    pub fn compare_rbac(&mut self, rbac: &crate::Rbac) {
        self.access = self
            .used
            .iter()
            .map(|(user, (groups, used))| {
                let used: BTreeSet<Use> = used.iter().map(|k| self.strings.use_of(k)).collect();
                crate::compare(rbac, user, groups, &used)
            })
            .collect();
        self.rbac_warnings = rbac.warnings();
        if self.uses_not_itemised > 0 {
            self.rbac_warnings.push(format!(
                "{} requests beyond the first {USES} distinct uses were not compared (shorten the period for a full comparison)",
                self.uses_not_itemised
            ));
        }
    }

    /// Marks identities whose issuer is not among `configured` (the
    /// issuers of the current `AuthenticationConfiguration`): tokens from
    /// an issuer nobody configures any more.
    ///
    /// ```
    /// use tollgate_audit::{Event, Level, Stage};
    /// use tollgate_review::Review;
    /// let mut r = Review::default();
    /// let mut e = Event::new("a", Level::Metadata, Stage::ResponseComplete);
    /// e.annotations.insert("tollgate.dev/issuer".into(), "https://old.example".into());
    /// r.add(&e);
    /// r.check_issuers(&["https://new.example"]);
    /// assert_eq!(r.unaccountable.unknown_issuers["https://old.example"].requests, 1);
    /// ```
    pub fn check_issuers(&mut self, configured: &[&str]) {
        self.unaccountable.issuers_checked = true;
        for o in self.owners.values_mut() {
            for id in o.identities.values_mut() {
                if id.issuer.is_empty() {
                    continue;
                }
                let known = configured.contains(&id.issuer.as_str());
                id.issuer_configured = Some(known);
                if !known {
                    let seen = self.unaccountable.unknown_issuers.entry(id.issuer.clone()).or_default();
                    seen.identities += 1;
                    seen.requests += id.requests;
                    if id.last_seen > seen.last_seen {
                        seen.last_seen.clone_from(&id.last_seen);
                    }
                }
            }
        }
    }

    /// Marks owners that no current owner rule names (`names`: the owners
    /// the rules map to): records that point at an owner who is gone.
    ///
    /// ```
    /// use tollgate_audit::{Event, Level, Stage};
    /// use tollgate_review::Review;
    /// let mut r = Review::default();
    /// let mut e = Event::new("a", Level::Metadata, Stage::ResponseComplete);
    /// e.annotations.insert("tollgate.dev/owner".into(), "legacy-team".into());
    /// r.add(&e);
    /// r.check_owners(&["payments"]);
    /// assert_eq!(r.unaccountable.owners_not_in_rules["legacy-team"], 1);
    /// ```
    pub fn check_owners(&mut self, names: &[&str]) {
        self.unaccountable.owners_checked = true;
        for o in self.owners.values_mut() {
            if !o.mapped {
                continue;
            }
            let known = names.contains(&o.owner.as_str());
            o.in_rules = Some(known);
            if !known {
                let n: u64 = o.identities.values().map(|i| i.requests).sum();
                self.unaccountable.owners_not_in_rules.insert(o.owner.clone(), n);
            }
        }
    }
}

impl OwnerSummary {
    /// Approvals requested (every state).
    pub fn approvals_requested(&self) -> u64 {
        self.approval_states.values().sum()
    }
}

/// What one record says of an approval: attempts held while pending, the
/// decision, and how long the requester waited for it.
fn approval(o: &mut OwnerSummary, id: &str, e: &Event, code: u16) {
    if !o.approvals.contains_key(id) && o.approvals.len() >= KEYS {
        bump(&mut o.approval_states, OTHER, 1);
        return;
    }
    let t = &e.request_received_timestamp;
    let a = o.approvals.entry(id.to_owned()).or_default();
    let before = a.state.clone();
    if a.command.is_empty() {
        a.command = e.tollgate("command").unwrap_or("").to_owned();
    }
    // The gateway records when the approval was asked and decided; older
    // records only have the requests' own times.
    let asked = e.tollgate("approval-requested").unwrap_or(t);
    if a.requested_at.is_empty() || *asked < *a.requested_at {
        a.requested_at = asked.to_owned();
    }
    let state = e.tollgate("approval-state").unwrap_or("");
    if matches!(code, 429) || (code == 403 && state == "pending") {
        a.held += 1;
    }
    let now = match (code, state) {
        (403, "denied") => "denied",
        (200..=399, "approved" | "consumed") => "approved",
        (_, "consumed") => "approved",
        (_, "") => "pending",
        (_, s) => s,
    };
    // A decision, once seen, is not undone by an earlier-sorted record.
    if !matches!(before.as_str(), "approved" | "denied") || matches!(now, "approved" | "denied") {
        a.state = now.to_owned();
    }
    if let Some(d) = e.tollgate("approval-decided") {
        a.decided_at = d.to_owned();
    } else if matches!(now, "approved" | "denied") && (a.decided_at.is_empty() || *t < a.decided_at) {
        a.decided_at.clone_from(t);
    }
    if !a.decided_at.is_empty() {
        a.waited_seconds = seconds_between(&a.requested_at, &a.decided_at);
    }
    if let Some(by) = e.tollgate("approvers") {
        a.approvers = by.to_owned();
    }
    if let Some(why) = e.tollgate("approval-reason") {
        a.reason = why.to_owned();
    }
    let after = a.state.clone();
    if before != after {
        if let Some(n) = o.approval_states.get_mut(&before) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                o.approval_states.remove(&before);
            }
        }
        *o.approval_states.entry(after).or_default() += 1;
    }
}

/// An exec/attach session that happened (switched protocols, or left a
/// recording), not a refused attempt.
fn session(o: &mut OwnerSummary, e: &Event, code: u16) {
    let Some(r) = &e.object_ref else { return };
    if !matches!(r.subresource.as_str(), "exec" | "attach") || !(code == 101 || e.tollgate("recording").is_some()) {
        return;
    }
    o.sessions_total += 1;
    if o.sessions.len() >= SESSIONS {
        return;
    }
    let get = |k: &str| e.tollgate(k).unwrap_or("").to_owned();
    o.sessions.insert(
        e.audit_id.clone(),
        SessionSeen {
            at: e.request_received_timestamp.clone(),
            namespace: r.namespace.clone(),
            pod: r.name.clone(),
            kind: r.subresource.clone(),
            command: get("command"),
            recording: e.tollgate("recording").unwrap_or("not recorded").to_owned(),
            sha256: get("recording-sha256"),
            exit_code: get("exit-code"),
        },
    );
}

/// What refused a request, for the refusals table: the Tollgate rule when
/// one did, else the cause its `Status` names.
///
/// ```
/// let mut e = tollgate_audit::Event::new("a", tollgate_audit::Level::Metadata, tollgate_audit::Stage::ResponseComplete);
/// e.response_status = Some(serde_json::json!({"code": 403, "message": "impersonation headers are not allowed (impersonate-user): …"}));
/// assert_eq!(tollgate_review::refusal_cause(&e, 403), "impersonation refused by Tollgate");
/// ```
pub fn refusal_cause(e: &Event, code: u16) -> String {
    if let Some(rule) = e.tollgate("rule") {
        return rule.to_owned();
    }
    let message = e
        .response_status
        .as_ref()
        .and_then(|s| s.get("message"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    if code == 401 {
        return "unauthenticated (no valid token)".to_owned();
    }
    let cause = if message.contains("impersonat") {
        "impersonation refused by Tollgate"
    } else if message.contains("owner") && message.contains("no ") {
        "no owner maps the identity"
    } else if e.tollgate("decision").is_some_and(|d| d == "allow" || d == "warn") || message.contains("cannot ") {
        // Tollgate let it through: the API server's authorizer refused.
        "refused by the cluster's RBAC"
    } else if message.contains("could not be recorded") || message.contains("cannot be recorded") {
        "could not be recorded"
    } else {
        "refused by Tollgate (no rule named)"
    };
    cause.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_audit::{Level, ObjectReference};

    fn event(id: &str, t: &str, code: u16) -> Event {
        let mut e = Event::new(id, Level::Metadata, Stage::ResponseComplete);
        e.request_received_timestamp = t.to_owned();
        e.verb = "delete".into();
        e.response_status = Some(serde_json::json!({"code": code}));
        e.annotations.insert("tollgate.dev/owner".into(), "payments".into());
        e
    }

    #[test]
    fn approvals_count_states_and_waiting_time() {
        let mut r = Review::default();
        for (i, (t, code, state, decision)) in [
            ("2026-11-27T10:00:00.000000Z", 429, "pending", "approval-required"),
            ("2026-11-27T10:00:20.000000Z", 429, "pending", "approval-required"),
            ("2026-11-27T10:01:05.000000Z", 200, "approved", "approved"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut e = event(&format!("a{i}"), t, code);
            for (k, v) in [
                ("approval-id", "apr-1"),
                ("approval-state", state),
                ("decision", decision),
                ("command", "kubectl delete deployment web"),
            ] {
                e.annotations.insert(format!("tollgate.dev/{k}"), v.into());
            }
            if code == 200 {
                e.annotations
                    .insert("tollgate.dev/approvers".into(), "alice@acme.example".into());
            }
            r.add(&e);
        }
        let mut denied = event("d", "2026-11-27T11:00:00.000000Z", 403);
        denied
            .annotations
            .insert("tollgate.dev/approval-id".into(), "apr-2".into());
        denied
            .annotations
            .insert("tollgate.dev/approval-state".into(), "denied".into());
        denied
            .annotations
            .insert("tollgate.dev/approval-reason".into(), "freeze".into());
        r.add(&denied);
        let mut expired = event("e", "2026-11-27T12:00:00.000000Z", 429);
        expired
            .annotations
            .insert("tollgate.dev/approval-id".into(), "apr-3".into());
        expired
            .annotations
            .insert("tollgate.dev/approval-state".into(), "expired".into());
        r.add(&expired);

        let mut inside = event("h", "2026-11-27T13:00:00.000000Z", 200);
        for (k, v) in [
            ("approval-id", "apr-4"),
            ("approval-state", "approved"),
            ("approval-requested", "2026-11-27T13:00:00.000000Z"),
            ("approval-decided", "2026-11-27T13:00:42.000000Z"),
        ] {
            inside.annotations.insert(format!("tollgate.dev/{k}"), v.into());
        }
        r.add(&inside);
        let o = &r.owners["payments"];
        assert_eq!(
            o.approvals["apr-4"].waited_seconds,
            Some(42),
            "held inside the gateway: the recorded decision time counts"
        );
        let a = &o.approvals["apr-1"];
        assert_eq!((a.held, a.state.as_str(), a.waited_seconds), (2, "approved", Some(65)));
        assert_eq!(a.approvers, "alice@acme.example");
        assert_eq!(o.approvals["apr-2"].reason, "freeze");
        assert_eq!(o.approvals["apr-2"].waited_seconds, Some(0));
        assert_eq!(o.approvals["apr-3"].waited_seconds, None);
        let states: Vec<(&str, u64)> = o.approval_states.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(states, [("approved", 2), ("denied", 1), ("expired", 1)]);
        assert_eq!(o.approvals_requested(), 4);
        assert!(o.denials.is_empty(), "a held or denied approval is not a rule refusal");
    }

    #[test]
    fn sessions_keep_their_recordings() {
        let mut r = Review::default();
        let mut e = event("s", "2026-11-27T10:00:00.000000Z", 101);
        e.verb = "get".into();
        let mut o = ObjectReference::default();
        o.resource = "pods".into();
        o.namespace = "prod".into();
        o.name = "web-1".into();
        o.subresource = "exec".into();
        e.object_ref = Some(o);
        e.annotations.insert(
            "tollgate.dev/recording".into(),
            "/var/lib/tollgate/sessions/s.cast".into(),
        );
        e.annotations.insert("tollgate.dev/exit-code".into(), "0".into());
        r.add(&e);
        let s = &r.owners["payments"].sessions["s"];
        assert_eq!(
            (s.pod.as_str(), s.kind.as_str(), s.exit_code.as_str()),
            ("web-1", "exec", "0")
        );
        assert_eq!(s.recording, "/var/lib/tollgate/sessions/s.cast");
        let mut refused = e.clone();
        refused.audit_id = "t".into();
        refused.response_status = Some(serde_json::json!({"code": 403}));
        refused.annotations.remove("tollgate.dev/recording");
        r.add(&refused);
        assert_eq!(r.owners["payments"].sessions_total, 1, "a refused exec is no session");
    }

    #[test]
    fn records_without_a_token_are_told_apart_by_user() {
        let mut r = Review::default();
        for (i, user) in ["alice", "bob", "alice"].into_iter().enumerate() {
            let mut e = event(&i.to_string(), "2026-11-27T10:00:00.000000Z", 200);
            e.annotations.clear();
            e.user = tollgate_audit::UserInfo::new(user.to_owned(), vec![]);
            r.add(&e);
        }
        let ids = &r.owners["unmapped"].identities;
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert_eq!(ids["user alice"].requests, 2);
        assert!(
            !r.owners["unmapped"].mapped,
            "no owner on the record: nobody answers for it"
        );
        assert_eq!(r.unaccountable.unmapped_identities, 2);
    }

    #[test]
    fn forged_token_floods_stay_bounded() {
        let mut r = Review::default();
        for i in 0..(KEYS + 500) {
            let mut e = event(&i.to_string(), "2026-11-27T10:00:00.000000Z", 401);
            e.source_ips = vec![format!("10.0.{}.{}", i / 256, i % 256)];
            e.annotations
                .insert("tollgate.dev/decision".into(), "unauthenticated".into());
            r.add(&e);
        }
        let u = &r.unaccountable.unauthenticated;
        assert_eq!(u.len(), KEYS + 1);
        assert_eq!(u[OTHER], 500);
        assert_eq!(u.values().sum::<u64>(), (KEYS + 500) as u64, "nothing uncounted");
    }

    #[test]
    fn issuers_and_owners_checked_against_the_configuration() {
        let mut r = Review::default();
        let mut e = event("a", "2026-11-27T10:00:00.000000Z", 200);
        e.annotations
            .insert("tollgate.dev/issuer".into(), "https://old.example".into());
        e.annotations.insert("tollgate.dev/subject".into(), "repo:x".into());
        r.add(&e);
        let mut f = event("b", "2026-11-27T10:00:01.000000Z", 200);
        f.annotations
            .insert("tollgate.dev/issuer".into(), "https://ci.example".into());
        f.annotations.insert("tollgate.dev/owner".into(), "web".into());
        r.add(&f);
        r.check_issuers(&["https://ci.example"]);
        r.check_owners(&["web"]);
        assert_eq!(r.unaccountable.unknown_issuers.len(), 1);
        assert_eq!(r.unaccountable.unknown_issuers["https://old.example"].identities, 1);
        assert_eq!(
            r.owners["payments"].identities["https://old.example repo:x"].issuer_configured,
            Some(false)
        );
        assert_eq!(r.owners["web"].in_rules, Some(true));
        assert_eq!(r.unaccountable.owners_not_in_rules["payments"], 1);
    }
}
