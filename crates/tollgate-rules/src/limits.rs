//! The bounds on what evaluating one request against a policy may cost, in
//! one place (`docs/configuration.md` lists them with the other crates').
//!
//! A request that would need more is refused with 400 naming the rule and
//! the limit: a rule that cannot be checked is never skipped.
//!
//! ```
//! assert_eq!(tollgate_rules::limits::MAX_CONDITION_MATCHES, 10_000);
//! ```

/// The most nodes one condition's JSONPath may select in a request.
pub const MAX_CONDITION_MATCHES: usize = 10_000;

/// The most bytes of text one `matches` condition may read in a request
/// (the default body limit): with [`MAX_REGEX_SIZE`] this keeps its worst
/// case in tens of milliseconds.
pub const MAX_CONDITION_BYTES: usize = tollgate_kube::DEFAULT_MAX_BODY_BYTES;

/// The most heap a compiled `matches` regex may take. A regex over it is
/// refused when the policy loads (and by `tollgate policy check`): large
/// automata are what make a regex slow on a large input.
pub const MAX_REGEX_SIZE: usize = 64 * 1024;
