//! CEL as Kubernetes uses it (feature `cel`): one expression compiled once
//! at load, checked against the variables it may use and the functions we
//! provide, and bounded — statically at load (length, nesting, size,
//! comprehensions) and against its inputs before each evaluation (the `cel`
//! crate has no runtime budget of its own).
//!
//! The environment is CEL's standard library and macros (`has`, `all`,
//! `exists`, `exists_one`, `map`, `filter`), optional values
//! (`claims.?email_verified.orValue(true)`, `optional.of`, `hasValue`,
//! `value`, `or`), `matches` (RE2 syntax, linear time), and the strings
//! extension Kubernetes enables (`ext.Strings` of cel-go, the same as the API
//! server's): `charAt`, `indexOf`, `lastIndexOf`, `lowerAscii`, `upperAscii`,
//! `replace`, `split`, `substring`, `trim`, `join`, `reverse`,
//! `strings.quote`, `format`. A function Kubernetes has and Tollgate does
//! not (its `url`, `ip`, `cidr`, `quantity`, `lists`, `semver`, `authz`
//! libraries, time functions) is refused at load, named — never a silent
//! false.
//!
//! ```
//! use tollgate_kube::cel::Expression;
//! let e = Expression::compile("claims.repository.startsWith('acme/')", &["claims"])?;
//! let claims = serde_json::json!({"repository": "acme/payments"});
//! assert!(e.evaluate_bool(&[("claims", &claims)])?);
//! assert!(Expression::compile("url(claims.iss).getHost() == 'x'", &["claims"]).is_err());
//! # Ok::<(), tollgate_kube::cel::CelError>(())
//! ```

use std::sync::{Arc, OnceLock};

use cel::common::ast::{EntryExpr, Expr};
use cel::{Context, Env, IdedExpr, Program, Value};

/// The longest expression accepted (bytes).
pub const MAX_SOURCE_BYTES: usize = 4096;
/// The deepest nesting of brackets in the source, and of the parsed tree.
pub const MAX_DEPTH: usize = 32;
/// The most nodes in the parsed tree.
pub const MAX_NODES: usize = 1000;
/// Comprehensions (`all`, `exists`, `map`, `filter` …) inside each other.
pub const MAX_COMPREHENSION_NESTING: usize = 2;
/// The longest input list (or map, or string a comprehension could split)
/// an expression with a comprehension may range over.
pub const MAX_RANGE_ITEMS: usize = 10_000;
/// The estimated cost of one evaluation: tree nodes × (longest input a
/// comprehension may range over) ^ (comprehension nesting).
pub const MAX_COST: u64 = 1_000_000;

/// Why an expression was refused, at load or at evaluation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CelError {
    /// Longer than [`MAX_SOURCE_BYTES`].
    #[error("the expression is {0} bytes long; at most {MAX_SOURCE_BYTES} are accepted")]
    TooLong(usize),
    /// Nested deeper than [`MAX_DEPTH`] (or the tree is).
    #[error("the expression nests {depth} deep at offset {offset}; at most {MAX_DEPTH} is accepted")]
    TooDeep {
        /// How deep.
        depth: usize,
        /// Where (byte offset; 0 for the tree).
        offset: usize,
    },
    /// Not CEL.
    #[error("{0}")]
    Syntax(String),
    /// Over [`MAX_NODES`] or [`MAX_COMPREHENSION_NESTING`].
    #[error("the expression is too complex: {0}")]
    TooComplex(String),
    /// A variable the context does not give.
    #[error("undeclared reference to {name:?} (this expression may use {allowed})")]
    UnknownVariable {
        /// The name.
        name: String,
        /// What it may use.
        allowed: String,
    },
    /// A function Tollgate does not provide.
    #[error("{0}")]
    UnknownFunction(String),
    /// The inputs are too large for this expression's comprehensions.
    #[error("{0}")]
    OverBudget(String),
    /// Evaluation failed (a missing field, a type mismatch …).
    #[error("evaluating {expression:?}: {message}")]
    Evaluation {
        /// The expression.
        expression: String,
        /// What failed.
        message: String,
    },
    /// The result is not of the type the field needs.
    #[error("{expression:?} must evaluate to {expected}, not {got}")]
    WrongType {
        /// The expression.
        expression: String,
        /// What the field needs.
        expected: &'static str,
        /// What it gave.
        got: String,
    },
}

