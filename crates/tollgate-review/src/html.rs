//! The report as one self-contained HTML page: no external assets (it
//! reads offline), tables that sort on a click, a chart of requests per
//! day per owner, the audit IDs behind each figure on demand, and every
//! recorded text escaped so nothing in a token becomes markup.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::doc::{Block, Inline, Tone};
use crate::report::Review;

/// Text for HTML: nothing in a name can become markup.
/// Text for a `<pre>`: escaped like [`html`], but newlines and tabs kept.
pub(crate) fn pre(s: &str) -> String {
    s.split('\n')
        .map(|line| html(&line.replace('\t', "    ")))
        .collect::<Vec<_>>()
        .join("\n")
}

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
.warn{color:#a00}.ok{color:#070}code{font-size:12px}h2{border-top:2px solid #ddd;padding-top:.5em;margin-top:1.5em}";

/// Click a header to sort its table (numbers as numbers).
const SCRIPT: &str = "document.querySelectorAll('th').forEach(function(th){th.addEventListener('click',function(){\
var t=th.closest('table'),i=Array.prototype.indexOf.call(th.parentNode.children,th),b=t.tBodies[0],\
r=Array.prototype.slice.call(b.rows),d=th.dataset.d=th.dataset.d==='a'?'d':'a';r.sort(function(x,y){\
var p=x.cells[i].innerText,q=y.cells[i].innerText,m=parseFloat(p),n=parseFloat(q);\
var c=(!isNaN(m)&&!isNaN(n))?m-n:p.localeCompare(q);return d==='a'?c:-c;});r.forEach(function(x){b.appendChild(x);});});});";

/// A small bar chart of requests per day, inline SVG.
fn chart(per_day: &BTreeMap<String, u64>) -> String {
    if per_day.is_empty() {
        return String::new();
    }
    let max = per_day.values().copied().max().unwrap_or(1).max(1);
    // Wide enough for the first and last day's labels.
    let (w, h, bar) = ((per_day.len() * 22 + 10).max(170), 110, 18);
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

fn inline(i: &Inline) -> String {
    match i {
        Inline::Text(t) => html(t),
        Inline::Code(t) => format!("<code>{}</code>", html(t)),
        Inline::Strong(t) => format!("<strong class=\"warn\">{}</strong>", html(t)),
        Inline::Anchor { text, target } => format!("<a href=\"#{}\">{}</a>", html(target), html(text)),
        Inline::File(p) => recording_link(p),
        Inline::Ids { ids, more } => {
            let mut list = ids.iter().map(|x| html(x)).collect::<Vec<_>>().join("<br>");
            if *more > 0 {
                let _ = write!(list, "<br>… and {more} more");
            }
            format!("<details><summary>show</summary><code>{list}</code></details>")
        }
        Inline::Count(n) => n.to_string(),
    }
}

fn inlines(v: &[Inline]) -> String {
    v.iter().map(inline).collect()
}

fn class(t: Tone) -> &'static str {
    match t {
        Tone::Plain => "",
        Tone::Warn => " class=\"warn\"",
        Tone::Ok => " class=\"ok\"",
    }
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
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Access review</title><style>{STYLE}</style></head><body>"
        );
        for b in crate::layout::document(self) {
            match b {
                Block::Heading(level, t, anchor) => {
                    let id = anchor.map(|a| format!(" id=\"{}\"", html(&a))).unwrap_or_default();
                    let _ = write!(s, "<h{level}{id}>{}</h{level}>", inlines(&t));
                }
                Block::Para(t, tone) => {
                    let _ = write!(s, "<p{}>{}</p>", class(tone), inlines(&t));
                }
                Block::Items(items) => {
                    s.push_str("<ul>");
                    for (t, tone) in items {
                        let _ = write!(s, "<li{}>{}</li>", class(tone), inlines(&t));
                    }
                    s.push_str("</ul>");
                }
                Block::Table(cols, rows) => {
                    s.push_str("<table><thead><tr>");
                    for c in &cols {
                        let _ = write!(s, "<th>{}</th>", html(c.name));
                    }
                    s.push_str("</tr></thead><tbody>");
                    for r in rows {
                        s.push_str("<tr>");
                        for c in &r {
                            let n = if matches!(c, Inline::Count(_)) {
                                " class=\"n\""
                            } else {
                                ""
                            };
                            let _ = write!(s, "<td{n}>{}</td>", inline(c));
                        }
                        s.push_str("</tr>");
                    }
                    s.push_str("</tbody></table>");
                }
                Block::Yaml(y) => {
                    // Lines stay lines: only markup is escaped in <pre>.
                    let _ = write!(s, "<pre>{}</pre>", pre(&y));
                }
                Block::Chart(days) => s.push_str(&chart(&days)),
            }
        }
        let _ = write!(
            s,
            "<p>Click a column header to sort.</p><script>{SCRIPT}</script></body></html>"
        );
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
