//! Who a verified token is, and who answers for it.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// The business owner accountable for an identity.
///
/// ```
/// use tollgate_oidc::Owner;
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
    /// All claims of the token, for rules.
    pub claims: Map<String, Value>,
    /// The accountable owner.
    pub owner: Owner,
    /// The token's `exp` (seconds since the epoch).
    pub expires_at: u64,
}

impl Identity {
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
            claims: Map::new(),
            owner: Owner::unmapped(),
            expires_at: u64::MAX,
        }
    }
}
