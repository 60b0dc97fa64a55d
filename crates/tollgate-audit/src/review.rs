//! Access review: an owner-centred summary of the audit trail, built in one
//! streaming pass (counters per owner and identity, never the records
//! themselves), for reviewers who must say who did what and whether it was
//! meant.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{Event, Stage};

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
}

/// Everything one owner's identities did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct OwnerSummary {
    /// The owner (`unmapped` when no owner rule matched).
    pub owner: String,
    /// The owner's contact, when known.
    pub contact: String,
    /// Whether an owner rule mapped these identities.
    pub mapped: bool,
    /// The identities, by `issuer subject`.
    pub identities: BTreeMap<String, IdentitySummary>,
    /// Requests by `verb group/resource[/subresource]`.
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
    /// Approvals seen: held attempts, forwarded (approved) requests.
    pub approvals: BTreeMap<String, ApprovalSeen>,
    /// Exec/attach sessions: audit ID → recording (or `not recorded`).
    pub sessions: BTreeMap<String, String>,
}

/// What the records say of one approval.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ApprovalSeen {
    /// The command that asked.
    pub command: String,
    /// Attempts held while pending.
    pub held: u64,
    /// The final state seen (`approved`, `denied`, `pending` …).
    pub state: String,
    /// Who decided.
    pub approvers: String,
}

/// Requests refused before anyone was identified.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Unaccountable {
    /// Refused tokens, by `source IP — reason`.
    pub unauthenticated: BTreeMap<String, u64>,
    /// Owners whose identities no owner rule mapped.
    pub unmapped_identities: u64,
}

/// The report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Review {
    /// Records read (one per request: its final stage).
    pub requests: u64,
    /// The earliest and latest request.
    pub from: String,
    /// The latest request.
    pub to: String,
    /// By owner.
    pub owners: BTreeMap<String, OwnerSummary>,
    /// Activity nobody answers for.
    pub unaccountable: Unaccountable,
}

fn is_read(verb: &str) -> bool {
    matches!(verb, "get" | "list" | "watch")
}

