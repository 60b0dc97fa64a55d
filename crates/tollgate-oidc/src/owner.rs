//! Owner mapping: ordered rules from issuer and claim patterns to the
//! business owner who answers for an identity.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use tollgate_kube::{ConfigError, Owner, Pattern};

/// One owner rule: all its patterns must match.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OwnerRule {
    /// The owner it maps to.
    pub owner: Owner,
    /// The issuer pattern (any issuer if absent).
    pub issuer: Option<Pattern>,
    /// Claim patterns; a missing claim never matches.
    pub claims: Vec<(String, Pattern)>,
}

/// Ordered owner rules; the first match wins.
#[derive(Debug, Clone, Default)]
pub struct OwnerMapper {
    rules: Vec<OwnerRule>,
}

impl OwnerMapper {
    /// A mapper over these rules.
    pub fn new(rules: Vec<OwnerRule>) -> Self {
        OwnerMapper { rules }
    }

    /// The rules, in order.
    ///
    /// ```
    /// let m = tollgate_oidc::OwnerMapper::parse("- name: payments\n  match: {issuer: https://ci.example}\n", "owners.yaml")?;
    /// assert_eq!(m.rules()[0].owner.name, "payments");
    /// # Ok::<_, tollgate_kube::ConfigError>(())
    /// ```
    pub fn rules(&self) -> &[OwnerRule] {
        &self.rules
    }

    /// Parses the `owners` list (YAML or JSON text):
    ///
    /// ```
    /// let m = tollgate_oidc::OwnerMapper::parse(r#"
    /// - name: payments
    ///   team: payments-platform
    ///   contact: payments-oncall@example.com
    ///   labels: {tier: "1"}
    ///   match:
    ///     issuer: https://token.actions.githubusercontent.com
    ///     claims:
    ///       repository: acme/payments-*
    ///       job_workflow_ref: "re:^acme/.+@refs/heads/main$"
    /// "#, "owners.yaml")?;
    /// let claims = serde_json::json!({"repository": "acme/payments-api", "job_workflow_ref": "acme/ci/.github/workflows/deploy.yml@refs/heads/main"});
    /// let owner = m.owner_for("https://token.actions.githubusercontent.com", claims.as_object().unwrap());
    /// assert_eq!(owner.name, "payments");
    /// # Ok::<_, tollgate_kube::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// A [`ConfigError`] naming the entry.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let doc = tollgate_kube::yaml_to_json(text).map_err(|e| ConfigError::new(file, "(document)", e.to_string()))?;
        Self::from_json(&doc, file, "owners")
    }

    /// From an already-parsed list; `at` names it in errors.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the entry.
    pub fn from_json(doc: &Value, file: &str, at: &str) -> Result<Self, ConfigError> {
        let err = |f: String, m: String| ConfigError::new(file, f, m);
        let list = match doc {
            Value::Null => return Ok(OwnerMapper::default()),
            Value::Array(a) => a,
            _ => return Err(err(at.to_owned(), "must be a list".to_owned())),
        };
        let mut rules = Vec::new();
        for (i, r) in list.iter().enumerate() {
            let ra = format!("{at}[{i}]");
            let s = |k: &str| -> Result<String, ConfigError> {
                match r.get(k) {
                    None | Some(Value::Null) => Ok(String::new()),
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(_) => Err(err(format!("{ra}.{k}"), "must be a string".to_owned())),
                }
            };
            let name = s("name")?;
            if name.is_empty() || name == "unmapped" {
                return Err(err(format!("{ra}.name"), "required, and not \"unmapped\"".to_owned()));
            }
            let mut owner = Owner::new(name, s("team")?, s("contact")?);
            if let Some(labels) = r.get("labels").and_then(Value::as_object) {
                owner.labels = labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                    .collect::<BTreeMap<_, _>>();
            }
            let m = r
                .get("match")
                .filter(|m| m.is_object())
                .ok_or_else(|| err(format!("{ra}.match"), "required".to_owned()))?;
            let issuer = match m.get("issuer") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) => {
                    Some(Pattern::new(p).map_err(|e| err(format!("{ra}.match.issuer"), e.to_string()))?)
                }
                Some(_) => return Err(err(format!("{ra}.match.issuer"), "must be a string".to_owned())),
            };
            let mut claims = Vec::new();
            if let Some(c) = m.get("claims").filter(|c| !c.is_null()) {
                let c = c
                    .as_object()
                    .ok_or_else(|| err(format!("{ra}.match.claims"), "must be a mapping".to_owned()))?;
                for (k, v) in c {
                    let p = v
                        .as_str()
                        .ok_or_else(|| err(format!("{ra}.match.claims.{k}"), "must be a string pattern".to_owned()))?;
                    claims.push((
                        k.clone(),
                        Pattern::new(p).map_err(|e| err(format!("{ra}.match.claims.{k}"), e.to_string()))?,
                    ));
                }
            }
            if issuer.is_none() && claims.is_empty() {
                return Err(err(
                    format!("{ra}.match"),
                    "needs an issuer or at least one claim pattern".to_owned(),
                ));
            }
            rules.push(OwnerRule { owner, issuer, claims });
        }
        Ok(OwnerMapper { rules })
    }

    /// The first matching rule's owner, or [`Owner::unmapped`].
    pub fn owner_for(&self, issuer: &str, claims: &Map<String, Value>) -> Owner {
        self.rules
            .iter()
            .find(|r| {
                r.issuer.as_ref().is_none_or(|p| p.matches(issuer))
                    && r.claims
                        .iter()
                        .all(|(k, p)| claims.get(k).is_some_and(|v| p.matches_claim(v)))
            })
            .map_or_else(Owner::unmapped, |r| r.owner.clone())
    }
}
