//! The API server's `AuthenticationConfiguration` (`apiserver.config.k8s.io`
//! v1, v1beta1, v1alpha1): its `jwt` list, loaded unchanged.
//!
//! The CEL forms load too — `claimValidationRules[].expression` with its
//! `message`, `claimMappings.{username,groups,uid}.expression`,
//! `extra[].valueExpression`, `userValidationRules` — compiled and checked
//! at load ([`tollgate_kube::cel`]), with the API server's load-time rules;
//! an expression using a function Tollgate does not provide is refused,
//! named, rather than ignored.

use jsonwebtoken::Algorithm;
use serde_json::Value;

use tollgate_kube::ConfigError;
use tollgate_kube::cel::Expression;

/// The default allow-list: every asymmetric algorithm; never `none`, never HS*.
pub const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A parsed configuration.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AuthenticationConfiguration {
    /// The JWT authenticators, one per issuer.
    pub jwt: Vec<JwtAuthenticator>,
    /// `anonymous.enabled`.
    pub anonymous: bool,
}

/// One `jwt` entry.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JwtAuthenticator {
    /// `issuer.url`: `iss` and the discovery document's `issuer` must equal it.
    pub url: String,
    /// `issuer.discoveryURL`.
    pub discovery_url: Option<String>,
    /// `issuer.certificateAuthority` (PEM).
    pub certificate_authority: Option<String>,
    /// `issuer.audiences`.
    pub audiences: Vec<String>,
    /// `claimValidationRules` with `claim`/`requiredValue`.
    pub claim_rules: Vec<(String, String)>,
    /// `claimMappings.username`.
    pub username: ClaimMapping,
    /// `claimMappings.groups`.
    pub groups: Option<ClaimMapping>,
    /// `claimMappings.uid.claim`.
    pub uid_claim: Option<String>,
    /// Allowed signing algorithms (Tollgate setting; default [`DEFAULT_ALGORITHMS`]).
    pub algorithms: Vec<Algorithm>,
    /// The CEL forms: `claimValidationRules[].expression`, the
    /// `claimMappings` expressions, `extra`, `userValidationRules`.
    pub cel: CelMappings,
}

/// The CEL parts of one `jwt` entry, compiled at load.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CelMappings {
    /// `claimValidationRules[]` with `expression` (over `claims`) and `message`.
    pub claim_rules: Vec<CelRule>,
    /// `claimMappings.username.expression` (a string; empty is refused).
    pub username: Option<Expression>,
    /// `claimMappings.groups.expression` (a string or a list of strings).
    pub groups: Option<Expression>,
    /// `claimMappings.uid.expression` (a string).
    pub uid: Option<Expression>,
    /// `claimMappings.extra[]`: `key` and `valueExpression` (a string or a
    /// list of strings; empty: no value).
    pub extra: Vec<(String, Expression)>,
    /// `userValidationRules[]` over `user` (`username`, `uid`, `groups`,
    /// `extra`), after mapping.
    pub user_rules: Vec<CelRule>,
}

impl CelMappings {
    /// Whether there is anything to evaluate.
    pub fn is_empty(&self) -> bool {
        self.claim_rules.is_empty()
            && self.username.is_none()
            && self.groups.is_none()
            && self.uid.is_none()
            && self.extra.is_empty()
            && self.user_rules.is_empty()
    }
}

/// A CEL rule that must hold, and what to say when it does not.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CelRule {
    /// The expression (a bool).
    pub expression: Expression,
    /// The message when it is false.
    pub message: String,
}

/// A `claim` with its `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClaimMapping {
    /// The claim.
    pub claim: String,
    /// The prefix (may be empty).
    pub prefix: String,
}

