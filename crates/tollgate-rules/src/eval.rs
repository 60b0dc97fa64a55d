//! Evaluation: which rules match a request, and which action wins.

use serde_json::{Map, Value};
use tollgate_kube::Identity;
use tollgate_kube::{BodyFormat, Reason, RequestBody, RequestInfo, Status};

use crate::limits;
use crate::policy::{Condition, Match, Op, ResourceSpec, Source};
use crate::{Action, ApprovalSpec, Mode, Policy, Rule};

/// What a rule sees of a request.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RequestView<'a> {
    /// The API server's reading of the URL.
    pub info: &'a RequestInfo,
    /// The verified identity, if any.
    pub identity: Option<&'a Identity>,
    /// The request body, if any.
    pub body: Option<&'a RequestBody>,
}

impl<'a> RequestView<'a> {
    /// A view of a request.
    pub fn new(info: &'a RequestInfo, identity: Option<&'a Identity>, body: Option<&'a RequestBody>) -> Self {
        RequestView { info, identity, body }
    }
}

/// A rule that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MatchedRule {
    /// Its name.
    pub name: String,
    /// Its action.
    pub action: Action,
    /// Whether it only ran in dry-run mode.
    pub dry_run: bool,
}

/// What the approval layer decided for a request that needed an approval:
/// put into the request's notes and extensions for the audit record.
///
/// ```
/// let n = tollgate_rules::ApprovalNote::new("apr-1", "approved", vec!["alice".into()]);
/// assert_eq!(n.approvers, ["alice"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApprovalNote {
    /// The approval's id.
    pub id: String,
    /// `pending`, `approved`, `denied`, `expired`.
    pub state: String,
    /// Who approved (or denied).
    pub approvers: Vec<String>,
    /// Why (an approver's reason).
    pub reason: String,
    /// When it was asked (seconds since the epoch; 0 when unknown).
    pub requested_at: u64,
    /// When it was decided (seconds since the epoch).
    pub decided_at: Option<u64>,
}

impl ApprovalNote {
    /// A note.
    pub fn new(id: impl Into<String>, state: impl Into<String>, approvers: Vec<String>) -> Self {
        ApprovalNote {
            id: id.into(),
            state: state.into(),
            approvers,
            reason: String::new(),
            requested_at: 0,
            decided_at: None,
        }
    }

    /// With when it was asked and decided (seconds since the epoch), so
    /// records can tell how long the requester waited.
    ///
    /// ```
    /// let n = tollgate_rules::ApprovalNote::new("apr-1", "approved", vec![]).with_times(100, Some(160));
    /// assert_eq!(n.decided_at.map(|d| d - n.requested_at), Some(60));
    /// ```
    pub fn with_times(mut self, requested_at: u64, decided_at: Option<u64>) -> Self {
        self.requested_at = requested_at;
        self.decided_at = decided_at;
        self
    }

    /// With an approver's reason.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }
}

/// The outcome, put into the request's extensions by the `PolicyLayer`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decision {
    /// What happens.
    pub action: Action,
    /// The rule that decided (none: the policy's default).
    pub rule: Option<String>,
    /// Its message.
    pub message: String,
    /// For `require_approval`.
    pub approval: Option<ApprovalSpec>,
    /// Every rule that matched, in file order.
    pub matched: Vec<MatchedRule>,
    /// The `Warning` texts to send (warn rules, dry-run rules).
    pub warnings: Vec<String>,
    /// Whether an enforced matching rule asks to mask the response.
    pub mask: bool,
    /// Set when the rules were evaluated on the object a dry run of the
    /// request returned (why, and how many attempts): recorded as
    /// `tollgate.dev/preflight`.
    pub preflight: Option<String>,
}

