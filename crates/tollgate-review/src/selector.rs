//! Label selectors as `metav1.LabelSelector` defines them: `matchLabels`
//! and `matchExpressions` (`In`, `NotIn`, `Exists`, `DoesNotExist`), all
//! of which must hold; an empty selector selects everything.

use std::collections::BTreeMap;

use serde_json::Value;

/// A parsed label selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selector {
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Selector {
    /// Parses a `LabelSelector` object; the error says what is wrong (the
    /// API server refuses such a selector, so it selects nothing).
    pub(crate) fn parse(v: &Value) -> Result<Selector, String> {
        let mut requirements = Vec::new();
        if let Some(m) = v.get("matchLabels") {
            let m = m.as_object().ok_or("matchLabels is not a map")?;
            for (k, x) in m {
                let x = x.as_str().ok_or_else(|| format!("matchLabels.{k} is not a string"))?;
                requirements.push(Requirement::In(k.clone(), vec![x.to_owned()]));
            }
        }
        if let Some(list) = v.get("matchExpressions") {
            let list = list.as_array().ok_or("matchExpressions is not a list")?;
            for (i, e) in list.iter().enumerate() {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("matchExpressions[{i}].key is missing"))?
                    .to_owned();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default();
                let op = e.get("operator").and_then(Value::as_str).unwrap_or("");
                let r = match op {
                    "In" | "NotIn" if values.is_empty() => {
                        return Err(format!("matchExpressions[{i}]: operator {op} needs values"));
                    }
                    "Exists" | "DoesNotExist" if !values.is_empty() => {
                        return Err(format!("matchExpressions[{i}]: operator {op} takes no values"));
                    }
                    "In" => Requirement::In(key, values),
                    "NotIn" => Requirement::NotIn(key, values),
                    "Exists" => Requirement::Exists(key),
                    "DoesNotExist" => Requirement::DoesNotExist(key),
                    other => {
                        return Err(format!(
                            "matchExpressions[{i}]: unknown operator {other:?} (In, NotIn, Exists, DoesNotExist)"
                        ));
                    }
                };
                requirements.push(r);
            }
        }
        Ok(Selector { requirements })
    }

    /// Whether `labels` satisfy every requirement.
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn l(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn labels_and_expressions_all_hold() {
        let s = Selector::parse(&json!({
            "matchLabels": {"a": "1"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["x", "y"]},
                {"key": "legacy", "operator": "DoesNotExist"},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "team", "operator": "Exists"}
            ]
        }))
        .unwrap();
        assert!(s.matches(&l(&[("a", "1"), ("tier", "y"), ("team", "t")])));
        assert!(s.matches(&l(&[("a", "1"), ("tier", "x"), ("team", "t"), ("env", "dev")])));
        assert!(!s.matches(&l(&[("a", "1"), ("tier", "y"), ("team", "t"), ("env", "prod")])));
        assert!(!s.matches(&l(&[("a", "1"), ("tier", "y"), ("team", "t"), ("legacy", "")])));
        assert!(!s.matches(&l(&[("a", "1"), ("tier", "z"), ("team", "t")])));
        assert!(!s.matches(&l(&[("tier", "y"), ("team", "t")])));
        assert!(!s.matches(&l(&[("a", "1"), ("tier", "y")])));
    }

    #[test]
    fn an_empty_selector_selects_everything() {
        let s = Selector::parse(&json!({})).unwrap();
        assert!(s.matches(&l(&[])));
        assert!(s.matches(&l(&[("x", "y")])));
    }

    #[test]
    fn bad_selectors_are_named() {
        for (v, want) in [
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Like", "values": ["b"]}]}),
                "unknown operator \"Like\"",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
                "needs values",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["b"]}]}),
                "takes no values",
            ),
            (json!({"matchExpressions": [{"operator": "Exists"}]}), "key is missing"),
            (json!({"matchLabels": {"a": 1}}), "matchLabels.a is not a string"),
        ] {
            let e = Selector::parse(&v).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }
}