/// A compiled, checked expression.
#[derive(Clone)]
pub struct Expression {
    source: String,
    program: Arc<Program>,
    variables: Vec<String>,
    nodes: usize,
    comprehensions: usize,
    splits: bool,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Expression").field(&self.source).finish()
    }
}

impl PartialEq for Expression {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

fn env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        // The strings extension registers only new names on a fresh
        // standard environment; a failure would be a bug in the crate.
        if let Err(e) = env.add_extension(cel::extensions::strings) {
            tracing::error!(error = ?e, "the CEL strings extension did not register");
        }
        Arc::new(env)
    })
    .clone()
}

/// Functions the environment provides (identifiers; operators are
/// `_…_`, `@…`, `!_`, `-_`).
const PROVIDED: &[&str] = &[
    // standard library
    "size",
    "matches",
    "contains",
    "startsWith",
    "endsWith",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "type",
    "dyn",
    // optional values
    "optional.of",
    "optional.none",
    "optional.ofNonZeroValue",
    "value",
    "hasValue",
    "or",
    "orValue",
    // strings extension (cel-go ext.Strings, as the API server enables it)
    "charAt",
    "indexOf",
    "lastIndexOf",
    "lowerAscii",
    "upperAscii",
    "replace",
    "split",
    "substring",
    "trim",
    "join",
    "reverse",
    "strings.quote",
    "format",
];

/// Kubernetes functions we do not provide, with the library they are in.
const KUBERNETES_ONLY: &[(&str, &str)] = &[
    ("url", "URL"),
    ("isURL", "URL"),
    ("getScheme", "URL"),
    ("getHost", "URL"),
    ("getHostname", "URL"),
    ("getPort", "URL"),
    ("getEscapedPath", "URL"),
    ("getQuery", "URL"),
    ("ip", "IP"),
    ("isIP", "IP"),
    ("family", "IP"),
    ("isLoopback", "IP"),
    ("containsIP", "CIDR"),
    ("containsCIDR", "CIDR"),
    ("cidr", "CIDR"),
    ("isCIDR", "CIDR"),
    ("quantity", "quantity"),
    ("isQuantity", "quantity"),
    ("isGreaterThan", "quantity"),
    ("isLessThan", "quantity"),
    ("compareTo", "quantity"),
    ("asInteger", "quantity"),
    ("asApproximateFloat", "quantity"),
    ("isSorted", "lists"),
    ("sum", "lists"),
    ("min", "lists"),
    ("max", "lists"),
    ("semver", "semver"),
    ("isSemver", "semver"),
    ("authorizer", "authorizer"),
    ("timestamp", "time"),
    ("duration", "time"),
    ("getFullYear", "time"),
    ("getHours", "time"),
    ("base64.encode", "encoders"),
    ("base64.decode", "encoders"),
    ("format.named", "format"),
];

fn is_operator(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('@') || name == "!_" || name == "-_"
}

/// What the tree holds: its depth, size, comprehension nesting, the
/// variables comprehensions bind, whether it splits strings.
#[derive(Default)]
struct Shape {
    depth: usize,
    nodes: usize,
    comprehensions: usize,
    bound: Vec<String>,
    splits: bool,
}

