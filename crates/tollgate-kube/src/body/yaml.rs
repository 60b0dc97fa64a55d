//! YAML bodies decoded into JSON under a budget that counts what the
//! document *produces*, alias expansions included: nodes, nesting and the
//! bytes of keys and scalars. The parser's own budget bounds what it reads;
//! this one bounds what a few anchors and aliases can make of it.

use std::cell::Cell;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::limits::{MAX_YAML_DEPTH, MAX_YAML_EXPANDED_BYTES, MAX_YAML_NODES, cut_message};

/// What is left of the budget of the decode running on this thread.
#[derive(Debug, Clone, Copy)]
struct Budget {
    nodes: usize,
    bytes: usize,
    depth: usize,
}

thread_local! {
    static BUDGET: Cell<Budget> = const { Cell::new(Budget { nodes: 0, bytes: 0, depth: 0 }) };
}

fn charge<E: de::Error>(bytes: usize) -> Result<(), E> {
    BUDGET.with(|b| {
        let mut left = b.get();
        if left.nodes == 0 {
            return Err(E::custom(format_args!(
                "the document expands to more than {MAX_YAML_NODES} nodes (aliases included)"
            )));
        }
        left.nodes -= 1;
        if bytes > left.bytes {
            return Err(E::custom(format_args!(
                "the document expands to more than {MAX_YAML_EXPANDED_BYTES} bytes of keys and values (aliases included)"
            )));
        }
        left.bytes -= bytes;
        b.set(left);
        Ok(())
    })
}

fn enter<E: de::Error>() -> Result<(), E> {
    BUDGET.with(|b| {
        let mut left = b.get();
        if left.depth == 0 {
            return Err(E::custom(format_args!(
                "the document nests deeper than {MAX_YAML_DEPTH} levels"
            )));
        }
        left.depth -= 1;
        b.set(left);
        Ok(())
    })
}

fn leave() {
    BUDGET.with(|b| {
        let mut left = b.get();
        left.depth += 1;
        b.set(left);
    });
}

/// A JSON value built under the thread's budget.
struct Node(Value);

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// A map key, charged for its bytes.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        charge::<D::Error>(s.len())?;
        Ok(Key(s))
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        charge(0)?;
        Ok(Node(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        charge(0)?;
        Ok(Node(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        charge(0)?;
        Ok(Node(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        charge(0)?;
        // As serde_json: a float JSON cannot hold (NaN, infinities) is null.
        Ok(Node(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        charge(v.len())?;
        Ok(Node(Value::String(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        charge(v.len())?;
        Ok(Node(Value::String(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        charge(0)?;
        Ok(Node(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        charge(0)?;
        enter()?;
        let mut out = Vec::new();
        let result = loop {
            match seq.next_element::<Node>() {
                Ok(Some(Node(v))) => out.push(v),
                Ok(None) => break Ok(Node(Value::Array(out))),
                Err(e) => break Err(e),
            }
        };
        leave();
        result
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        charge(0)?;
        enter()?;
        let mut out = Map::new();
        let result = loop {
            match map.next_key::<Key>() {
                Ok(Some(Key(k))) => match map.next_value::<Node>() {
                    Ok(Node(v)) => {
                        out.insert(k, v);
                    }
                    Err(e) => break Err(e),
                },
                Ok(None) => break Ok(Node(Value::Object(out))),
                Err(e) => break Err(e),
            }
        };
        leave();
        result
    }
}

/// Parses one YAML document into JSON under the budgets in
/// [`crate::limits`]; never panics.
///
/// ```
/// let v = tollgate_kube::yaml_to_json("a: [1, two]\n").unwrap();
/// assert_eq!(v, serde_json::json!({"a": [1, "two"]}));
/// ```
///
/// # Errors
/// [`Error::InvalidYaml`](crate::Error::InvalidYaml): the parser's message
/// (cut to [`crate::limits::MAX_ERROR_MESSAGE_BYTES`]), its line, and
/// whether a budget was breached.
pub fn yaml_to_json(text: &str) -> Result<Value, crate::Error> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_nodes: MAX_YAML_NODES,
            max_depth: MAX_YAML_DEPTH,
            max_total_scalar_bytes: MAX_YAML_EXPANDED_BYTES,
        },
    };
    let saved = BUDGET.with(|b| {
        b.replace(Budget {
            nodes: MAX_YAML_NODES,
            bytes: MAX_YAML_EXPANDED_BYTES,
            depth: MAX_YAML_DEPTH,
        })
    });
    let out = serde_saphyr::from_str_with_options::<Node>(text, options);
    BUDGET.with(|b| b.set(saved));
    out.map(|n| n.0).map_err(|e| {
        let line = e.location().and_then(|l| usize::try_from(l.line()).ok());
        let m = cut_message(e.to_string());
        let over_budget = m.contains("budget breached");
        let message = if over_budget {
            format!(
                "{m} (Tollgate's limits for YAML: {MAX_YAML_NODES} nodes, {MAX_YAML_DEPTH} levels, {MAX_YAML_EXPANDED_BYTES} bytes once aliases are expanded)"
            )
        } else {
            m
        };
        crate::Error::InvalidYaml {
            message,
            line,
            over_budget,
        }
    })
}

/// `value` as YAML, for commands' `-o yaml` (keys in their JSON order).
///
/// ```
/// let y = tollgate_kube::json_to_yaml(&serde_json::json!({"id": "apr-1", "votes": [1, 2]}));
/// assert!(y.contains("id: apr-1"), "{y}");
/// assert_eq!(tollgate_kube::yaml_to_json(&y).unwrap(), serde_json::json!({"id": "apr-1", "votes": [1, 2]}));
/// ```
pub fn json_to_yaml(value: &Value) -> String {
    serde_saphyr::to_string(value).unwrap_or_else(|e| format!("# cannot be written as YAML: {e}\n"))
}