impl Review {
    /// Adds one record; only the final stage of each request counts
    /// (`ResponseComplete` or `Panic`), so nothing per request is kept.
    ///
    /// ```
    /// use tollgate_audit::{Event, Level, Review, Stage};
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
            self.from = t.clone();
        }
        if *t > self.to {
            self.to = t.clone();
        }
        if e.tollgate("decision") == Some("unauthenticated") {
            let src = e.source_ips.last().map_or("?", String::as_str);
            let why = e.tollgate("authentication-failure").unwrap_or("no reason recorded");
            *self
                .unaccountable
                .unauthenticated
                .entry(format!("{src} — {why}"))
                .or_default() += 1;
            return;
        }
        let owner = e.tollgate("owner").unwrap_or("unmapped").to_owned();
        let mapped = e.tollgate("owner-mapped") != Some("false");
        let o = self.owners.entry(owner.clone()).or_insert_with(|| OwnerSummary {
            owner,
            mapped,
            ..OwnerSummary::default()
        });
        if o.contact.is_empty() {
            o.contact = e.tollgate("owner-contact").unwrap_or("").to_owned();
        }
        let issuer = e.tollgate("issuer").unwrap_or("");
        let subject = e.tollgate("subject").unwrap_or("");
        let id = o
            .identities
            .entry(format!("{issuer} {subject}"))
            .or_insert_with(|| IdentitySummary {
                issuer: issuer.to_owned(),
                subject: subject.to_owned(),
                username: e.user.username.clone(),
                first_seen: t.clone(),
                last_seen: t.clone(),
                requests: 0,
            });
        if !mapped && id.requests == 0 {
            self.unaccountable.unmapped_identities += 1;
        }
        id.requests += 1;
        if *t < id.first_seen {
            id.first_seen = t.clone();
        }
        if *t > id.last_seen {
            id.last_seen = t.clone();
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
        *o.by_verb_resource.entry(format!("{} {what}", e.verb)).or_default() += 1;
        let ns = e
            .object_ref
            .as_ref()
            .map(|r| r.namespace.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or("(cluster)");
        *o.by_namespace.entry(ns.to_owned()).or_default() += 1;
        if is_read(&e.verb) {
            o.reads += 1;
        } else {
            o.writes += 1;
        }
        let code = e.code().unwrap_or(0);
        if matches!(code, 401 | 403) && e.tollgate("approval-id").is_none() {
            let why = e
                .tollgate("rule")
                .unwrap_or(if code == 401 { "unauthenticated" } else { "forbidden" });
            *o.denials.entry(why.to_owned()).or_default() += 1;
        }
        if let Some(rules) = e.tollgate("dry-run-rules") {
            for r in rules.split(',').filter(|r| !r.is_empty()) {
                *o.dry_run_hits.entry(r.to_owned()).or_default() += 1;
            }
        }
        if let Some(aid) = e.tollgate("approval-id")
            && !e.request_uri.starts_with("/tollgate/")
        {
            let a = o.approvals.entry(aid.to_owned()).or_default();
            a.command = e.tollgate("command").unwrap_or("").to_owned();
            let state = e.tollgate("approval-state").unwrap_or("");
            if matches!(code, 429) || (code == 403 && state == "pending") {
                a.held += 1;
            }
            a.state = match (code, state) {
                (403, "denied") => "denied".to_owned(),
                (200..=299, "approved" | "consumed") => "approved".to_owned(),
                (_, s) => s.to_owned(),
            };
            if let Some(by) = e.tollgate("approvers") {
                a.approvers = by.to_owned();
            }
        }
        // A session that happened (switched protocols), not a refused attempt.
        if let Some(r) = &e.object_ref
            && matches!(r.subresource.as_str(), "exec" | "attach")
            && (code == 101 || e.tollgate("recording").is_some())
        {
            let rec = e.tollgate("recording").unwrap_or("not recorded");
            o.sessions.insert(e.audit_id.clone(), rec.to_owned());
        }
    }

    /// The report in Markdown, for tickets.
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "# Access review\n\n{} requests, {} to {}.\n\n",
            self.requests,
            if self.from.is_empty() { "-" } else { &self.from },
            if self.to.is_empty() { "-" } else { &self.to }
        );
        for o in self.owners.values() {
            s.push_str(&format!(
                "## {}{}\n\n",
                o.owner,
                if o.mapped {
                    String::new()
                } else {
                    " (no owner rule matched)".to_owned()
                }
            ));
            if !o.contact.is_empty() {
                s.push_str(&format!("Contact: {}\n\n", o.contact));
            }
            s.push_str(&format!("{} reads, {} writes.\n\n", o.reads, o.writes));
            s.push_str("| identity | user | requests | first seen | last seen |\n|---|---|---|---|---|\n");
            for i in o.identities.values() {
                s.push_str(&format!(
                    "| `{}` `{}` | `{}` | {} | {} | {} |\n",
                    md(&i.issuer),
                    md(&i.subject),
                    md(&i.username),
                    i.requests,
                    i.first_seen,
                    i.last_seen
                ));
            }
            s.push_str("\n| verb and resource | requests |\n|---|---|\n");
            for (k, n) in &o.by_verb_resource {
                s.push_str(&format!("| {} | {n} |\n", md(k)));
            }
            s.push_str("\n| namespace | requests |\n|---|---|\n");
            for (k, n) in &o.by_namespace {
                s.push_str(&format!("| {} | {n} |\n", md(k)));
            }
            if !o.denials.is_empty() {
                s.push_str("\n| refused by | times |\n|---|---|\n");
                for (k, n) in &o.denials {
                    s.push_str(&format!("| {} | {n} |\n", md(k)));
                }
            }
            if !o.dry_run_hits.is_empty() {
                s.push_str("\n| dry-run rule that would have blocked | times |\n|---|---|\n");
                for (k, n) in &o.dry_run_hits {
                    s.push_str(&format!("| {} | {n} |\n", md(k)));
                }
            }
            if !o.approvals.is_empty() {
                s.push_str("\n| approval | command | held attempts | state | approvers |\n|---|---|---|---|---|\n");
                for (id, a) in &o.approvals {
                    s.push_str(&format!(
                        "| {id} | `{}` | {} | {} | {} |\n",
                        md(&a.command),
                        a.held,
                        a.state,
                        md(&a.approvers)
                    ));
                }
            }
            if !o.sessions.is_empty() {
                s.push_str("\n| exec/attach session | recording |\n|---|---|\n");
                for (id, r) in &o.sessions {
                    s.push_str(&format!("| {id} | {} |\n", md(r)));
                }
            }
            s.push('\n');
        }
        s.push_str("## Unaccountable activity\n\n");
        s.push_str(&format!(
            "{} identities no owner rule maps.\n\n",
            self.unaccountable.unmapped_identities
        ));
        if !self.unaccountable.unauthenticated.is_empty() {
            s.push_str("| refused token (source — reason) | times |\n|---|---|\n");
            for (k, n) in &self.unaccountable.unauthenticated {
                s.push_str(&format!("| {} | {n} |\n", md(k)));
            }
        }
        s
    }

    /// One CSV row per owner, identity, verb and resource.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("owner,mapped,verb_resource,requests\n");
        for o in self.owners.values() {
            for (k, n) in &o.by_verb_resource {
                s.push_str(&format!("{},{},{},{n}\n", csv(&o.owner), o.mapped, csv(k)));
            }
        }
        s
    }
}

/// A Markdown table cell: pipes and line breaks cannot break the table.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ").replace('`', "'")
}

/// A CSV field, quoted when needed; a leading `=`, `+`, `-` or `@` is
/// prefixed so spreadsheets do not run it as a formula.
fn csv(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_their_tables() {
        assert_eq!(md("a|b\nc"), "a\\|b c");
        assert_eq!(csv("=cmd()"), "'=cmd()");
        assert_eq!(csv("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
