//! The report as CSV for tools: one row per figure, in fixed columns
//! `section,owner,mapped,item,count,first_seen,last_seen,detail`.

use std::fmt::Write as _;

use crate::report::Review;

/// A CSV field, quoted when needed; a leading `=`, `+`, `-` or `@` is
/// prefixed so spreadsheets do not run it as a formula.
pub(crate) fn csv(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
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

/// One row.
#[derive(Default, Clone)]
struct Row<'a> {
    section: &'a str,
    owner: &'a str,
    mapped: Option<bool>,
    item: &'a str,
    count: u64,
    first: &'a str,
    last: &'a str,
    detail: String,
}

fn push(s: &mut String, r: &Row<'_>) {
    let _ = writeln!(
        s,
        "{},{},{},{},{},{},{},{}",
        r.section,
        csv(r.owner),
        r.mapped.map(|m| m.to_string()).unwrap_or_default(),
        csv(r.item),
        r.count,
        csv(r.first),
        csv(r.last),
        csv(&r.detail)
    );
}

impl Review {
    /// The report as CSV: sections `identity`, `verb_resource`,
    /// `namespace`, `denial`, `dry_run`, `approval`, `session`,
    /// `unauthenticated`, `unknown_issuer`, `unused_grant`.
    ///
    /// ```
    /// let csv = tollgate_review::Review::default().to_csv();
    /// assert_eq!(csv, "section,owner,mapped,item,count,first_seen,last_seen,detail\n");
    /// ```
    pub fn to_csv(&self) -> String {
        let mut s = String::from("section,owner,mapped,item,count,first_seen,last_seen,detail\n");
        for o in self.owners.values() {
            let base = Row {
                owner: &o.owner,
                mapped: Some(o.mapped),
                ..Row::default()
            };
            for i in o.identities.values() {
                let item = format!("{} {}", i.issuer, i.subject);
                push(
                    &mut s,
                    &Row {
                        section: "identity",
                        item: &item,
                        count: i.requests,
                        first: &i.first_seen,
                        last: &i.last_seen,
                        detail: i.username.clone(),
                        ..base.clone()
                    },
                );
            }
            for (section, map) in [
                ("verb_resource", &o.by_verb_resource),
                ("namespace", &o.by_namespace),
                ("denial", &o.denials),
                ("dry_run", &o.dry_run_hits),
            ] {
                for (k, n) in map {
                    push(
                        &mut s,
                        &Row {
                            section,
                            item: k,
                            count: *n,
                            ..base.clone()
                        },
                    );
                }
            }
            for (id, a) in &o.approvals {
                push(
                    &mut s,
                    &Row {
                        section: "approval",
                        item: id,
                        count: a.held,
                        first: &a.requested_at,
                        last: &a.decided_at,
                        detail: format!(
                            "{}; {}; approvers {}; waited {}",
                            a.state,
                            a.command,
                            a.approvers,
                            a.waited_seconds.map_or_else(|| "-".to_owned(), |w| format!("{w} s"))
                        ),
                        ..base.clone()
                    },
                );
            }
            for (id, x) in &o.sessions {
                push(
                    &mut s,
                    &Row {
                        section: "session",
                        item: id,
                        count: 1,
                        first: &x.at,
                        detail: format!("{}/{} {}; {}", x.namespace, x.pod, x.command, x.recording),
                        ..base.clone()
                    },
                );
            }
        }
        for (k, n) in &self.unaccountable.unauthenticated {
            push(
                &mut s,
                &Row {
                    section: "unauthenticated",
                    item: k,
                    count: *n,
                    ..Row::default()
                },
            );
        }
        for (k, i) in &self.unaccountable.unknown_issuers {
            push(
                &mut s,
                &Row {
                    section: "unknown_issuer",
                    item: k,
                    count: i.requests,
                    last: &i.last_seen,
                    detail: crate::doc::count(i.identities, "identity", "identities"),
                    ..Row::default()
                },
            );
        }
        for c in &self.access {
            for g in &c.unused_grants {
                push(
                    &mut s,
                    &Row {
                        section: "unused_grant",
                        owner: &c.user,
                        item: &g.role,
                        detail: format!(
                            "{} in {}: {} {}",
                            g.binding,
                            g.namespace,
                            g.rule.verbs.join(" "),
                            [g.rule.resources.join(" "), g.rule.non_resource_urls.join(" ")]
                                .join(" ")
                                .trim()
                        ),
                        ..Row::default()
                    },
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_cannot_break_rows_or_run_as_formulas() {
        assert_eq!(csv("=cmd()"), "'=cmd()");
        assert_eq!(csv("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert_eq!(csv("x\ny"), "\"x\ny\"");
    }
}
