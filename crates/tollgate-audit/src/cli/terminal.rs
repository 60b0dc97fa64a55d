//! What a recorded terminal may do to the reviewer's: colours and cursor
//! movement, nothing else. A recording is written by whatever ran in the
//! container, so it is hostile input: OSC sequences set the clipboard
//! (OSC 52) and the window title, DCS/APC/PM/SOS strings reach terminal
//! extensions, other escapes reset or reprogram the terminal. The filter
//! keeps printable text, `\n`, `\r`, `\t`, backspace and CSI sequences that
//! only colour or move (SGR `m`, cursor and erase finals) and drops the rest,
//! across event boundaries.
//!
//! ```
//! let mut f = tollgate_audit::cli::terminal::Filter::default();
//! let mut out = String::new();
//! f.feed("\x1b]52;c;cm0gLXJmIH4K\x07\x1b[31mred\x1b[0m\n", &mut out);
//! assert_eq!(out, "\x1b[31mred\x1b[0m\n");
//! ```

/// The CSI final bytes kept: SGR and cursor movement and erasing.
const SAFE_CSI_FINALS: &[char] = &[
    'm', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'd', 'f', 's', 'u',
];

/// The longest CSI sequence kept (longer ones are dropped whole).
const MAX_CSI: usize = 64;

/// Where the filter is in the byte stream.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
enum State {
    /// Plain text.
    #[default]
    Text,
    /// After ESC.
    Escape,
    /// Inside `ESC [` … (kept only if it ends with a safe final).
    Csi(String),
    /// Inside a string (OSC, DCS, APC, PM, SOS): dropped until ST or BEL.
    String,
    /// Inside a string, after ESC (an `ESC \` ends it).
    StringEscape,
}

/// A streaming terminal-output filter (see the module docs).
#[derive(Debug, Default, Clone)]
pub struct Filter {
    state: State,
}

impl Filter {
    /// Appends what is safe of `input` to `out`; a sequence cut by the end
    /// of `input` continues with the next call.
    pub fn feed(&mut self, input: &str, out: &mut String) {
        for c in input.chars() {
            self.state = match std::mem::take(&mut self.state) {
                State::Text => match c {
                    '\x1b' => State::Escape,
                    // The 8-bit forms: CSI, OSC, DCS, APC, PM, SOS.
                    '\u{9b}' => State::Csi(String::new()),
                    '\u{9d}' | '\u{90}' | '\u{9f}' | '\u{9e}' | '\u{98}' => State::String,
                    '\n' | '\r' | '\t' | '\x08' => {
                        out.push(c);
                        State::Text
                    }
                    c if c.is_control() => State::Text,
                    c => {
                        out.push(c);
                        State::Text
                    }
                },
                State::Escape => match c {
                    '[' => State::Csi(String::new()),
                    ']' | 'P' | '_' | '^' | 'X' => State::String,
                    // Any other escape (reset, charset, keypad…) is dropped
                    // with its one final character.
                    _ => State::Text,
                },
                State::Csi(mut seq) => match c {
                    '\x20'..='\x3f' if seq.len() < MAX_CSI => {
                        seq.push(c);
                        State::Csi(seq)
                    }
                    '\x40'..='\x7e' => {
                        // Private parameters (`?`, `<`, `=`, `>`) set modes:
                        // not colour or movement.
                        let private = seq.starts_with(['?', '<', '=', '>']);
                        if SAFE_CSI_FINALS.contains(&c) && !private && seq.len() < MAX_CSI {
                            out.push_str("\x1b[");
                            out.push_str(&seq);
                            out.push(c);
                        }
                        State::Text
                    }
                    '\x1b' => State::Escape,
                    // Too long or a byte no CSI holds: dropped, and the
                    // character is read as text again.
                    _ if c.is_control() => State::Text,
                    _ => State::Csi(seq),
                },
                State::String => match c {
                    '\x07' | '\u{9c}' => State::Text,
                    '\x1b' => State::StringEscape,
                    _ => State::String,
                },
                State::StringEscape => match c {
                    '\\' => State::Text,
                    '\x1b' => State::StringEscape,
                    _ => State::String,
                },
            };
        }
    }
}

/// `text` with every control character shown as an escape, for titles and
/// markers printed as text.
///
/// ```
/// assert_eq!(tollgate_audit::cli::terminal::visible("a\x1b]0;x\x07"), "a\\u{1b}]0;x\\u{7}");
/// ```
pub fn visible(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(parts: &[&str]) -> String {
        let mut f = Filter::default();
        let mut out = String::new();
        for p in parts {
            f.feed(p, &mut out);
        }
        out
    }

    #[test]
    fn keeps_colour_and_movement_drops_the_rest() {
        assert_eq!(
            run(&["\x1b[1;31mx\x1b[0m\x1b[2J\x1b[H"]),
            "\x1b[1;31mx\x1b[0m\x1b[2J\x1b[H"
        );
        assert_eq!(run(&["a\x1b]0;title\x07b"]), "ab");
        assert_eq!(run(&["a\x1b]52;c;cm0=\x1b\\b"]), "ab");
        assert_eq!(run(&["a\x1bPq#0;2\x1b\\b"]), "ab");
        assert_eq!(run(&["a\x1b_apc\x1b\\b\x1b^pm\x07c"]), "abc");
        assert_eq!(run(&["a\x1bcb"]), "ab", "RIS (full reset) is dropped");
        assert_eq!(
            run(&["\x1b[?1049h\x1b[6n\x1b[21t"]),
            "",
            "modes, reports and window ops are dropped"
        );
        assert_eq!(run(&["a\u{9d}52;c;x\u{9c}b"]), "ab", "the 8-bit OSC too");
        assert_eq!(run(&["a\x07\x00b"]), "ab");
    }

    #[test]
    fn sequences_split_across_events() {
        assert_eq!(run(&["a\x1b", "]52;c;", "cm0=", "\x07b"]), "ab");
        assert_eq!(run(&["\x1b[3", "1mx"]), "\x1b[31mx");
    }

    proptest! {
        #[test]
        fn no_string_sequence_survives(parts in proptest::collection::vec(".*", 0..8), raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut input: Vec<String> = parts;
            input.push(String::from_utf8_lossy(&raw).into_owned());
            let refs: Vec<&str> = input.iter().map(String::as_str).collect();
            let out = run(&refs);
            for bad in ["\x1b]", "\x1bP", "\x1b_", "\x1b^", "\x1bX", "\u{9d}", "\u{90}", "\x07"] {
                prop_assert!(!out.contains(bad), "{bad:?} in {out:?}");
            }
            // Every ESC left starts a kept CSI.
            for (i, _) in out.match_indices('\x1b') {
                prop_assert_eq!(out.as_bytes().get(i + 1), Some(&b'['));
            }
        }
    }
}
