//! The policy file: `apiVersion: tollgate.dev/v1alpha1`, `kind: Policy`,
//! named rules with `match`, `when`, an action and a mode. Compiled once at
//! load: globs and regexes are built here, never per request.

use std::time::Duration;

use regex::Regex;
use serde_json::Value;
use serde_json_path::JsonPath;
use tollgate_kube::Pattern;

use tollgate_kube::ConfigError;

/// What a rule does when it matches, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Let it through.
    Allow,
    /// Let it through with a `Warning` kubectl prints.
    Warn,
    /// Hold it for a human's approval.
    RequireApproval,
    /// Refuse it with 403.
    Deny,
}

impl Action {
    /// The name used in policy files and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Warn => "warn",
            Action::RequireApproval => "require_approval",
            Action::Deny => "deny",
        }
    }
}

/// Enforce, or only record and announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// The decision takes effect.
    Enforce,
    /// The decision is recorded and announced in a `Warning` only.
    DryRun,
}

/// Who may approve, and how many.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ApprovalSpec {
    /// Approver groups.
    pub groups: Vec<String>,
    /// Approver owners.
    pub owners: Vec<String>,
    /// Approver users.
    pub users: Vec<String>,
    /// Distinct approvers needed.
    pub count: u32,
    /// How long a request may wait (default 1 h).
    pub pending_ttl: Duration,
    /// How long a grant may be used (default 15 min).
    pub grant_ttl: Duration,
    /// How many times a grant may be used (default 1).
    pub uses: u32,
    /// How long the gateway holds a request waiting for a decision before
    /// answering (default 20 s).
    pub hold: Duration,
    /// Answer a request still pending with 403 instead of 429 (for tools
    /// that do not retry): `approval.mode: deny`.
    pub deny_while_pending: bool,
}

/// One `resources` entry: a group (or `*`) and resource specs in the
/// RBAC/audit grammar (`pods`, `pods/exec`, `*/scale`, `deployments/*`, `*`).
#[derive(Debug, Clone)]
pub(crate) struct ResourceSpec {
    pub(crate) group: Option<String>,
    pub(crate) resources: Vec<String>,
    /// `resources`, each taken apart once at load (the same order).
    pub(crate) compiled: Vec<ResourcePattern>,
}

/// One entry of a `resources` list, taken apart at load so a request is
/// matched against it by comparisons only (no splitting per request).
/// It matches when any of its parts does, as the entry's text would:
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourcePattern {
    /// `*`: every resource and subresource.
    pub(crate) any: bool,
    /// `resource` (no subresource) or `resource/subresource`, exactly: the
    /// text before the slash and after it (empty without one).
    pub(crate) resource: String,
    pub(crate) subresource: String,
    /// `*/sub`: this subresource of any resource.
    pub(crate) sub_of_any: Option<String>,
    /// `res/*`: this resource, with or without any subresource.
    pub(crate) any_sub_of: Option<String>,
}

impl ResourcePattern {
    /// `r` (at most one `/`, checked at load).
    pub(crate) fn new(r: &str) -> Self {
        let (resource, subresource) = r.split_once('/').unwrap_or((r, ""));
        ResourcePattern {
            any: r == "*",
            resource: resource.to_owned(),
            subresource: subresource.to_owned(),
            sub_of_any: r.strip_prefix("*/").map(str::to_owned),
            any_sub_of: r.strip_suffix("/*").map(str::to_owned),
        }
    }

    /// Whether a request for `resource` and `subresource` (empty for none)
    /// is one this entry names.
    pub(crate) fn matches(&self, resource: &str, subresource: &str) -> bool {
        self.any
            || (self.resource == resource && self.subresource == subresource)
            || self.sub_of_any.as_deref() == Some(subresource)
            || self.any_sub_of.as_deref() == Some(resource)
    }
}

