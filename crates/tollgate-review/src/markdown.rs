//! The report in Markdown, for tickets: every cell escaped so a name from a
//! token cannot break its table, no column that only makes sense on the
//! HTML page.

use std::fmt::Write as _;

use crate::doc::{Block, Inline, Tone};
use crate::report::Review;

/// A Markdown table cell: pipes and line breaks cannot break the table,
/// backticks cannot open code.
pub(crate) fn md(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ").replace('`', "'")
}

fn inline(i: &Inline) -> String {
    match i {
        Inline::Text(t) => md(t),
        Inline::Code(t) if t.is_empty() => String::new(),
        Inline::Code(t) | Inline::File(t) => format!("`{}`", md(t)),
        Inline::Strong(t) => format!("**{}**", md(t)),
        Inline::Anchor { text, .. } => md(text),
        Inline::Ids { .. } => String::new(),
        Inline::Count(n) => n.to_string(),
    }
}

fn inlines(v: &[Inline]) -> String {
    v.iter().map(inline).collect()
}

impl Review {
    /// The report in Markdown, for tickets.
    ///
    /// ```
    /// let md = tollgate_review::Review::default().to_markdown();
    /// assert!(md.starts_with("# Access review"));
    /// ```
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        for b in crate::layout::document(self) {
            match b {
                Block::Heading(level, t, _) => {
                    let _ = writeln!(s, "{} {}\n", "#".repeat(level.into()), inlines(&t));
                }
                Block::Para(t, Tone::Warn) => {
                    let _ = writeln!(s, "**{}**\n", inlines(&t));
                }
                Block::Para(t, _) => {
                    let _ = writeln!(s, "{}\n", inlines(&t));
                }
                Block::Items(items) => {
                    for (t, _) in items {
                        let _ = writeln!(s, "- {}", inlines(&t));
                    }
                    s.push('\n');
                }
                Block::Table(cols, rows) => {
                    let keep: Vec<bool> = cols.iter().map(|c| !c.html_only).collect();
                    let head: Vec<&str> = cols.iter().filter(|c| !c.html_only).map(|c| c.name).collect();
                    let _ = writeln!(s, "| {} |\n|{}", head.join(" | "), "---|".repeat(head.len()));
                    for r in rows {
                        let cells: Vec<String> = r
                            .iter()
                            .zip(&keep)
                            .filter(|(_, k)| **k)
                            .map(|(c, _)| inline(c))
                            .collect();
                        let _ = writeln!(s, "| {} |", cells.join(" | "));
                    }
                    s.push('\n');
                }
                Block::Yaml(y) => {
                    let _ = writeln!(s, "```yaml\n{}```\n", y.replace("```", "'''"));
                }
                Block::Chart(_) => {}
            }
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
        assert_eq!(inline(&Inline::Code("a|`b".into())), "`a\\|'b`");
    }
}