/// A request a rule cannot be checked against: it is refused, never waved
/// through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The rule needs the body as JSON and it is protobuf or CBOR.
    #[error(
        "Tollgate rule {rule:?} needs to read the request body, which was sent as {format}; send it as JSON (kubectl apply -f sends JSON, e.g. `kubectl create … --dry-run=client -o yaml | kubectl apply -f -`; client-go: rest.Config ContentType application/json)"
    )]
    UnreadableBody {
        /// The rule.
        rule: String,
        /// The body's format.
        format: BodyFormat,
    },
    /// Checking the rule would take more than a bound allows: refused,
    /// never skipped.
    #[error("Tollgate rule {rule:?} cannot be checked within Tollgate's limit of {limit}: {what}")]
    TooMuch {
        /// The rule.
        rule: String,
        /// What it would need.
        what: String,
        /// The limit, with its unit.
        limit: String,
    },
    /// A `cel:` condition could not be evaluated (a field it reads without
    /// `has()` is missing, an input is over its budget …): refused.
    #[error("Tollgate rule {rule:?} cannot be checked: {message}")]
    Cel {
        /// The rule.
        rule: String,
        /// Why.
        message: String,
    },
    /// The body does not parse.
    #[error("Tollgate rule {rule:?} cannot read the request body: {message}")]
    BadBody {
        /// The rule.
        rule: String,
        /// Why.
        message: String,
    },
}

impl EvalError {
    /// 415 for unreadable formats, 400 for bodies that do not parse.
    pub fn to_status(&self) -> Status {
        let reason = match self {
            EvalError::UnreadableBody { .. } => Reason::UnsupportedMediaType,
            EvalError::BadBody { .. } | EvalError::TooMuch { .. } | EvalError::Cel { .. } => Reason::BadRequest,
        };
        Status::failure(reason, self.to_string())
    }
}

/// The request object as rules see it: the body's JSON, or for a JSON
/// patch the object its `add`/`replace` operations would set.
fn object_of(body: &RequestBody) -> Result<Option<Value>, String> {
    let Some(v) = body.json().map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    if body.format() != BodyFormat::JsonPatch {
        return Ok(Some(v.clone()));
    }
    let mut out = Value::Object(Map::new());
    for op in v.as_array().into_iter().flatten() {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
        if !matches!(kind, "add" | "replace" | "copy" | "move" | "test") {
            continue;
        }
        let (Some(path), Some(value)) = (op.get("path").and_then(Value::as_str), op.get("value")) else {
            continue;
        };
        set_pointer(&mut out, path, value.clone());
    }
    Ok(Some(out))
}

/// Sets `value` at a JSON pointer, creating objects and arrays on the way.
fn set_pointer(root: &mut Value, pointer: &str, value: Value) {
    let segs: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut cur = root;
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        let index = if seg == "-" {
            Some(usize::MAX)
        } else {
            seg.parse::<usize>().ok()
        };
        if let Some(idx) = index {
            if !cur.is_array() {
                *cur = Value::Array(Vec::new());
            }
            let Value::Array(a) = cur else { return };
            let idx = if idx == usize::MAX { a.len() } else { idx.min(1024) };
            while a.len() <= idx {
                a.push(Value::Null);
            }
            cur = &mut a[idx];
        } else {
            if !cur.is_object() {
                *cur = Value::Object(Map::new());
            }
            let Value::Object(m) = cur else { return };
            cur = m.entry(seg.clone()).or_insert(Value::Null);
        }
        if last {
            *cur = value;
            return;
        }
    }
}

fn any_pattern(pats: &[tollgate_kube::Pattern], v: &str) -> bool {
    pats.is_empty() || pats.iter().any(|p| p.matches(v))
}

fn resource_matches(specs: &[ResourceSpec], info: &RequestInfo) -> bool {
    specs.iter().any(|spec| {
        spec.group.as_ref().is_none_or(|g| g == &info.api_group)
            && (spec.compiled.is_empty()
                || spec
                    .compiled
                    .iter()
                    .any(|r| r.matches(&info.resource, &info.subresource)))
    })
}

