//! The Kubernetes audit `Policy` (`audit.k8s.io/v1`), loaded unchanged from
//! the files clusters already use: validated as the API server validates
//! it, and matched as its `checker.go` matches (first matching rule wins).

use std::path::Path;

use serde::Deserialize;

use tollgate_kube::ConfigError;

use crate::{Level, Stage};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPolicy {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    rules: Option<Vec<RawRule>>,
    #[serde(default)]
    omit_stages: Vec<String>,
    #[serde(default)]
    omit_managed_fields: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRule {
    level: Option<String>,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    user_groups: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    resources: Vec<RawGroupResources>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    non_resource_urls: Vec<String>,
    #[serde(default)]
    omit_stages: Vec<String>,
    omit_managed_fields: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawGroupResources {
    #[serde(default)]
    group: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
}

/// A group and its resources in a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupResources {
    /// The API group (`""` core, `*` any).
    pub group: String,
    /// Resources (`pods`, `pods/log`, `*`, `*/status`, `pods/*`); empty = all.
    pub resources: Vec<String>,
    /// Object names; empty = all.
    pub resource_names: Vec<String>,
}

/// One rule of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyRule {
    /// The level for matching requests.
    pub level: Level,
    /// User names (exact).
    pub users: Vec<String>,
    /// Groups (any).
    pub user_groups: Vec<String>,
    /// Verbs (exact RequestInfo verbs).
    pub verbs: Vec<String>,
    /// Resources.
    pub resources: Vec<GroupResources>,
    /// Namespaces (`""`: cluster-scoped and all-namespace requests).
    pub namespaces: Vec<String>,
    /// Non-resource URL paths (`*` suffix: prefix).
    pub non_resource_urls: Vec<String>,
    /// Stages not recorded (added to the policy's).
    pub omit_stages: Vec<Stage>,
    /// Strips managedFields from bodies, when set.
    pub omit_managed_fields: Option<bool>,
}

/// An audit policy.
///
/// ```
/// use tollgate_audit::{AuditPolicy, Level, Stage, RequestAttributes};
/// let p = AuditPolicy::parse(r#"
/// apiVersion: audit.k8s.io/v1
/// kind: Policy
/// omitStages: [RequestReceived]
/// rules:
///   - level: None
///     nonResourceURLs: ["/healthz*"]
///   - level: RequestResponse
///     resources: [{group: "", resources: ["secrets"]}]
///   - level: Metadata
/// "#, "<inline>")?;
/// let get_secret = RequestAttributes { resource_request: true, verb: "get", resource: "secrets", namespace: "a", ..Default::default() };
/// let d = p.evaluate(&get_secret);
/// assert_eq!(d.level, Level::RequestResponse);
/// assert!(d.omits(Stage::RequestReceived));
/// let health = RequestAttributes { verb: "get", path: "/healthz/etcd", ..Default::default() };
/// assert_eq!(p.evaluate(&health).level, Level::None);
/// # Ok::<_, tollgate_kube::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditPolicy {
    /// The rules, in order.
    pub rules: Vec<PolicyRule>,
    /// Stages never recorded.
    pub omit_stages: Vec<Stage>,
    /// Strip managedFields from bodies by default.
    pub omit_managed_fields: bool,
}

/// What the policy decided for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditLevel {
    /// The level.
    pub level: Level,
    /// Stages not recorded (the policy's and the rule's).
    pub omit_stages: Vec<Stage>,
    /// Strip managedFields from bodies.
    pub omit_managed_fields: bool,
    /// The index of the matching rule.
    pub rule: Option<usize>,
}

impl AuditLevel {
    /// Whether `stage` is not recorded.
    pub fn omits(&self, stage: Stage) -> bool {
        self.omit_stages.contains(&stage)
    }
}

