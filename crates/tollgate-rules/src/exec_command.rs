//! What an exec command runs, in the forms a rule should see. A denylist
//! over the raw argv is easy to walk around: `/bin/rm -rf /`, `rm -rf //`,
//! `rm -rf /.`, `busybox rm -rf /`, `sh -c 'rm -rf /'` all run `rm -rf /`.
//! A condition on `exec: command` is therefore tested against the command
//! as sent and against its normal forms: the program by its basename,
//! multi-call wrappers (`busybox`, `toybox`, `env`, `exec`, `nohup`,
//! `nice`, `command`) dropped, absolute paths normalised (`//`, `/.`, `..`),
//! and the script of a shell's `-c` read as a command of its own.
//!
//! This is advice, not a boundary: a shell can build any command at run
//! time (`$(printf …)`, `eval`, a script file). Approval for exec, or no
//! exec at all, is the control; a denylist catches mistakes.
//!
//! ```
//! let forms = tollgate_rules::exec_forms(&["sh", "-c", "busybox rm -rf //."]);
//! assert!(forms.contains(&"rm -rf /".to_owned()), "{forms:?}");
//! ```

/// Programs that run their first argument as the command.
const WRAPPERS: &[&str] = &[
    "busybox", "toybox", "env", "exec", "nohup", "nice", "command", "sudo", "doas",
];

/// Shells whose `-c` argument is a script.
const SHELLS: &[&str] = &["sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "fish"];

/// How deep `sh -c "sh -c …"` is followed.
const MAX_NESTING: usize = 4;

/// The command as sent (argv joined by spaces) followed by its normal
/// forms, without duplicates.
pub fn exec_forms(argv: &[&str]) -> Vec<String> {
    let mut out = vec![argv.join(" ")];
    let words: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
    normal_forms(&words, 0, &mut out);
    out
}

fn push(out: &mut Vec<String>, s: String) {
    if !s.is_empty() && !out.contains(&s) {
        out.push(s);
    }
}

fn normal_forms(words: &[String], depth: usize, out: &mut Vec<String>) {
    if depth > MAX_NESTING || words.is_empty() {
        return;
    }
    let mut w: Vec<String> = words.to_vec();
    // Wrappers, as often as they are stacked (`env X=1 busybox rm`).
    loop {
        let Some(first) = w.first() else { return };
        let prog = basename(first);
        if WRAPPERS.contains(&prog.as_str()) {
            w.remove(0);
            // env's assignments and wrappers' options go too.
            while w
                .first()
                .is_some_and(|a| a.starts_with('-') || (prog == "env" && a.contains('=')))
            {
                w.remove(0);
            }
            continue;
        }
        break;
    }
    let Some(first) = w.first() else { return };
    let prog = basename(first);
    let rest: Vec<String> = w[1..].iter().map(|a| normalise_path(a)).collect();
    let mut form = vec![prog.clone()];
    form.extend(rest.iter().cloned());
    push(out, form.join(" "));
    if SHELLS.contains(&prog.as_str()) {
        // The script after -c (options may be combined: -ec, -xc).
        let mut i = 0;
        while i < rest.len() {
            let a = &rest[i];
            if a.starts_with('-') && !a.starts_with("--") && a.contains('c') {
                if let Some(script) = w.get(i + 2) {
                    for part in split_script(script) {
                        normal_forms(&part, depth + 1, out);
                    }
                }
                break;
            }
            i += 1;
        }
    }
}

/// A script's simple commands (split at `;`, `&`, `|`, newlines and
/// parentheses outside quotes), each as words with shell quoting removed.
/// Not a shell: enough to see the commands a one-liner runs.
fn split_script(script: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = script.chars();
    let end_word = |words: &mut Vec<String>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                word.push(n);
                            }
                        }
                        _ => word.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            ';' | '&' | '|' | '\n' | '(' | ')' | '`' => {
                end_word(&mut words, &mut word, &mut in_word);
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            c if c.is_whitespace() => end_word(&mut words, &mut word, &mut in_word),
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    end_word(&mut words, &mut word, &mut in_word);
    if !words.is_empty() {
        commands.push(words);
    }
    commands
}

/// The last path segment of a program (`/bin/rm` → `rm`).
fn basename(prog: &str) -> String {
    prog.trim_end_matches('/').rsplit('/').next().unwrap_or(prog).to_owned()
}

/// An absolute path with `//`, `/./` and `..` resolved (`//.` → `/`);
/// anything else as it is.
fn normalise_path(arg: &str) -> String {
    if !arg.starts_with('/') {
        return arg.to_owned();
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in arg.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(argv: &[&str], want: &str) -> bool {
        exec_forms(argv).iter().any(|f| f == want)
    }

    #[test]
    fn the_walk_arounds_normalise_to_the_command() {
        for argv in [
            &["rm", "-rf", "/"][..],
            &["/bin/rm", "-rf", "/"],
            &["rm", "-rf", "//"],
            &["rm", "-rf", "/."],
            &["rm", "-rf", "/tmp/.."],
            &["busybox", "rm", "-rf", "/"],
            &["/bin/busybox", "rm", "-rf", "///"],
            &["env", "A=1", "rm", "-rf", "/"],
            &["sh", "-c", "rm -rf /"],
            &["bash", "-ec", "cd /tmp; /usr/bin/rm -rf '/'"],
            &["sh", "-c", "sh -c 'busybox rm -rf /.'"],
        ] {
            assert!(has(argv, "rm -rf /"), "{argv:?}: {:?}", exec_forms(argv));
        }
    }

    proptest::proptest! {
        #[test]
        fn any_argv_gives_its_own_text_first_and_never_panics(argv in proptest::collection::vec(".{0,12}", 0..6)) {
            let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
            let forms = exec_forms(&refs);
            proptest::prop_assert_eq!(&forms[0], &argv.join(" "));
        }
    }

    #[test]
    fn other_commands_keep_their_meaning() {
        let forms = exec_forms(&["ls", "-la", "/tmp"]);
        assert_eq!(forms, ["ls -la /tmp"]);
        assert!(!has(&["rm", "-rf", "/tmp/x"], "rm -rf /"));
        assert!(exec_forms(&[]).iter().all(String::is_empty));
    }
}
