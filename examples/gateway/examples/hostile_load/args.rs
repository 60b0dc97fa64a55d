//! The harness's command line: every flag is one it knows, every value is
//! checked, before anything starts. An unknown flag, a missing or
//! malformed value, or a flag given twice is refused with a message naming
//! it (a typo in `--inflight` used to run every cell; `--help` used to run
//! every attack).

use std::fmt::Display;
use std::str::FromStr;

/// A flag the harness reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag {
    /// `--name`.
    pub(crate) name: &'static str,
    /// What its value is (`N`, `TEXT`), or `None` for a switch.
    pub(crate) value: Option<&'static str>,
    /// One line for `--help`.
    pub(crate) help: &'static str,
}

/// The flags given, each checked against the known ones.
#[derive(Debug, Default)]
pub(crate) struct Args {
    given: Vec<(&'static str, Option<String>)>,
}

/// What the command line asks for.
#[derive(Debug)]
pub(crate) enum Parsed {
    Run(Args),
    /// `--help` or `-h`: the usage, and nothing run.
    Help,
}

impl Args {
    /// `args` (without the program's name and mode) read against `known`.
    pub(crate) fn parse(args: &[String], known: &[Flag]) -> Result<Parsed, String> {
        let mut given: Vec<(&'static str, Option<String>)> = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--help" || a == "-h" {
                return Ok(Parsed::Help);
            }
            let Some(flag) = known.iter().find(|f| f.name == a) else {
                return Err(format!("unknown argument {a:?} (--help lists the flags)"));
            };
            if given.iter().any(|(n, _)| *n == flag.name) {
                return Err(format!("{} is given twice", flag.name));
            }
            let value = match flag.value {
                None => None,
                Some(what) => match it.next() {
                    Some(v) if !v.starts_with("--") => Some(v.clone()),
                    _ => return Err(format!("{} needs a value: {what}", flag.name)),
                },
            };
            given.push((flag.name, value));
        }
        Ok(Parsed::Run(Args { given }))
    }

    /// Whether switch `name` was given.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.given.iter().any(|(n, _)| *n == name)
    }

    /// The value of `name`, when given.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.given
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The value of `name` as a number of at least `least`, when given.
    pub(crate) fn number<T>(&self, name: &str, least: T) -> Result<Option<T>, String>
    where
        T: FromStr + PartialOrd + Display,
    {
        let Some(v) = self.text(name) else { return Ok(None) };
        match v.parse::<T>() {
            Ok(n) if n >= least => Ok(Some(n)),
            _ => Err(format!("{name} {v:?}: not a whole number of at least {least}")),
        }
    }

    /// The value of `name`, when given, which must be one of `allowed`.
    pub(crate) fn one_of(&self, name: &str, allowed: &[&'static str]) -> Result<Option<&'static str>, String> {
        let Some(v) = self.text(name) else { return Ok(None) };
        allowed
            .iter()
            .find(|a| **a == v)
            .copied()
            .map(Some)
            .ok_or_else(|| format!("{name} {v:?}: one of {}", allowed.join(", ")))
    }
}

/// A command line refused, shown as its reason: `main` returns it and
/// Rust prints an error by its `Debug` form (`Error: --rounds "0": …`,
/// exit status 1), before anything started.
pub(crate) struct Refused(pub(crate) String);

impl std::fmt::Debug for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// `--help`'s text: how to call `mode` and its flags.
pub(crate) fn usage(mode: &str, flags: &[Flag]) -> String {
    let mut out = format!("usage: hostile_load {mode}[FLAGS]\n\nflags:\n");
    for f in flags {
        let head = match f.value {
            Some(v) => format!("{} {v}", f.name),
            None => f.name.to_owned(),
        };
        out.push_str(&format!("  {head:<24} {}\n", f.help));
    }
    out.push_str(&format!("  {:<24} this text\n", "--help"));
    out
}

/// The alternatives of an `--only A|B` that name none of `names` (each
/// alternative matches a name that contains it).
pub(crate) fn unmatched<'a>(only: &'a str, names: &[&str]) -> Vec<&'a str> {
    only.split('|')
        .filter(|w| !names.iter().any(|n| n.contains(w)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Flag] = &[
        Flag {
            name: "--rounds",
            value: Some("N"),
            help: "rounds",
        },
        Flag {
            name: "--only",
            value: Some("TEXT"),
            help: "paths",
        },
        Flag {
            name: "--threads",
            value: None,
            help: "by thread",
        },
    ];

    fn parse(line: &str) -> Result<Parsed, String> {
        let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        Args::parse(&args, FLAGS)
    }

    fn run(line: &str) -> Args {
        match parse(line) {
            Ok(Parsed::Run(a)) => a,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn known_flags_and_their_values_are_read() {
        let a = run("--rounds 3 --threads --only a|b");
        assert_eq!(a.number::<usize>("--rounds", 1), Ok(Some(3)));
        assert!(a.has("--threads"));
        assert_eq!(a.text("--only"), Some("a|b"));
        let none = run("");
        assert_eq!(none.number::<usize>("--rounds", 1), Ok(None));
        assert!(!none.has("--threads"));
    }

    #[test]
    fn bad_command_lines_are_refused_naming_the_flag() {
        for (line, says) in [
            ("--rounds", "--rounds needs a value: N"),
            ("--rounds --threads", "--rounds needs a value: N"),
            ("--round 3", "unknown argument \"--round\""),
            ("3", "unknown argument \"3\""),
            ("--threads --threads", "--threads is given twice"),
        ] {
            let err = parse(line).expect_err(line);
            assert!(err.contains(says), "{line}: {err}");
        }
        for (value, least) in [("0", 1), ("x", 1), ("-1", 0), ("2.5", 1)] {
            let err = run(&format!("--rounds {value}"))
                .number::<usize>("--rounds", least)
                .expect_err(value);
            assert!(
                err.contains(&format!("--rounds \"{value}\"")) && err.contains("whole number"),
                "{err}"
            );
        }
    }

    #[test]
    fn help_is_asked_anywhere_and_lists_every_flag() {
        assert!(matches!(parse("--rounds 2 --help"), Ok(Parsed::Help)));
        assert!(matches!(parse("-h"), Ok(Parsed::Help)));
        let text = usage("--speed ", FLAGS);
        for f in FLAGS {
            assert!(text.contains(f.name), "{text}");
        }
        assert!(text.contains("--rounds N"), "{text}");
    }

    #[test]
    fn one_of_takes_only_what_is_listed() {
        let a = run("--only h3");
        assert_eq!(
            a.one_of("--only", &["h1", "h2"]),
            Err("--only \"h3\": one of h1, h2".to_owned())
        );
        assert_eq!(run("--only h2").one_of("--only", &["h1", "h2"]), Ok(Some("h2")));
    }

    #[test]
    fn an_only_alternative_that_names_no_path_is_found() {
        let names = ["authn only", "authn + audit none", "policy + audit batch"];
        assert!(unmatched("authn only|audit none", &names).is_empty());
        assert_eq!(unmatched("authn only|audit nonee", &names), ["audit nonee"]);
        assert_eq!(unmatched("", &names), Vec::<&str>::new(), "every name contains \"\"");
    }
}