/// Whether the rule's verbs take `verb` (whose bit is `verb_bit`): most
/// rules of a policy are left out here, so it is the first check, inlined
/// into the loop over the rules. A known verb's bit is its alone; verbs
/// outside the list share one, and only then are the names compared.
#[inline(always)]
fn verb_allows(m: &Match, verb_bit: u32, verb: &str) -> bool {
    m.verb_mask == 0
        || (m.verb_mask & verb_bit != 0
            && (verb_bit != crate::policy::UNKNOWN_VERB || m.verbs.iter().any(|v| v == verb)))
}

/// Everything but the `when` conditions.
fn request_matches(m: &Match, view: &RequestView<'_>, verb_bit: u32) -> bool {
    let info = view.info;
    if !verb_allows(m, verb_bit, &info.verb) {
        return false;
    }
    let resource_scoped = !m.resources.is_empty() || !m.namespaces.is_empty() || !m.names.is_empty();
    if resource_scoped {
        if !info.is_resource_request {
            return false;
        }
        if !m.resources.is_empty() && !resource_matches(&m.resources, info) {
            return false;
        }
        if !any_pattern(&m.namespaces, &info.namespace) || !any_pattern(&m.names, &info.name) {
            return false;
        }
    }
    if !m.non_resource_urls.is_empty() {
        if info.is_resource_request {
            return false;
        }
        let ok = m
            .non_resource_urls
            .iter()
            .any(|u| u == "*" || *u == info.path || u.strip_suffix('*').is_some_and(|p| info.path.starts_with(p)));
        if !ok {
            return false;
        }
    }
    let identity_scoped = !(m.users.is_empty()
        && m.groups.is_empty()
        && m.owners.is_empty()
        && m.issuers.is_empty()
        && m.claims.is_empty());
    if identity_scoped {
        let Some(id) = view.identity else { return false };
        if !any_pattern(&m.users, &id.username)
            || !any_pattern(&m.owners, &id.owner.name)
            || !any_pattern(&m.issuers, &id.issuer)
            || !(m.groups.is_empty() || id.groups.iter().any(|g| m.groups.iter().any(|p| p.matches(g))))
            || !m
                .claims
                .iter()
                .all(|(k, p)| id.claims.get(k).is_some_and(|v| p.matches_claim(v)))
        {
            return false;
        }
    }
    true
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), _) | (_, Value::Number(_)) => as_number(a).zip(as_number(b)).is_some_and(|(x, y)| x == y),
        (Value::String(s), Value::Bool(t)) | (Value::Bool(t), Value::String(s)) => {
            s == if *t { "true" } else { "false" }
        }
        _ => a == b,
    }
}

/// A value as text for `matches`: strings as they are, numbers and
/// booleans as JSON writes them.
fn text(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        Value::Number(_) | Value::Bool(_) => Some(std::borrow::Cow::Owned(v.to_string())),
        _ => None,
    }
}

/// Tests the selected nodes, reading at most [`limits::MAX_CONDITION_BYTES`]
/// of text for `matches`; `None` when the answer would need more.
fn test(op: &Op, values: &[&Value]) -> Option<bool> {
    Some(match op {
        Op::Holds => false,
        Op::Exists => !values.is_empty(),
        Op::Absent => values.is_empty(),
        Op::Equals(want) => values.iter().any(|v| equal(v, want)),
        Op::In(list) => values.iter().any(|v| list.iter().any(|w| equal(v, w))),
        Op::Matches(re) => {
            let mut budget = limits::MAX_CONDITION_BYTES;
            for t in values.iter().filter_map(|v| text(v)) {
                budget = budget.checked_sub(t.len())?;
                if re.is_match(&t) {
                    return Some(true);
                }
            }
            false
        }
        Op::Gt(n) => values.iter().filter_map(|v| as_number(v)).any(|x| x > *n),
        Op::Lt(n) => values.iter().filter_map(|v| as_number(v)).any(|x| x < *n),
        // Decided with the nodes' locations, in `condition_holds`.
        Op::DetectsCredentials => false,
    })
}