/// What a rule is matched against: the authenticated user and the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestAttributes<'a> {
    /// The authenticated user's name.
    pub user: &'a str,
    /// Their groups.
    pub groups: &'a [String],
    /// The verb.
    pub verb: &'a str,
    /// A resource request (else non-resource).
    pub resource_request: bool,
    /// The namespace (`""` cluster-scoped or all namespaces).
    pub namespace: &'a str,
    /// The API group.
    pub group: &'a str,
    /// The resource.
    pub resource: &'a str,
    /// The subresource.
    pub subresource: &'a str,
    /// The object name (`""` for collections).
    pub name: &'a str,
    /// The URL path (non-resource requests).
    pub path: &'a str,
}

impl RequestAttributes<'_> {
    /// The attributes of a request as RequestInfo parsed it.
    ///
    /// ```
    /// # use http::{Method, Uri};
    /// let info = tollgate_kube::RequestInfo::parse(&Method::GET, &Uri::from_static("/api/v1/namespaces/a/pods/x/log"))?;
    /// let a = tollgate_audit::RequestAttributes::from_info(&info, "alice", &[]);
    /// assert_eq!((a.resource, a.subresource, a.name), ("pods", "log", "x"));
    /// # Ok::<_, tollgate_kube::Error>(())
    /// ```
    pub fn from_info<'a>(
        info: &'a tollgate_kube::RequestInfo,
        user: &'a str,
        groups: &'a [String],
    ) -> RequestAttributes<'a> {
        RequestAttributes {
            user,
            groups,
            verb: &info.verb,
            resource_request: info.is_resource_request,
            namespace: &info.namespace,
            group: &info.api_group,
            resource: &info.resource,
            subresource: &info.subresource,
            name: &info.name,
            path: &info.path,
        }
    }
}

fn level(s: &str) -> Option<Level> {
    Some(match s {
        "None" => Level::None,
        "Metadata" => Level::Metadata,
        "Request" => Level::Request,
        "RequestResponse" => Level::RequestResponse,
        _ => return None,
    })
}