impl JwtAuthenticator {
    /// An authenticator for `url` and `audience` mapping `sub` with `prefix`
    /// (for embedding and tests).
    ///
    /// ```
    /// let a = tollgate_oidc::JwtAuthenticator::new("https://issuer.example", "tollgate", "oidc:");
    /// assert_eq!(a.username.claim, "sub");
    /// ```
    pub fn new(url: impl Into<String>, audience: impl Into<String>, prefix: impl Into<String>) -> Self {
        JwtAuthenticator {
            url: url.into(),
            discovery_url: None,
            certificate_authority: None,
            audiences: vec![audience.into()],
            claim_rules: Vec::new(),
            username: ClaimMapping {
                claim: "sub".to_owned(),
                prefix: prefix.into(),
            },
            groups: None,
            uid_claim: None,
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            cel: CelMappings::default(),
        }
    }
}

struct P<'a> {
    file: &'a str,
}

impl P<'_> {
    fn err(&self, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file, field, message)
    }

    fn string(&self, v: &Value, key: &str, at: &str) -> Result<Option<String>, ConfigError> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(format!("{at}.{key}"), "must be a string")),
        }
    }

    /// The CEL expression at `key` of `v`, compiled for `variables`; the
    /// error names the field and, for syntax, the position.
    fn expression(
        &self,
        v: &Value,
        key: &str,
        at: &str,
        variables: &[&str],
    ) -> Result<Option<Expression>, ConfigError> {
        match self.string(v, key, at)? {
            None => Ok(None),
            Some(src) if src.trim().is_empty() => Err(self.err(format!("{at}.{key}"), "must not be empty")),
            Some(src) => Expression::compile(&src, variables)
                .map(Some)
                .map_err(|e| self.err(format!("{at}.{key}"), e.to_string())),
        }
    }
}

fn https_url(s: &str) -> Result<(), String> {
    let rest = s.strip_prefix("https://").ok_or("must be an https URL")?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err("has no host".to_owned());
    }
    if rest.contains(['?', '#']) {
        return Err("must not have a query or fragment".to_owned());
    }
    if rest.split('/').next().is_some_and(|host| host.contains('@')) {
        return Err("must not have user information".to_owned());
    }
    Ok(())
}

/// Parses an `AuthenticationConfiguration` document.
///
/// ```
/// let yaml = r#"
/// apiVersion: apiserver.config.k8s.io/v1
/// kind: AuthenticationConfiguration
/// jwt:
/// - issuer:
///     url: https://token.actions.githubusercontent.com
///     audiences: [tollgate]
///   claimValidationRules:
///   - claim: repository_owner
///     requiredValue: acme
///   claimMappings:
///     username: {claim: sub, prefix: "github:"}
/// "#;
/// let c = tollgate_oidc::parse_authentication_configuration(yaml, "authn.yaml")?;
/// assert_eq!(c.jwt[0].claim_rules, [("repository_owner".to_owned(), "acme".to_owned())]);
/// # Ok::<_, tollgate_kube::ConfigError>(())
/// ```
///
/// # Errors
/// A [`ConfigError`] naming the entry, e.g. `jwt[0].claimMappings.username.prefix`.
pub fn parse_authentication_configuration(text: &str, file: &str) -> Result<AuthenticationConfiguration, ConfigError> {
    let p = P { file };
    let doc = tollgate_kube::yaml_to_json(text).map_err(|e| p.err("(document)", e.to_string()))?;
    if !doc.is_object() {
        return Err(p.err("(document)", "must be a mapping"));
    }
    match doc.get("apiVersion").and_then(Value::as_str) {
        Some("apiserver.config.k8s.io/v1" | "apiserver.config.k8s.io/v1beta1" | "apiserver.config.k8s.io/v1alpha1") => {
        }
        other => {
            return Err(p.err(
                "apiVersion",
                format!("{other:?} is not apiserver.config.k8s.io/v1, v1beta1 or v1alpha1"),
            ));
        }
    }
    if doc.get("kind").and_then(Value::as_str) != Some("AuthenticationConfiguration") {
        return Err(p.err("kind", "must be AuthenticationConfiguration"));
    }
    if doc.get("authorization").is_some() {
        return Err(p.err("authorization", "unknown field"));
    }
    let anonymous = match doc.get("anonymous") {
        None | Some(Value::Null) => false,
        Some(a) => {
            if a.get("conditions").is_some_and(|c| !c.is_null()) {
                return Err(p.err(
                    "anonymous.conditions",
                    "not supported by Tollgate: anonymous is all or nothing",
                ));
            }
            a.get("enabled").and_then(Value::as_bool).unwrap_or(false)
        }
    };
    let list = match doc.get("jwt") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(p.err("jwt", "must be a list")),
    };
    if list.len() > 64 {
        return Err(p.err("jwt", "at most 64 authenticators"));
    }
    let mut jwt = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let at = format!("jwt[{i}]");
        let a = authenticator(&p, entry, &at)?;
        if jwt.iter().any(|o: &JwtAuthenticator| o.url == a.url) {
            return Err(p.err(format!("{at}.issuer.url"), format!("duplicate issuer {:?}", a.url)));
        }
        if let Some(d) = &a.discovery_url
            && jwt
                .iter()
                .any(|o: &JwtAuthenticator| o.discovery_url.as_ref() == Some(d))
        {
            return Err(p.err(
                format!("{at}.issuer.discoveryURL"),
                format!("duplicate discovery URL {d:?}"),
            ));
        }
        jwt.push(a);
    }
    Ok(AuthenticationConfiguration { jwt, anonymous })
}

