//! The report as a document: headings, paragraphs, lists, tables, YAML and
//! charts, laid out once from a [`Review`](crate::Review) and written by
//! each format (`html`, `markdown`), so the formats cannot drift apart.

use std::collections::BTreeMap;

/// How a paragraph or list item reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Plain,
    Warn,
    Ok,
}

/// A piece of text; each writer escapes it for its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Inline {
    Text(String),
    Code(String),
    Strong(String),
    /// A link to a heading of this document.
    Anchor {
        text: String,
        target: String,
    },
    /// A recording on this machine.
    File(String),
    /// The audit IDs behind a figure, and how many more there are.
    Ids {
        ids: Vec<String>,
        more: u64,
    },
    Count(u64),
}

/// A table column; some are for the HTML page only (audit IDs on demand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Col {
    pub(crate) name: &'static str,
    pub(crate) html_only: bool,
}

pub(crate) const fn col(name: &'static str) -> Col {
    Col { name, html_only: false }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Block {
    /// A heading: level (1–3), text, and an anchor others may link to.
    Heading(u8, Vec<Inline>, Option<String>),
    Para(Vec<Inline>, Tone),
    Items(Vec<(Vec<Inline>, Tone)>),
    Table(Vec<Col>, Vec<Vec<Inline>>),
    Yaml(String),
    /// Requests per day (drawn in HTML only).
    Chart(BTreeMap<String, u64>),
}

pub(crate) fn text(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}

pub(crate) fn code(s: impl Into<String>) -> Inline {
    Inline::Code(s.into())
}

pub(crate) fn para(s: impl Into<String>) -> Block {
    Block::Para(vec![text(s)], Tone::Plain)
}

pub(crate) fn warn(s: impl Into<String>) -> Block {
    Block::Para(vec![text(s)], Tone::Warn)
}

/// A two-column table of counters.
pub(crate) fn counts(head: &'static str, unit: &'static str, m: &BTreeMap<String, u64>) -> Block {
    Block::Table(
        vec![col(head), col(unit)],
        m.iter()
            .map(|(k, n)| vec![text(k.clone()), Inline::Count(*n)])
            .collect(),
    )
}

/// `1 identity`, `2 identities`.
pub(crate) fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `-` for nothing.
pub(crate) fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}
