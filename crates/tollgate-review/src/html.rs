//! The report as one self-contained HTML page: no external assets (it
//! reads offline), tables that sort on a click, a chart of requests per
//! day per owner, the audit IDs behind each figure on demand, and every
//! recorded text escaped so nothing in a token becomes markup.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::{OwnerSummary, Review, SAMPLES, count};

/// Text for HTML: nothing in a name can become markup.
pub(crate) fn html(s: &str) -> String {
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

/// An `id` attribute for an owner's section (letters, digits and `-`).
fn anchor(owner: &str) -> String {
    let mut a = String::from("owner-");
    for c in owner.chars() {
        if c.is_ascii_alphanumeric() {
            a.push(c.to_ascii_lowercase());
        } else {
            let _ = write!(a, "-{:x}-", c as u32);
        }
    }
    a
}

/// A link to a recording on this machine: `file://` with the path
/// percent-encoded, only for absolute paths (anything else is shown, not
/// linked).
fn recording_link(path: &str) -> String {
    if !path.starts_with('/') || !path.ends_with(".cast") {
        return html(path);
    }
    let mut url = String::from("file://");
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(b as char);
        } else {
            let _ = write!(url, "%{b:02X}");
        }
    }
    format!("<a href=\"{url}\">{}</a>", html(path))
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:80em}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}th{background:#f3f3f3;cursor:pointer}\
th:after{content:' \\2195';color:#aaa}td.n{text-align:right}details summary{cursor:pointer;color:#036}\
.warn{color:#a00}.ok{color:#070}code{font-size:12px}section{border-top:2px solid #ddd;margin-top:1.5em}";

/// Click a header to sort its table (numbers as numbers).
const SCRIPT: &str = "document.querySelectorAll('th').forEach(function(th){th.addEventListener('click',function(){\
var t=th.closest('table'),i=Array.prototype.indexOf.call(th.parentNode.children,th),b=t.tBodies[0],\
r=Array.prototype.slice.call(b.rows),d=th.dataset.d=th.dataset.d==='a'?'d':'a';r.sort(function(x,y){\
var p=x.cells[i].innerText,q=y.cells[i].innerText,m=parseFloat(p),n=parseFloat(q);\
var c=(!isNaN(m)&&!isNaN(n))?m-n:p.localeCompare(q);return d==='a'?c:-c;});r.forEach(function(x){b.appendChild(x);});});});";

/// A table; cells are already escaped by the caller.
fn table(head: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut s = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", html(h));
    }
    s.push_str("</tr></thead><tbody>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let class = if !c.is_empty() && c.chars().all(|x| x.is_ascii_digit()) {
                " class=\"n\""
            } else {
                ""
            };
            let _ = write!(s, "<td{class}>{c}</td>");
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

fn counts(m: &BTreeMap<String, u64>) -> Vec<Vec<String>> {
    m.iter().map(|(k, n)| vec![html(k), n.to_string()]).collect()
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
        let _ = write!(
            s,
            "<rect x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{bh}\" fill=\"#4a7ab7\"><title>{}: {n} requests</title></rect>",
            90 - bh,
            html(day)
        );
    }
    if let (Some(first), Some(last)) = (per_day.keys().next(), per_day.keys().next_back()) {
        let _ = write!(
            s,
            "<text x=\"5\" y=\"105\" font-size=\"10\">{}</text><text x=\"{}\" y=\"105\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            html(first),
            w - 5,
            if first == last { String::new() } else { html(last) }
        );
    }
    s.push_str("</svg>");
    s
}

fn findings(r: &Review) -> String {
    let mut items = Vec::new();
    let unmapped: usize = r
        .owners
        .values()
        .filter(|o| !o.mapped)
        .map(|o| o.identities.len())
        .sum();
    if unmapped > 0 {
        items.push(format!(
            "<li class=\"warn\">{} no owner rule maps — nobody answers for them (<a href=\"#unaccountable\">list</a>).</li>",
            count(unmapped as u64, "identity", "identities")
        ));
    }
    let u = &r.unaccountable;
    if !u.unknown_issuers.is_empty() {
        items.push(format!(
            "<li class=\"warn\">{} on the records no longer configured.</li>",
            count(u.unknown_issuers.len() as u64, "issuer", "issuers")
        ));
    }
    if !u.owners_not_in_rules.is_empty() {
        items.push(format!(
            "<li class=\"warn\">{} on the records named by no current owner rule.</li>",
            count(u.owners_not_in_rules.len() as u64, "owner", "owners")
        ));
    }
    let over: Vec<&str> = r
        .access
        .iter()
        .filter(|c| !c.unused_grants.is_empty() || !c.partly_used.is_empty() || !c.unused_namespaces.is_empty())
        .map(|c| c.user.as_str())
        .collect();
    if !over.is_empty() {
        items.push(format!(
            "<li class=\"warn\">{} permissions never used (<a href=\"#access\">granted vs used</a>).</li>",
            count(over.len() as u64, "identity holds", "identities hold")
        ));
    }
    let refused: u64 = u.unauthenticated.values().sum();
    if refused > 0 {
        items.push(format!(
            "<li>{} refused for its token.</li>",
            count(refused, "request", "requests")
        ));
    }
    let pending: u64 = r.owners.values().filter_map(|o| o.approval_states.get("pending")).sum();
    if pending > 0 {
        items.push(format!(
            "<li>{} never decided.</li>",
            count(pending, "approval", "approvals")
        ));
    }
    if items.is_empty() {
        items.push("<li class=\"ok\">Every identity has an owner; nothing needs a decision.</li>".to_owned());
    }
    format!("<h2>What needs a decision</h2><ul>{}</ul>", items.concat())
}

fn overview(r: &Review) -> String {
    table(
        &[
            "owner",
            "team",
            "contact",
            "identities",
            "requests",
            "writes",
            "refused",
            "approvals",
            "sessions",
        ],
        r.owners
            .values()
            .map(|o| {
                let name = format!("<a href=\"#{}\">{}</a>", anchor(&o.owner), html(&o.owner));
                vec![
                    if o.mapped {
                        name
                    } else {
                        format!("{name} <span class=\"warn\">(no owner rule)</span>")
                    },
                    html(&o.team),
                    html(&o.contact),
                    o.identities.len().to_string(),
                    (o.reads + o.writes).to_string(),
                    o.writes.to_string(),
                    o.denials.values().sum::<u64>().to_string(),
                    o.approvals_requested().to_string(),
                    o.sessions_total.to_string(),
                ]
            })
            .collect(),
    )
}

fn owner(s: &mut String, o: &OwnerSummary) {
    let _ = write!(s, "<section id=\"{}\"><h2>{}</h2>", anchor(&o.owner), html(&o.owner));
    if !o.mapped {
        s.push_str("<p class=\"warn\">No owner rule maps these identities: nobody answers for them.</p>");
    }
    if o.in_rules == Some(false) {
        s.push_str("<p class=\"warn\">No current owner rule names this owner.</p>");
    }
    if !o.team.is_empty() || !o.contact.is_empty() {
        let _ = write!(s, "<p>Team: {} · contact: {}</p>", html(&o.team), html(&o.contact));
    }
    let _ = write!(s, "<p>{} reads, {} writes.</p>{}", o.reads, o.writes, chart(&o.per_day));
    s.push_str(&table(
        &["issuer", "subject", "user", "requests", "first seen", "last seen"],
        o.identities
            .values()
            .map(|i| {
                let gone = if i.issuer_configured == Some(false) {
                    " <span class=\"warn\">(no longer configured)</span>"
                } else {
                    ""
                };
                vec![
                    format!("{}{gone}", html(&i.issuer)),
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
    s.push_str(&table(&["namespace", "requests"], counts(&o.by_namespace)));
    if !o.denials.is_empty() {
        s.push_str(&table(&["refused by", "times"], counts(&o.denials)));
    }
    if !o.dry_run_hits.is_empty() {
        s.push_str(&table(
            &["dry-run rule that would have blocked", "times"],
            counts(&o.dry_run_hits),
        ));
    }
    if !o.approvals.is_empty() {
        let states: Vec<String> = o
            .approval_states
            .iter()
            .map(|(k, n)| format!("{n} {}", html(k)))
            .collect();
        let _ = write!(
            s,
            "<p>Approvals: {} requested ({}).</p>",
            o.approvals_requested(),
            states.join(", ")
        );
        s.push_str(&table(
            &[
                "approval",
                "command",
                "held attempts",
                "state",
                "approvers",
                "reason",
                "requested",
                "waited (s)",
            ],
            o.approvals
                .iter()
                .map(|(id, a)| {
                    vec![
                        html(id),
                        format!("<code>{}</code>", html(&a.command)),
                        a.held.to_string(),
                        html(&a.state),
                        html(&a.approvers),
                        html(&a.reason),
                        html(&a.requested_at),
                        a.waited_seconds.map_or_else(|| "-".to_owned(), |w| w.to_string()),
                    ]
                })
                .collect(),
        ));
    }
    if o.sessions_total > 0 {
        let _ = write!(
            s,
            "<p>Exec/attach sessions: {} (replay one with <code>tollgate sessions replay FILE</code>).</p>",
            o.sessions_total
        );
        s.push_str(&table(
            &[
                "session (audit ID)",
                "started",
                "pod",
                "command",
                "exit",
                "recording",
                "SHA-256",
            ],
            o.sessions
                .iter()
                .map(|(id, x)| {
                    vec![
                        html(id),
                        html(&x.at),
                        html(&format!("{}/{} ({})", x.namespace, x.pod, x.kind)),
                        format!("<code>{}</code>", html(&x.command)),
                        html(&x.exit_code),
                        recording_link(&x.recording),
                        format!("<code>{}</code>", html(x.sha256.get(..16).unwrap_or(&x.sha256))),
                    ]
                })
                .collect(),
        ));
        if o.sessions_total as usize > o.sessions.len() {
            let _ = write!(
                s,
                "<p>({} more not listed.)</p>",
                o.sessions_total as usize - o.sessions.len()
            );
        }
    }
    s.push_str("</section>");
}

fn access(s: &mut String, r: &Review) {
    if r.access.is_empty() && r.rbac_warnings.is_empty() {
        return;
    }
    s.push_str("<section id=\"access\"><h2>Granted vs used</h2>");
    if !r.rbac_warnings.is_empty() {
        let _ = write!(
            s,
            "<ul>{}</ul>",
            r.rbac_warnings
                .iter()
                .map(|w| format!("<li class=\"warn\">{}</li>", html(w)))
                .collect::<String>()
        );
    }
    for c in &r.access {
        let _ = write!(s, "<h3>{}</h3>", html(&c.user));
        if !c.groups.is_empty() {
            let _ = write!(s, "<p>Groups: {}</p>", html(&c.groups.join(", ")));
        }
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
                            html(
                                [g.rule.resources.join(" "), g.rule.non_resource_urls.join(" ")]
                                    .join(" ")
                                    .trim(),
                            ),
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
            let _ = write!(
                s,
                "<p class=\"warn\">Bound in but never used: {}.</p>",
                html(&c.unused_namespaces.join(", "))
            );
        }
        if !c.not_granted.is_empty() {
            let _ = write!(
                s,
                "<p>Used but not granted by the RBAC given: {}.</p>",
                html(&c.not_granted.join("; "))
            );
        }
        if c.suggested.is_empty() {
            s.push_str("<p>Nothing it did reached the cluster in this period: it needs no role.</p>");
        } else {
            let _ = write!(
                s,
                "<details open><summary>A minimal role for what was used</summary><pre>{}</pre></details>",
                html(&c.suggested)
            );
        }
    }
    s.push_str("</section>");
}

fn unaccountable(s: &mut String, r: &Review) {
    let u = &r.unaccountable;
    let _ = write!(
        s,
        "<section id=\"unaccountable\"><h2>Unaccountable activity</h2><p>{} no owner rule maps.</p>",
        count(u.unmapped_identities, "identity", "identities")
    );
    let unmapped: Vec<Vec<String>> = r
        .owners
        .values()
        .filter(|o| !o.mapped)
        .flat_map(|o| o.identities.values())
        .map(|i| {
            vec![
                html(&i.issuer),
                html(&i.subject),
                i.requests.to_string(),
                html(&i.last_seen),
            ]
        })
        .collect();
    if !unmapped.is_empty() {
        s.push_str(&table(
            &["unmapped issuer", "subject", "requests", "last seen"],
            unmapped,
        ));
    }
    if u.issuers_checked {
        if u.unknown_issuers.is_empty() {
            s.push_str("<p class=\"ok\">Every issuer on the records is still configured.</p>");
        } else {
            s.push_str(&table(
                &["issuer no longer configured", "identities", "requests", "last seen"],
                u.unknown_issuers
                    .iter()
                    .map(|(k, i)| {
                        vec![
                            html(k),
                            i.identities.to_string(),
                            i.requests.to_string(),
                            html(&i.last_seen),
                        ]
                    })
                    .collect(),
            ));
        }
    } else {
        s.push_str("<p>Issuers not checked against a configuration (pass <code>--owners CONFIG</code>).</p>");
    }
    if !u.owners_not_in_rules.is_empty() {
        s.push_str(&table(
            &["owner no current rule names", "requests"],
            counts(&u.owners_not_in_rules),
        ));
    }
    if !u.unauthenticated.is_empty() {
        s.push_str(&table(
            &["refused token (source — reason)", "times"],
            counts(&u.unauthenticated),
        ));
    }
    s.push_str("</section>");
}

impl Review {
    /// A self-contained HTML page (no external assets): what needs a
    /// decision, an overview of owners, then each owner's activity,
    /// granted vs used, and unaccountable activity.
    ///
    /// ```
    /// let page = tollgate_review::Review::default().to_html();
    /// assert!(page.starts_with("<!doctype html>"));
    /// ```
    pub fn to_html(&self) -> String {
        let mut s = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Access review</title><style>{STYLE}</style></head><body>\
             <h1>Access review</h1><p>{} requests, {} to {}. Click a column header to sort.</p>",
            self.requests,
            html(if self.from.is_empty() { "-" } else { &self.from }),
            html(if self.to.is_empty() { "-" } else { &self.to })
        );
        s.push_str(&findings(self));
        s.push_str("<h2>Owners</h2>");
        s.push_str(&overview(self));
        for o in self.owners.values() {
            owner(&mut s, o);
        }
        access(&mut s, self);
        unaccountable(&mut s, self);
        let _ = write!(s, "<script>{SCRIPT}</script></body></html>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_become_markup() {
        let mut r = Review::default();
        let mut e = tollgate_audit::Event::new(
            "a",
            tollgate_audit::Level::Metadata,
            tollgate_audit::Stage::ResponseComplete,
        );
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
        assert!(
            page.contains("href=\"#owner--3c-script-3e-alert-28-1-29--3c--2f-script-3e-\""),
            "{page}"
        );
    }

    #[test]
    fn recordings_link_only_to_local_cast_files() {
        assert_eq!(
            recording_link("/var/lib/x y/a\".cast"),
            "<a href=\"file:///var/lib/x%20y/a%22.cast\">/var/lib/x y/a&quot;.cast</a>"
        );
        assert_eq!(recording_link("javascript:alert(1)"), "javascript:alert(1)");
        assert_eq!(recording_link("not recorded"), "not recorded");
    }
}