fn authenticator(p: &P<'_>, v: &Value, at: &str) -> Result<JwtAuthenticator, ConfigError> {
    if !v.is_object() {
        return Err(p.err(at, "must be a mapping"));
    }
    let issuer = v
        .get("issuer")
        .filter(|i| i.is_object())
        .ok_or_else(|| p.err(format!("{at}.issuer"), "required"))?;
    let ia = format!("{at}.issuer");
    let url = p
        .string(issuer, "url", &ia)?
        .ok_or_else(|| p.err(format!("{ia}.url"), "required"))?;
    https_url(&url).map_err(|m| p.err(format!("{ia}.url"), m))?;
    let discovery_url = p.string(issuer, "discoveryURL", &ia)?.filter(|d| !d.is_empty());
    if let Some(d) = &discovery_url {
        https_url(d).map_err(|m| p.err(format!("{ia}.discoveryURL"), m))?;
        if d == &url {
            return Err(p.err(format!("{ia}.discoveryURL"), "must differ from issuer.url"));
        }
    }
    let certificate_authority = p.string(issuer, "certificateAuthority", &ia)?.filter(|c| !c.is_empty());
    let audiences: Vec<String> = match issuer.get("audiences") {
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(j, x)| match x {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                _ => Err(p.err(format!("{ia}.audiences[{j}]"), "must be a non-empty string")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(p.err(format!("{ia}.audiences"), "required: a non-empty list")),
    };
    if audiences.is_empty() {
        return Err(p.err(format!("{ia}.audiences"), "required: a non-empty list"));
    }
    for (j, a) in audiences.iter().enumerate() {
        if audiences[..j].contains(a) {
            return Err(p.err(format!("{ia}.audiences[{j}]"), format!("duplicate audience {a:?}")));
        }
    }
    match (
        p.string(issuer, "audienceMatchPolicy", &ia)?.as_deref(),
        audiences.len(),
    ) {
        (Some("MatchAny"), _) | (None | Some(""), 1) => {}
        (None | Some(""), _) => {
            return Err(p.err(
                format!("{ia}.audienceMatchPolicy"),
                "must be MatchAny when more than one audience is set",
            ));
        }
        (Some(other), _) => {
            return Err(p.err(
                format!("{ia}.audienceMatchPolicy"),
                format!("{other:?} is not MatchAny"),
            ));
        }
    }
    if let Some(e) = p.string(issuer, "egressSelectorType", &ia)?
        && !e.is_empty()
    {
        return Err(p.err(format!("{ia}.egressSelectorType"), "not supported by Tollgate"));
    }

    let mut claim_rules = Vec::new();
    let mut cel = CelMappings::default();
    if let Some(rules) = v.get("claimValidationRules").filter(|r| !r.is_null()) {
        let rules = rules
            .as_array()
            .ok_or_else(|| p.err(format!("{at}.claimValidationRules"), "must be a list"))?;
        for (j, r) in rules.iter().enumerate() {
            let ra = format!("{at}.claimValidationRules[{j}]");
            if let Some(expression) = p.expression(r, "expression", &ra, &["claims"])? {
                for k in ["claim", "requiredValue"] {
                    if p.string(r, k, &ra)?.is_some_and(|x| !x.is_empty()) {
                        return Err(p.err(format!("{ra}.{k}"), "must not be set when expression is set"));
                    }
                }
                let message = p
                    .string(r, "message", &ra)?
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| format!("claims failed {:?}", expression.source()));
                cel.claim_rules.push(CelRule { expression, message });
                continue;
            }
            if p.string(r, "message", &ra)?.is_some_and(|m| !m.is_empty()) {
                return Err(p.err(format!("{ra}.message"), "only meaningful with expression"));
            }
            let claim = p
                .string(r, "claim", &ra)?
                .filter(|c| !c.is_empty())
                .ok_or_else(|| p.err(format!("{ra}.claim"), "required"))?;
            if claim_rules.iter().any(|(c, _): &(String, String)| c == &claim) {
                return Err(p.err(format!("{ra}.claim"), format!("duplicate claim {claim:?}")));
            }
            let value = p.string(r, "requiredValue", &ra)?.unwrap_or_default();
            claim_rules.push((claim, value));
        }
    }

    let ma = format!("{at}.claimMappings");
    let mappings = v
        .get("claimMappings")
        .filter(|m| m.is_object())
        .ok_or_else(|| p.err(&ma, "required"))?;
    // A mapping is `claim` + `prefix`, or `expression` (then neither).
    let expression_of = |name: &str| -> Result<Option<Expression>, ConfigError> {
        let fa = format!("{ma}.{name}");
        let Some(m) = mappings.get(name).filter(|m| !m.is_null()) else {
            return Ok(None);
        };
        let Some(e) = p.expression(m, "expression", &fa, &["claims"])? else {
            return Ok(None);
        };
        for k in ["claim", "prefix"] {
            if p.string(m, k, &fa)?.is_some() {
                return Err(p.err(format!("{fa}.{k}"), "must not be set when expression is set"));
            }
        }
        Ok(Some(e))
    };
    cel.username = expression_of("username")?;
    cel.groups = expression_of("groups")?;
    cel.uid = expression_of("uid")?;
    let mapping = |name: &str, required: bool| -> Result<Option<ClaimMapping>, ConfigError> {
        let fa = format!("{ma}.{name}");
        let Some(m) = mappings.get(name).filter(|m| !m.is_null()) else {
            return if required {
                Err(p.err(&fa, "required"))
            } else {
                Ok(None)
            };
        };
        if m.get("expression").is_some_and(|e| !e.is_null()) {
            return Ok(None);
        }
        let claim = p.string(m, "claim", &fa)?.filter(|c| !c.is_empty());
        let prefix = p.string(m, "prefix", &fa)?;
        match (claim, prefix) {
            (Some(claim), Some(prefix)) => Ok(Some(ClaimMapping { claim, prefix })),
            (Some(_), None) => Err(p.err(format!("{fa}.prefix"), "required when claim is set (it may be \"\")")),
            (None, Some(_)) => Err(p.err(format!("{fa}.claim"), "required when prefix is set")),
            (None, None) if required => Err(p.err(format!("{fa}.claim"), "required")),
            (None, None) => Ok(None),
        }
    };
    let username = match mapping("username", true)? {
        Some(m) => m,
        None if cel.username.is_some() => ClaimMapping {
            claim: String::new(),
            prefix: String::new(),
        },
        None => return Err(p.err(format!("{ma}.username"), "required")),
    };
    let groups = mapping("groups", false)?;
    let uid_claim = match mappings.get("uid").filter(|u| !u.is_null()) {
        Some(u) if cel.uid.is_none() => p.string(u, "claim", &format!("{ma}.uid"))?.filter(|c| !c.is_empty()),
        _ => None,
    };
    if let Some(extra) = mappings.get("extra").filter(|e| !e.is_null()) {
        let extra = extra
            .as_array()
            .ok_or_else(|| p.err(format!("{ma}.extra"), "must be a list"))?;
        for (j, x) in extra.iter().enumerate() {
            let xa = format!("{ma}.extra[{j}]");
            let key = p
                .string(x, "key", &xa)?
                .filter(|k| !k.is_empty())
                .ok_or_else(|| p.err(format!("{xa}.key"), "required"))?;
            extra_key(&key).map_err(|m| p.err(format!("{xa}.key"), m))?;
            if cel.extra.iter().any(|(k, _)| k == &key) {
                return Err(p.err(format!("{xa}.key"), format!("duplicate key {key:?}")));
            }
            let e = p
                .expression(x, "valueExpression", &xa, &["claims"])?
                .ok_or_else(|| p.err(format!("{xa}.valueExpression"), "required"))?;
            cel.extra.push((key, e));
        }
    }
    if let Some(rules) = v.get("userValidationRules").filter(|r| !r.is_null()) {
        let rules = rules
            .as_array()
            .ok_or_else(|| p.err(format!("{at}.userValidationRules"), "must be a list"))?;
        for (j, r) in rules.iter().enumerate() {
            let ra = format!("{at}.userValidationRules[{j}]");
            let expression = p
                .expression(r, "expression", &ra, &["user"])?
                .ok_or_else(|| p.err(format!("{ra}.expression"), "required"))?;
            let message = p
                .string(r, "message", &ra)?
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| format!("the user failed {:?}", expression.source()));
            cel.user_rules.push(CelRule { expression, message });
        }
    }
    // The API server's rule: a username taken from claims.email must be
    // checked against claims.email_verified somewhere.
    if let Some(u) = &cel.username
        && u.selects("claims", "email")
        && !u.selects("claims", "email_verified")
        && !cel.extra.iter().any(|(_, e)| e.selects("claims", "email_verified"))
        && !cel
            .claim_rules
            .iter()
            .any(|r| r.expression.selects("claims", "email_verified"))
    {
        return Err(p.err(
            format!("{ma}.username.expression"),
            "claims.email_verified must be used in claimMappings.username.expression or claimMappings.extra[*].valueExpression or claimValidationRules[*].expression when claims.email is used in claimMappings.username.expression",
        ));
    }
    Ok(JwtAuthenticator {
        url,
        discovery_url,
        certificate_authority,
        audiences,
        claim_rules,
        username,
        groups,
        uid_claim,
        algorithms: DEFAULT_ALGORITHMS.to_vec(),
        cel,
    })
}