/// The request's object, decoded once per evaluation.
struct ObjectCache<'v> {
    view: &'v RequestView<'v>,
    value: Option<Result<Option<Value>, EvalError>>,
}

impl ObjectCache<'_> {
    fn get(&mut self, rule: &str) -> Result<Option<&Value>, EvalError> {
        if self.value.is_none() {
            let v = match self.view.body {
                None => Ok(None),
                Some(b) if !b.is_empty() && !b.format().is_textual() => Err(EvalError::UnreadableBody {
                    rule: rule.to_owned(),
                    format: b.format(),
                }),
                Some(b) => object_of(b).map_err(|message| EvalError::BadBody {
                    rule: rule.to_owned(),
                    message,
                }),
            };
            self.value = Some(v);
        }
        match &self.value {
            Some(Ok(v)) => Ok(v.as_ref()),
            Some(Err(e)) => Err(e.clone()),
            None => Ok(None),
        }
    }
}

/// A condition that selects more nodes than a request may make it read.
fn too_many_matches(rule: &str, path: &serde_json_path::JsonPath, n: usize) -> EvalError {
    EvalError::TooMuch {
        rule: rule.to_owned(),
        what: format!("its condition `{path}` selects {n} values"),
        limit: format!("{} values", limits::MAX_CONDITION_MATCHES),
    }
}

/// The nodes a JSONPath selects, by reference, at most
/// [`limits::MAX_CONDITION_MATCHES`] of them.
fn select<'v>(path: &serde_json_path::JsonPath, doc: &'v Value, rule: &str) -> Result<Vec<&'v Value>, EvalError> {
    let nodes = path.query(doc).all();
    if nodes.len() > limits::MAX_CONDITION_MATCHES {
        return Err(too_many_matches(rule, path, nodes.len()));
    }
    Ok(nodes)
}