/// Where a condition looks.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Object(JsonPath),
    Claims(JsonPath),
    Query(String),
    ExecCommand,
    ExecContainer,
    /// `cel:` — an expression over `object`, `request`, `claims`, `exec`.
    Cel(tollgate_kube::cel::Expression),
}

/// The test a condition applies.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Equals(Value),
    In(Vec<Value>),
    Matches(Regex),
    Exists,
    Absent,
    Gt(f64),
    Lt(f64),
    /// `detects: credentials`: literal credentials in the selected nodes.
    DetectsCredentials,
    /// A `cel:` condition: the expression is true.
    Holds,
}

#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub(crate) source: Source,
    pub(crate) op: Op,
}

/// The `match` block, compiled.
#[derive(Debug, Clone, Default)]
pub(crate) struct Match {
    pub(crate) users: Vec<Pattern>,
    pub(crate) groups: Vec<Pattern>,
    pub(crate) owners: Vec<Pattern>,
    pub(crate) issuers: Vec<Pattern>,
    pub(crate) claims: Vec<(String, Pattern)>,
    pub(crate) verbs: Vec<String>,
    /// The verbs as a bit set over [`KNOWN_VERBS`] (0: any verb), so most
    /// rules are rejected with one AND.
    pub(crate) verb_mask: u32,
    pub(crate) resources: Vec<ResourceSpec>,
    pub(crate) namespaces: Vec<Pattern>,
    pub(crate) names: Vec<Pattern>,
    pub(crate) non_resource_urls: Vec<String>,
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name.
    pub name: String,
    /// Its action.
    pub action: Action,
    /// The message kubectl shows.
    pub message: String,
    /// Enforce or dry-run.
    pub mode: Mode,
    /// For `require_approval`.
    pub approval: Option<ApprovalSpec>,
    /// The line of the rule in its file.
    pub line: Option<usize>,
    /// Mask secrets in the response the client sees.
    pub mask: bool,
    pub(crate) matcher: Match,
    pub(crate) when: Vec<Condition>,
}

impl Rule {
    /// Whether a condition reads the request object (so a protobuf or CBOR
    /// body cannot be checked).
    pub fn needs_object(&self) -> bool {
        self.when.iter().any(|c| match &c.source {
            Source::Object(_) => true,
            Source::Cel(e) => e.uses("object"),
            _ => false,
        })
    }
}

/// A compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The rules in file order.
    pub rules: Vec<Rule>,
    /// The action when no rule matches.
    pub default: Action,
    /// Where it came from.
    pub source: String,
}

impl Policy {
    /// A policy with no rules and this default (for `mode: none` gateways).
    pub fn allow_all() -> Self {
        Policy {
            rules: Vec::new(),
            default: Action::Allow,
            source: "(none)".to_owned(),
        }
    }
}

struct Ctx<'a> {
    file: &'a str,
    /// The lines of `- name: <name>` (or `name: <name>`), by name, in file
    /// order: read once, so locating every rule stays linear in the file.
    name_lines: std::collections::HashMap<&'a str, Vec<usize>>,
}

impl<'a> Ctx<'a> {
    fn new(file: &'a str, text: &'a str) -> Self {
        let mut name_lines: std::collections::HashMap<&'a str, Vec<usize>> = std::collections::HashMap::new();
        for (i, l) in text.lines().enumerate() {
            let t = l.trim_start().trim_start_matches("- ").trim_start();
            if let Some(v) = t.strip_prefix("name:") {
                name_lines
                    .entry(v.trim().trim_matches(['"', '\'']))
                    .or_default()
                    .push(i + 1);
            }
        }
        Ctx { file, name_lines }
    }

    fn err(&self, line: Option<usize>, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file, field, message).at_line(line)
    }

    /// The line of the `nth` rule called `name`.
    fn line_of_rule(&self, name: &str, nth: usize) -> Option<usize> {
        self.name_lines.get(name).and_then(|l| l.get(nth)).copied()
    }
}

