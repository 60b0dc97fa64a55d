//! Helpers shared by the engine-equality tests.

use serde_json::{Value, json};
use tollgate_redact::LAST_APPLIED;

/// Parses the output, reading every last-applied annotation as the JSON it
/// holds, so text that differs only in escaping compares equal.
pub(crate) fn normalize(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == LAST_APPLIED
                    && let Value::String(s) = x
                    && let Ok(mut inner) = serde_json::from_str::<Value>(s)
                {
                    normalize(&mut inner);
                    *x = json!({"parsed": inner});
                    continue;
                }
                normalize(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        _ => {}
    }
}
