//! Granted versus used: what RBAC lets an identity do (following bindings
//! to roles, aggregated cluster roles, wildcards, resource names and
//! non-resource URLs, as the API server's RBAC authorizer decides) against
//! what the audit trail shows it did — unused rules and namespaces, and the
//! minimal Role that would have covered exactly what was used.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::selector::Selector;

/// One RBAC rule (`PolicyRule`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Rule {
    /// Verbs (`*` any).
    pub verbs: Vec<String>,
    /// API groups (`""` core, `*` any).
    pub api_groups: Vec<String>,
    /// Resources (`*` any, `pods/log` a subresource, `*/scale` that
    /// subresource of any resource).
    pub resources: Vec<String>,
    /// Object names (empty: all).
    pub resource_names: Vec<String>,
    /// Non-resource URLs (`/healthz`, `/metrics/*`, `*`).
    pub non_resource_urls: Vec<String>,
}

/// One thing an identity did.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[non_exhaustive]
pub struct Use {
    /// The verb (`get`, `list`, `create` …; for non-resource URLs the
    /// lower-case HTTP method).
    pub verb: String,
    /// The API group (`""` core).
    pub group: String,
    /// The resource with its subresource (`pods/log`), or a non-resource
    /// URL path (which starts with `/`).
    pub resource: String,
    /// The namespace (`""` cluster scope).
    pub namespace: String,
    /// The object's name (`""` when the request named none).
    pub name: String,
}

