//! What the report says, in order, independent of its format.

use crate::Comparison;
use crate::doc::{Block, Col, Inline, Tone, code, col, count, counts, or_dash, para, text, warn};
use crate::report::{KEYS, OTHER, OwnerSummary, Review};

/// A record's time to the second, for people (`2026-11-27 10:00:05Z`);
/// the JSON keeps the microseconds.
fn short_time(t: &str) -> String {
    match (t.get(..10), t.get(11..19)) {
        (Some(day), Some(clock)) if t.as_bytes().get(10) == Some(&b'T') => format!("{day} {clock}Z"),
        _ => t.to_owned(),
    }
}

fn time(t: &str) -> Inline {
    text(short_time(t))
}

/// An anchor for an owner's heading (letters, digits and `-`).
pub(crate) fn owner_anchor(owner: &str) -> String {
    let mut a = String::from("owner-");
    for c in owner.chars() {
        if c.is_ascii_alphanumeric() {
            a.push(c.to_ascii_lowercase());
        } else {
            a.push_str(&format!("-{:x}-", c as u32));
        }
    }
    a
}

/// One line of "what needs a decision", when `n` is not zero: `n` and
/// what it counts, then a link to where the details are.
fn finding(
    n: u64,
    (one, many): (&str, &str),
    what: &str,
    link: Option<(&str, &str)>,
    tone: Tone,
) -> Option<(Vec<Inline>, Tone)> {
    (n > 0).then(|| {
        let mut line = vec![text(format!("{} {what}", count(n, one, many)))];
        if let Some((label, target)) = link {
            line.push(text(" ("));
            line.push(Inline::Anchor {
                text: label.to_owned(),
                target: target.to_owned(),
            });
            line.push(text(")"));
        }
        line.push(text("."));
        (line, tone)
    })
}

fn findings(r: &Review) -> Vec<(Vec<Inline>, Tone)> {
    let u = &r.unaccountable;
    let unmapped: usize = r
        .owners
        .values()
        .filter(|o| !o.mapped)
        .map(|o| o.identities.len())
        .sum();
    let over = r
        .access
        .iter()
        .filter(|c| !c.unused_grants.is_empty() || !c.partly_used.is_empty() || !c.unused_namespaces.is_empty())
        .count();
    let pending: u64 = r.owners.values().filter_map(|o| o.approval_states.get("pending")).sum();
    let items: Vec<_> = [
        finding(
            unmapped as u64,
            ("identity", "identities"),
            "no owner rule maps — nobody answers for them",
            Some(("unaccountable activity", "unaccountable")),
            Tone::Warn,
        ),
        finding(
            u.unknown_issuers.len() as u64,
            ("issuer", "issuers"),
            "on the records no longer configured",
            Some(("unaccountable activity", "unaccountable")),
            Tone::Warn,
        ),
        finding(
            u.owners_not_in_rules.len() as u64,
            ("owner", "owners"),
            "on the records named by no current owner rule",
            Some(("unaccountable activity", "unaccountable")),
            Tone::Warn,
        ),
        finding(
            over as u64,
            ("identity holds", "identities hold"),
            "permissions never used",
            Some(("granted vs used", "access")),
            Tone::Warn,
        ),
        finding(
            u.unauthenticated.values().sum(),
            ("request", "requests"),
            "refused without a valid token",
            None,
            Tone::Plain,
        ),
        finding(pending, ("approval", "approvals"), "never decided", None, Tone::Plain),
    ]
    .into_iter()
    .flatten()
    .collect();
    if items.is_empty() {
        return vec![(
            vec![text("Every identity has an owner; nothing needs a decision.")],
            Tone::Ok,
        )];
    }
    items
}

fn overview(r: &Review) -> Block {
    Block::Table(
        [
            "owner",
            "team",
            "contact",
            "identities",
            "requests",
            "writes",
            "refused",
            "approvals",
            "sessions",
        ]
        .map(col)
        .to_vec(),
        r.owners
            .values()
            .map(|o| {
                let name = Inline::Anchor {
                    text: if o.mapped {
                        o.owner.clone()
                    } else {
                        format!("{} (no owner rule)", o.owner)
                    },
                    target: owner_anchor(&o.owner),
                };
                vec![
                    name,
                    text(o.team.clone()),
                    text(o.contact.clone()),
                    Inline::Count(o.identities.len() as u64),
                    Inline::Count(o.reads + o.writes),
                    Inline::Count(o.writes),
                    Inline::Count(o.denials.values().sum()),
                    Inline::Count(o.approvals_requested()),
                    Inline::Count(o.sessions_total),
                ]
            })
            .collect(),
    )
}