/// Whether a condition holds; with `detects`, also where it found what it
/// looked for (field paths, never values).
fn condition_holds(
    c: &Condition,
    view: &RequestView<'_>,
    objects: &mut ObjectCache<'_>,
    rule: &str,
    found: &mut Vec<String>,
) -> Result<bool, EvalError> {
    if let (Op::DetectsCredentials, Source::Object(path)) = (&c.op, &c.source) {
        let Some(obj) = objects.get(rule)? else {
            return Ok(false);
        };
        let nodes = path.query_located(obj);
        if nodes.len() > limits::MAX_CONDITION_MATCHES {
            return Err(too_many_matches(rule, path, nodes.len()));
        }
        let before = found.len();
        for n in nodes.iter() {
            crate::credentials::find(n.node(), &crate::credentials::field_path(n.location()), found);
        }
        return Ok(found.len() > before);
    }
    if let Source::Cel(e) = &c.source {
        return cel_holds(e, view, objects, rule);
    }
    let owned: Vec<Value>;
    let claims: Value;
    let values: Vec<&Value> = match &c.source {
        Source::Cel(_) => Vec::new(),
        Source::Object(path) => match objects.get(rule)? {
            Some(obj) => select(path, obj, rule)?,
            None => Vec::new(),
        },
        Source::Claims(path) => match view.identity {
            Some(id) => {
                claims = Value::Object((*id.claims).clone());
                select(path, &claims, rule)?
            }
            None => Vec::new(),
        },
        Source::Query(name) => {
            owned = view
                .info
                .query
                .first(name)
                .map(|v| vec![Value::String(v.to_owned())])
                .unwrap_or_default();
            owned.iter().collect()
        }
        Source::ExecCommand => {
            // The command as sent and its normal forms (basename, wrappers
            // dropped, paths normalised, `sh -c` scripts): see exec_command.
            let argv: Vec<&str> = view.info.query.all("command").collect();
            owned = if matches!(view.info.subresource.as_str(), "exec") && !argv.is_empty() {
                crate::exec_forms(&argv).into_iter().map(Value::String).collect()
            } else {
                Vec::new()
            };
            owned.iter().collect()
        }
        Source::ExecContainer => {
            owned = match view.info.subresource.as_str() {
                "exec" | "attach" => view
                    .info
                    .query
                    .first("container")
                    .map(|v| vec![Value::String(v.to_owned())])
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            owned.iter().collect()
        }
    };
    test(&c.op, &values).ok_or_else(|| EvalError::TooMuch {
        rule: rule.to_owned(),
        what: "its `matches` condition would read more text".to_owned(),
        limit: format!("{} bytes", limits::MAX_CONDITION_BYTES),
    })
}

/// A `cel:` condition over `object` (the applied object, or `null`),
/// `request`, `claims` and `exec`; an expression that cannot be evaluated
/// refuses the request, as other conditions that cannot be checked do.
fn cel_holds(
    e: &tollgate_kube::cel::Expression,
    view: &RequestView<'_>,
    objects: &mut ObjectCache<'_>,
    rule: &str,
) -> Result<bool, EvalError> {
    // Only what the expression reads is built and converted.
    // The object is read in place (it may be megabytes), not copied.
    const NULL: &Value = &Value::Null;
    let object: &Value = if e.uses("object") {
        objects.get(rule)?.unwrap_or(NULL)
    } else {
        NULL
    };
    let info = view.info;
    let claims = match (e.uses("claims"), view.identity) {
        (true, Some(id)) => Value::Object((*id.claims).clone()),
        _ => Value::Object(Map::new()),
    };
    let request = if e.uses("request") {
        let (username, groups, extra, owner) = match view.identity {
            Some(id) => (
                id.username.as_str(),
                id.groups.as_slice(),
                serde_json::to_value(&id.extra).unwrap_or(Value::Null),
                id.owner.name.as_str(),
            ),
            None => ("", &[][..], Value::Null, ""),
        };
        serde_json::json!({
            "verb": info.verb,
            "group": info.api_group,
            "version": info.api_version,
            "resource": info.resource,
            "subresource": info.subresource,
            "namespace": info.namespace,
            "name": info.name,
            "dryRun": info.query.first("dryRun").is_some_and(|v| v == "All"),
            "userInfo": {"username": username, "groups": groups, "extra": extra},
            "owner": owner,
        })
    } else {
        Value::Null
    };
    let exec = if e.uses("exec") && matches!(info.subresource.as_str(), "exec" | "attach") {
        let argv: Vec<&str> = info.query.all("command").collect();
        serde_json::json!({"command": argv, "container": info.query.first("container").unwrap_or("")})
    } else {
        serde_json::json!({"command": [], "container": ""})
    };
    let all = [
        ("object", object),
        ("request", &request),
        ("claims", &claims),
        ("exec", &exec),
    ];
    let used: Vec<(&str, &Value)> = all.into_iter().filter(|(n, _)| e.uses(n)).collect();
    e.evaluate_bool(&used).map_err(|err| EvalError::Cel {
        rule: rule.to_owned(),
        message: err.to_string(),
    })
}

/// `None` when the rule does not match; otherwise where its `detects`
/// conditions found something (empty for rules without one).
fn rule_matches(
    rule: &Rule,
    view: &RequestView<'_>,
    objects: &mut ObjectCache<'_>,
    verb_bit: u32,
) -> Result<Option<Vec<String>>, EvalError> {
    if !request_matches(&rule.matcher, view, verb_bit) {
        return Ok(None);
    }
    let mut found = Vec::new();
    for c in &rule.when {
        if !condition_holds(c, view, objects, &rule.name, &mut found)? {
            return Ok(None);
        }
    }
    Ok(Some(found))
}

/// A rule's message, with the fields its `detects` conditions found.
fn message_of(rule: &Rule, found: &[String]) -> String {
    const SHOWN: usize = 5;
    if found.is_empty() {
        return rule.message.clone();
    }
    let mut list = found.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if found.len() > SHOWN {
        list.push_str(&format!(" and {} more", found.len() - SHOWN));
    }
    format!("{}: {list}", rule.message)
}

fn verb_phrase(a: Action) -> &'static str {
    match a {
        Action::Allow => "allow",
        Action::Warn => "warn",
        Action::RequireApproval => "require approval",
        Action::Deny => "deny",
    }
}

