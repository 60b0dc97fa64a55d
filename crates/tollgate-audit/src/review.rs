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
    /// Requests per day (`YYYY-MM-DD`), for the activity chart.
    pub per_day: BTreeMap<String, u64>,
    /// Up to ten audit IDs behind each verb-and-resource figure, so a
    /// reviewer can trace it to the records (bounded: never all of them).
    pub samples: BTreeMap<String, Vec<String>>,
}

/// How many audit IDs are kept behind each figure.
const SAMPLES: usize = 10;

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
    /// Granted versus used, per identity as the cluster sees it (with
    /// [`Review::compare_rbac`]).
    pub access: Vec<crate::Comparison>,
    /// What each user (as the cluster saw it) did that reached the cluster.
    #[serde(skip)]
    used: BTreeMap<String, (Vec<String>, std::collections::BTreeSet<crate::Use>)>,
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
        let row = format!("{} {what}", e.verb);
        let ids = o.samples.entry(row.clone()).or_default();
        if ids.len() < SAMPLES {
            ids.push(e.audit_id.clone());
        }
        *o.by_verb_resource.entry(row).or_default() += 1;
        *o.per_day.entry(t.get(..10).unwrap_or("").to_owned()).or_default() += 1;
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
        let forwarded = matches!(e.tollgate("decision"), Some("allow" | "warn" | "approved"));
        if forwarded && let Some(r) = &e.object_ref {
            let who = e.impersonated_user.as_ref().unwrap_or(&e.user);
            let res = if r.subresource.is_empty() {
                r.resource.clone()
            } else {
                format!("{}/{}", r.resource, r.subresource)
            };
            let entry = self.used.entry(who.username.clone()).or_default();
            entry.0.clone_from(&who.groups);
            entry
                .1
                .insert((e.verb.clone(), r.api_group.clone(), res, r.namespace.clone()));
        }
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

    /// Compares what each identity used with what `rbac` grants it.
    pub fn compare_rbac(&mut self, rbac: &crate::Rbac) {
        self.access = self
            .used
            .iter()
            .map(|(user, (groups, used))| crate::compare(rbac, user, groups, used))
            .collect();
    }

    fn access_markdown(&self, s: &mut String) {
        if self.access.is_empty() {
            return;
        }
        s.push_str("## Granted vs used\n\n");
        for c in &self.access {
            s.push_str(&format!("### `{}`\n\n", md(&c.user)));
            if !c.unused_grants.is_empty() {
                s.push_str("| unused grant | binding | where | verbs | resources |\n|---|---|---|---|---|\n");
                for g in &c.unused_grants {
                    s.push_str(&format!(
                        "| {} | {} | {} | {} | {} |\n",
                        md(&g.role),
                        md(&g.binding),
                        md(&g.namespace),
                        md(&g.rule.verbs.join(" ")),
                        md(&g.rule.resources.join(" "))
                    ));
                }
                s.push('\n');
            }
            if !c.partly_used.is_empty() {
                s.push_str("| used grant | where | resources never used | verbs never used |\n|---|---|---|---|\n");
                for p in &c.partly_used {
                    s.push_str(&format!(
                        "| {} ({}) | {} | {} | {} |\n",
                        md(&p.grant.role),
                        md(&p.grant.binding),
                        md(&p.grant.namespace),
                        md(&p.unused_resources.join(" ")),
                        md(&p.unused_verbs.join(" "))
                    ));
                }
                s.push('\n');
            }
            if !c.unused_namespaces.is_empty() {
                s.push_str(&format!(
                    "Bound in but never used: {}.\n\n",
                    md(&c.unused_namespaces.join(", "))
                ));
            }
            if !c.not_granted.is_empty() {
                s.push_str(&format!(
                    "Used but not granted by the RBAC given: {}.\n\n",
                    md(&c.not_granted.join("; "))
                ));
            }
            s.push_str("A minimal role for what was used:\n\n```yaml\n");
            s.push_str(&c.suggested);
            s.push_str("```\n\n");
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
        self.access_markdown(&mut s);
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

/// Text for HTML: nothing in a name can become markup.
fn html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}th{background:#f3f3f3;cursor:pointer}\
td.n{text-align:right}details summary{cursor:pointer;color:#036}.warn{color:#a00}code{font-size:12px}";

/// Click a header to sort its table (numbers as numbers).
const SCRIPT: &str = "document.querySelectorAll('th').forEach(function(th){th.addEventListener('click',function(){\
var t=th.closest('table'),i=Array.prototype.indexOf.call(th.parentNode.children,th),b=t.tBodies[0],\
r=Array.prototype.slice.call(b.rows),d=th.dataset.d=th.dataset.d==='a'?'d':'a';r.sort(function(x,y){\
var p=x.cells[i].innerText,q=y.cells[i].innerText,m=parseFloat(p),n=parseFloat(q);\
var c=(!isNaN(m)&&!isNaN(n))?m-n:p.localeCompare(q);return d==='a'?c:-c;});r.forEach(function(x){b.appendChild(x);});});});";

fn table(head: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut s = String::from("<table><thead><tr>");
    for h in head {
        s.push_str(&format!("<th>{}</th>", html(h)));
    }
    s.push_str("</tr></thead><tbody>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            // Cells are built escaped by the caller.
            let class = if !c.is_empty() && c.chars().all(|x| x.is_ascii_digit()) {
                " class=\"n\""
            } else {
                ""
            };
            s.push_str(&format!("<td{class}>{c}</td>"));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

/// A small bar chart of requests per day, inline SVG.
fn chart(per_day: &BTreeMap<String, u64>) -> String {
    if per_day.is_empty() {
        return String::new();
    }
    let max = per_day.values().copied().max().unwrap_or(1).max(1);
    let (w, h, bar) = (per_day.len() * 22 + 10, 110, 18);
    let mut s = format!(
        "<svg role=\"img\" aria-label=\"requests per day\" width=\"{w}\" height=\"{h}\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (i, (day, n)) in per_day.iter().enumerate() {
        let bh = (*n as f64 / max as f64 * 80.0).round().max(1.0) as usize;
        let x = 5 + i * 22;
        s.push_str(&format!(
            "<rect x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{bh}\" fill=\"#4a7ab7\"><title>{}: {n} requests</title></rect>",
            90 - bh,
            html(day)
        ));
    }
    s.push_str("</svg>");
    s
}

impl Review {
    /// A self-contained HTML page (no external assets): sortable tables,
    /// a chart of activity per day for each owner, and the audit IDs behind
    /// each figure on demand.
    pub fn to_html(&self) -> String {
        let mut s = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Access review</title><style>{STYLE}</style></head><body>\
             <h1>Access review</h1><p>{} requests, {} to {}.</p>",
            self.requests,
            html(if self.from.is_empty() { "-" } else { &self.from }),
            html(if self.to.is_empty() { "-" } else { &self.to })
        );
        for o in self.owners.values() {
            s.push_str(&format!("<h2>{}</h2>", html(&o.owner)));
            if !o.mapped {
                s.push_str("<p class=\"warn\">No owner rule maps these identities: nobody answers for them.</p>");
            }
            if !o.contact.is_empty() {
                s.push_str(&format!("<p>Contact: {}</p>", html(&o.contact)));
            }
            s.push_str(&format!(
                "<p>{} reads, {} writes.</p>{}",
                o.reads,
                o.writes,
                chart(&o.per_day)
            ));
            s.push_str(&table(
                &["issuer", "subject", "user", "requests", "first seen", "last seen"],
                o.identities
                    .values()
                    .map(|i| {
                        vec![
                            html(&i.issuer),
                            html(&i.subject),
                            html(&i.username),
                            i.requests.to_string(),
                            html(&i.first_seen),
                            html(&i.last_seen),
                        ]
                    })
                    .collect(),
            ));
            s.push_str(&table(
                &["verb and resource", "requests", "audit IDs"],
                o.by_verb_resource
                    .iter()
                    .map(|(k, n)| {
                        let ids = o
                            .samples
                            .get(k)
                            .map(|v| v.iter().map(|x| html(x)).collect::<Vec<_>>().join("<br>"))
                            .unwrap_or_default();
                        let more = if *n as usize > SAMPLES {
                            format!("<br>… and {} more", *n as usize - SAMPLES)
                        } else {
                            String::new()
                        };
                        vec![
                            html(k),
                            n.to_string(),
                            format!("<details><summary>show</summary><code>{ids}{more}</code></details>"),
                        ]
                    })
                    .collect(),
            ));
            s.push_str(&table(
                &["namespace", "requests"],
                o.by_namespace
                    .iter()
                    .map(|(k, n)| vec![html(k), n.to_string()])
                    .collect(),
            ));
            if !o.denials.is_empty() {
                s.push_str(&table(
                    &["refused by", "times"],
                    o.denials.iter().map(|(k, n)| vec![html(k), n.to_string()]).collect(),
                ));
            }
            if !o.dry_run_hits.is_empty() {
                s.push_str(&table(
                    &["dry-run rule that would have blocked", "times"],
                    o.dry_run_hits
                        .iter()
                        .map(|(k, n)| vec![html(k), n.to_string()])
                        .collect(),
                ));
            }
            if !o.approvals.is_empty() {
                s.push_str(&table(
                    &["approval", "command", "held attempts", "state", "approvers"],
                    o.approvals
                        .iter()
                        .map(|(id, a)| {
                            vec![
                                html(id),
                                format!("<code>{}</code>", html(&a.command)),
                                a.held.to_string(),
                                html(&a.state),
                                html(&a.approvers),
                            ]
                        })
                        .collect(),
                ));
            }
            if !o.sessions.is_empty() {
                s.push_str(&table(
                    &["exec/attach session", "recording"],
                    o.sessions.iter().map(|(id, r)| vec![html(id), html(r)]).collect(),
                ));
            }
        }
        if !self.access.is_empty() {
            s.push_str("<h2>Granted vs used</h2>");
            for c in &self.access {
                s.push_str(&format!("<h3>{}</h3>", html(&c.user)));
                if !c.unused_grants.is_empty() {
                    s.push_str(&table(
                        &["unused grant", "binding", "where", "verbs", "resources"],
                        c.unused_grants
                            .iter()
                            .map(|g| {
                                vec![
                                    html(&g.role),
                                    html(&g.binding),
                                    html(&g.namespace),
                                    html(&g.rule.verbs.join(" ")),
                                    html(&g.rule.resources.join(" ")),
                                ]
                            })
                            .collect(),
                    ));
                }
                if !c.partly_used.is_empty() {
                    s.push_str(&table(
                        &["used grant", "where", "resources never used", "verbs never used"],
                        c.partly_used
                            .iter()
                            .map(|p| {
                                vec![
                                    html(&format!("{} ({})", p.grant.role, p.grant.binding)),
                                    html(&p.grant.namespace),
                                    html(&p.unused_resources.join(" ")),
                                    html(&p.unused_verbs.join(" ")),
                                ]
                            })
                            .collect(),
                    ));
                }
                if !c.unused_namespaces.is_empty() {
                    s.push_str(&format!(
                        "<p>Bound in but never used: {}.</p>",
                        html(&c.unused_namespaces.join(", "))
                    ));
                }
                if !c.not_granted.is_empty() {
                    s.push_str(&format!(
                        "<p>Used but not granted by the RBAC given: {}.</p>",
                        html(&c.not_granted.join("; "))
                    ));
                }
                s.push_str(&format!(
                    "<p>A minimal role for what was used:</p><pre>{}</pre>",
                    html(&c.suggested)
                ));
            }
        }
        s.push_str(&format!(
            "<h2>Unaccountable activity</h2><p>{} identities no owner rule maps.</p>",
            self.unaccountable.unmapped_identities
        ));
        if !self.unaccountable.unauthenticated.is_empty() {
            s.push_str(&table(
                &["refused token (source — reason)", "times"],
                self.unaccountable
                    .unauthenticated
                    .iter()
                    .map(|(k, n)| vec![html(k), n.to_string()])
                    .collect(),
            ));
        }
        s.push_str(&format!("<script>{SCRIPT}</script></body></html>"));
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
    fn names_cannot_become_markup() {
        let mut r = Review::default();
        let mut e = crate::Event::new("a", crate::Level::Metadata, crate::Stage::ResponseComplete);
        e.verb = "get".into();
        e.annotations
            .insert("tollgate.dev/owner".into(), "<script>alert(1)</script>".into());
        r.add(&e);
        let page = r.to_html();
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(
            !page.contains("http://") || page.contains("xmlns=\"http://www.w3.org/2000/svg\""),
            "no external assets"
        );
    }

    #[test]
    fn cells_cannot_break_their_tables() {
        assert_eq!(md("a|b\nc"), "a\\|b c");
        assert_eq!(csv("=cmd()"), "'=cmd()");
        assert_eq!(csv("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
