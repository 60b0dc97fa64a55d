//! Granted versus used: what RBAC lets an identity do (following bindings
//! to roles, aggregated cluster roles and wildcards) against what the audit
//! trail shows it did — unused rules and namespaces, and the minimal Role
//! that would have covered exactly what was used.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

/// One RBAC rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Rule {
    /// Verbs (`*` any).
    pub verbs: Vec<String>,
    /// API groups (`""` core, `*` any).
    pub api_groups: Vec<String>,
    /// Resources (`*` any, `pods/log` subresources).
    pub resources: Vec<String>,
    /// Object names (empty: all).
    pub resource_names: Vec<String>,
}

impl Rule {
    fn from(v: &Value) -> Rule {
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
        }
    }

    /// Whether the rule allows `verb` on `group`/`resource` (with
    /// subresource, `pods/log`).
    pub fn allows(&self, verb: &str, group: &str, resource: &str) -> bool {
        let any = |l: &[String], x: &str| l.iter().any(|e| e == "*" || e == x);
        let res = self.resources.iter().any(|r| {
            r == "*"
                || r == resource
                || r.strip_suffix("/*")
                    .is_some_and(|base| resource.split('/').next() == Some(base))
                || r.strip_prefix("*/")
                    .is_some_and(|sub| resource.split_once('/').is_some_and(|(_, s)| s == sub))
        });
        any(&self.verbs, verb) && any(&self.api_groups, group) && res
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

/// RBAC objects, as `kubectl get roles,clusterroles,rolebindings,clusterrolebindings -A -o yaml` gives them.
#[derive(Debug, Clone, Default)]
pub struct Rbac {
    roles: BTreeMap<(String, String), Vec<Rule>>,
    cluster_roles: BTreeMap<String, ClusterRole>,
    bindings: Vec<Binding>,
}

/// Labels, then rules, then the label selectors that aggregate other roles.
type ClusterRole = (Labels, Vec<Rule>, Vec<Labels>);
type Labels = BTreeMap<String, String>;

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
    /// let mut rbac = tollgate_audit::Rbac::default();
    /// rbac.add(&serde_json::json!({"kind": "ClusterRole", "metadata": {"name": "view"}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}));
    /// rbac.add(&serde_json::json!({"kind": "ClusterRoleBinding", "metadata": {"name": "ci-view"}, "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "User", "name": "ci"}]}));
    /// let grants = rbac.grants("ci", &[]);
    /// assert!(grants[0].rule.allows("get", "", "pods"));
    /// ```
    pub fn add(&mut self, doc: &Value) {
        for o in items(doc) {
            let name = s(o, "/metadata/name").to_owned();
            let rules = || {
                o.get("rules")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(Rule::from).collect::<Vec<_>>())
                    .unwrap_or_default()
            };
            match s(o, "/kind") {
                "Role" => {
                    self.roles
                        .insert((s(o, "/metadata/namespace").to_owned(), name), rules());
                }
                "ClusterRole" => {
                    let selectors = o
                        .pointer("/aggregationRule/clusterRoleSelectors")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().map(|x| labels(x.get("matchLabels"))).collect())
                        .unwrap_or_default();
                    self.cluster_roles
                        .insert(name, (labels(o.pointer("/metadata/labels")), rules(), selectors));
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

    /// A cluster role's rules with its aggregated roles' (transitively).
    fn cluster_role_rules(&self, name: &str) -> Vec<Rule> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![name.to_owned()];
        let mut out = Vec::new();
        while let Some(n) = todo.pop() {
            if !seen.insert(n.clone()) {
                continue;
            }
            let Some((_, rules, selectors)) = self.cluster_roles.get(&n) else {
                continue;
            };
            out.extend(rules.iter().cloned());
            for sel in selectors {
                for (other, (labels, _, _)) in &self.cluster_roles {
                    if !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                        todo.push(other.clone());
                    }
                }
            }
        }
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
                _ => self
                    .roles
                    .get(&(b.namespace.clone().unwrap_or_default(), b.role_name.clone()))
                    .cloned()
                    .unwrap_or_default(),
            };
            let binding = match &b.namespace {
                Some(ns) => format!("RoleBinding {ns}/{}", b.name),
                None => format!("ClusterRoleBinding {}", b.name),
            };
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

/// One thing an identity did: verb, group, resource (with subresource),
/// namespace (`""` cluster scope).
pub type Use = (String, String, String, String);

/// A used grant and what in it went unused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PartlyUsed {
    /// The grant.
    pub grant: Grant,
    /// Resources it names that no request touched.
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
/// use tollgate_audit::{Rbac, compare};
/// let mut rbac = Rbac::default();
/// rbac.add(&serde_json::json!({"kind": "Role", "metadata": {"name": "edit", "namespace": "a"}, "rules": [{"verbs": ["get", "delete"], "apiGroups": [""], "resources": ["pods"]}]}));
/// rbac.add(&serde_json::json!({"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "a"}, "roleRef": {"kind": "Role", "name": "edit"}, "subjects": [{"kind": "User", "name": "ci"}]}));
/// let used = [("get".to_owned(), String::new(), "pods".to_owned(), "a".to_owned())].into_iter().collect();
/// let c = compare(&rbac, "ci", &[], &used);
/// assert!(c.unused_grants.is_empty(), "the rule was used (for get)");
/// assert!(c.suggested.contains("verbs: [get]"));
/// ```
pub fn compare(rbac: &Rbac, user: &str, groups: &[String], used: &BTreeSet<Use>) -> Comparison {
    let grants = rbac.grants(user, groups);
    let covers = |g: &Grant, (verb, group, resource, ns): &Use| {
        (g.namespace == "*" || g.namespace == *ns) && g.rule.allows(verb, group, resource)
    };
    let unused_grants = grants
        .iter()
        .filter(|g| !used.iter().any(|u| covers(g, u)))
        .cloned()
        .collect();
    let partly_used = grants
        .iter()
        .filter(|g| used.iter().any(|u| covers(g, u)))
        .filter_map(|g| {
            let mine: Vec<&Use> = used.iter().filter(|u| covers(g, u)).collect();
            let single = |r: &str| Rule {
                resources: vec![r.to_owned()],
                ..g.rule.clone()
            };
            let unused_resources: Vec<String> = g
                .rule
                .resources
                .iter()
                .filter(|r| !r.contains('*'))
                .filter(|r| !mine.iter().any(|(v, grp, res, _)| single(r).allows(v, grp, res)))
                .cloned()
                .collect();
            let unused_verbs: Vec<String> = g
                .rule
                .verbs
                .iter()
                .filter(|v| *v != "*")
                .filter(|v| !mine.iter().any(|u| u.0 == **v))
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
    let acted: BTreeSet<&str> = used.iter().map(|u| u.3.as_str()).collect();
    let unused_namespaces = bound.difference(&acted).map(|n| (*n).to_owned()).collect();
    let not_granted = used
        .iter()
        .filter(|u| !grants.iter().any(|g| covers(g, u)))
        .map(|(v, g, r, n)| {
            format!(
                "{v} {}{r} in {}",
                if g.is_empty() { String::new() } else { format!("{g}/") },
                if n.is_empty() { "(cluster)" } else { n }
            )
        })
        .collect();
    // The minimal roles: per namespace, per group and resource, the verbs used.
    let mut by_ns: BTreeMap<&str, BTreeMap<(&str, &str), BTreeSet<&str>>> = BTreeMap::new();
    for (v, g, r, n) in used {
        by_ns.entry(n).or_default().entry((g, r)).or_default().insert(v);
    }
    let mut suggested = String::new();
    for (ns, rules) in &by_ns {
        let (kind, meta) = if ns.is_empty() {
            ("ClusterRole", format!("  name: {}-minimal\n", yaml_name(user)))
        } else {
            (
                "Role",
                format!("  name: {}-minimal\n  namespace: {ns}\n", yaml_name(user)),
            )
        };
        suggested.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata:\n{meta}rules:\n"
        ));
        for ((g, r), verbs) in rules {
            suggested.push_str(&format!(
                "- apiGroups: [\"{g}\"]\n  resources: [\"{r}\"]\n  verbs: [{}]\n",
                verbs.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    Comparison {
        user: user.to_owned(),
        unused_grants,
        partly_used,
        unused_namespaces,
        not_granted,
        suggested,
    }
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
             "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate-to-monitoring": "true"}}]}, "rules": []},
            {"kind": "ClusterRole", "metadata": {"name": "pod-reader", "labels": {"rbac.example.com/aggregate-to-monitoring": "true"}},
             "rules": [{"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods", "pods/log"]}]},
            {"kind": "ClusterRole", "metadata": {"name": "everything"}, "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]},
            {"kind": "Role", "metadata": {"name": "deployer", "namespace": "prod"},
             "rules": [{"verbs": ["get", "patch", "delete"], "apiGroups": ["apps"], "resources": ["deployments", "deployments/*"]}]},
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
        (v.into(), g.into(), r.into(), n.into())
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
        let agg = grants.iter().find(|g| g.role == "ClusterRole monitoring").unwrap();
        assert!(agg.rule.allows("list", "", "pods/log"), "aggregated from pod-reader");
        assert_eq!(agg.namespace, "*");
        let dep = grants.iter().find(|g| g.role == "Role deployer").unwrap();
        assert!(
            dep.rule.allows("patch", "apps", "deployments/scale"),
            "deployments/* covers subresources"
        );
        assert!(!dep.rule.allows("create", "apps", "deployments"));
        assert!(
            rbac.grants("system:serviceaccount:ops:bot", &[])
                .iter()
                .all(|g| g.namespace == "ops")
        );
        assert!(rbac.grants("someone", &[]).is_empty());
    }

    #[test]
    fn granted_versus_used() {
        let rbac = fixture();
        let used: BTreeSet<Use> = [
            u("get", "", "pods", "prod"),
            u("list", "", "pods", "prod"),
            u("patch", "apps", "deployments/scale", "prod"),
            u("create", "", "secrets", "prod"),
        ]
        .into_iter()
        .collect();
        let c = compare(&rbac, "github:acme/web", &["ci".to_owned()], &used);
        let unused: Vec<&str> = c.unused_grants.iter().map(|g| g.role.as_str()).collect();
        assert_eq!(
            unused,
            ["ClusterRole everything"],
            "staging's wildcard grant was never used"
        );
        assert_eq!(c.unused_namespaces, ["staging"]);
        let deployer = c.partly_used.iter().find(|p| p.grant.role == "Role deployer").unwrap();
        assert_eq!(
            deployer.unused_resources,
            ["deployments"],
            "only deployments/scale was used"
        );
        assert_eq!(deployer.unused_verbs, ["get", "delete"]);
        let reader = c
            .partly_used
            .iter()
            .find(|p| p.grant.role == "ClusterRole monitoring")
            .unwrap();
        assert_eq!(reader.unused_resources, ["pods/log"]);
        assert_eq!(reader.unused_verbs, ["watch"]);
        assert_eq!(c.not_granted, ["create secrets in prod"]);
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
    }
}