fn strings(v: Option<&Value>) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "must be a list of strings".to_owned())
            })
            .collect(),
        Some(_) => Err("must be a string or a list of strings".to_owned()),
    }
}

fn duration(v: Option<&Value>, default: Duration) -> Result<Duration, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(default);
    };
    let s = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    tollgate_kube::time::parse_duration(&s).map_err(|e| e.to_string())
}

pub(crate) const KNOWN_VERBS: [&str; 17] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "proxy",
    "*",
    "post",
    "put",
    "head",
    "options",
    "impersonate",
    "bind",
    "escalate",
];

/// The bit that every verb not in [`KNOWN_VERBS`] shares.
pub(crate) const UNKNOWN_VERB: u32 = 1 << 31;

/// The bit of a verb in a rule's verb mask (unknown verbs share
/// [`UNKNOWN_VERB`]); a known verb's bit is its own.
pub(crate) fn verb_bit(verb: &str) -> u32 {
    KNOWN_VERBS
        .iter()
        .position(|v| *v == verb)
        .map_or(UNKNOWN_VERB, |i| 1 << i)
}

/// Parses and compiles a policy.
///
/// ```
/// let p = tollgate_rules::parse_policy(r#"
/// apiVersion: tollgate.dev/v1alpha1
/// kind: Policy
/// rules:
/// - name: no-namespace-delete
///   match:
///     verbs: [delete, deletecollection]
///     resources: [{group: "", resources: [namespaces]}]
///   action: deny
///   message: deleting namespaces is not allowed
/// "#, "policy.yaml")?;
/// assert_eq!(p.rules[0].name, "no-namespace-delete");
/// assert_eq!(p.rules[0].line, Some(5));
/// # Ok::<_, tollgate_kube::ConfigError>(())
/// ```
///
/// # Errors
/// A [`ConfigError`] with the file, the rule's line and the field.
pub fn parse_policy(text: &str, file: &str) -> Result<Policy, ConfigError> {
    let cx = Ctx::new(file, text);
    let doc = tollgate_kube::yaml_to_json(text).map_err(|e| match &e {
        tollgate_kube::Error::InvalidYaml { line, .. } => cx.err(*line, "(syntax)", e.to_string()),
        _ => cx.err(None, "(syntax)", e.to_string()),
    })?;
    if !doc.is_object() {
        return Err(cx.err(None, "(document)", "must be a mapping"));
    }
    if doc.get("apiVersion").and_then(Value::as_str) != Some("tollgate.dev/v1alpha1") {
        return Err(cx.err(None, "apiVersion", "must be tollgate.dev/v1alpha1"));
    }
    if doc.get("kind").and_then(Value::as_str) != Some("Policy") {
        return Err(cx.err(None, "kind", "must be Policy"));
    }
    for k in doc
        .as_object()
        .map(|m| m.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        if !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "default" | "rules") {
            return Err(cx.err(None, k, "unknown field"));
        }
    }
    let default = match doc.get("default").and_then(Value::as_str) {
        None | Some("allow") => Action::Allow,
        Some("deny") => Action::Deny,
        Some(other) => return Err(cx.err(None, "default", format!("{other:?} must be allow or deny"))),
    };
    let list = match doc.get("rules") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Err(cx.err(None, "rules", "must be a list")),
    };
    let mut rules: Vec<Rule> = Vec::new();
    let mut seen_names: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, r) in list.iter().enumerate() {
        let at = format!("rules[{i}]");
        let name = r.get("name").and_then(Value::as_str).unwrap_or("").to_owned();
        let seen = *seen_names.entry(name.clone()).and_modify(|n| *n += 1).or_insert(0);
        let line = cx.line_of_rule(&name, seen);
        if name.is_empty() {
            return Err(cx.err(line, format!("{at}.name"), "required"));
        }
        if seen > 0 {
            return Err(cx.err(line, format!("{at}.name"), format!("duplicate rule name {name:?}")));
        }
        rules.push(rule(&cx, r, &at, name, line)?);
    }
    Ok(Policy {
        rules,
        default,
        source: file.to_owned(),
    })
}