impl Policy {
    /// Evaluates a request: every matching rule is found; among enforced
    /// ones the strongest action wins (deny > require_approval > warn >
    /// allow), the first in file order among equals; with none, the
    /// default. Dry-run rules only add warnings.
    ///
    /// # Errors
    /// [`EvalError`] when a matching rule needs a body it cannot read.
    pub fn evaluate(&self, view: &RequestView<'_>) -> Result<Decision, EvalError> {
        let mut objects = ObjectCache { view, value: None };
        let verb_bit = crate::policy::verb_bit(&view.info.verb);
        let mut best: Option<&Rule> = None;
        let mut matched = Vec::new();
        let mut warns = Vec::new();
        let mut dry = Vec::new();
        let mut mask = false;
        let mut best_message = String::new();
        for rule in &self.rules {
            if !verb_allows(&rule.matcher, verb_bit, &view.info.verb) {
                continue;
            }
            let Some(found) = rule_matches(rule, view, &mut objects, verb_bit)? else {
                continue;
            };
            let message = message_of(rule, &found);
            let dry_run = rule.mode == Mode::DryRun;
            matched.push(MatchedRule {
                name: rule.name.clone(),
                action: rule.action,
                dry_run,
            });
            if dry_run {
                dry.push(format!(
                    "Tollgate dry-run: rule \"{}\" would {}: {}",
                    rule.name,
                    verb_phrase(rule.action),
                    message
                ));
                continue;
            }
            mask |= rule.mask;
            if rule.action == Action::Warn {
                warns.push(format!("{message} (Tollgate rule \"{}\")", rule.name));
            }
            if best.is_none_or(|b| rule.action > b.action) {
                best = Some(rule);
                best_message = message;
            }
        }
        let (action, rule, message, approval) = match best {
            Some(r) => (r.action, Some(r.name.clone()), best_message, r.approval.clone()),
            None => (self.default, None, String::new(), None),
        };
        let mut warnings = dry;
        if matches!(action, Action::Allow | Action::Warn) {
            warnings.extend(warns);
        }
        Ok(Decision {
            action,
            rule,
            message,
            approval,
            matched,
            warnings,
            mask,
            preflight: None,
        })
    }

    /// Whether a rule that matches this request (before its `when`
    /// conditions) reads the request object: only then is a body that the
    /// request alone cannot describe exactly worth a preflight.
    pub fn needs_object(&self, view: &RequestView<'_>) -> bool {
        let verb_bit = crate::policy::verb_bit(&view.info.verb);
        self.rules
            .iter()
            .any(|r| r.needs_object() && request_matches(&r.matcher, view, verb_bit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_patch_objects() {
        let mut v = Value::Object(Map::new());
        set_pointer(
            &mut v,
            "/spec/template/spec/containers/0/securityContext",
            serde_json::json!({"privileged": true}),
        );
        set_pointer(&mut v, "/metadata/annotations/a~1b", serde_json::json!("x"));
        set_pointer(&mut v, "/spec/list/-", serde_json::json!(1));
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"],
            true
        );
        assert_eq!(v["metadata"]["annotations"]["a/b"], "x");
        assert_eq!(v["spec"]["list"][0], 1);
    }
}
