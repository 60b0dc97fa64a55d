//! Value detectors: secrets recognisable by their shape, wherever they are.

use regex::Regex;

/// A named pattern for secret-shaped strings.
#[derive(Debug, Clone)]
pub struct Detector {
    /// Its name, e.g. `jwt`.
    pub name: String,
    pub(crate) re: Regex,
}

impl Detector {
    /// A detector from a regex (size-limited).
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) when the regex does not
    /// compile.
    pub fn new(name: impl Into<String>, re: &str) -> Result<Self, crate::Error> {
        let name = name.into();
        let re = regex::RegexBuilder::new(re)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| crate::Error::Config(format!("detector {name:?}: {e}")))?;
        Ok(Detector { name, re })
    }

    /// Whether `s` contains a match.
    pub fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }

    /// The defaults: PEM private keys, JWTs, AWS access keys, GitHub and
    /// GitLab tokens, Slack tokens.
    ///
    /// ```
    /// let d = tollgate_redact::Detector::defaults();
    /// let hit = |s: &str| d.iter().any(|x| x.is_match(s));
    /// assert!(hit("ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"));
    /// assert!(hit("AKIAABCDEFGHIJKLMNOP"));
    /// assert!(hit("-----BEGIN RSA PRIVATE KEY-----\nabc"));
    /// assert!(hit("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
    /// assert!(!hit("nginx:1.27"));
    /// ```
    pub fn defaults() -> Vec<Detector> {
        [
            ("pem-private-key", r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----"),
            ("jwt", r"eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}"),
            ("aws-access-key", r"\b(AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"),
            (
                "github-token",
                r"\b(gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
            ),
            ("gitlab-token", r"\bglpat-[A-Za-z0-9_-]{20,}\b"),
            ("slack-token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
        ]
        .iter()
        .filter_map(|(n, r)| Detector::new(*n, r).ok())
        .collect()
    }
}
