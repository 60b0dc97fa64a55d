//! CEL, compiled and evaluated: any source text is compiled or refused
//! without panicking or overflowing the stack, and what compiles evaluates
//! (or fails with an error) over claims built from the rest of the input,
//! within its budget.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(split).min(rest.len());
    let (source, input) = rest.split_at(cut);
    let Ok(source) = std::str::from_utf8(source) else {
        return;
    };
    let Ok(expr) = tollgate_kube::cel::Expression::compile(source, &["claims"]) else {
        return;
    };
    let claims = serde_json::from_slice::<serde_json::Value>(input).unwrap_or_else(|_| {
        serde_json::json!({"sub": String::from_utf8_lossy(input), "n": input.len(), "l": input.iter().map(|b| u64::from(*b)).collect::<Vec<_>>()})
    });
    let _ = expr.evaluate(&[("claims", &claims)]);
});
