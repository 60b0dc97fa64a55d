//! The report in Markdown, for tickets: every cell escaped so a name from a
//! token cannot break its table.

use std::fmt::Write as _;

use crate::report::{OTHER, OwnerSummary, Review, count};

/// A Markdown table cell: pipes and line breaks cannot break the table,
/// backticks cannot open code.
pub(crate) fn md(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ").replace('`', "'")
}

fn table(s: &mut String, head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let _ = writeln!(s, "| {} |", head.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(head.len()));
    for r in rows {
        let _ = writeln!(s, "| {} |", r.join(" | "));
    }
    s.push('\n');
}

fn counts<'a>(m: impl IntoIterator<Item = (&'a String, &'a u64)>) -> Vec<Vec<String>> {
    m.into_iter().map(|(k, n)| vec![md(k), n.to_string()]).collect()
}

fn owner(s: &mut String, o: &OwnerSummary) {
    let _ = writeln!(
        s,
        "## {}{}\n",
        md(&o.owner),
        if o.mapped { "" } else { " (no owner rule matched)" }
    );
    if !o.team.is_empty() || !o.contact.is_empty() {
        let _ = writeln!(
            s,
            "Team: {} · contact: {}\n",
            md(or_dash(&o.team)),
            md(or_dash(&o.contact))
        );
    }
    if o.in_rules == Some(false) {
        s.push_str("**No current owner rule names this owner.**\n\n");
    }
    let _ = writeln!(s, "{} reads, {} writes.\n", o.reads, o.writes);
    table(
        s,
        &["issuer", "subject", "user", "requests", "first seen", "last seen"],
        o.identities.values().map(|i| {
            vec![
                format!(
                    "`{}`{}",
                    md(&i.issuer),
                    if i.issuer_configured == Some(false) {
                        " **(issuer no longer configured)**"
                    } else {
                        ""
                    }
                ),
                format!("`{}`", md(&i.subject)),
                format!("`{}`", md(&i.username)),
                i.requests.to_string(),
                i.first_seen.clone(),
                i.last_seen.clone(),
            ]
        }),
    );
    table(s, &["verb and resource", "requests"], counts(&o.by_verb_resource));
    table(s, &["namespace", "requests"], counts(&o.by_namespace));
    if !o.denials.is_empty() {
        table(s, &["refused by", "times"], counts(&o.denials));
    }
    if !o.dry_run_hits.is_empty() {
        table(
            s,
            &["dry-run rule that would have blocked", "times"],
            counts(&o.dry_run_hits),
        );
    }
    if !o.approvals.is_empty() {
        let states: Vec<String> = o.approval_states.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let _ = writeln!(
            s,
            "Approvals: {} requested ({}).\n",
            o.approvals_requested(),
            states.join(", ")
        );
        table(
            s,
            &[
                "approval",
                "command",
                "held attempts",
                "state",
                "approvers",
                "reason",
                "waited",
            ],
            o.approvals.iter().map(|(id, a)| {
                vec![
                    md(id),
                    format!("`{}`", md(&a.command)),
                    a.held.to_string(),
                    md(&a.state),
                    md(&a.approvers),
                    md(&a.reason),
                    a.waited_seconds.map_or_else(|| "-".to_owned(), |w| format!("{w} s")),
                ]
            }),
        );
    }
    if o.sessions_total > 0 {
        let _ = writeln!(s, "Exec/attach sessions: {}.\n", o.sessions_total);
        table(
            s,
            &["session (audit ID)", "pod", "command", "exit", "recording"],
            o.sessions.iter().map(|(id, x)| {
                vec![
                    md(id),
                    md(&format!("{}/{} ({})", x.namespace, x.pod, x.kind)),
                    format!("`{}`", md(&x.command)),
                    md(or_dash(&x.exit_code)),
                    format!("`{}`", md(&x.recording)),
                ]
            }),
        );
        if o.sessions_total as usize > o.sessions.len() {
            let _ = writeln!(
                s,
                "({} more not listed.)\n",
                o.sessions_total as usize - o.sessions.len()
            );
        }
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

fn access(s: &mut String, r: &Review) {
    if r.access.is_empty() && r.rbac_warnings.is_empty() {
        return;
    }
    s.push_str("## Granted vs used\n\n");
    for w in &r.rbac_warnings {
        let _ = writeln!(s, "- Warning: {}", md(w));
    }
    if !r.rbac_warnings.is_empty() {
        s.push('\n');
    }
    for c in &r.access {
        let _ = writeln!(s, "### `{}`\n", md(&c.user));
        if !c.unused_grants.is_empty() {
            table(
                s,
                &["unused grant", "binding", "where", "verbs", "resources"],
                c.unused_grants.iter().map(|g| {
                    vec![
                        md(&g.role),
                        md(&g.binding),
                        md(&g.namespace),
                        md(&g.rule.verbs.join(" ")),
                        md([g.rule.resources.join(" "), g.rule.non_resource_urls.join(" ")]
                            .join(" ")
                            .trim()),
                    ]
                }),
            );
        }
        if !c.partly_used.is_empty() {
            table(
                s,
                &["used grant", "where", "resources never used", "verbs never used"],
                c.partly_used.iter().map(|p| {
                    vec![
                        md(&format!("{} ({})", p.grant.role, p.grant.binding)),
                        md(&p.grant.namespace),
                        md(&p.unused_resources.join(" ")),
                        md(&p.unused_verbs.join(" ")),
                    ]
                }),
            );
        }
        if !c.unused_namespaces.is_empty() {
            let _ = writeln!(s, "Bound in but never used: {}.\n", md(&c.unused_namespaces.join(", ")));
        }
        if !c.not_granted.is_empty() {
            let _ = writeln!(
                s,
                "Used but not granted by the RBAC given: {}.\n",
                md(&c.not_granted.join("; "))
            );
        }
        if c.suggested.is_empty() {
            s.push_str("Nothing it did reached the cluster in this period: it needs no role.\n\n");
        } else {
            s.push_str("A minimal role for what was used:\n\n```yaml\n");
            s.push_str(&c.suggested.replace("```", "'''"));
            s.push_str("```\n\n");
        }
    }
}

fn unaccountable(s: &mut String, r: &Review) {
    let u = &r.unaccountable;
    s.push_str("## Unaccountable activity\n\n");
    let _ = writeln!(
        s,
        "{} no owner rule maps.\n",
        count(u.unmapped_identities, "identity", "identities")
    );
    let unmapped: Vec<Vec<String>> = r
        .owners
        .values()
        .filter(|o| !o.mapped)
        .flat_map(|o| o.identities.values())
        .map(|i| {
            vec![
                format!("`{}`", md(&i.issuer)),
                format!("`{}`", md(&i.subject)),
                i.requests.to_string(),
                i.last_seen.clone(),
            ]
        })
        .collect();
    if !unmapped.is_empty() {
        table(s, &["unmapped issuer", "subject", "requests", "last seen"], unmapped);
    }
    if u.issuers_checked {
        if u.unknown_issuers.is_empty() {
            s.push_str("Every issuer on the records is still configured.\n\n");
        } else {
            table(
                s,
                &["issuer no longer configured", "identities", "requests", "last seen"],
                u.unknown_issuers.iter().map(|(k, i)| {
                    vec![
                        format!("`{}`", md(k)),
                        i.identities.to_string(),
                        i.requests.to_string(),
                        i.last_seen.clone(),
                    ]
                }),
            );
        }
    } else {
        s.push_str("Issuers not checked against a configuration (pass `--owners CONFIG`).\n\n");
    }
    if !u.owners_not_in_rules.is_empty() {
        table(
            s,
            &["owner no current rule names", "requests"],
            counts(&u.owners_not_in_rules),
        );
    }
    if !u.unauthenticated.is_empty() {
        table(
            s,
            &["refused token (source — reason)", "times"],
            counts(&u.unauthenticated),
        );
    }
}

impl Review {
    /// The report in Markdown, for tickets.
    ///
    /// ```
    /// let md = tollgate_review::Review::default().to_markdown();
    /// assert!(md.starts_with("# Access review"));
    /// ```
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "# Access review\n\n{} requests, {} to {}.\n\n",
            self.requests,
            or_dash(&self.from),
            or_dash(&self.to)
        );
        for o in self.owners.values() {
            owner(&mut s, o);
        }
        access(&mut s, self);
        unaccountable(&mut s, self);
        if s.contains(OTHER) {
            let _ = writeln!(
                s,
                "\"{OTHER}\": a table reached {} distinct rows; the rest are counted together.",
                crate::report::KEYS
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_their_tables() {
        assert_eq!(md("a|b\nc"), "a\\|b c");
        assert_eq!(md("`x`"), "'x'");
    }
}