fn rule(cx: &Ctx<'_>, r: &Value, at: &str, name: String, line: Option<usize>) -> Result<Rule, ConfigError> {
    let e = |field: &str, m: String| cx.err(line, format!("{at}.{field}"), m);
    for k in r
        .as_object()
        .map(|m| m.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        if !matches!(
            k.as_str(),
            "name" | "description" | "match" | "when" | "action" | "message" | "mode" | "approval" | "mask"
        ) {
            return Err(e(&k, "unknown field".to_owned()));
        }
    }
    let action = match r.get("action").and_then(Value::as_str) {
        Some("deny") => Action::Deny,
        Some("warn") => Action::Warn,
        Some("require_approval") => Action::RequireApproval,
        Some("allow") => Action::Allow,
        Some(other) => {
            return Err(e(
                "action",
                format!("{other:?} must be deny, warn, require_approval or allow"),
            ));
        }
        None => {
            return Err(e(
                "action",
                "required: deny, warn, require_approval or allow".to_owned(),
            ));
        }
    };
    let message = match r.get("message") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(m)) => m.clone(),
        // YAML reads `message: no` as a boolean: say so, not "required".
        Some(other) => {
            return Err(e(
                "message",
                format!("must be a string, not {other} (YAML reads yes, no, on and off as booleans: quote the text)"),
            ));
        }
    };
    if message.is_empty() && matches!(action, Action::Deny | Action::Warn) {
        return Err(e(
            "message",
            "required for deny and warn: it is what kubectl prints".to_owned(),
        ));
    }
    let mode = match r.get("mode").and_then(Value::as_str) {
        None | Some("enforce") => Mode::Enforce,
        Some("dryrun") => Mode::DryRun,
        Some(other) => return Err(e("mode", format!("{other:?} must be enforce or dryrun"))),
    };
    let approval = match (action, r.get("approval")) {
        (Action::RequireApproval, Some(a)) => {
            let ap = a.get("approvers");
            let list =
                |k: &str| strings(ap.and_then(|x| x.get(k))).map_err(|m| e(&format!("approval.approvers.{k}"), m));
            let spec = ApprovalSpec {
                groups: list("groups")?,
                owners: list("owners")?,
                users: list("users")?,
                count: a.get("count").and_then(Value::as_u64).map_or(Ok(1), |c| {
                    u32::try_from(c).map_err(|_| e("approval.count", "too large".to_owned()))
                })?,
                pending_ttl: duration(a.get("pendingTTL"), Duration::from_secs(3600))
                    .map_err(|m| e("approval.pendingTTL", m))?,
                grant_ttl: duration(a.get("grantTTL"), Duration::from_secs(900))
                    .map_err(|m| e("approval.grantTTL", m))?,
                uses: a.get("uses").and_then(Value::as_u64).map_or(Ok(1), |c| {
                    u32::try_from(c)
                        .ok()
                        .filter(|c| *c >= 1)
                        .ok_or_else(|| e("approval.uses", "must be between 1 and 2^32-1".to_owned()))
                })?,
                hold: duration(a.get("hold"), Duration::from_secs(20)).map_err(|m| e("approval.hold", m))?,
                deny_while_pending: match a.get("mode").and_then(Value::as_str) {
                    None | Some("retry") => false,
                    Some("deny") => true,
                    Some(other) => {
                        return Err(e(
                            "approval.mode",
                            format!("{other:?} must be retry (429) or deny (403)"),
                        ));
                    }
                },
            };
            if spec.groups.is_empty() && spec.owners.is_empty() && spec.users.is_empty() {
                return Err(e(
                    "approval.approvers",
                    "name at least one group, owner or user".to_owned(),
                ));
            }
            if spec.count == 0 {
                return Err(e("approval.count", "must be at least 1".to_owned()));
            }
            Some(spec)
        }
        (Action::RequireApproval, None) => return Err(e("approval", "required for require_approval".to_owned())),
        (_, Some(_)) => return Err(e("approval", "only for require_approval".to_owned())),
        (_, None) => None,
    };
    let matcher = match r.get("match") {
        None | Some(Value::Null) => Match::default(),
        Some(m) => compile_match(m, &|field, msg| e(&format!("match.{field}"), msg))?,
    };
    let mut when = Vec::new();
    if let Some(w) = r.get("when").filter(|w| !w.is_null()) {
        let w = w.as_array().ok_or_else(|| e("when", "must be a list".to_owned()))?;
        for (j, c) in w.iter().enumerate() {
            when.push(condition(c).map_err(|(f, m)| e(&format!("when[{j}]{f}"), m))?);
        }
    }
    let mask = match r.get("mask") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(e("mask", "must be true or false".to_owned())),
    };
    Ok(Rule {
        name,
        action,
        message,
        mode,
        approval,
        line,
        mask,
        matcher,
        when,
    })
}

