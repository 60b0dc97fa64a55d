//! The vocabulary the capabilities exchange: who a request is
//! ([`Identity`], put into the request's extensions by whatever
//! authenticated it), who answers for it ([`Owner`]), the [`Pattern`]s
//! rules and owner mappings match with, and the [`Mask`] marker a policy
//! sets for the masking layer. They live here, with the request model, so
//! that a crate using one capability does not depend on another's
//! (tollgate-rules does not need the OIDC verifier to read an identity).

use std::collections::BTreeMap;

use regex::Regex;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::Error;

/// The business owner accountable for an identity.
///
/// ```
/// use tollgate_kube::Owner;
/// let o = Owner::unmapped();
/// assert_eq!(o.name, "unmapped");
/// assert!(!o.mapped);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Owner {
    /// The owner's name, e.g. `payments`.
    pub name: String,
    /// The team.
    pub team: String,
    /// How to reach them.
    pub contact: String,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
    /// False when no owner rule matched.
    pub mapped: bool,
}

impl Owner {
    /// The owner of identities no rule maps: `unmapped`, flagged.
    pub fn unmapped() -> Self {
        Owner {
            name: "unmapped".to_owned(),
            team: String::new(),
            contact: String::new(),
            labels: BTreeMap::new(),
            mapped: false,
        }
    }

    /// A mapped owner.
    pub fn new(name: impl Into<String>, team: impl Into<String>, contact: impl Into<String>) -> Self {
        Owner {
            name: name.into(),
            team: team.into(),
            contact: contact.into(),
            labels: BTreeMap::new(),
            mapped: true,
        }
    }
}

/// A verified identity, put into request extensions by the `AuthnLayer`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Identity {
    /// The issuer URL.
    pub issuer: String,
    /// The `sub` claim.
    pub subject: String,
    /// The mapped Kubernetes user name (prefix applied).
    pub username: String,
    /// The mapped uid.
    pub uid: String,
    /// The mapped groups (prefix applied).
    pub groups: Vec<String>,
    /// The mapped extra values.
    pub extra: BTreeMap<String, Vec<String>>,
    /// All claims of the token, for rules (shared: an identity is cloned
    /// into several layers' extensions per request).
    pub claims: std::sync::Arc<Map<String, Value>>,
    /// The accountable owner.
    pub owner: Owner,
    /// The token's `exp` (seconds since the epoch).
    pub expires_at: u64,
}

impl Identity {
    /// An identity named `username`, with no groups, claims or expiry and
    /// an unmapped owner: what an embedder that authenticates some other
    /// way fills in (the fields are public).
    ///
    /// ```
    /// use tollgate_kube::{Identity, Owner};
    /// let mut who = Identity::new("alice");
    /// who.groups = vec!["platform-admins".to_owned()];
    /// who.owner = Owner::new("platform", "platform-engineering", "platform@example.com");
    /// assert!(who.owner.mapped);
    /// ```
    pub fn new(username: impl Into<String>) -> Self {
        Identity {
            issuer: String::new(),
            subject: String::new(),
            username: username.into(),
            uid: String::new(),
            groups: Vec::new(),
            extra: BTreeMap::new(),
            claims: std::sync::Arc::default(),
            owner: Owner::unmapped(),
            expires_at: u64::MAX,
        }
    }

    /// The request's verified identity, from its extensions: an
    /// `Identity` there (an embedder's own authentication puts one in, and
    /// so does the `AuthnLayer` unless told not to copy it), else the
    /// `AuthnLayer`'s `Arc<Identity>` (shared with the verifier's cache,
    /// not copied per request). Every layer of Tollgate reads it this way.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tollgate_kube::Identity;
    /// let mut req = http::Request::new(());
    /// assert!(Identity::of(req.extensions()).is_none());
    /// req.extensions_mut().insert(Arc::new(Identity::new("alice")));
    /// assert_eq!(Identity::of(req.extensions()).map(|i| i.username.as_str()), Some("alice"));
    /// // One put in by value is the one read.
    /// req.extensions_mut().insert(Identity::new("bob"));
    /// assert_eq!(Identity::of(req.extensions()).map(|i| i.username.as_str()), Some("bob"));
    /// ```
    pub fn of(extensions: &http::Extensions) -> Option<&Identity> {
        crate::get_shared(extensions)
    }

