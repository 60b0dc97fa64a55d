//! Rules that load but can be walked around: what `tollgate policy check`
//! warns of. Each warning names the rule's line and what a client would do
//! to get past it.

use crate::policy::Match;
use crate::{Action, Policy, Rule};

/// One way a rule can be walked around.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LintWarning {
    /// The rule.
    pub rule: String,
    /// Its line in the file.
    pub line: Option<usize>,
    /// What a client could do, and what to change.
    pub message: String,
}

impl std::fmt::Display for LintWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: rule {:?}: {}", self.rule, self.message),
            None => write!(f, "rule {:?}: {}", self.rule, self.message),
        }
    }
}

fn has_verb(m: &Match, verb: &str) -> bool {
    m.verbs.is_empty() || m.verbs.iter().any(|v| v == "*" || v == verb)
}

/// Whether the rule names `resource` (plain, in any group the spec allows).
fn names_resource(m: &Match, resource: &str) -> bool {
    m.resources.iter().any(|s| {
        s.resources
            .iter()
            .any(|r| r == resource || r.strip_suffix("/*") == Some(resource))
    })
}

/// Whether the rule also covers `resource/sub`.
fn covers_sub(m: &Match, resource: &str, sub: &str) -> bool {
    m.resources.iter().any(|s| {
        s.resources.is_empty()
            || s.resources.iter().any(|r| {
                r == "*"
                    || *r == format!("{resource}/{sub}")
                    || *r == format!("*/{sub}")
                    || *r == format!("{resource}/*")
            })
    })
}

fn lint_rule(r: &Rule, out: &mut Vec<LintWarning>) {
    if r.action == Action::Allow {
        return;
    }
    let m = &r.matcher;
    let mut warn = |message: String| {
        out.push(LintWarning {
            rule: r.name.clone(),
            line: r.line,
            message,
        });
    };
    if !m.names.is_empty() {
        let collection: Vec<&str> = ["list", "watch", "deletecollection"]
            .into_iter()
            .filter(|v| has_verb(m, v))
            .collect();
        if !collection.is_empty() {
            warn(format!(
                "`names` with {}: a collection request has no name (only a GET's metadata.name field selector gives one), so it never matches them; add a rule without `names` for those verbs",
                collection.join(", ")
            ));
        }
    }
    if r.action == Action::Deny && has_verb(m, "delete") && !has_verb(m, "deletecollection") {
        warn("denies delete but not deletecollection: `kubectl delete … --all` (or -l) deletes the same objects; add deletecollection".to_owned());
    }
    // A scale request carries only replicas: it walks around rules that
    // decide on replicas or on nothing in the object, not rules about, say,
    // privileged containers.
    let scale_matters = r.when.iter().all(|c| match &c.source {
        crate::policy::Source::Object(p) => p.to_string().contains("replicas"),
        _ => true,
    }) || r
        .when
        .iter()
        .any(|c| matches!(&c.source, crate::policy::Source::Object(p) if p.to_string().contains("replicas")));
    if scale_matters && (has_verb(m, "update") || has_verb(m, "patch")) {
        for res in ["deployments", "statefulsets", "replicasets", "replicationcontrollers"] {
            if names_resource(m, res) && !covers_sub(m, res, "scale") {
                warn(format!(
                    "covers {res} but not {res}/scale: `kubectl scale` changes replicas through the scale subresource; add {res}/scale"
                ));
            }
        }
    }
    let exec = m.resources.iter().any(|s| {
        s.resources
            .iter()
            .any(|r| r == "pods/exec" || r == "pods/attach" || r == "pods/portforward")
    });
    if exec && !(has_verb(m, "get") && has_verb(m, "create")) {
        warn("an exec/attach/port-forward rule needs both get (WebSocket) and create (SPDY): kubectl falls back from one to the other".to_owned());
    }
}

impl Policy {
    /// The ways this policy's rules can be walked around (empty when none
    /// are known). Warnings, not errors: the policy loads either way.
    ///
    /// ```
    /// let p = tollgate_rules::parse_policy(
    ///     "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n- name: no-delete\n  match: {verbs: [delete], resources: [{group: apps, resources: [deployments]}]}\n  action: deny\n  message: never\n",
    ///     "p.yaml",
    /// ).unwrap();
    /// let w = p.lint();
    /// assert!(w[0].to_string().contains("not deletecollection"), "{}", w[0]);
    /// ```
    pub fn lint(&self) -> Vec<LintWarning> {
        let mut out = Vec::new();
        for r in &self.rules {
            lint_rule(r, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::parse_policy;

    fn warnings(rule: &str) -> Vec<String> {
        let text = format!("apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n{rule}");
        parse_policy(&text, "p.yaml")
            .unwrap()
            .lint()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn each_walk_around_is_named() {
        let w = warnings(
            "- name: r\n  match: {names: [prod-db], resources: [{group: \"\", resources: [secrets]}]}\n  action: deny\n  message: m\n",
        );
        assert!(
            w.iter()
                .any(|x| x.contains("`names` with list, watch, deletecollection")),
            "{w:?}"
        );
        let w = warnings(
            "- name: r\n  match: {verbs: [update, patch], resources: [{group: apps, resources: [deployments]}]}\n  action: require_approval\n  message: m\n  approval: {approvers: {groups: [a]}}\n",
        );
        assert!(w.iter().any(|x| x.contains("not deployments/scale")), "{w:?}");
        let w = warnings(
            "- name: r\n  match: {verbs: [create], resources: [{group: \"\", resources: [pods/exec]}]}\n  action: deny\n  message: m\n",
        );
        assert!(
            w.iter().any(|x| x.contains("both get (WebSocket) and create (SPDY)")),
            "{w:?}"
        );
        assert!(w[0].starts_with("line 4: rule \"r\""), "{w:?}");
    }

    #[test]
    fn the_baseline_pack_has_no_walk_arounds() {
        let p = parse_policy(include_str!("../../../docs/policies/baseline.yaml"), "baseline.yaml").unwrap();
        assert_eq!(p.lint(), []);
    }
}