fn walk(e: &IdedExpr, depth: usize, comp: usize, s: &mut Shape) {
    s.nodes += 1;
    s.depth = s.depth.max(depth);
    if s.nodes > MAX_NODES || depth > MAX_DEPTH {
        return;
    }
    match &e.expr {
        Expr::Call(c) => {
            if c.func_name == "split" {
                s.splits = true;
            }
            if let Some(t) = &c.target {
                walk(t, depth + 1, comp, s);
            }
            for a in &c.args {
                walk(a, depth + 1, comp, s);
            }
        }
        Expr::Comprehension(c) => {
            let comp = comp + 1;
            s.comprehensions = s.comprehensions.max(comp);
            s.bound.push(c.iter_var.clone());
            if let Some(v) = &c.iter_var2 {
                s.bound.push(v.clone());
            }
            s.bound.push(c.accu_var.clone());
            for x in [&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result] {
                walk(x, depth + 1, comp, s);
            }
        }
        Expr::List(l) => {
            for x in &l.elements {
                walk(x, depth + 1, comp, s);
            }
        }
        Expr::Map(m) => {
            for x in &m.entries {
                if let EntryExpr::MapEntry(me) = &x.expr {
                    walk(&me.key, depth + 1, comp, s);
                    walk(&me.value, depth + 1, comp, s);
                }
            }
        }
        Expr::Struct(st) => {
            for x in &st.entries {
                if let EntryExpr::StructField(f) = &x.expr {
                    walk(&f.value, depth + 1, comp, s);
                }
            }
        }
        Expr::Select(sel) => walk(&sel.operand, depth + 1, comp, s),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// The deepest bracket nesting in the source text, and where: checked
/// before parsing, so a hostile nesting never reaches the parser's
/// recursion.
fn bracket_depth(source: &str) -> (usize, usize) {
    let (mut depth, mut max, mut at) = (0usize, 0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut unary_run = 0usize;
    for (i, c) in source.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                if depth > max {
                    max = depth;
                    at = i;
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        // `!!!!…x` and `----…1` recurse in the parser like brackets do.
        if c == '!' || c == '-' {
            unary_run += 1;
            if depth + unary_run > max {
                max = depth + unary_run;
                at = i;
            }
        } else if !c.is_whitespace() {
            unary_run = 0;
        }
    }
    (max, at)
}

impl Expression {
    /// Compiles `source`, which may use `variables` (and the variables its
    /// own comprehensions bind).
    ///
    /// # Errors
    /// A [`CelError`] naming what is wrong: too long or deep or complex,
    /// not CEL (with the line and column), a variable it may not use, or a
    /// function Tollgate does not provide.
    pub fn compile(source: &str, variables: &[&str]) -> Result<Expression, CelError> {
        if source.len() > MAX_SOURCE_BYTES {
            return Err(CelError::TooLong(source.len()));
        }
        let (depth, offset) = bracket_depth(source);
        if depth > MAX_DEPTH {
            return Err(CelError::TooDeep { depth, offset });
        }
        let program = env().compile(source).map_err(|e| CelError::Syntax(e.to_string()))?;
        let mut shape = Shape::default();
        walk(program.expression(), 1, 0, &mut shape);
        if shape.nodes > MAX_NODES {
            return Err(CelError::TooComplex(format!("more than {MAX_NODES} nodes")));
        }
        if shape.depth > MAX_DEPTH {
            return Err(CelError::TooDeep {
                depth: shape.depth,
                offset: 0,
            });
        }
        if shape.comprehensions > MAX_COMPREHENSION_NESTING {
            return Err(CelError::TooComplex(format!(
                "{} comprehensions (all, exists, map, filter …) inside each other; at most {MAX_COMPREHENSION_NESTING}",
                shape.comprehensions
            )));
        }
        let refs = program.references();
        for v in refs.variables() {
            // `optional` is the namespace of optional.of / optional.none.
            if !variables.contains(&v) && !shape.bound.iter().any(|b| b == v) && v != "optional" {
                return Err(CelError::UnknownVariable {
                    name: v.to_owned(),
                    allowed: if variables.is_empty() {
                        "no variables".to_owned()
                    } else {
                        variables.join(", ")
                    },
                });
            }
        }
        let mut unknown: Vec<&str> = refs
            .functions()
            .into_iter()
            .filter(|f| !is_operator(f) && !PROVIDED.contains(f))
            .collect();
        // The one written first is named (then the message reads as the
        // expression does); a Kubernetes library's function before others.
        unknown.sort_by_key(|f| (source.find(&format!("{f}(")).unwrap_or(usize::MAX), *f));
        if let Some((f, lib)) = unknown
            .iter()
            .find_map(|f| KUBERNETES_ONLY.iter().find(|(n, _)| n == f))
        {
            return Err(CelError::UnknownFunction(format!(
                "{f}() is in Kubernetes' CEL {lib} library, which Tollgate does not provide; rewrite the expression without it"
            )));
        }
        if let Some(f) = unknown.first() {
            return Err(CelError::UnknownFunction(format!(
                "{f}() is not a CEL function Tollgate provides"
            )));
        }
        let used: Vec<String> = refs
            .variables()
            .into_iter()
            .filter(|v| variables.contains(v))
            .map(str::to_owned)
            .collect();
        Ok(Expression {
            source: source.to_owned(),
            variables: used,
            program: Arc::new(program),
            nodes: shape.nodes,
            comprehensions: shape.comprehensions,
            splits: shape.splits,
        })
    }

    /// Whether the expression reads the variable `name`.
    ///
    /// ```
    /// let e = tollgate_kube::cel::Expression::compile("request.verb == 'delete'", &["request", "object"])?;
    /// assert!(e.uses("request") && !e.uses("object"));
    /// # Ok::<(), tollgate_kube::cel::CelError>(())
    /// ```
    pub fn uses(&self, name: &str) -> bool {
        self.variables.iter().any(|v| v == name)
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the source selects `var.field` (plainly or optionally).
    ///
    /// ```
    /// let e = tollgate_kube::cel::Expression::compile("claims.?email_verified.orValue(true) ? claims.email : ''", &["claims"])?;
    /// assert!(e.selects("claims", "email") && e.selects("claims", "email_verified"));
    /// assert!(!e.selects("claims", "sub"));
    /// # Ok::<(), tollgate_kube::cel::CelError>(())
    /// ```
    pub fn selects(&self, var: &str, field: &str) -> bool {
        [format!("{var}.{field}"), format!("{var}.?{field}")].iter().any(|pat| {
            self.source.match_indices(pat.as_str()).any(|(i, _)| {
                let after = self.source[i + pat.len()..].chars().next();
                !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        })
    }

    /// The estimated cost of evaluating over inputs whose longest list,
    /// map (or, when the expression splits strings, string) has `n` items.
    fn cost(&self, n: usize) -> u64 {
        let mut c = self.nodes as u64;
        for _ in 0..self.comprehensions {
            c = c.saturating_mul(n.max(1) as u64);
        }
        c
    }

    /// Evaluates with these variables (JSON values: claims, objects).
    ///
    /// # Errors
    /// [`CelError::OverBudget`] when an input is too large for the
    /// expression's comprehensions; [`CelError::Evaluation`] when it fails.
    pub fn evaluate(&self, vars: &[(&str, &serde_json::Value)]) -> Result<Value, CelError> {
        if self.comprehensions > 0 {
            let n = vars.iter().map(|(_, v)| longest(v, self.splits)).max().unwrap_or(0);
            if n > MAX_RANGE_ITEMS {
                return Err(CelError::OverBudget(format!(
                    "an input of {n} items is longer than the {MAX_RANGE_ITEMS} a CEL comprehension may range over ({:?})",
                    self.source
                )));
            }
            let cost = self.cost(n);
            if cost > MAX_COST {
                return Err(CelError::OverBudget(format!(
                    "the estimated cost {cost} is over the budget of {MAX_COST} ({:?} over an input of {n} items)",
                    self.source
                )));
            }
        }
        let mut ctx = Context::with_env(env());
        for (name, v) in vars {
            let value = cel::to_value(v).map_err(|e| self.failed(e))?;
            ctx.add_variable_from_value(*name, value);
        }
        self.program.execute(&ctx).map_err(|e| self.failed(e))
    }

    fn failed(&self, e: impl std::fmt::Display) -> CelError {
        CelError::Evaluation {
            expression: self.source.clone(),
            message: e.to_string(),
        }
    }

    fn wrong(&self, expected: &'static str, got: &Value) -> CelError {
        CelError::WrongType {
            expression: self.source.clone(),
            expected,
            got: format!("{:?}", got.type_of()),
        }
    }

    /// Evaluates to a boolean.
    ///
    /// # Errors
    /// As [`Expression::evaluate`], or [`CelError::WrongType`].
    pub fn evaluate_bool(&self, vars: &[(&str, &serde_json::Value)]) -> Result<bool, CelError> {
        match self.evaluate(vars)? {
            Value::Bool(b) => Ok(b),
            other => Err(self.wrong("a bool", &other)),
        }
    }

    /// Evaluates to a string.
    ///
    /// # Errors
    /// As [`Expression::evaluate`], or [`CelError::WrongType`].
    pub fn evaluate_string(&self, vars: &[(&str, &serde_json::Value)]) -> Result<String, CelError> {
        match self.evaluate(vars)? {
            Value::String(s) => Ok(s.to_string()),
            other => Err(self.wrong("a string", &other)),
        }
    }

    /// Evaluates to a string or a list of strings (as Kubernetes' `groups`
    /// and `extra` expressions may); a string is a list of one, `""` and
    /// `[]` are none.
    ///
    /// # Errors
    /// As [`Expression::evaluate`], or [`CelError::WrongType`].
    pub fn evaluate_strings(&self, vars: &[(&str, &serde_json::Value)]) -> Result<Vec<String>, CelError> {
        match self.evaluate(vars)? {
            Value::String(s) if s.is_empty() => Ok(Vec::new()),
            Value::String(s) => Ok(vec![s.to_string()]),
            Value::List(l) => l
                .iter()
                .map(|x| match x {
                    Value::String(s) => Ok(s.to_string()),
                    other => Err(self.wrong("a string or a list of strings", other)),
                })
                .collect(),
            other => Err(self.wrong("a string or a list of strings", &other)),
        }
    }
}

/// The longest list or map in `v` (and string, when `strings`), walked
/// iteratively.
fn longest(v: &serde_json::Value, strings: bool) -> usize {
    let mut max = 0;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Array(a) => {
                max = max.max(a.len());
                stack.extend(a.iter());
            }
            serde_json::Value::Object(o) => {
                max = max.max(o.len());
                stack.extend(o.values());
            }
            serde_json::Value::String(s) if strings => max = max.max(s.len()),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn eval(src: &str, claims: serde_json::Value) -> Result<Value, CelError> {
        Expression::compile(src, &["claims"])?.evaluate(&[("claims", &claims)])
    }

    #[test]
    fn the_forms_kubernetes_documents() {
        let c = json!({"sub": "repo:acme/app:ref:refs/heads/main", "email": "a@acme.example", "groups": ["Dev", "ops"],
                       "repository": "acme/app", "email_verified": true});
        assert_eq!(eval("claims.sub.split(':')[1]", c.clone()), Ok(Value::from("acme/app")));
        assert_eq!(
            eval("claims.?email_verified.orValue(false)", c.clone()),
            Ok(Value::Bool(true))
        );
        assert_eq!(eval("claims.?nope.orValue('x')", c.clone()), Ok(Value::from("x")));
        assert_eq!(
            eval("has(claims.email) && !has(claims.nope)", c.clone()),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            eval("claims.groups.map(g, g.lowerAscii()).join(',')", c.clone()),
            Ok(Value::from("dev,ops"))
        );
        assert_eq!(
            eval("claims.groups.exists_one(g, g == 'ops')", c.clone()),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            eval("claims.email.matches('^[a-z]+@acme[.]example$')", c.clone()),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            eval(
                "'github:' + claims.repository.replace('/', ':').upperAscii()",
                c.clone()
            ),
            Ok(Value::from("github:ACME:APP"))
        );
        assert_eq!(
            eval("claims.sub.substring(0, 4).trim()", c.clone()),
            Ok(Value::from("repo"))
        );
        assert_eq!(eval("claims.sub.indexOf(':')", c), Ok(Value::Int(4)));
    }

    #[test]
    fn what_we_do_not_provide_is_named_at_load() {
        let e = Expression::compile("isURL(claims.iss)", &["claims"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("URL library"), "{e}");
        let e = Expression::compile("frobnicate(claims)", &["claims"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("frobnicate() is not a CEL function"), "{e}");
        let e = Expression::compile("object.spec", &["claims"]).unwrap_err().to_string();
        assert!(e.contains("\"object\"") && e.contains("claims"), "{e}");
        let e = Expression::compile("claims.sub ==", &["claims"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("1:") || e.contains("line"), "the position is named: {e}");
    }

    #[test]
    fn hostile_expressions_are_refused_at_load() {
        let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
        assert!(matches!(Expression::compile(&deep, &[]), Err(CelError::TooDeep { .. })));
        let nots = format!("{}true", "!".repeat(3000));
        assert!(matches!(Expression::compile(&nots, &[]), Err(CelError::TooDeep { .. })));
        let huge = format!("'{}' == claims.sub", "x".repeat(100_000));
        assert!(matches!(
            Expression::compile(&huge, &["claims"]),
            Err(CelError::TooLong(_))
        ));
        let sum = vec!["1"; 1500].join("+");
        assert!(Expression::compile(&sum, &[]).is_err(), "too many nodes");
        let nested = "claims.a.all(x, claims.a.all(y, claims.a.all(z, x == y)))";
        assert!(matches!(
            Expression::compile(nested, &["claims"]),
            Err(CelError::TooComplex(_))
        ));
    }

    #[test]
    fn a_comprehension_over_a_huge_input_is_stopped_by_the_budget() {
        let e = Expression::compile("claims.items.all(x, x > 0)", &["claims"]).unwrap();
        let big = json!({"items": vec![1; 100_000]});
        let err = e.evaluate(&[("claims", &big)]).unwrap_err().to_string();
        assert!(err.contains("100000 items"), "{err}");
        let nested = Expression::compile("claims.items.all(x, claims.items.exists(y, y == x))", &["claims"]).unwrap();
        let mid = json!({"items": vec![1; 5_000]});
        let err = nested.evaluate(&[("claims", &mid)]).unwrap_err().to_string();
        assert!(err.contains("over the budget"), "{err}");
        let small = json!({"items": [1, 2, 3]});
        assert_eq!(e.evaluate_bool(&[("claims", &small)]), Ok(true));
    }

    #[test]
    fn results_have_the_type_the_field_needs() {
        let e = Expression::compile("claims.n", &["claims"]).unwrap();
        let err = e
            .evaluate_string(&[("claims", &json!({"n": 3}))])
            .unwrap_err()
            .to_string();
        assert!(err.contains("must evaluate to a string"), "{err}");
        let g = Expression::compile("claims.g", &["claims"]).unwrap();
        assert_eq!(
            g.evaluate_strings(&[("claims", &json!({"g": "a"}))]),
            Ok(vec!["a".to_owned()])
        );
        assert_eq!(g.evaluate_strings(&[("claims", &json!({"g": ""}))]), Ok(vec![]));
        assert!(g.evaluate_strings(&[("claims", &json!({"g": [1]}))]).is_err());
    }

    proptest! {
        #[test]
        fn any_text_compiles_or_is_refused_without_panicking(s in ".{0,80}") {
            if let Ok(e) = Expression::compile(&s, &["claims"]) {
                let _ = e.evaluate(&[("claims", &json!({"sub": "x", "n": 1, "l": [1, 2]}))]);
            }
        }

        #[test]
        fn nesting_of_any_depth_never_overflows(n in 0usize..400, open in prop::sample::select(vec!["(", "[", "!", "-", "{"])) {
            let close = match open { "(" => ")", "[" => "]", "{" => "}", _ => "" };
            let src = format!("{}1{}", open.repeat(n), close.repeat(n));
            let _ = Expression::compile(&src, &[]);
        }
    }
}