    /// The anonymous identity (`system:anonymous`, group
    /// `system:unauthenticated`), used only when anonymous requests are
    /// allowed.
    pub fn anonymous() -> Self {
        Identity {
            issuer: String::new(),
            subject: String::new(),
            username: "system:anonymous".to_owned(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".to_owned()],
            extra: BTreeMap::new(),
            claims: std::sync::Arc::default(),
            owner: Owner::unmapped(),
            expires_at: u64::MAX,
        }
    }
}

/// The fields of an [`Identity`] that the API server is told it is — the
/// user, and what Tollgate impersonates (username, UID, groups, extra, and
/// the issuer, subject and owner it adds to extra) — owned. A memo of
/// something built from an identity (the `Impersonate-*` headers, the
/// users of an audit record) keeps one and reuses what it built only for
/// an identity equal in every one of these fields.
///
/// ```
/// use tollgate_kube::{Identity, ImpersonationKey};
/// let alice = Identity::new("alice");
/// let key = ImpersonationKey::of(&alice);
/// assert!(key.is(&alice));
/// let mut other = alice.clone();
/// other.groups.push("admins".to_owned());
/// assert!(!key.is(&other));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpersonationKey {
    username: String,
    uid: String,
    groups: Vec<String>,
    extra: BTreeMap<String, Vec<String>>,
    owner: String,
    issuer: String,
    subject: String,
}

impl ImpersonationKey {
    /// The key of `id`.
    pub fn of(id: &Identity) -> Self {
        ImpersonationKey {
            username: id.username.clone(),
            uid: id.uid.clone(),
            groups: id.groups.clone(),
            extra: id.extra.clone(),
            owner: id.owner.name.clone(),
            issuer: id.issuer.clone(),
            subject: id.subject.clone(),
        }
    }

    /// Whether `id` has this key (compared without copying it).
    pub fn is(&self, id: &Identity) -> bool {
        self.username == id.username
            && self.uid == id.uid
            && self.groups == id.groups
            && self.extra == id.extra
            && self.owner == id.owner.name
            && self.issuer == id.issuer
            && self.subject == id.subject
    }
}

/// A pattern: a glob (`acme/payments-*`, `?` one character) or, written
/// `re:<regex>`, a regular expression; both match the whole value.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    re: Regex,
}

impl Pattern {
    /// Compiles a pattern (size-limited).
    ///
    /// ```
    /// use tollgate_kube::Pattern;
    /// let p = Pattern::new("repo:acme/*:ref:refs/heads/main")?;
    /// assert!(p.matches("repo:acme/web:ref:refs/heads/main"));
    /// assert!(!p.matches("repo:acme/web:ref:refs/heads/dev"));
    /// assert!(Pattern::new("re:^acme/(web|api)$")?.matches("acme/api"));
    /// # Ok::<_, tollgate_kube::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidPattern`] when the regex does not compile.
    pub fn new(source: &str) -> Result<Self, Error> {
        let re = match source.strip_prefix("re:") {
            Some(r) => format!("^(?:{r})$"),
            None => {
                let mut out = String::from("^");
                for c in source.chars() {
                    match c {
                        '*' => out.push_str(".*"),
                        '?' => out.push('.'),
                        c => out.push_str(&regex::escape(&c.to_string())),
                    }
                }
                out.push('$');
                out
            }
        };
        let re = regex::RegexBuilder::new(&re)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| Error::InvalidPattern {
                pattern: source.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Pattern {
            source: source.to_owned(),
            re,
        })
    }

    /// Whether the whole value matches.
    pub fn matches(&self, v: &str) -> bool {
        self.re.is_match(v)
    }

    /// Matches a claim value: strings and numbers by their text, booleans as
    /// `true`/`false`, arrays when any element matches.
    pub fn matches_claim(&self, v: &Value) -> bool {
        match v {
            Value::String(s) => self.matches(s),
            Value::Number(n) => self.matches(&n.to_string()),
            Value::Bool(b) => self.matches(if *b { "true" } else { "false" }),
            Value::Array(a) => a.iter().any(|x| self.matches_claim(x)),
            _ => false,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// Put into a request's extensions to have its response masked (by
/// `tollgate_redact::MaskLayer`); a policy rule with `mask: true` sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mask;