fn compile_match(m: &Value, e: &dyn Fn(&str, String) -> ConfigError) -> Result<Match, ConfigError> {
    let pats = |k: &str| -> Result<Vec<Pattern>, ConfigError> {
        strings(m.get(k))
            .map_err(|x| e(k, x))?
            .iter()
            .map(|p| Pattern::new(p).map_err(|x| e(k, x.to_string())))
            .collect()
    };
    for k in m
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        if !matches!(
            k.as_str(),
            "users"
                | "groups"
                | "owners"
                | "issuers"
                | "claims"
                | "verbs"
                | "resources"
                | "namespaces"
                | "names"
                | "nonResourceURLs"
        ) {
            return Err(e(&k, "unknown field".to_owned()));
        }
    }
    let verbs = strings(m.get("verbs")).map_err(|x| e("verbs", x))?;
    for v in &verbs {
        if !KNOWN_VERBS.contains(&v.as_str()) {
            return Err(e("verbs", format!("unknown verb {v:?}")));
        }
    }
    let mut resources = Vec::new();
    match m.get("resources") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, r) in list.iter().enumerate() {
                let group = match r.get("group") {
                    None | Some(Value::Null) => Some(String::new()),
                    Some(Value::String(g)) if g == "*" => None,
                    Some(Value::String(g)) => Some(g.clone()),
                    Some(_) => return Err(e(&format!("resources[{i}].group"), "must be a string".to_owned())),
                };
                let res = strings(r.get("resources")).map_err(|x| e(&format!("resources[{i}].resources"), x))?;
                for x in &res {
                    if x.matches('/').count() > 1 || x.is_empty() {
                        return Err(e(
                            &format!("resources[{i}].resources"),
                            format!("{x:?} is not resource, resource/subresource, */sub or res/*"),
                        ));
                    }
                }
                let compiled = res.iter().map(|r| ResourcePattern::new(r)).collect();
                resources.push(ResourceSpec {
                    group,
                    resources: res,
                    compiled,
                });
            }
        }
        Some(_) => return Err(e("resources", "must be a list of {group, resources}".to_owned())),
    }
    let non_resource_urls = strings(m.get("nonResourceURLs")).map_err(|x| e("nonResourceURLs", x))?;
    for u in &non_resource_urls {
        let star = u.find('*');
        if !(u == "*" || (u.starts_with('/') && star.is_none_or(|s| s == u.len() - 1))) {
            return Err(e(
                "nonResourceURLs",
                format!("{u:?} must start with / and may only end with *"),
            ));
        }
    }
    let namespaces = pats("namespaces")?;
    let names = pats("names")?;
    if !non_resource_urls.is_empty() && (!resources.is_empty() || !namespaces.is_empty() || !names.is_empty()) {
        return Err(e(
            "nonResourceURLs",
            "cannot be combined with resources, namespaces or names".to_owned(),
        ));
    }
    let mut claims = Vec::new();
    if let Some(c) = m.get("claims").filter(|c| !c.is_null()) {
        let c = c
            .as_object()
            .ok_or_else(|| e("claims", "must be a mapping of claim to pattern".to_owned()))?;
        for (k, v) in c {
            let p = v
                .as_str()
                .ok_or_else(|| e(&format!("claims.{k}"), "must be a string pattern".to_owned()))?;
            claims.push((
                k.clone(),
                Pattern::new(p).map_err(|x| e(&format!("claims.{k}"), x.to_string()))?,
            ));
        }
    }
    let verb_mask = if verbs.is_empty() || verbs.iter().any(|v| v == "*") {
        0
    } else {
        verbs.iter().fold(0, |m, v| m | verb_bit(v))
    };
    Ok(Match {
        verb_mask,
        users: pats("users")?,
        groups: pats("groups")?,
        owners: pats("owners")?,
        issuers: pats("issuers")?,
        claims,
        verbs,
        resources,
        namespaces,
        names,
        non_resource_urls,
    })
}