fn stage(s: &str) -> Option<Stage> {
    Some(match s {
        "RequestReceived" => Stage::RequestReceived,
        "ResponseStarted" => Stage::ResponseStarted,
        "ResponseComplete" => Stage::ResponseComplete,
        "Panic" => Stage::Panic,
        _ => return None,
    })
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The line of each item of the top-level `rules:` sequence (YAML block
/// style); empty when the text is laid out otherwise.
fn rule_lines(text: &str) -> Vec<usize> {
    let mut lines = text.lines().enumerate();
    if !lines.any(|(_, l)| l.trim_end() == "rules:") {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut indent = None;
    for (n, l) in lines {
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let this = l.len() - trimmed.len();
        if this == 0 && !trimmed.starts_with('-') {
            break;
        }
        if trimmed.starts_with("- ") || trimmed == "-" {
            match indent {
                None => {
                    indent = Some(this);
                    out.push(n + 1);
                }
                Some(i) if i == this => out.push(n + 1),
                _ => {}
            }
        }
    }
    out
}

impl AuditPolicy {
    /// Reads and parses a policy file.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, line and field.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = tollgate_kube::files::read_config_text(path)
            .map_err(|e| ConfigError::new(&file, "(file)", format!("cannot read: {e}")))?;
        Self::parse(&text, &file)
    }

    /// Parses and validates a policy (YAML or JSON).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, line and field.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let err =
            |line: Option<usize>, field: String, message: String| ConfigError::new(file, field, message).at_line(line);
        let raw: RawPolicy = tollgate_kube::from_yaml(text, file)?;
        let _ = raw.metadata;
        match raw.api_version.as_deref() {
            Some("audit.k8s.io/v1") => {}
            other => {
                return Err(err(
                    None,
                    "apiVersion".to_owned(),
                    format!("must be audit.k8s.io/v1, not {other:?}"),
                ));
            }
        }
        if raw.kind.as_deref() != Some("Policy") {
            return Err(err(
                None,
                "kind".to_owned(),
                format!("must be Policy, not {:?}", raw.kind),
            ));
        }
        let stages = |list: &[String], at: &str, line: Option<usize>| -> Result<Vec<Stage>, ConfigError> {
            list.iter()
                .enumerate()
                .map(|(i, s)| {
                    stage(s).ok_or_else(|| {
                        err(
                            line,
                            format!("{at}[{i}]"),
                            format!(
                                "unknown stage {s:?} (RequestReceived, ResponseStarted, ResponseComplete or Panic)"
                            ),
                        )
                    })
                })
                .collect()
        };
        let omit_stages = stages(&raw.omit_stages, "omitStages", None)?;
        let Some(raw_rules) = raw.rules else {
            return Err(err(None, "rules".to_owned(), "required".to_owned()));
        };
        let lines = rule_lines(text);
        let mut rules = Vec::new();
        for (i, r) in raw_rules.into_iter().enumerate() {
            let line = lines.get(i).copied();
            let at = format!("rules[{i}]");
            let e = |field: &str, m: String| err(line, format!("{at}.{field}"), m);
            let lvl = match r.level.as_deref() {
                None | Some("") => return Err(e("level", "required".to_owned())),
                Some(l) => level(l).ok_or_else(|| {
                    e(
                        "level",
                        format!("unknown level {l:?} (None, Metadata, Request or RequestResponse)"),
                    )
                })?,
            };
            if !r.non_resource_urls.is_empty() && (!r.resources.is_empty() || !r.namespaces.is_empty()) {
                return Err(e(
                    "nonResourceURLs",
                    "rules cannot apply to both regular resources and non-resource URLs".to_owned(),
                ));
            }
            for (j, u) in r.non_resource_urls.iter().enumerate() {
                let bad = if u == "*" {
                    None
                } else if !u.starts_with('/') {
                    Some("non-resource URL rules must begin with a '/' character")
                } else if u.find('*').is_some_and(|p| p != u.len() - 1) {
                    Some("non-resource URL wildcards '*' must be the final character of the rule")
                } else {
                    None
                };
                if let Some(m) = bad {
                    return Err(e(&format!("nonResourceURLs[{j}]"), format!("{m}: {u:?}")));
                }
            }
            let mut resources = Vec::new();
            for (j, g) in r.resources.into_iter().enumerate() {
                if !g.group.is_empty() && g.group != "*" && !is_dns_subdomain(&g.group) {
                    return Err(e(
                        &format!("resources[{j}].group"),
                        format!("{:?} is not a valid API group (a DNS subdomain)", g.group),
                    ));
                }
                if !g.resource_names.is_empty() && g.resources.is_empty() {
                    return Err(e(
                        &format!("resources[{j}].resourceNames"),
                        "using resourceNames requires at least one resource".to_owned(),
                    ));
                }
                if let Some(k) = g.resources.iter().position(String::is_empty) {
                    return Err(e(
                        &format!("resources[{j}].resources[{k}]"),
                        "must not be empty".to_owned(),
                    ));
                }
                resources.push(GroupResources {
                    group: g.group,
                    resources: g.resources,
                    resource_names: g.resource_names,
                });
            }
            rules.push(PolicyRule {
                level: lvl,
                users: r.users,
                user_groups: r.user_groups,
                verbs: r.verbs,
                resources,
                namespaces: r.namespaces,
                non_resource_urls: r.non_resource_urls,
                omit_stages: stages(&r.omit_stages, &format!("{at}.omitStages"), line)?,
                omit_managed_fields: r.omit_managed_fields,
            });
        }
        Ok(AuditPolicy {
            rules,
            omit_stages,
            omit_managed_fields: raw.omit_managed_fields,
        })
    }

    /// Where the policy omits `RequestReceived` for requests it records —
    /// for those, a request is forwarded without waiting for its record to
    /// be confirmed (throughput over the guarantee): the policy's own
    /// `omitStages`, and `rules[i]` for each rule that adds it.
    ///
    /// ```
    /// let p = tollgate_audit::AuditPolicy::parse(
    ///     "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  omitStages: [RequestReceived]\n- level: Metadata\n  omitStages: [RequestReceived]\n",
    ///     "<inline>",
    /// )?;
    /// assert_eq!(p.unconfirmed(), ["rules[1]"]);
    /// # Ok::<_, tollgate_kube::ConfigError>(())
    /// ```
    pub fn unconfirmed(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.omit_stages.contains(&Stage::RequestReceived) && self.rules.iter().any(|r| r.level != Level::None) {
            out.push("omitStages".to_owned());
        }
        for (i, r) in self.rules.iter().enumerate() {
            if r.level != Level::None && r.omit_stages.contains(&Stage::RequestReceived) {
                out.push(format!("rules[{i}]"));
            }
        }
        out
    }

    /// A policy recording everything at one level.
    pub fn everything(level: Level) -> Self {
        AuditPolicy {
            rules: vec![PolicyRule {
                level,
                users: Vec::new(),
                user_groups: Vec::new(),
                verbs: Vec::new(),
                resources: Vec::new(),
                namespaces: Vec::new(),
                non_resource_urls: Vec::new(),
                omit_stages: Vec::new(),
                omit_managed_fields: None,
            }],
            omit_stages: Vec::new(),
            omit_managed_fields: false,
        }
    }

    /// The level for a request: the first matching rule's, else `None`.
    pub fn evaluate(&self, a: &RequestAttributes<'_>) -> AuditLevel {
        for (i, r) in self.rules.iter().enumerate() {
            if rule_matches(r, a) {
                let mut omit = self.omit_stages.clone();
                for s in &r.omit_stages {
                    if !omit.contains(s) {
                        omit.push(*s);
                    }
                }
                return AuditLevel {
                    level: r.level,
                    omit_stages: omit,
                    omit_managed_fields: r.omit_managed_fields.unwrap_or(self.omit_managed_fields),
                    rule: Some(i),
                };
            }
        }
        AuditLevel {
            level: Level::None,
            omit_stages: self.omit_stages.clone(),
            omit_managed_fields: self.omit_managed_fields,
            rule: None,
        }
    }
}

fn has(list: &[String], s: &str) -> bool {
    list.iter().any(|x| x == s)
}

fn rule_matches(r: &PolicyRule, a: &RequestAttributes<'_>) -> bool {
    if !r.users.is_empty() && !has(&r.users, a.user) {
        return false;
    }
    if !r.user_groups.is_empty() && !a.groups.iter().any(|g| has(&r.user_groups, g)) {
        return false;
    }
    if !r.verbs.is_empty() && !has(&r.verbs, a.verb) {
        return false;
    }
    if !r.namespaces.is_empty() || !r.resources.is_empty() {
        return matches_resource(r, a);
    }
    if !r.non_resource_urls.is_empty() {
        return !a.resource_request && r.non_resource_urls.iter().any(|spec| path_matches(a.path, spec));
    }
    true
}

fn matches_resource(r: &PolicyRule, a: &RequestAttributes<'_>) -> bool {
    if !a.resource_request {
        return false;
    }
    if !r.namespaces.is_empty() && !has(&r.namespaces, a.namespace) {
        return false;
    }
    if r.resources.is_empty() {
        return true;
    }
    let combined = if a.subresource.is_empty() {
        a.resource.to_owned()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    for gr in &r.resources {
        if gr.group != a.group && gr.group != "*" {
            continue;
        }
        if gr.resources.is_empty() {
            return true;
        }
        if !gr.resource_names.is_empty() && !has(&gr.resource_names, a.name) {
            continue;
        }
        for res in &gr.resources {
            if *res == combined || res == "*" {
                return true;
            }
            if !a.subresource.is_empty() && res.strip_prefix("*/") == Some(a.subresource) {
                return true;
            }
            if res.strip_suffix("/*") == Some(a.resource) {
                return true;
            }
        }
    }
    false
}

fn path_matches(path: &str, spec: &str) -> bool {
    if spec == "*" || spec == path {
        return true;
    }
    spec.strip_suffix('*').is_some_and(|prefix| path.starts_with(prefix))
}