fn owner(d: &mut Vec<Block>, o: &OwnerSummary) {
    let title = if o.mapped {
        o.owner.clone()
    } else {
        format!("{} (no owner rule matched)", o.owner)
    };
    d.push(Block::Heading(2, vec![text(title)], Some(owner_anchor(&o.owner))));
    if !o.mapped {
        d.push(warn("No owner rule maps these identities: nobody answers for them."));
    }
    if o.in_rules == Some(false) {
        d.push(warn("No current owner rule names this owner."));
    }
    if !o.team.is_empty() || !o.contact.is_empty() {
        d.push(para(format!(
            "Team: {} · contact: {}",
            or_dash(&o.team),
            or_dash(&o.contact)
        )));
    }
    d.push(para(format!(
        "{}, {}.",
        count(o.reads, "read", "reads"),
        count(o.writes, "write", "writes")
    )));
    d.push(Block::Chart(o.per_day.clone()));
    d.push(Block::Table(
        ["issuer", "subject", "user", "requests", "first seen", "last seen"]
            .map(col)
            .to_vec(),
        o.identities
            .values()
            .map(|i| {
                let issuer = if i.issuer_configured == Some(false) {
                    Inline::Strong(format!("{} (issuer no longer configured)", i.issuer))
                } else {
                    code(i.issuer.clone())
                };
                vec![
                    issuer,
                    code(i.subject.clone()),
                    code(i.username.clone()),
                    Inline::Count(i.requests),
                    time(&i.first_seen),
                    time(&i.last_seen),
                ]
            })
            .collect(),
    ));
    d.push(Block::Table(
        vec![
            col("verb and resource"),
            col("requests"),
            Col {
                name: "audit IDs",
                html_only: true,
            },
        ],
        o.by_verb_resource
            .iter()
            .map(|(k, n)| {
                let ids = o.samples.get(k).cloned().unwrap_or_default();
                let more = n.saturating_sub(ids.len() as u64);
                vec![text(k.clone()), Inline::Count(*n), Inline::Ids { ids, more }]
            })
            .collect(),
    ));
    d.push(counts("namespace", "requests", &o.by_namespace));
    if !o.denials.is_empty() {
        d.push(counts("refused by", "times", &o.denials));
    }
    if !o.dry_run_hits.is_empty() {
        d.push(counts("dry-run rule that would have blocked", "times", &o.dry_run_hits));
    }
    if !o.approvals.is_empty() {
        let states: Vec<String> = o.approval_states.iter().map(|(k, n)| format!("{n} {k}")).collect();
        d.push(para(format!(
            "Approvals: {} requested ({}).",
            o.approvals_requested(),
            states.join(", ")
        )));
        d.push(Block::Table(
            [
                "approval",
                "command",
                "held attempts",
                "state",
                "approvers",
                "reason",
                "requested",
                "waited",
            ]
            .map(col)
            .to_vec(),
            o.approvals
                .iter()
                .map(|(id, a)| {
                    vec![
                        text(id.clone()),
                        code(a.command.clone()),
                        Inline::Count(a.held),
                        text(a.state.clone()),
                        text(a.approvers.clone()),
                        text(a.reason.clone()),
                        time(&a.requested_at),
                        text(a.waited_seconds.map_or_else(|| "-".to_owned(), |w| format!("{w} s"))),
                    ]
                })
                .collect(),
        ));
    }
    if o.sessions_total > 0 {
        d.push(Block::Para(
            vec![
                text(format!("Exec/attach sessions: {} (replay one with ", o.sessions_total)),
                code("tollgate sessions replay FILE"),
                text(")."),
            ],
            Tone::Plain,
        ));
        d.push(Block::Table(
            [
                "session (audit ID)",
                "started",
                "pod",
                "command",
                "exit",
                "recording",
                "SHA-256",
            ]
            .map(col)
            .to_vec(),
            o.sessions
                .iter()
                .map(|(id, x)| {
                    vec![
                        text(id.clone()),
                        time(&x.at),
                        text(format!("{}/{} ({})", x.namespace, x.pod, x.kind)),
                        code(x.command.clone()),
                        text(or_dash(&x.exit_code)),
                        Inline::File(x.recording.clone()),
                        code(x.sha256.get(..16).unwrap_or(&x.sha256)),
                    ]
                })
                .collect(),
        ));
        if o.sessions_total > o.sessions.len() as u64 {
            d.push(para(format!(
                "({} more not listed.)",
                o.sessions_total - o.sessions.len() as u64
            )));
        }
    }
}

