//! Field and label selectors as far as `RequestInfo` needs them: the field
//! selector's exact `metadata.name` match (`fields.ParseSelector` +
//! `RequiresExactMatch`) and whether a label selector parses at all (a bad one
//! makes the API server's ListOptions decoding fail, which drops the name).

/// Parses a field selector with `fields.ParseSelector`'s rules and returns
/// the value it requires for `field`, if it requires an exact match on it.
///
/// `Err(())` means the selector does not parse (the API server then ignores
/// the whole ListOptions for RequestInfo purposes).
pub(crate) fn field_exact_match(selector: &str, field: &str) -> Result<Option<String>, ()> {
    let mut terms = split_terms(selector);
    // The API server sorts the raw terms before interpreting them, so the
    // first matching term in *sorted* order wins.
    terms.sort_unstable();
    let mut found = None;
    for term in terms {
        if term.is_empty() {
            continue;
        }
        let (lhs, op, rhs) = split_term(term).ok_or(())?;
        let value = unescape_value(rhs)?;
        if found.is_none() && op != "!=" && lhs == field {
            found = Some(value);
        }
    }
    Ok(found)
}

/// Splits on commas that are not escaped by a backslash.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Finds the first position where one of `!=`, `==`, `=` starts.
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for op in ["!=", "==", "="] {
            if let Some(rhs) = rest.strip_prefix(op) {
                return Some((&term[..i], op, rhs));
            }
        }
    }
    None
}

/// `fields.UnescapeValue`: `\\`, `\,` and `\=` are escapes; a bare `,` or `=`
/// or any other escape is an error.
fn unescape_value(s: &str) -> Result<String, ()> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => return Err(()),
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(()),
            _ => out.push(c),
        }
    }
    if in_slash { Err(()) } else { Ok(out) }
}

/// Whether a label selector parses under `labels.Parse`'s grammar
/// (`k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
/// `k>1`, `k<1`) with keys validated as qualified names and values as label
/// values.
pub(crate) fn label_selector_valid(s: &str) -> bool {
    let tokens = match lex_labels(s) {
        Some(t) => t,
        None => return false,
    };
    let mut p = 0;
    if tokens.is_empty() {
        return true;
    }
    loop {
        // requirement
        match tokens.get(p) {
            Some(Tok::Not) => {
                p += 1;
                match tokens.get(p) {
                    Some(Tok::Ident(k)) if qualified_name(k) => p += 1,
                    _ => return false,
                }
            }
            Some(Tok::Ident(k)) if !matches!(*k, "in" | "notin") => {
                if !qualified_name(k) {
                    return false;
                }
                p += 1;
                match tokens.get(p) {
                    None | Some(Tok::Comma) => {}
                    Some(Tok::Eq | Tok::DoubleEq | Tok::NotEq) => {
                        p += 1;
                        match tokens.get(p) {
                            Some(Tok::Ident(v)) => {
                                if !label_value(v) {
                                    return false;
                                }
                                p += 1;
                            }
                            // `k=` selects the empty value.
                            None | Some(Tok::Comma) => {}
                            _ => return false,
                        }
                    }
                    Some(Tok::Gt | Tok::Lt) => {
                        p += 1;
                        match tokens.get(p) {
                            Some(Tok::Ident(v)) if v.parse::<i64>().is_ok() => p += 1,
                            _ => return false,
                        }
                    }
                    Some(Tok::Ident("in" | "notin")) => {
                        p += 1;
                        if tokens.get(p) != Some(&Tok::Open) {
                            return false;
                        }
                        p += 1;
                        let mut any = false;
                        let mut expect_value = true;
                        loop {
                            match tokens.get(p) {
                                Some(Tok::Ident(v)) if expect_value => {
                                    if !label_value(v) {
                                        return false;
                                    }
                                    any = true;
                                    expect_value = false;
                                }
                                Some(Tok::Comma) => {
                                    if expect_value {
                                        // an empty value in the list
                                        any = true;
                                    }
                                    expect_value = true;
                                }
                                Some(Tok::Close) => {
                                    p += 1;
                                    break;
                                }
                                _ => return false,
                            }
                            p += 1;
                        }
                        if !any {
                            return false;
                        }
                    }
                    _ => return false,
                }
            }
            _ => return false,
        }
        match tokens.get(p) {
            None => return true,
            Some(Tok::Comma) => {
                p += 1;
                if p >= tokens.len() {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Tok<'a> {
    Ident(&'a str),
    Not,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
}

fn lex_labels(s: &str) -> Option<Vec<Tok<'_>>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let special = |c: u8| matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<');
    while i < b.len() {
        let c = b[i];
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
            continue;
        }
        let two = b.get(i + 1).copied();
        let tok = match (c, two) {
            (b'=', Some(b'=')) => {
                i += 2;
                Tok::DoubleEq
            }
            (b'!', Some(b'=')) => {
                i += 2;
                Tok::NotEq
            }
            (b'=', _) => {
                i += 1;
                Tok::Eq
            }
            (b'!', _) => {
                i += 1;
                Tok::Not
            }
            (b'(', _) => {
                i += 1;
                Tok::Open
            }
            (b')', _) => {
                i += 1;
                Tok::Close
            }
            (b',', _) => {
                i += 1;
                Tok::Comma
            }
            (b'>', _) => {
                i += 1;
                Tok::Gt
            }
            (b'<', _) => {
                i += 1;
                Tok::Lt
            }
            _ => {
                let start = i;
                while i < b.len() && !special(b[i]) && !matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
                    i += 1;
                }
                // `start..i` ends on an ASCII byte or the end, so it is a char boundary.
                Tok::Ident(s.get(start..i)?)
            }
        };
        out.push(tok);
    }
    Some(out)
}

fn name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0].is_ascii_lowercase() | b[0].is_ascii_digit()
                && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

fn qualified_name(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => dns_subdomain(prefix) && name_part(name),
        None => name_part(s),
    }
}

fn label_value(s: &str) -> bool {
    s.is_empty() || name_part(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_selector_exact_name() {
        let f = |s| field_exact_match(s, "metadata.name");
        assert_eq!(f("metadata.name=web"), Ok(Some("web".into())));
        assert_eq!(f("metadata.name==web"), Ok(Some("web".into())));
        assert_eq!(f("metadata.name!=web"), Ok(None));
        assert_eq!(f("metadata.name=zeta,metadata.name=alpha"), Ok(Some("alpha".into())));
        assert_eq!(f("status.phase=Running,metadata.name=a"), Ok(Some("a".into())));
        assert_eq!(f("metadata.name=a\\,b"), Ok(Some("a,b".into())));
        assert_eq!(f("metadata.name=a=b"), Err(()));
        assert_eq!(f("metadata.name"), Err(()));
        assert_eq!(f("metadata.name=a\\x"), Err(()));
        assert_eq!(f("metadata.name=a\\"), Err(()));
        assert_eq!(f(""), Ok(None));
        assert_eq!(f(","), Ok(None));
    }

    #[test]
    fn label_selectors() {
        for ok in [
            "",
            "app",
            "!app",
            "app=web",
            "app==web",
            "app!=web",
            "app=",
            "app in (a,b)",
            "app notin (a, b)",
            "example.com/app=web,tier",
            "n>3",
            "n<-1",
        ] {
            assert!(label_selector_valid(ok), "{ok}");
        }
        for bad in [
            "=web",
            "app=we b",
            "app in ()",
            "app in a",
            "n>x",
            "app=web,",
            "-app",
            "app=-web",
            "Example.com/app=x",
            "app in (a",
            "!",
        ] {
            assert!(!label_selector_valid(bad), "{bad}");
        }
    }
}