/// The variables a `cel:` condition may read.
pub(crate) const CEL_VARIABLES: [&str; 4] = ["object", "request", "claims", "exec"];

fn condition(c: &Value) -> Result<Condition, (String, String)> {
    let o = c.as_object().ok_or((String::new(), "must be a mapping".to_owned()))?;
    if let Some(src) = o.get("cel") {
        if o.len() > 1 {
            return Err((
                String::new(),
                "a cel condition stands alone: write the test in the expression".to_owned(),
            ));
        }
        let src = src
            .as_str()
            .ok_or((".cel".to_owned(), "must be a CEL expression (a string)".to_owned()))?;
        let e = tollgate_kube::cel::Expression::compile(src, &CEL_VARIABLES)
            .map_err(|e| (".cel".to_owned(), e.to_string()))?;
        return Ok(Condition {
            source: Source::Cel(e),
            op: Op::Holds,
        });
    }
    let path = |k: &str, p: &Value| -> Result<JsonPath, (String, String)> {
        let s = p
            .as_str()
            .ok_or((format!(".{k}"), "must be a JSONPath string".to_owned()))?;
        JsonPath::parse(s).map_err(|e| (format!(".{k}"), format!("invalid JSONPath {s:?}: {e}")))
    };
    let mut source = None;
    let mut op = None;
    for (k, v) in o {
        let s = match k.as_str() {
            "object" => Some(Source::Object(path(k, v)?)),
            "claims" => Some(Source::Claims(path(k, v)?)),
            "query" => Some(Source::Query(
                v.as_str()
                    .filter(|s| !s.is_empty())
                    .ok_or((".query".to_owned(), "must name a parameter".to_owned()))?
                    .to_owned(),
            )),
            "exec" => match v.as_str() {
                Some("command") => Some(Source::ExecCommand),
                Some("container") => Some(Source::ExecContainer),
                _ => return Err((".exec".to_owned(), "must be command or container".to_owned())),
            },
            _ => None,
        };
        if let Some(s) = s {
            if source.replace(s).is_some() {
                return Err((
                    String::new(),
                    "has more than one of object, claims, query, exec".to_owned(),
                ));
            }
            continue;
        }
        let o2 = match k.as_str() {
            "equals" => Op::Equals(v.clone()),
            "in" => Op::In(
                v.as_array()
                    .cloned()
                    .ok_or((".in".to_owned(), "must be a list".to_owned()))?,
            ),
            "matches" => {
                let s = v
                    .as_str()
                    .ok_or((".matches".to_owned(), "must be a regex string".to_owned()))?;
                Op::Matches(
                    regex::RegexBuilder::new(s)
                        .size_limit(crate::limits::MAX_REGEX_SIZE)
                        .build()
                        .map_err(|e| (".matches".to_owned(), e.to_string()))?,
                )
            }
            "detects" => match v.as_str() {
                Some("credentials") => Op::DetectsCredentials,
                _ => return Err((".detects".to_owned(), "must be credentials".to_owned())),
            },
            "exists" if v == &Value::Bool(true) => Op::Exists,
            "absent" if v == &Value::Bool(true) => Op::Absent,
            "exists" | "absent" => return Err((format!(".{k}"), "must be true".to_owned())),
            "gt" | "lt" => {
                let n = v.as_f64().ok_or((format!(".{k}"), "must be a number".to_owned()))?;
                if k == "gt" { Op::Gt(n) } else { Op::Lt(n) }
            }
            other => return Err((format!(".{other}"), "unknown field".to_owned())),
        };
        if op.replace(o2).is_some() {
            return Err((String::new(), "has more than one operator".to_owned()));
        }
    }
    match (source, op) {
        (Some(source), Some(Op::DetectsCredentials)) if !matches!(source, Source::Object(_)) => Err((
            ".detects".to_owned(),
            "reads an object's fields: use it with `object:`".to_owned(),
        )),
        (Some(source), Some(op)) => Ok(Condition { source, op }),
        (None, _) => Err((String::new(), "needs one of object, claims, query, exec".to_owned())),
        (_, None) => Err((
            String::new(),
            "needs one of equals, in, matches, exists, absent, gt, lt, detects".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What a `resources` entry's text meant when it was matched as text
    /// per request (before it was taken apart at load): the oracle.
    fn text_matches(r: &str, resource: &str, subresource: &str) -> bool {
        let exact = match r.split_once('/') {
            Some((res, sub)) => res == resource && sub == subresource,
            None => r == resource && subresource.is_empty(),
        };
        r == "*"
            || exact
            || r.strip_prefix("*/").is_some_and(|sub| sub == subresource)
            || r.strip_suffix("/*").is_some_and(|res| res == resource)
    }

    fn part() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), Just("*".to_owned()), "[a-c*]{1,3}"]
    }

    fn entry() -> impl Strategy<Value = String> {
        prop_oneof![
            part().prop_filter("an entry is not empty", |p| !p.is_empty()),
            (part(), part()).prop_map(|(a, b)| format!("{a}/{b}")),
        ]
    }

    proptest! {
        #[test]
        fn a_resource_pattern_matches_what_its_text_did(
            r in entry(), resource in part(), subresource in part()
        ) {
            prop_assert_eq!(
                ResourcePattern::new(&r).matches(&resource, &subresource),
                text_matches(&r, &resource, &subresource),
                "entry {:?}, request {:?}/{:?}", r, resource, subresource
            );
        }

        /// A rule's verb mask and a request's verb bit agree with the rule's
        /// verb names: a known verb's bit is its alone, so the names are
        /// compared only for the verbs outside the list.
        #[test]
        fn verb_bits_agree_with_verb_names(
            verbs in proptest::collection::vec(prop_oneof![
                proptest::sample::select(KNOWN_VERBS.to_vec()).prop_map(str::to_owned),
                "[a-z]{1,8}",
            ], 1..4),
            verb in prop_oneof![
                proptest::sample::select(KNOWN_VERBS.to_vec()).prop_map(str::to_owned),
                "[a-zA-Z]{1,8}",
            ],
        ) {
            let mask = verbs.iter().fold(0, |m, v| m | verb_bit(v));
            let bit = verb_bit(&verb);
            let by_bits = mask & bit != 0 && (bit != UNKNOWN_VERB || verbs.contains(&verb));
            prop_assert_eq!(by_bits, verbs.contains(&verb));
        }
    }

    #[test]
    fn every_known_verb_has_a_bit_of_its_own() {
        assert!(KNOWN_VERBS.len() < 31);
        for (i, v) in KNOWN_VERBS.iter().enumerate() {
            assert_eq!(verb_bit(v), 1 << i);
        }
        assert_eq!(verb_bit("GET"), UNKNOWN_VERB, "verbs are lower case");
    }
}