fn comparison(d: &mut Vec<Block>, c: &Comparison) {
    d.push(Block::Heading(3, vec![code(c.user.clone())], None));
    if !c.groups.is_empty() {
        d.push(para(format!("Groups: {}.", c.groups.join(", "))));
    }
    if !c.unused_grants.is_empty() {
        d.push(Block::Table(
            ["unused grant", "binding", "where", "verbs", "resources"]
                .map(col)
                .to_vec(),
            c.unused_grants
                .iter()
                .map(|g| {
                    let what = [g.rule.resources.join(" "), g.rule.non_resource_urls.join(" ")].join(" ");
                    vec![
                        text(g.role.clone()),
                        text(g.binding.clone()),
                        text(g.namespace.clone()),
                        text(g.rule.verbs.join(" ")),
                        text(what.trim()),
                    ]
                })
                .collect(),
        ));
    }
    if !c.partly_used.is_empty() {
        d.push(Block::Table(
            ["used grant", "where", "resources never used", "verbs never used"]
                .map(col)
                .to_vec(),
            c.partly_used
                .iter()
                .map(|p| {
                    vec![
                        text(format!("{} ({})", p.grant.role, p.grant.binding)),
                        text(p.grant.namespace.clone()),
                        text(p.unused_resources.join(" ")),
                        text(p.unused_verbs.join(" ")),
                    ]
                })
                .collect(),
        ));
    }
    if !c.unused_namespaces.is_empty() {
        d.push(warn(format!(
            "Bound in but never used: {}.",
            c.unused_namespaces.join(", ")
        )));
    }
    if !c.not_granted.is_empty() {
        d.push(para(format!(
            "Used but not granted by the RBAC given: {}.",
            c.not_granted.join("; ")
        )));
    }
    if c.suggested.is_empty() {
        d.push(para(
            "Nothing it did reached the cluster in this period: it needs no role.",
        ));
    } else {
        d.push(para("A minimal role for what was used:"));
        d.push(Block::Yaml(c.suggested.clone()));
    }
}

fn unaccountable(d: &mut Vec<Block>, r: &Review) {
    let u = &r.unaccountable;
    d.push(Block::Heading(
        2,
        vec![text("Unaccountable activity")],
        Some("unaccountable".to_owned()),
    ));
    d.push(para(format!(
        "{} no owner rule maps.",
        count(u.unmapped_identities, "identity", "identities")
    )));
    let unmapped: Vec<Vec<Inline>> = r
        .owners
        .values()
        .filter(|o| !o.mapped)
        .flat_map(|o| o.identities.values())
        .map(|i| {
            vec![
                code(i.issuer.clone()),
                code(i.subject.clone()),
                Inline::Count(i.requests),
                time(&i.last_seen),
            ]
        })
        .collect();
    if !unmapped.is_empty() {
        d.push(Block::Table(
            ["unmapped issuer", "subject", "requests", "last seen"]
                .map(col)
                .to_vec(),
            unmapped,
        ));
    }
    if !u.issuers_checked {
        d.push(Block::Para(
            vec![
                text("Issuers not checked against a configuration (pass "),
                code("--owners CONFIG"),
                text(")."),
            ],
            Tone::Plain,
        ));
    } else if u.unknown_issuers.is_empty() {
        d.push(Block::Para(
            vec![text("Every issuer on the records is still configured.")],
            Tone::Ok,
        ));
    } else {
        d.push(Block::Table(
            ["issuer no longer configured", "identities", "requests", "last seen"]
                .map(col)
                .to_vec(),
            u.unknown_issuers
                .iter()
                .map(|(k, i)| {
                    vec![
                        code(k.clone()),
                        Inline::Count(i.identities),
                        Inline::Count(i.requests),
                        time(&i.last_seen),
                    ]
                })
                .collect(),
        ));
    }
    if !u.owners_not_in_rules.is_empty() {
        d.push(counts(
            "owner no current rule names",
            "requests",
            &u.owners_not_in_rules,
        ));
    }
    if !u.unauthenticated.is_empty() {
        d.push(counts("refused token (source — reason)", "times", &u.unauthenticated));
    }
}

/// The whole report, in order.
pub(crate) fn document(r: &Review) -> Vec<Block> {
    let mut d = vec![
        Block::Heading(1, vec![text("Access review")], None),
        para(format!(
            "{} requests, {} to {}.",
            r.requests,
            or_dash(&short_time(&r.from)),
            or_dash(&short_time(&r.to))
        )),
        Block::Heading(2, vec![text("What needs a decision")], None),
        Block::Items(findings(r)),
        Block::Heading(2, vec![text("Owners")], None),
        overview(r),
    ];
    for o in r.owners.values() {
        owner(&mut d, o);
    }
    if !r.access.is_empty() || !r.rbac_warnings.is_empty() {
        d.push(Block::Heading(
            2,
            vec![text("Granted vs used")],
            Some("access".to_owned()),
        ));
        if !r.rbac_warnings.is_empty() {
            d.push(Block::Items(
                r.rbac_warnings
                    .iter()
                    .map(|w| (vec![text(format!("Warning: {w}"))], Tone::Warn))
                    .collect(),
            ));
        }
        for c in &r.access {
            comparison(&mut d, c);
        }
    }
    unaccountable(&mut d, r);
    let capped = d.iter().any(|b| match b {
        Block::Table(_, rows) => rows
            .iter()
            .any(|r| matches!(r.first(), Some(Inline::Text(t)) if t == OTHER)),
        _ => false,
    });
    if capped {
        d.push(para(format!(
            "\"{OTHER}\": a table reached {KEYS} distinct rows; the rest are counted together."
        )));
    }
    d
}