/// An `extra` key as the API server accepts one: a lowercase,
/// domain-prefixed path, not in a Kubernetes-reserved domain.
fn extra_key(key: &str) -> Result<(), String> {
    if key != key.to_lowercase() {
        return Err(format!("{key:?} must be lowercase"));
    }
    let Some((domain, path)) = key.split_once('/') else {
        return Err(format!("{key:?} must be a domain-prefixed path (example.org/foo)"));
    };
    if domain.is_empty() || path.is_empty() || !domain.contains('.') {
        return Err(format!("{key:?} must be a domain-prefixed path (example.org/foo)"));
    }
    for reserved in ["kubernetes.io", "k8s.io"] {
        if domain == reserved || domain.ends_with(&format!(".{reserved}")) {
            return Err(format!("{key:?}: the {reserved} domain is reserved"));
        }
    }
    Ok(())
}

/// Parses an algorithm name from the allow-list; `none` and HS* are refused.
///
/// ```
/// assert!(tollgate_oidc::parse_algorithm("ES256").is_ok());
/// assert!(tollgate_oidc::parse_algorithm("HS256").is_err());
/// ```
///
/// # Errors
/// [`Error::UnsupportedAlgorithm`](crate::Error::UnsupportedAlgorithm)
/// naming it (accepted: RS/PS 256/384/512, ES256/384, EdDSA).
pub fn parse_algorithm(name: &str) -> Result<Algorithm, crate::Error> {
    DEFAULT_ALGORITHMS
        .iter()
        .copied()
        .find(|a| format!("{a:?}") == name)
        .ok_or_else(|| crate::Error::UnsupportedAlgorithm(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\njwt:\n- issuer:\n    url: https://issuer.example\n    audiences: [a]\n  claimMappings:\n    username: {claim: sub, prefix: 'x:'}\n";

    fn err(text: &str) -> String {
        parse_authentication_configuration(text, "f.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn loads_the_api_servers_shape() {
        let c = parse_authentication_configuration(BASE, "f.yaml").unwrap();
        assert_eq!(c.jwt[0].url, "https://issuer.example");
        assert_eq!(
            c.jwt[0].username,
            ClaimMapping {
                claim: "sub".into(),
                prefix: "x:".into()
            }
        );
    }

    #[test]
    fn names_the_entry() {
        assert_eq!(
            err(&BASE.replace("https://issuer", "http://issuer")),
            "f.yaml: jwt[0].issuer.url: must be an https URL"
        );
        assert_eq!(
            err(&BASE.replace("prefix: 'x:'", "prefix: null")),
            "f.yaml: jwt[0].claimMappings.username.prefix: required when claim is set (it may be \"\")"
        );
        assert!(
            err(&BASE.replace("{claim: sub, prefix: 'x:'}", "{expression: 'claims.sub +'}"))
                .starts_with("f.yaml: jwt[0].claimMappings.username.expression: ")
        );
        assert!(
            err(&BASE.replace("{claim: sub, prefix: 'x:'}", "{expression: 'claims.sub', prefix: 'x'}"))
                .contains("username.prefix: must not be set when expression is set")
        );
        assert!(
            err(&BASE.replace("{claim: sub, prefix: 'x:'}", "{expression: 'claims.email'}"))
                .contains("claims.email_verified must be used")
        );
        assert!(err(&BASE.replace("audiences: [a]", "audiences: [a, b]")).contains("audienceMatchPolicy"));
        assert!(err(&BASE.replace("audiences: [a]", "audiences: []")).contains("jwt[0].issuer.audiences: required"));
        let rules = format!("{BASE}  claimValidationRules:\n  - expression: 'url(claims.iss) != null'\n");
        assert!(
            err(&rules).starts_with(
                "f.yaml: jwt[0].claimValidationRules[0].expression: url() is in Kubernetes' CEL URL library"
            )
        );
        let uvr = format!("{BASE}  userValidationRules:\n  - expression: 'claims.sub != \"\"'\n");
        assert!(
            err(&uvr).contains(
                "userValidationRules[0].expression: undeclared reference to \"claims\" (this expression may use user)"
            ),
            "{}",
            err(&uvr)
        );
        let extra = format!("{BASE}    extra:\n    - key: Example.org/x\n      valueExpression: claims.sub\n");
        assert!(err(&extra).contains("extra[0].key: \"Example.org/x\" must be lowercase"));
        let two = format!("{BASE}{}", &BASE[BASE.find("- issuer").unwrap()..]);
        assert!(err(&two).contains("jwt[1].issuer.url: duplicate issuer"));
        assert!(err(&BASE.replace("v1\nkind", "v2\nkind")).starts_with("f.yaml: apiVersion:"));
    }
}