impl Use {
    /// A use of a resource.
    ///
    /// ```
    /// let u = tollgate_review::Use::resource("get", "", "pods/log", "prod", "web-1");
    /// assert!(!u.is_non_resource());
    /// ```
    pub fn resource(verb: &str, group: &str, resource: &str, namespace: &str, name: &str) -> Use {
        Use {
            verb: verb.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// A use of a non-resource URL (`/metrics`).
    ///
    /// ```
    /// assert!(tollgate_review::Use::non_resource("get", "/metrics").is_non_resource());
    /// ```
    pub fn non_resource(verb: &str, path: &str) -> Use {
        Use {
            verb: verb.to_owned(),
            resource: path.to_owned(),
            ..Use::default()
        }
    }

    /// Whether this is a non-resource URL.
    pub fn is_non_resource(&self) -> bool {
        self.resource.starts_with('/')
    }

    fn describe(&self) -> String {
        if self.is_non_resource() {
            return format!("{} {}", self.verb, self.resource);
        }
        format!(
            "{} {}{}{} in {}",
            self.verb,
            if self.group.is_empty() {
                String::new()
            } else {
                format!("{}/", self.group)
            },
            self.resource,
            if self.name.is_empty() {
                String::new()
            } else {
                format!(" {}", self.name)
            },
            if self.namespace.is_empty() {
                "(cluster)"
            } else {
                &self.namespace
            }
        )
    }
}

fn any(list: &[String], x: &str) -> bool {
    list.iter().any(|e| e == "*" || e == x)
}

/// `ResourceMatches`: `*`, the exact `resource[/subresource]`, or
/// `*/subresource`. (`pods/*` is no wildcard to the API server.)
fn resource_matches(rule: &str, resource: &str) -> bool {
    rule == "*"
        || rule == resource
        || rule
            .strip_prefix("*/")
            .is_some_and(|sub| resource.split_once('/').is_some_and(|(_, s)| s == sub))
}

/// `NonResourceURLMatches`: `*`, the exact path, or a `prefix*`.
fn url_matches(rule: &str, path: &str) -> bool {
    rule == "*" || rule == path || rule.strip_suffix('*').is_some_and(|prefix| path.starts_with(prefix))
}

impl Rule {
    /// A rule from its JSON (`PolicyRule`); fields it does not know are
    /// ignored, missing lists are empty (and allow nothing).
    ///
    /// ```
    /// let rule = tollgate_review::RbacRule::from_json(&serde_json::json!({"verbs": ["get"], "nonResourceURLs": ["/metrics"]}));
    /// assert_eq!(rule.non_resource_urls, ["/metrics"]);
    /// ```
    pub fn from_json(v: &Value) -> Rule {
        let list = |k: &str| -> Vec<String> {
            v.get(k)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        Rule {
            verbs: list("verbs"),
            api_groups: list("apiGroups"),
            resources: list("resources"),
            resource_names: list("resourceNames"),
            non_resource_urls: list("nonResourceURLs"),
        }
    }

    /// Whether the rule allows `u`, as the API server's RBAC authorizer
    /// decides (`RuleAllows`): a resource rule never allows a URL and a
    /// URL rule never a resource; `resourceNames` allow only requests that
    /// name one of them.
    ///
    /// ```
    /// use tollgate_review::{RbacRule, Use};
    /// let rule = RbacRule::from_json(&serde_json::json!(
    ///     {"verbs": ["get"], "apiGroups": ["apps"], "resources": ["*/scale"]}));
    /// assert!(rule.allows(&Use::resource("get", "apps", "deployments/scale", "prod", "web")));
    /// assert!(!rule.allows(&Use::resource("get", "apps", "deployments", "prod", "web")));
    /// ```
    pub fn allows(&self, u: &Use) -> bool {
        if !any(&self.verbs, &u.verb) {
            return false;
        }
        if u.is_non_resource() {
            return self.non_resource_urls.iter().any(|r| url_matches(r, &u.resource));
        }
        any(&self.api_groups, &u.group)
            && self.resources.iter().any(|r| resource_matches(r, &u.resource))
            && (self.resource_names.is_empty() || (!u.name.is_empty() && self.resource_names.contains(&u.name)))
    }
}

/// A grant: a rule and where it applies (`*`: every namespace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Grant {
    /// The namespace, or `*` for a cluster-wide binding.
    pub namespace: String,
    /// The binding that grants it (`Kind namespace/name`).
    pub binding: String,
    /// The role (`Kind name`).
    pub role: String,
    /// The rule.
    pub rule: Rule,
}

impl Grant {
    /// Whether this grant covers `u`: a RoleBinding only in its namespace,
    /// and non-resource URLs only through a ClusterRoleBinding.
    pub fn covers(&self, u: &Use) -> bool {
        let place = if u.is_non_resource() {
            self.namespace == "*"
        } else {
            self.namespace == "*" || self.namespace == u.namespace
        };
        place && self.rule.allows(u)
    }
}

/// RBAC objects, as `kubectl get roles,clusterroles,rolebindings,clusterrolebindings -A -o yaml` gives them.
#[derive(Debug, Clone, Default)]
pub struct Rbac {
    roles: BTreeMap<(String, String), Vec<Rule>>,
    cluster_roles: BTreeMap<String, ClusterRole>,
    bindings: Vec<Binding>,
    warnings: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct ClusterRole {
    labels: BTreeMap<String, String>,
    rules: Vec<Rule>,
    selectors: Vec<Selector>,
}

#[derive(Debug, Clone)]
struct Binding {
    name: String,
    namespace: Option<String>,
    role_kind: String,
    role_name: String,
    subjects: Vec<(String, String)>,
}

fn items(v: &Value) -> Vec<&Value> {
    match v.get("items").and_then(Value::as_array) {
        Some(a) => a.iter().collect(),
        None => vec![v],
    }
}

fn s<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or("")
}

fn labels(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, x)| x.as_str().map(|x| (k.clone(), x.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

impl Rbac {
    /// Adds the objects of one document (a `List` or a single object).
    ///
    /// ```
    /// use tollgate_review::{Rbac, Use};
    /// let mut rbac = Rbac::default();
    /// rbac.add(&serde_json::json!({"kind": "ClusterRole", "metadata": {"name": "view"}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}));
    /// rbac.add(&serde_json::json!({"kind": "ClusterRoleBinding", "metadata": {"name": "ci-view"}, "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "User", "name": "ci"}]}));
    /// let grants = rbac.grants("ci", &[]);
    /// assert!(grants[0].covers(&Use::resource("get", "", "pods", "default", "web")));
    /// ```
    pub fn add(&mut self, doc: &Value) {
        for o in items(doc) {
            let name = s(o, "/metadata/name").to_owned();
            let rules = || {
                o.get("rules")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(Rule::from_json).collect::<Vec<_>>())
                    .unwrap_or_default()
            };
            match s(o, "/kind") {
                "Role" => {
                    self.roles
                        .insert((s(o, "/metadata/namespace").to_owned(), name), rules());
                }
                "ClusterRole" => {
                    let mut selectors = Vec::new();
                    let list = o
                        .pointer("/aggregationRule/clusterRoleSelectors")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    for (i, x) in list.iter().enumerate() {
                        match Selector::parse(x) {
                            Ok(sel) => selectors.push(sel),
                            Err(e) => self.warnings.push(format!(
                                "ClusterRole {name}: aggregationRule.clusterRoleSelectors[{i}]: {e}; it aggregates nothing"
                            )),
                        }
                    }
                    self.cluster_roles.insert(
                        name,
                        ClusterRole {
                            labels: labels(o.pointer("/metadata/labels")),
                            rules: rules(),
                            selectors,
                        },
                    );
                }
                kind @ ("RoleBinding" | "ClusterRoleBinding") => {
                    let subjects = o
                        .get("subjects")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .map(|x| {
                                    let kind = s(x, "/kind").to_owned();
                                    let n = if kind == "ServiceAccount" {
                                        format!("system:serviceaccount:{}:{}", s(x, "/namespace"), s(x, "/name"))
                                    } else {
                                        s(x, "/name").to_owned()
                                    };
                                    (if kind == "Group" { "Group" } else { "User" }.to_owned(), n)
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    self.bindings.push(Binding {
                        name,
                        namespace: (kind == "RoleBinding").then(|| s(o, "/metadata/namespace").to_owned()),
                        role_kind: s(o, "/roleRef/kind").to_owned(),
                        role_name: s(o, "/roleRef/name").to_owned(),
                        subjects,
                    });
                }
                _ => {}
            }
        }
    }

    /// What in the input could not be followed: bindings to roles the
    /// input does not hold, selectors the API server would refuse.
    ///
    /// ```
    /// let mut rbac = tollgate_review::Rbac::default();
    /// rbac.add(&serde_json::json!({"kind": "ClusterRoleBinding", "metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "gone"}, "subjects": []}));
    /// assert!(rbac.warnings()[0].contains("ClusterRole gone"));
    /// ```
    pub fn warnings(&self) -> Vec<String> {
        let mut out = self.warnings.clone();
        for b in &self.bindings {
            let known = match b.role_kind.as_str() {
                "ClusterRole" => self.cluster_roles.contains_key(&b.role_name),
                "Role" => b
                    .namespace
                    .as_ref()
                    .is_some_and(|ns| self.roles.contains_key(&(ns.clone(), b.role_name.clone()))),
                _ => false,
            };
            if !known {
                out.push(format!(
                    "{}: refers to {} {}, which the RBAC input does not hold; it grants nothing here",
                    binding_name(b),
                    b.role_kind,
                    b.role_name
                ));
            }
        }
        out
    }

    /// Every object name a rule lists in `resourceNames`: the names a
    /// review must keep to tell whether such a rule was used.
    ///
    /// ```
    /// let mut rbac = tollgate_review::Rbac::default();
    /// rbac.add(&serde_json::json!({"kind": "Role", "metadata": {"name": "r", "namespace": "a"},
    ///     "rules": [{"verbs": ["update"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["web-config"]}]}));
    /// assert!(rbac.resource_names().contains("web-config"));
    /// ```
    pub fn resource_names(&self) -> BTreeSet<String> {
        self.roles
            .values()
            .chain(self.cluster_roles.values().map(|c| &c.rules))
            .flatten()
            .flat_map(|r| r.resource_names.iter().cloned())
            .collect()
    }

    /// A cluster role's rules with its aggregated roles' (transitively).
    fn cluster_role_rules(&self, name: &str) -> Vec<Rule> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![name.to_owned()];
        let mut out = Vec::new();
        while let Some(n) = todo.pop() {
            if !seen.insert(n.clone()) {
                continue;
            }
            let Some(role) = self.cluster_roles.get(&n) else {
                continue;
            };
            out.extend(role.rules.iter().cloned());
            for sel in &role.selectors {
                for (other, r) in &self.cluster_roles {
                    if sel.matches(&r.labels) {
                        todo.push(other.clone());
                    }
                }
            }
        }
        out.dedup();
        out
    }

    /// Everything `user` (in `groups`, and `system:authenticated`) is granted.
    pub fn grants(&self, user: &str, groups: &[String]) -> Vec<Grant> {
        let mut out = Vec::new();
        for b in &self.bindings {
            let hit = b.subjects.iter().any(|(kind, n)| {
                (kind == "User" && n == user)
                    || (kind == "Group" && (groups.contains(n) || n == "system:authenticated"))
            });
            if !hit {
                continue;
            }
            let rules = match b.role_kind.as_str() {
                "ClusterRole" => self.cluster_role_rules(&b.role_name),
                "Role" => self
                    .roles
                    .get(&(b.namespace.clone().unwrap_or_default(), b.role_name.clone()))
                    .cloned()
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            let binding = binding_name(b);
            for rule in rules {
                out.push(Grant {
                    namespace: b.namespace.clone().unwrap_or_else(|| "*".to_owned()),
                    binding: binding.clone(),
                    role: format!("{} {}", b.role_kind, b.role_name),
                    rule,
                });
            }
        }
        out
    }
}

fn binding_name(b: &Binding) -> String {
    match &b.namespace {
        Some(ns) => format!("RoleBinding {ns}/{}", b.name),
        None => format!("ClusterRoleBinding {}", b.name),
    }
}

/// The discovery and health paths every authenticated user may read
/// (the built-in `system:discovery` and `system:public-info-viewer`
/// roles): kubectl touches them on every run, so they are left out of
/// the comparison.
pub(crate) fn is_public_path(path: &str) -> bool {
    matches!(
        path,
        "/api" | "/apis" | "/version" | "/healthz" | "/livez" | "/readyz" | "/openapi/v2"
    ) || [
        "/api/",
        "/apis/",
        "/openapi/",
        "/version/",
        "/healthz/",
        "/livez/",
        "/readyz/",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

/// A used grant and what in it went unused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PartlyUsed {
    /// The grant.
    pub grant: Grant,
    /// Resources (or URLs) it names that no request touched.
    pub unused_resources: Vec<String>,
    /// Verbs it names that no request used.
    pub unused_verbs: Vec<String>,
}

/// Granted versus used for one identity.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Comparison {
    /// The user as the cluster sees it.
    pub user: String,
    /// The groups as the cluster sees them.
    pub groups: Vec<String>,
    /// Grants that no request used.
    pub unused_grants: Vec<Grant>,
    /// Grants that were used, with the resources and verbs they name that
    /// were never used (wildcards cannot be listed).
    pub partly_used: Vec<PartlyUsed>,
    /// Namespaces it holds a RoleBinding in but never acted in.
    pub unused_namespaces: Vec<String>,
    /// Requests no grant covers (refused by the cluster, or RBAC input incomplete).
    pub not_granted: Vec<String>,
    /// A minimal Role (and ClusterRole) covering exactly what was used, as YAML.
    pub suggested: String,
}

/// Compares what `user` was granted with what it used.
///
/// ```
/// use tollgate_review::{Rbac, Use, compare};
/// let mut rbac = Rbac::default();
/// rbac.add(&serde_json::json!({"kind": "Role", "metadata": {"name": "edit", "namespace": "a"}, "rules": [{"verbs": ["get", "delete"], "apiGroups": [""], "resources": ["pods"]}]}));
/// rbac.add(&serde_json::json!({"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "a"}, "roleRef": {"kind": "Role", "name": "edit"}, "subjects": [{"kind": "User", "name": "ci"}]}));
/// let used = [Use::resource("get", "", "pods", "a", "web")].into_iter().collect();
/// let c = compare(&rbac, "ci", &[], &used);
/// assert!(c.unused_grants.is_empty(), "the rule was used (for get)");
/// assert_eq!(c.partly_used[0].unused_verbs, ["delete"]);
/// assert!(c.suggested.contains("verbs: [get]"));
/// ```
pub fn compare(rbac: &Rbac, user: &str, groups: &[String], used: &BTreeSet<Use>) -> Comparison {
    let grants = rbac.grants(user, groups);
    let used: Vec<&Use> = used
        .iter()
        .filter(|u| !(u.is_non_resource() && is_public_path(&u.resource)))
        .collect();
    let unused_grants = grants
        .iter()
        .filter(|g| !used.iter().any(|u| g.covers(u)))
        .cloned()
        .collect();
    let partly_used = grants
        .iter()
        .filter_map(|g| {
            let mine: Vec<&&Use> = used.iter().filter(|u| g.covers(u)).collect();
            if mine.is_empty() {
                return None;
            }
            let unused_resources: Vec<String> = g
                .rule
                .resources
                .iter()
                .filter(|r| !r.contains('*'))
                .filter(|r| !mine.iter().any(|u| resource_matches(r, &u.resource)))
                .chain(
                    g.rule
                        .non_resource_urls
                        .iter()
                        .filter(|r| !mine.iter().any(|u| url_matches(r, &u.resource))),
                )
                .cloned()
                .collect();
            let unused_verbs: Vec<String> = g
                .rule
                .verbs
                .iter()
                .filter(|v| *v != "*")
                .filter(|v| !mine.iter().any(|u| u.verb == **v))
                .cloned()
                .collect();
            (!unused_resources.is_empty() || !unused_verbs.is_empty()).then(|| PartlyUsed {
                grant: g.clone(),
                unused_resources,
                unused_verbs,
            })
        })
        .collect();
    let bound: BTreeSet<&str> = grants
        .iter()
        .map(|g| g.namespace.as_str())
        .filter(|n| *n != "*")
        .collect();
    let acted: BTreeSet<&str> = used.iter().map(|u| u.namespace.as_str()).collect();
    let unused_namespaces = bound.difference(&acted).map(|n| (*n).to_owned()).collect();
    let mut not_granted: Vec<String> = used
        .iter()
        .filter(|u| !grants.iter().any(|g| g.covers(u)))
        .map(|u| u.describe())
        .collect();
    not_granted.dedup();
    Comparison {
        user: user.to_owned(),
        groups: groups.to_vec(),
        unused_grants,
        partly_used,
        unused_namespaces,
        not_granted,
        suggested: suggest(user, &used),
    }
}

/// The minimal roles: per namespace, per group and resource, the verbs
/// used; cluster-scoped resources and non-resource URLs in a ClusterRole.
fn suggest(user: &str, used: &[&Use]) -> String {
    type Verbs<'a> = BTreeSet<&'a str>;
    let mut by_ns: BTreeMap<&str, BTreeMap<(&str, &str), Verbs<'_>>> = BTreeMap::new();
    let mut urls: BTreeMap<&str, Verbs<'_>> = BTreeMap::new();
    for u in used {
        if u.is_non_resource() {
            urls.entry(&u.resource).or_default().insert(&u.verb);
        } else {
            by_ns
                .entry(&u.namespace)
                .or_default()
                .entry((&u.group, &u.resource))
                .or_default()
                .insert(&u.verb);
        }
    }
    if !urls.is_empty() {
        by_ns.entry("").or_default();
    }
    let mut out = String::new();
    for (ns, rules) in &by_ns {
        let (kind, meta) = if ns.is_empty() {
            ("ClusterRole", format!("  name: {}-minimal\n", yaml_name(user)))
        } else {
            (
                "Role",
                format!("  name: {}-minimal\n  namespace: {ns}\n", yaml_name(user)),
            )
        };
        out.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata:\n{meta}rules:\n"
        ));
        for ((g, r), verbs) in rules {
            out.push_str(&format!(
                "- apiGroups: [{}]\n  resources: [{}]\n  verbs: [{}]\n",
                quoted(g),
                quoted(r),
                verbs.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
        if ns.is_empty() {
            for (url, verbs) in &urls {
                out.push_str(&format!(
                    "- nonResourceURLs: [{}]\n  verbs: [{}]\n",
                    quoted(url),
                    verbs.iter().copied().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    out
}

/// A YAML double-quoted scalar: quotes, backslashes and control
/// characters escaped, so a recorded name cannot change the document.
fn quoted(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if c.is_control() => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A DNS-1123-ish name from a user name.
fn yaml_name(user: &str) -> String {
    let n: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let n: String = n.trim_matches('-').chars().take(50).collect();
    n.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture() -> Rbac {
        let mut r = Rbac::default();
        r.add(&json!({"kind": "List", "items": [
            {"kind": "ClusterRole", "metadata": {"name": "monitoring", "labels": {}},
             "aggregationRule": {"clusterRoleSelectors": [
                 {"matchLabels": {"rbac.example.com/aggregate-to-monitoring": "true"}},
                 {"matchExpressions": [{"key": "rbac.example.com/tier", "operator": "In", "values": ["metrics"]},
                                       {"key": "rbac.example.com/deprecated", "operator": "DoesNotExist"}]}
             ]}, "rules": []},
            {"kind": "ClusterRole", "metadata": {"name": "pod-reader", "labels": {"rbac.example.com/aggregate-to-monitoring": "true"}},
             "rules": [{"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods", "pods/log"]}]},
            {"kind": "ClusterRole", "metadata": {"name": "metrics-reader", "labels": {"rbac.example.com/tier": "metrics"}},
             "rules": [{"verbs": ["get"], "nonResourceURLs": ["/metrics", "/debug/*"]}]},
            {"kind": "ClusterRole", "metadata": {"name": "old-metrics", "labels": {"rbac.example.com/tier": "metrics", "rbac.example.com/deprecated": "yes"}},
             "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["nodes"]}]},
            {"kind": "ClusterRole", "metadata": {"name": "everything"}, "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]},
            {"kind": "Role", "metadata": {"name": "deployer", "namespace": "prod"},
             "rules": [{"verbs": ["get", "patch", "delete"], "apiGroups": ["apps"], "resources": ["deployments", "*/scale"]},
                       {"verbs": ["update"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["web-config"]}]},
            {"kind": "ClusterRoleBinding", "metadata": {"name": "ci-monitoring"}, "roleRef": {"kind": "ClusterRole", "name": "monitoring"},
             "subjects": [{"kind": "Group", "name": "ci"}]},
            {"kind": "RoleBinding", "metadata": {"name": "ci-deploy", "namespace": "prod"}, "roleRef": {"kind": "Role", "name": "deployer"},
             "subjects": [{"kind": "User", "name": "github:acme/web"}]},
            {"kind": "RoleBinding", "metadata": {"name": "ci-staging", "namespace": "staging"}, "roleRef": {"kind": "ClusterRole", "name": "everything"},
             "subjects": [{"kind": "User", "name": "github:acme/web"}]},
            {"kind": "RoleBinding", "metadata": {"name": "bot", "namespace": "ops"}, "roleRef": {"kind": "ClusterRole", "name": "everything"},
             "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "ops"}]}
        ]}));
        r
    }

    fn u(v: &str, g: &str, r: &str, n: &str) -> Use {
        Use::resource(v, g, r, n, "")
    }

    #[test]
    fn bindings_aggregation_and_wildcards() {
        let rbac = fixture();
        let grants = rbac.grants("github:acme/web", &["ci".to_owned()]);
        let roles: BTreeSet<&str> = grants.iter().map(|g| g.role.as_str()).collect();
        assert_eq!(
            roles,
            ["ClusterRole everything", "ClusterRole monitoring", "Role deployer"]
                .into_iter()
                .collect()
        );
        let agg: Vec<&Grant> = grants.iter().filter(|g| g.role == "ClusterRole monitoring").collect();
        assert!(
            agg.iter().any(|g| g.covers(&u("list", "", "pods/log", "x"))),
            "aggregated from pod-reader by matchLabels"
        );
        assert!(
            agg.iter().any(|g| g.covers(&Use::non_resource("get", "/debug/pprof"))),
            "aggregated from metrics-reader by matchExpressions (In)"
        );
        assert!(
            !agg.iter().any(|g| g.covers(&u("get", "", "nodes", ""))),
            "old-metrics is excluded by DoesNotExist"
        );
        assert!(agg.iter().all(|g| g.namespace == "*"));
        let dep: Vec<&Grant> = grants.iter().filter(|g| g.role == "Role deployer").collect();
        assert!(
            dep.iter()
                .any(|g| g.covers(&u("patch", "apps", "deployments/scale", "prod"))),
            "*/scale covers the scale subresource of any resource"
        );
        assert!(
            !dep.iter()
                .any(|g| g.covers(&u("patch", "apps", "deployments/status", "prod")))
        );
        assert!(
            !dep.iter()
                .any(|g| g.covers(&u("create", "apps", "deployments", "prod")))
        );
        assert!(
            !dep.iter()
                .any(|g| g.covers(&u("get", "apps", "deployments", "staging"))),
            "a RoleBinding grants only in its namespace"
        );
        let cm = |name: &str| Use::resource("update", "", "configmaps", "prod", name);
        assert!(dep.iter().any(|g| g.covers(&cm("web-config"))));
        assert!(
            !dep.iter().any(|g| g.covers(&cm("other"))) && !dep.iter().any(|g| g.covers(&cm(""))),
            "resourceNames allow only the named objects"
        );
        assert!(
            rbac.grants("system:serviceaccount:ops:bot", &[])
                .iter()
                .all(|g| g.namespace == "ops")
        );
        assert!(rbac.grants("someone", &[]).is_empty());
    }

    #[test]
    fn wildcards_as_the_api_server_reads_them() {
        assert!(resource_matches("*", "pods/log"), "* covers subresources too");
        assert!(resource_matches("*/scale", "deployments/scale"));
        assert!(!resource_matches("*/scale", "deployments"));
        assert!(
            !resource_matches("deployments/*", "deployments/scale"),
            "no prefix wildcard for resources"
        );
        assert!(url_matches("/healthz/*", "/healthz/etcd"));
        assert!(!url_matches("/healthz/*", "/healthz"));
        assert!(url_matches("*", "/anything"));
        let resource_rule = Rule::from_json(&json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}));
        assert!(
            !resource_rule.allows(&Use::non_resource("get", "/metrics")),
            "a resource rule never allows a URL"
        );
        let url_rule = Rule::from_json(&json!({"verbs": ["get"], "nonResourceURLs": ["*"]}));
        assert!(
            !url_rule.allows(&u("get", "", "pods", "a")),
            "a URL rule never allows a resource"
        );
        let ns_grant = Grant {
            namespace: "a".into(),
            binding: String::new(),
            role: String::new(),
            rule: url_rule,
        };
        assert!(
            !ns_grant.covers(&Use::non_resource("get", "/metrics")),
            "non-resource URLs only through a ClusterRoleBinding"
        );
    }

    #[test]
    fn what_cannot_be_followed_is_named() {
        let mut rbac = fixture();
        rbac.add(&json!({"kind": "ClusterRole", "metadata": {"name": "bad"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchExpressions": [{"key": "a", "operator": "Near"}]}]}}));
        rbac.add(
            &json!({"kind": "RoleBinding", "metadata": {"name": "dangling", "namespace": "prod"},
            "roleRef": {"kind": "Role", "name": "gone"}, "subjects": [{"kind": "User", "name": "x"}]}),
        );
        let w = rbac.warnings();
        assert!(
            w.iter()
                .any(|w| w.contains("ClusterRole bad") && w.contains("unknown operator \"Near\"")),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|w| w.contains("RoleBinding prod/dangling: refers to Role gone")),
            "{w:?}"
        );
        assert_eq!(w.len(), 2, "{w:?}");
    }

    #[test]
    fn granted_versus_used() {
        let rbac = fixture();
        let used: BTreeSet<Use> = [
            u("get", "", "pods", "prod"),
            u("list", "", "pods", "prod"),
            u("patch", "apps", "deployments/scale", "prod"),
            u("create", "", "secrets", "prod"),
            Use::non_resource("get", "/metrics"),
            Use::non_resource("get", "/api"),
            Use::non_resource("get", "/openapi/v3/apis/apps/v1"),
        ]
        .into_iter()
        .collect();
        let c = compare(&rbac, "github:acme/web", &["ci".to_owned()], &used);
        let unused: Vec<&str> = c.unused_grants.iter().map(|g| g.role.as_str()).collect();
        assert_eq!(
            unused,
            ["Role deployer", "ClusterRole everything"],
            "staging's wildcard grant and the configmap rule were never used"
        );
        assert_eq!(c.unused_namespaces, ["staging"]);
        let deployer = c.partly_used.iter().find(|p| p.grant.role == "Role deployer").unwrap();
        assert_eq!(deployer.unused_resources, ["deployments"], "only */scale was used");
        assert_eq!(deployer.unused_verbs, ["get", "delete"]);
        let reader = c
            .partly_used
            .iter()
            .find(|p| p.grant.role == "ClusterRole monitoring" && p.grant.rule.non_resource_urls.is_empty())
            .unwrap();
        assert_eq!(reader.unused_resources, ["pods/log"]);
        assert_eq!(reader.unused_verbs, ["watch"]);
        let urls = c
            .partly_used
            .iter()
            .find(|p| !p.grant.rule.non_resource_urls.is_empty())
            .unwrap();
        assert_eq!(urls.unused_resources, ["/debug/*"]);
        assert_eq!(
            c.not_granted,
            ["create secrets in prod"],
            "discovery paths are not counted"
        );
        assert!(
            c.suggested
                .contains("kind: Role\nmetadata:\n  name: github-acme-web-minimal\n  namespace: prod\n"),
            "{}",
            c.suggested
        );
        assert!(
            c.suggested
                .contains("- apiGroups: [\"\"]\n  resources: [\"pods\"]\n  verbs: [get, list]\n"),
            "{}",
            c.suggested
        );
        assert!(
            c.suggested
                .contains("resources: [\"deployments/scale\"]\n  verbs: [patch]"),
            "{}",
            c.suggested
        );
        assert!(
            c.suggested
                .contains("kind: ClusterRole\nmetadata:\n  name: github-acme-web-minimal\nrules:\n- nonResourceURLs: [\"/metrics\"]\n  verbs: [get]\n"),
            "{}",
            c.suggested
        );
        assert!(!c.suggested.contains("/api"), "{}", c.suggested);
    }

    #[test]
    fn recorded_names_cannot_change_the_suggested_yaml() {
        let used: BTreeSet<Use> = [u("get", "x\"]\n- apiGroups: [\"*", "pods", "a")].into_iter().collect();
        let c = compare(&Rbac::default(), "u", &[], &used);
        assert!(
            c.suggested.contains(r#"apiGroups: ["x\"]\u000a- apiGroups: [\"*"]"#),
            "{}",
            c.suggested
        );
    }
}
