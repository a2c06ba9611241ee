//! Evaluating scalar expressions (sqlparser's AST) with MySQL semantics: three-valued logic,
//! comparisons across types, collation-aware string comparison and LIKE.

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator,
    Value as SqlValue,
};

use reef_common::collation::ASCII_WEIGHTS;
use reef_common::error;
use reef_common::value::{DateTime, Decimal};

use crate::datum::Datum;
use crate::SqlError;

/// Where column references and session values come from.
pub trait Scope {
    /// The value of column `name` (optionally qualified by a table name or alias).
    fn column(&self, qualifier: Option<&str>, name: &str) -> Result<Datum, SqlError>;
    /// A system variable (`@@name`).
    fn system_var(&self, name: &str) -> Result<Datum, SqlError>;
    /// A user variable (`@name`).
    fn user_var(&self, name: &str) -> Datum;
    /// Session functions: `DATABASE()`, `USER()`, `CONNECTION_ID()`, `LAST_INSERT_ID()`,
    /// `VERSION()`; `None` if `name` is not one.
    fn session_fn(&self, name: &str) -> Option<Datum>;
}

/// A literal's value.
pub fn literal(v: &SqlValue) -> Result<Datum, SqlError> {
    Ok(match v {
        SqlValue::Null => Datum::Null,
        SqlValue::Boolean(b) => Datum::Int(*b as i64),
        SqlValue::Number(n, _) => number(n)?,
        SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => {
            match reef_common::sqltext::raw_bytes(s) {
                Some(bytes) => Datum::Bytes(bytes),
                None => Datum::str(s.clone()),
            }
        }
        SqlValue::HexStringLiteral(h) => {
            let bytes = (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(h.get(i..i + 2).unwrap_or("0"), 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| {
                    SqlError::new(error::ER_PARSE_ERROR, format!("bad hex literal {h}"))
                })?;
            Datum::Bytes(bytes)
        }
        SqlValue::Placeholder(p) => {
            return Err(SqlError::new(
                error::ER_WRONG_ARGUMENTS,
                format!("parameter {p} was not bound"),
            ))
        }
        other => return Err(SqlError::unsupported(format!("literal {other}"))),
    })
}

fn number(n: &str) -> Result<Datum, SqlError> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(Datum::Int(i));
    }
    if let Ok(u) = n.parse::<u64>() {
        return Ok(Datum::UInt(u));
    }
    if n.contains(['e', 'E']) {
        return n
            .parse::<f64>()
            .map(Datum::Double)
            .map_err(|_| SqlError::new(error::ER_PARSE_ERROR, format!("bad number {n}")));
    }
    Decimal::parse(n)
        .map(Datum::Decimal)
        .map_err(|_| SqlError::new(error::ER_PARSE_ERROR, format!("bad number {n}")))
}

/// Evaluates `e` in `scope`.
pub fn eval(e: &Expr, scope: &dyn Scope) -> Result<Datum, SqlError> {
    match e {
        Expr::Value(v) => literal(&v.value),
        Expr::Identifier(id) => ident(&id.value, scope),
        Expr::CompoundIdentifier(parts) => {
            let names: Vec<&str> = parts.iter().map(|p| p.value.as_str()).collect();
            match names.as_slice() {
                [scope_kw, var] if scope_kw.starts_with("@@") => scope.system_var(var),
                [table, col] => scope.column(Some(table), col),
                [_db, table, col] => scope.column(Some(table), col),
                _ => Err(SqlError::unsupported(e)),
            }
        }
        Expr::Nested(inner) => eval(inner, scope),
        Expr::Floor { expr, field } | Expr::Ceil { expr, field } => match field {
            sqlparser::ast::CeilFloorKind::DateTimeField(
                sqlparser::ast::DateTimeField::NoDateTime,
            ) => crate::functions::floor_ceil(&eval(expr, scope)?, matches!(e, Expr::Floor { .. })),
            _ => Err(SqlError::unsupported(e)),
        },
        Expr::IsNull(x) => Ok(Datum::Int(eval(x, scope)?.is_null() as i64)),
        Expr::IsNotNull(x) => Ok(Datum::Int(!eval(x, scope)?.is_null() as i64)),
        Expr::UnaryOp { op, expr } => unary(op, eval(expr, scope)?),
        Expr::BinaryOp { left, op, right } => binary(op, left, right, scope),
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let v = eval(expr, scope)?;
            let ge = v.compare(&eval(low, scope)?).map(|o| o.is_ge());
            let le = v.compare(&eval(high, scope)?).map(|o| o.is_le());
            Ok(Datum::bool(and3(ge, le).map(|b| b != *negated)))
        }
        Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            let v = eval(expr, scope)?;
            let from = match substring_from {
                Some(e) => eval(e, scope)?,
                None => Datum::Int(1),
            };
            let len = substring_for.as_ref().map(|e| eval(e, scope)).transpose()?;
            Ok(substring(&v, &from, len.as_ref()))
        }
        Expr::Position { expr, r#in } => Ok(locate(&eval(expr, scope)?, &eval(r#in, scope)?, None)),
        Expr::Trim {
            expr,
            trim_where,
            trim_what,
            trim_characters: None,
        } => {
            let v = eval(expr, scope)?;
            let what = match trim_what {
                Some(e) => eval(e, scope)?,
                None => Datum::str(" "),
            };
            let (lead, trail) = match trim_where {
                Some(sqlparser::ast::TrimWhereField::Leading) => (true, false),
                Some(sqlparser::ast::TrimWhereField::Trailing) => (false, true),
                _ => (true, true),
            };
            Ok(trim(&v, &what, lead, trail))
        }
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let v = eval(expr, scope)?;
            let mut saw_null = v.is_null();
            let mut found = false;
            for item in list {
                match v.compare(&eval(item, scope)?) {
                    Some(std::cmp::Ordering::Equal) => {
                        found = true;
                        break;
                    }
                    None => saw_null = true,
                    _ => {}
                }
            }
            Ok(Datum::bool(if found {
                Some(!negated)
            } else if saw_null {
                None
            } else {
                Some(*negated)
            }))
        }
        Expr::Like {
            negated,
            expr,
            pattern,
            escape_char,
            any: false,
        } => {
            let v = eval(expr, scope)?;
            let p = eval(pattern, scope)?;
            if v.is_null() || p.is_null() {
                return Ok(Datum::Null);
            }
            let esc = match escape_char.as_ref().map(|v| &v.value) {
                Some(SqlValue::SingleQuotedString(s)) => s.chars().next().unwrap_or('\\'),
                _ => '\\',
            };
            Ok(Datum::Int((like_datums(&v, &p, esc) != *negated) as i64))
        }
        Expr::Function(f) => function(f, scope),
        Expr::Cast {
            kind: sqlparser::ast::CastKind::Cast,
            expr,
            data_type,
            format: None,
            array: false,
        }
        | Expr::Convert {
            is_try: false,
            expr,
            data_type: Some(data_type),
            charset: None,
            styles: _,
            target_before_value: false,
        } => crate::functions::cast(&eval(expr, scope)?, data_type)
            .ok_or_else(|| SqlError::unsupported(e)),
        Expr::Convert {
            is_try: false,
            expr,
            data_type: None,
            charset: Some(cs),
            target_before_value: false,
            ..
        } if cs.to_string().to_ascii_lowercase().starts_with("utf8") => {
            // Text is UTF-8 already.
            Ok(match eval(expr, scope)? {
                Datum::Bytes(b) => Datum::str(String::from_utf8_lossy(&b)),
                other => other,
            })
        }
        other => Err(SqlError::unsupported(other)),
    }
}

fn ident(name: &str, scope: &dyn Scope) -> Result<Datum, SqlError> {
    if let Some(var) = name.strip_prefix("@@") {
        let var = var
            .strip_prefix("session.")
            .or_else(|| var.strip_prefix("SESSION."))
            .unwrap_or(var);
        scope.system_var(var)
    } else if let Some(var) = name.strip_prefix('@') {
        Ok(scope.user_var(var))
    } else {
        scope.column(None, name)
    }
}

fn and3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn or3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

fn unary(op: &UnaryOperator, v: Datum) -> Result<Datum, SqlError> {
    Ok(match op {
        UnaryOperator::Not => Datum::bool(v.truth().map(|b| !b)),
        UnaryOperator::Plus => v,
        UnaryOperator::Minus => match v {
            Datum::Null => Datum::Null,
            Datum::Int(i) => i
                .checked_neg()
                .map(Datum::Int)
                .ok_or_else(|| out_of_range("BIGINT", &format!("-({i})")))?,
            Datum::UInt(u) => {
                if u <= i64::MAX as u64 + 1 {
                    Datum::Int((u as i128).wrapping_neg() as i64)
                } else {
                    return Err(out_of_range("BIGINT", &format!("-({u})")));
                }
            }
            Datum::Decimal(d) => Datum::Decimal(d.negated()),
            other => Datum::Double(-other.as_f64()),
        },
        other => return Err(SqlError::unsupported(format!("operator {other}"))),
    })
}

fn out_of_range(ty: &str, expr: &str) -> SqlError {
    SqlError::new(
        error::ER_DATA_OUT_OF_RANGE,
        format!("{ty} value is out of range in '{expr}'"),
    )
}

fn binary(op: &BinaryOperator, l: &Expr, r: &Expr, scope: &dyn Scope) -> Result<Datum, SqlError> {
    use BinaryOperator::*;
    match (op, l, r) {
        (Plus | Minus, _, Expr::Interval(iv)) => {
            return interval_arith(eval(l, scope)?, iv, *op == Minus, scope)
        }
        (Plus, Expr::Interval(iv), _) => return interval_arith(eval(r, scope)?, iv, false, scope),
        _ => {}
    }
    match op {
        And => {
            let a = eval(l, scope)?.truth();
            if a == Some(false) {
                return Ok(Datum::Int(0));
            }
            Ok(Datum::bool(and3(a, eval(r, scope)?.truth())))
        }
        Or => {
            let a = eval(l, scope)?.truth();
            if a == Some(true) {
                return Ok(Datum::Int(1));
            }
            Ok(Datum::bool(or3(a, eval(r, scope)?.truth())))
        }
        Eq | NotEq | Lt | LtEq | Gt | GtEq | Spaceship => {
            // A quotient is compared at the scale it shows, as MySQL and MariaDB do.
            let (a, b) = (eval_shown(l, scope)?, eval_shown(r, scope)?);
            if *op == Spaceship {
                return Ok(Datum::Int(match (a.is_null(), b.is_null()) {
                    (true, true) => 1,
                    (true, false) | (false, true) => 0,
                    _ => (a.compare(&b) == Some(std::cmp::Ordering::Equal)) as i64,
                }));
            }
            Ok(Datum::bool(a.compare(&b).map(|o| match op {
                Eq => o.is_eq(),
                NotEq => o.is_ne(),
                Lt => o.is_lt(),
                LtEq => o.is_le(),
                Gt => o.is_gt(),
                _ => o.is_ge(),
            })))
        }
        Plus | Minus | Multiply | Divide | Modulo | MyIntegerDivide => {
            arith(op, eval(l, scope)?, eval(r, scope)?, l, r)
        }
        other => Err(SqlError::unsupported(format!("operator {other}"))),
    }
}

fn arith(op: &BinaryOperator, a: Datum, b: Datum, l: &Expr, r: &Expr) -> Result<Datum, SqlError> {
    use BinaryOperator::*;
    if a.is_null() || b.is_null() {
        return Ok(Datum::Null);
    }
    let text = || format!("({l} {op} {r})");
    let double = |x: f64| Datum::Double(x);
    // Exact operands stay exact: DECIMAL with either a DECIMAL or an integer, and `/` of
    // integers, which MySQL answers as DECIMAL too.
    if matches!(a, Datum::Decimal(_)) || matches!(b, Datum::Decimal(_)) || *op == Divide {
        if let (Some(x), Some(y)) = (exact_decimal(&a), exact_decimal(&b)) {
            return decimal_arith(op, &x, &y, &text);
        }
    }
    if let (Some(x), Some(y)) = (a.as_exact_int(), b.as_exact_int()) {
        let unsigned = matches!(a, Datum::UInt(_)) || matches!(b, Datum::UInt(_));
        let v = match op {
            Plus => x + y,
            Minus => x - y,
            Multiply => x
                .checked_mul(y)
                .ok_or_else(|| out_of_range("BIGINT", &text()))?,
            Modulo | MyIntegerDivide if y == 0 => return Ok(Datum::Null),
            Modulo => x % y,
            _ => x / y,
        };
        return if unsigned {
            u64::try_from(v)
                .map(Datum::UInt)
                .map_err(|_| out_of_range("BIGINT UNSIGNED", &text()))
        } else {
            i64::try_from(v)
                .map(Datum::Int)
                .map_err(|_| out_of_range("BIGINT", &text()))
        };
    }
    let (x, y) = (a.as_f64(), b.as_f64());
    Ok(match op {
        Plus => double(x + y),
        Minus => double(x - y),
        Multiply => double(x * y),
        Modulo if y == 0.0 => Datum::Null,
        Modulo => double(x % y),
        _ if y == 0.0 => Datum::Null,
        Divide => double(x / y),
        _ => Datum::Int((x / y).trunc() as i64),
    })
}

/// Evaluates a value the client will see. A DECIMAL computed through `/` carries more
/// digits than its type shows (see `Decimal::checked_div_inner`); it leaves rounded to the
/// scale MySQL gives the expression: `+ - %` the larger operand scale, `*` their sum, `/`
/// the dividend's plus `div_precision_increment`, each capped at 30.
pub fn eval_shown(e: &Expr, scope: &dyn Scope) -> Result<Datum, SqlError> {
    let v = eval(e, scope)?;
    if let Datum::Decimal(d) = &v {
        if contains_division(e) {
            if let Some(scale) = shown_scale(e, scope)? {
                return Ok(Datum::Decimal(d.rescale(scale)));
            }
        }
    }
    Ok(v)
}

fn contains_division(e: &Expr) -> bool {
    match e {
        Expr::Nested(inner) | Expr::UnaryOp { expr: inner, .. } => contains_division(inner),
        Expr::BinaryOp { left, op, right } => {
            *op == BinaryOperator::Divide || contains_division(left) || contains_division(right)
        }
        _ => false,
    }
}

/// The scale MySQL's type inference gives an arithmetic expression over exact values;
/// `None` when an operand is not exact (the result is then a DOUBLE or NULL).
fn shown_scale(e: &Expr, scope: &dyn Scope) -> Result<Option<u8>, SqlError> {
    use BinaryOperator::*;
    Ok(match e {
        Expr::Nested(inner) => shown_scale(inner, scope)?,
        Expr::UnaryOp { expr, .. } => shown_scale(expr, scope)?,
        Expr::BinaryOp { left, op, right }
            if matches!(op, Plus | Minus | Multiply | Divide | Modulo) =>
        {
            let (Some(l), Some(r)) = (shown_scale(left, scope)?, shown_scale(right, scope)?) else {
                return Ok(None);
            };
            let s = match op {
                Divide => l.saturating_add(DIV_PRECISION_INCREMENT),
                Multiply => l.saturating_add(r),
                _ => l.max(r),
            };
            Some(s.min(reef_common::value::DECIMAL_SCALE_MAX))
        }
        leaf => match eval(leaf, scope)? {
            Datum::Decimal(d) => Some(d.scale()),
            v if v.as_exact_int().is_some() => Some(0),
            _ => None,
        },
    })
}

/// Whether `e` or any expression inside it (subqueries included) satisfies `pred`.
pub(crate) fn any_expr(e: &Expr, pred: impl Fn(&Expr) -> bool) -> bool {
    sqlparser::ast::visit_expressions(e, |x| {
        if pred(x) {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    })
    .is_break()
}

/// Fractional digits `/` adds to its dividend's (`div_precision_increment`).
const DIV_PRECISION_INCREMENT: u8 = 4;

/// A DECIMAL or integer operand as a decimal; `None` for anything inexact.
fn exact_decimal(d: &Datum) -> Option<Decimal> {
    match d {
        Datum::Decimal(x) => Some(x.clone()),
        _ => d.as_exact_int().map(Decimal::from_i128),
    }
}

/// Arithmetic on exact operands with MySQL's result scales; a zero divisor gives NULL.
fn decimal_arith(
    op: &BinaryOperator,
    x: &Decimal,
    y: &Decimal,
    text: &dyn Fn() -> String,
) -> Result<Datum, SqlError> {
    use BinaryOperator::*;
    let overflow = || out_of_range("DECIMAL", &text());
    if matches!(op, Divide | Modulo | MyIntegerDivide) && y.is_zero() {
        return Ok(Datum::Null);
    }
    let v = match op {
        Plus => x.checked_add(y),
        Minus => x.checked_sub(y),
        Multiply => x.checked_mul(y),
        // Shown rounded to scale(x) + 4 by `eval_shown`; kept longer until then.
        Divide => x.checked_div_inner(y, DIV_PRECISION_INCREMENT),
        Modulo => x.checked_rem(y),
        _ => {
            // DIV answers BIGINT.
            let q = x.checked_div_trunc(y).ok_or_else(overflow)?;
            return q
                .to_i128_exact()
                .and_then(|v| i64::try_from(v).ok())
                .map(Datum::Int)
                .ok_or_else(|| out_of_range("BIGINT", &text()));
        }
    };
    v.map(Datum::Decimal).ok_or_else(overflow)
}

/// MySQL's `LIKE` under `utf8mb4_general_ci` (case and accents aside): `%` any run, `_`
/// any one character, `escape` quotes the next one. (Names in `SHOW ... LIKE` match this way.)
pub fn like(text: &str, pattern: &str, escape: char) -> bool {
    LikePattern::general_ci(pattern, escape).matches(text, &mut LikeScratch::default())
}

/// A `LIKE` pattern under `utf8mb4_general_ci`, compiled once to match many texts (the
/// OLAP path matches a column against one pattern).
#[derive(Debug, Clone)]
pub struct LikePattern {
    units: Vec<(u32, u8)>,
    /// The same pattern for ASCII texts, when every literal in it weighs as an ASCII
    /// character.
    ascii: Option<AsciiLike>,
}

/// Reusable buffers for [`LikePattern::matches`].
#[derive(Debug, Default)]
pub struct LikeScratch {
    weights: Vec<u32>,
    bytes: Vec<u8>,
}

impl LikePattern {
    /// Compiles `pattern` with `escape` quoting the next character.
    pub fn general_ci(pattern: &str, escape: char) -> LikePattern {
        let units = pattern_units(
            pattern.chars().map(|c| (c as u32, general_ci_unit(c))),
            escape as u32,
        );
        LikePattern {
            ascii: AsciiLike::new(&units),
            units,
        }
    }

    /// Whether `text` matches.
    pub fn matches(&self, text: &str, scratch: &mut LikeScratch) -> bool {
        if let (Some(ascii), true) = (&self.ascii, text.is_ascii()) {
            // An ASCII character's weight is an ASCII byte, one per character.
            scratch.bytes.clear();
            scratch
                .bytes
                .extend(text.bytes().map(|b| ASCII_WEIGHTS[usize::from(b)]));
            return ascii.matches(&scratch.bytes);
        }
        scratch.weights.clear();
        scratch.weights.extend(text.chars().map(general_ci_unit));
        like_units(&scratch.weights, &self.units)
    }
}

/// A `LIKE` pattern over weight bytes, split at its `%`s: `first` must start the text,
/// `last` end it (when the pattern has a `%`), and the `middle` parts follow in order
/// between them, each taken at its leftmost place (which never loses a match).
#[derive(Debug, Clone)]
struct AsciiLike {
    first: Part,
    middle: Vec<Part>,
    /// `None` when the pattern has no `%`: then `first` is the whole text.
    last: Option<Part>,
}

/// Weight bytes of a run of the pattern without `%`; `None` is `_`.
#[derive(Debug, Clone)]
struct Part {
    units: Vec<Option<u8>>,
    /// A substring search for a part without `_`.
    finder: Option<memchr::memmem::Finder<'static>>,
}

impl Part {
    fn new(units: Vec<Option<u8>>) -> Part {
        let literal: Option<Vec<u8>> = units.iter().copied().collect();
        Part {
            finder: literal.map(|l| memchr::memmem::Finder::new(&l).into_owned()),
            units,
        }
    }

    fn len(&self) -> usize {
        self.units.len()
    }

    /// Whether the part matches `t` at its start (`t` at least as long as the part).
    fn matches_at(&self, t: &[u8]) -> bool {
        self.units
            .iter()
            .zip(t)
            .all(|(u, b)| u.is_none_or(|u| u == *b))
    }

    /// Where the part first matches in `t`.
    fn find(&self, t: &[u8]) -> Option<usize> {
        if let Some(f) = &self.finder {
            return f.find(t);
        }
        let n = self.len();
        (0..=t.len().checked_sub(n)?).find(|&i| self.matches_at(&t[i..]))
    }
}

impl AsciiLike {
    /// The pattern over weight bytes, if every literal weighs as an ASCII character.
    fn new(units: &[(u32, u8)]) -> Option<AsciiLike> {
        let mut parts = vec![Vec::new()];
        for &(weight, kind) in units {
            match kind {
                2 => parts.push(Vec::new()),
                1 => parts.last_mut()?.push(None),
                _ => parts
                    .last_mut()?
                    .push(Some(u8::try_from(weight).ok().filter(u8::is_ascii)?)),
            }
        }
        let mut parts = parts.into_iter().map(Part::new);
        let first = parts.next()?;
        let mut middle: Vec<Part> = parts.collect();
        let last = middle.pop();
        middle.retain(|p| p.len() > 0);
        Some(AsciiLike {
            first,
            middle,
            last,
        })
    }

    fn matches(&self, t: &[u8]) -> bool {
        let Some(last) = &self.last else {
            return t.len() == self.first.len() && self.first.matches_at(t);
        };
        let Some(end) = t.len().checked_sub(last.len()) else {
            return false;
        };
        if end < self.first.len() || !self.first.matches_at(t) || !last.matches_at(&t[end..]) {
            return false;
        }
        let mut pos = self.first.len();
        for part in &self.middle {
            match part.find(&t[pos..end]) {
                Some(at) => pos += at + part.len(),
                None => return false,
            }
        }
        true
    }
}

/// A character's `utf8mb4_general_ci` weight, as `LIKE` compares it.
fn general_ci_unit(c: char) -> u32 {
    reef_common::collation::general_ci_weight(c) as u32
}

/// `v LIKE p` with the comparison its operands call for: bytes for a binary string, exact
/// characters under a binary collation, `utf8mb4_general_ci` otherwise.
fn like_datums(v: &Datum, p: &Datum, escape: char) -> bool {
    let bytes = |d: &Datum| match d {
        Datum::Bytes(b) => Some(b.clone()),
        _ => None,
    };
    if let (Some(t), pat) = (bytes(v), bytes(p)) {
        let pat = pat.unwrap_or_else(|| p.to_text().unwrap_or_default().into_bytes());
        let t: Vec<u32> = t.iter().map(|&b| b as u32).collect();
        return like_units(
            &t,
            &pattern_units(pat.iter().map(|&b| (b as u32, b as u32)), escape as u32),
        );
    }
    let exact = [v, p].iter().any(|d| match d {
        Datum::Bytes(_) => true,
        Datum::Str(_, c) => *c != reef_common::collation::Collation::Utf8mb4GeneralCi,
        _ => false,
    });
    let (t, pat) = (
        v.to_text().unwrap_or_default(),
        p.to_text().unwrap_or_default(),
    );
    if !exact {
        return like(&t, &pat, escape);
    }
    like_units(
        &t.chars().map(|c| c as u32).collect::<Vec<_>>(),
        &pattern_units(pat.chars().map(|c| (c as u32, c as u32)), escape as u32),
    )
}

/// A pattern's units: (unit, 0 literal / 1 any-one / 2 any-many), from (raw, compared) pairs.
fn pattern_units(chars: impl Iterator<Item = (u32, u32)>, escape: u32) -> Vec<(u32, u8)> {
    let mut p = Vec::new();
    let mut chars = chars.peekable();
    while let Some((raw, unit)) = chars.next() {
        if raw == escape {
            if let Some((_, n)) = chars.next() {
                p.push((n, 0));
                continue;
            }
        }
        p.push(match raw {
            0x25 => (0, 2), // %
            0x5F => (0, 1), // _
            _ => (unit, 0),
        });
    }
    p
}

/// Wildcard matching of `t` against pattern units, backtracking to the last `%`.
fn like_units(t: &[u32], p: &[(u32, u8)]) -> bool {
    let (mut ti, mut pi) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi].1 == 1 || (p[pi].1 == 0 && p[pi].0 == t[ti])) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi].1 == 2 {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi].1 == 2 {
        pi += 1;
    }
    pi == p.len()
}

fn args(f: &sqlparser::ast::Function) -> Result<Vec<&Expr>, SqlError> {
    match &f.args {
        FunctionArguments::None => Ok(Vec::new()),
        FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                other => Err(SqlError::unsupported(format!("function argument {other}"))),
            })
            .collect(),
        FunctionArguments::Subquery(_) => Err(SqlError::unsupported("subqueries")),
    }
}

/// `v + INTERVAL n UNIT` (or `-`), and DATE_ADD / DATE_SUB.
fn interval_arith(
    v: Datum,
    iv: &sqlparser::ast::Interval,
    negate: bool,
    scope: &dyn Scope,
) -> Result<Datum, SqlError> {
    let unit = iv
        .leading_field
        .as_ref()
        .and_then(|f| crate::functions::IntervalUnit::of(f, iv.last_field.as_ref()))
        .ok_or_else(|| SqlError::unsupported(format!("the interval {iv}")))?;
    let amount = eval(&iv.value, scope)?;
    Ok(crate::functions::add_interval(&v, &amount, unit, negate))
}

fn function(f: &sqlparser::ast::Function, scope: &dyn Scope) -> Result<Datum, SqlError> {
    let name = f.name.to_string().to_ascii_lowercase();
    let a = args(f)?;
    if let ("date_add" | "adddate" | "date_sub" | "subdate", [v, amount]) = (name.as_str(), &a[..])
    {
        let negate = name == "date_sub" || name == "subdate";
        let v = eval(v, scope)?;
        return match amount {
            Expr::Interval(iv) => interval_arith(v, iv, negate, scope),
            // ADDDATE(d, n) / SUBDATE(d, n): n days.
            days if name == "adddate" || name == "subdate" => Ok(crate::functions::add_interval(
                &v,
                &eval(days, scope)?,
                crate::functions::IntervalUnit::Day,
                negate,
            )),
            _ => Err(SqlError::unsupported(format!("{name} without INTERVAL"))),
        };
    }
    if let Some(v) = scope.session_fn(&name) {
        if a.is_empty() {
            return Ok(v);
        }
    }
    let vals = a
        .iter()
        .map(|e| eval(e, scope))
        .collect::<Result<Vec<_>, _>>()?;
    let want = |n: usize| -> Result<(), SqlError> {
        if vals.len() == n {
            Ok(())
        } else {
            Err(SqlError::new(
                error::ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT,
                format!("Incorrect parameter count in the call to native function '{name}'"),
            ))
        }
    };
    Ok(match name.as_str() {
        "coalesce" => vals
            .into_iter()
            .find(|v| !v.is_null())
            .unwrap_or(Datum::Null),
        "ifnull" => {
            want(2)?;
            if vals[0].is_null() {
                vals[1].clone()
            } else {
                vals[0].clone()
            }
        }
        "nullif" => {
            want(2)?;
            match vals[0].compare(&vals[1]) {
                Some(std::cmp::Ordering::Equal) => Datum::Null,
                _ => vals[0].clone(),
            }
        }
        "isnull" => {
            want(1)?;
            Datum::Int(vals[0].is_null() as i64)
        }
        "if" => {
            want(3)?;
            if vals[0].truth() == Some(true) {
                vals[1].clone()
            } else {
                vals[2].clone()
            }
        }
        "concat" => {
            if vals.iter().any(Datum::is_null) {
                Datum::Null
            } else {
                Datum::str(
                    vals.iter()
                        .map(|v| v.to_text().unwrap_or_default())
                        .collect::<String>(),
                )
            }
        }
        "upper" | "ucase" => {
            want(1)?;
            vals[0]
                .to_text()
                .map_or(Datum::Null, |s| Datum::str(s.to_uppercase()))
        }
        "lower" | "lcase" => {
            want(1)?;
            vals[0]
                .to_text()
                .map_or(Datum::Null, |s| Datum::str(s.to_lowercase()))
        }
        "length" | "octet_length" => {
            want(1)?;
            match &vals[0] {
                // Bytes as stored: a binary string need not be UTF-8.
                Datum::Str(s, _) | Datum::Bytes(s) => Datum::Int(s.len() as i64),
                v => v
                    .to_text()
                    .map_or(Datum::Null, |s| Datum::Int(s.len() as i64)),
            }
        }
        "char_length" | "character_length" => {
            want(1)?;
            vals[0]
                .to_text()
                .map_or(Datum::Null, |s| Datum::Int(s.chars().count() as i64))
        }
        "hex" => {
            want(1)?;
            hex(&vals[0])?
        }
        "unhex" => {
            want(1)?;
            match &vals[0] {
                Datum::Null => Datum::Null,
                d => unhex(&d.to_text().unwrap_or_default()).map_or(Datum::Null, Datum::Bytes),
            }
        }
        "left" | "right" => {
            want(2)?;
            if vals[0].is_null() || vals[1].is_null() {
                Datum::Null
            } else {
                let n = vals[1].as_f64().round().max(0.0) as usize;
                substring_end(&vals[0], n, name == "left")
            }
        }
        "locate" | "instr" => {
            // LOCATE(substr, str[, pos]); INSTR(str, substr).
            let (sub, text, from) = match (name.as_str(), vals.len()) {
                ("locate", 2) => (&vals[0], &vals[1], None),
                ("locate", 3) => (&vals[0], &vals[1], Some(&vals[2])),
                ("instr", 2) => (&vals[1], &vals[0], None),
                _ => {
                    return Err(SqlError::new(
                        error::ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT,
                        format!(
                            "Incorrect parameter count in the call to native function '{name}'"
                        ),
                    ))
                }
            };
            locate(sub, text, from)
        }
        "ltrim" | "rtrim" => {
            want(1)?;
            trim(&vals[0], &Datum::str(" "), name == "ltrim", name == "rtrim")
        }
        "repeat" => {
            want(2)?;
            map_chars(&vals[..1], &vals[1..], |s, n| {
                let n = n[0].round().max(0.0) as usize;
                (s.len().saturating_mul(n) <= STRING_RESULT_BYTES_MAX).then(|| s.repeat(n))
            })
        }
        "reverse" => {
            want(1)?;
            map_chars(&vals, &[], |s, _| Some(s.chars().rev().collect()))
        }
        "lpad" | "rpad" => {
            want(3)?;
            let pad = vals[2].to_text();
            map_chars(&vals[..1], &vals[1..2], |s, n| {
                pad_to(s, n[0], pad.as_deref()?, name == "lpad")
            })
        }
        "mod" => {
            // MOD(a, b) is `a % b`.
            want(2)?;
            arith(
                &BinaryOperator::Modulo,
                vals[0].clone(),
                vals[1].clone(),
                a[0],
                a[1],
            )?
        }
        "abs" => {
            want(1)?;
            match &vals[0] {
                Datum::Null => Datum::Null,
                Datum::Int(i) => Datum::Int(
                    i.checked_abs()
                        .ok_or_else(|| out_of_range("BIGINT", "abs"))?,
                ),
                Datum::UInt(u) => Datum::UInt(*u),
                other => Datum::Double(other.as_f64().abs()),
            }
        }
        "now" | "current_timestamp" | "sysdate" | "localtime" | "localtimestamp" => {
            Datum::DateTime(now())
        }
        "curdate" | "current_date" => Datum::Date(DateTime {
            hour: 0,
            minute: 0,
            second: 0,
            micro: 0,
            ..now()
        }),
        _ => match crate::functions::call(&name, &vals) {
            Some(r) => r?,
            None => return Err(SqlError::unsupported(format!("function {}", f.name))),
        },
    })
}

/// The longest string REPEAT, LPAD and RPAD build (MySQL's `max_allowed_packet` bound:
/// longer results are NULL there too).
const STRING_RESULT_BYTES_MAX: usize = 64 << 20;

/// Applies `f` to the text of `s[0]` and the numbers `n` (NULL in either: NULL; `f`'s `None`:
/// NULL), keeping a character string's collation.
fn map_chars(s: &[Datum], n: &[Datum], f: impl FnOnce(&str, &[f64]) -> Option<String>) -> Datum {
    if s[0].is_null() || n.iter().any(Datum::is_null) {
        return Datum::Null;
    }
    let nums: Vec<f64> = n.iter().map(Datum::as_f64).collect();
    match f(&s[0].to_text().unwrap_or_default(), &nums) {
        None => Datum::Null,
        Some(out) => match &s[0] {
            Datum::Str(_, c) => Datum::Str(out.into_bytes(), *c),
            _ => Datum::str(out),
        },
    }
}

/// `LPAD(s, len, pad)` (`left`) / `RPAD`: `s` cut or padded to `len` characters; NULL for a
/// negative length, or an empty pad that would be needed.
fn pad_to(s: &str, len: f64, pad: &str, left: bool) -> Option<String> {
    if len < 0.0 {
        return None;
    }
    let len = len.round() as usize;
    let count = s.chars().count();
    if len <= count {
        return Some(s.chars().take(len).collect());
    }
    if pad.is_empty() || len.saturating_mul(4) > STRING_RESULT_BYTES_MAX {
        return None;
    }
    let fill: String = pad.chars().cycle().take(len - count).collect();
    Some(if left {
        fill + s
    } else {
        s.to_string() + &fill
    })
}

/// `LOCATE(sub, text[, from])`: the 1-based character position of `sub` in `text` at or
/// after `from`, 0 if absent. As MySQL's `instr` does, each candidate is the run of `text`'s
/// characters with as many bytes as `sub`, compared under `utf8mb4_general_ci` (case and
/// accents aside) unless either string is binary or uses a binary collation; so `LOCATE('E',
/// 'é')` is 0 (one byte against two) while `LOCATE('É', 'é')` is 1.
fn locate(sub: &Datum, text: &Datum, from: Option<&Datum>) -> Datum {
    if sub.is_null() || text.is_null() || from.is_some_and(Datum::is_null) {
        return Datum::Null;
    }
    let binary = |d: &Datum| match d {
        Datum::Bytes(_) => true,
        Datum::Str(_, c) => *c != reef_common::collation::Collation::Utf8mb4GeneralCi,
        _ => false,
    };
    let exact = binary(sub) || binary(text);
    // (weight, bytes) per character; a binary string's characters are its bytes.
    let units = |d: &Datum| -> Vec<(u32, usize)> {
        match d {
            Datum::Bytes(b) => b.iter().map(|&x| (x as u32, 1)).collect(),
            _ => d
                .to_text()
                .unwrap_or_default()
                .chars()
                .map(|c| {
                    let w = match exact {
                        true => c as u32,
                        false => reef_common::collation::general_ci_weight(c) as u32,
                    };
                    (w, c.len_utf8())
                })
                .collect(),
        }
    };
    let (s, t) = (units(sub), units(text));
    let start = from.map_or(1, |f| f.as_f64().round() as i64);
    if start < 1 || start as usize > t.len() + 1 {
        return Datum::Int(0);
    }
    let want_bytes: usize = s.iter().map(|u| u.1).sum();
    let weights: Vec<u32> = s.iter().map(|u| u.0).collect();
    let matches_at = |i: usize| {
        let mut bytes = 0;
        let mut w = Vec::with_capacity(weights.len());
        for u in &t[i..] {
            if bytes >= want_bytes {
                break;
            }
            bytes += u.1;
            w.push(u.0);
        }
        bytes == want_bytes && w == weights
    };
    let found = (start as usize - 1..=t.len()).find(|&i| matches_at(i));
    Datum::Int(found.map_or(0, |i| i as i64 + 1))
}

/// `SUBSTRING(s, pos[, len])`: characters (bytes of a binary string) from `pos`, 1-based,
/// counted from the end when negative; position 0 and lengths below 1 give ''.
fn substring(v: &Datum, from: &Datum, len: Option<&Datum>) -> Datum {
    if v.is_null() || from.is_null() || len.is_some_and(Datum::is_null) {
        return Datum::Null;
    }
    let pos = from.as_f64().round() as i64;
    let len = len.map_or(i64::MAX, |l| l.as_f64().round() as i64);
    let pick = |count: usize| -> Option<(usize, usize)> {
        let count = count as i64;
        let start = match pos {
            0 => return None,
            p if p > 0 => p - 1,
            p => count + p,
        };
        if start < 0 || start >= count || len < 1 {
            return None;
        }
        Some((start as usize, len.min(count - start) as usize))
    };
    match v {
        Datum::Bytes(b) => {
            Datum::Bytes(pick(b.len()).map_or(Vec::new(), |(s, n)| b[s..s + n].to_vec()))
        }
        _ => {
            let text = v.to_text().unwrap_or_default();
            let out: String = pick(text.chars().count()).map_or(String::new(), |(s, n)| {
                text.chars().skip(s).take(n).collect()
            });
            match v {
                Datum::Str(_, c) => Datum::Str(out.into_bytes(), *c),
                _ => Datum::str(out),
            }
        }
    }
}

/// `TRIM([LEADING|TRAILING|BOTH] what FROM v)`: removes whole copies of `what` from the
/// chosen ends, byte for byte as MySQL compares them.
fn trim(v: &Datum, what: &Datum, lead: bool, trail: bool) -> Datum {
    if v.is_null() || what.is_null() {
        return Datum::Null;
    }
    let (mut s, w) = match (v, what) {
        (Datum::Bytes(b), _) | (Datum::Str(b, _), _) => (b.as_slice(), what_bytes(what)),
        _ => {
            return trim(
                &Datum::str(v.to_text().unwrap_or_default()),
                what,
                lead,
                trail,
            )
        }
    };
    if !w.is_empty() {
        while lead && s.starts_with(&w) {
            s = &s[w.len()..];
        }
        while trail && s.ends_with(&w) {
            s = &s[..s.len() - w.len()];
        }
    }
    match v {
        Datum::Str(_, c) => Datum::Str(s.to_vec(), *c),
        _ => Datum::Bytes(s.to_vec()),
    }
}

fn what_bytes(d: &Datum) -> Vec<u8> {
    match d {
        Datum::Bytes(b) | Datum::Str(b, _) => b.clone(),
        other => other.to_text().unwrap_or_default().into_bytes(),
    }
}

/// `HEX(x)`: a number as its (64-bit two's complement) value in hexadecimal, anything else
/// as the hexadecimal of its bytes; upper case, as MySQL writes it.
fn hex(d: &Datum) -> Result<Datum, SqlError> {
    Ok(match d {
        Datum::Null => Datum::Null,
        Datum::Int(i) => Datum::str(format!("{:X}", *i as u64)),
        Datum::UInt(u) => Datum::str(format!("{u:X}")),
        Datum::Double(_) | Datum::Decimal(_) => {
            let x = d.as_f64().round();
            // Exact below 2^53; MySQL converts larger values through BIGINT too, which a
            // double cannot reproduce digit for digit.
            if x.abs() >= 9_007_199_254_740_992.0 {
                return Err(SqlError::unsupported("HEX() of a non-integer beyond 2^53"));
            }
            Datum::str(format!("{:X}", x as i64 as u64))
        }
        Datum::Bytes(b) | Datum::Str(b, _) => Datum::str(hex_digits(b)),
        other => Datum::str(hex_digits(other.to_text().unwrap_or_default().as_bytes())),
    })
}

fn hex_digits(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// `UNHEX(s)`: the bytes of hexadecimal text (an odd count of digits has a leading zero
/// assumed); `None` for text that is not hexadecimal.
fn unhex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s
        .chars()
        .map(|c| c.to_digit(16).map(|d| d as u8))
        .collect::<Option<_>>()?;
    let pad = digits.len() % 2;
    let mut out = Vec::with_capacity(digits.len() / 2 + pad);
    if pad == 1 {
        out.push(digits[0]);
    }
    for pair in digits[pad..].chunks(2) {
        out.push(pair[0] << 4 | pair[1]);
    }
    Some(out)
}

/// `LEFT(s, n)` (`left`) or `RIGHT(s, n)`: characters of a character string, bytes of a
/// binary one.
fn substring_end(d: &Datum, n: usize, left: bool) -> Datum {
    match d {
        Datum::Bytes(b) => {
            let n = n.min(b.len());
            Datum::Bytes(if left { &b[..n] } else { &b[b.len() - n..] }.to_vec())
        }
        _ => {
            let s = d.to_text().unwrap_or_default();
            let count = s.chars().count();
            let part: String = if left {
                s.chars().take(n).collect()
            } else {
                s.chars().skip(count.saturating_sub(n)).collect()
            };
            match d {
                Datum::Str(_, c) => Datum::Str(part.into_bytes(), *c),
                _ => Datum::str(part),
            }
        }
    }
}

/// The current UTC date and time (ReefDB's `time_zone` is `+00:00` for now).
pub fn now() -> DateTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    DateTime::from_unix_micros(secs * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_mysql_examples() {
        assert!(like("David!", "David_", '\\'));
        assert!(like("David!", "%D%v%", '\\'));
        assert!(like("abc", "ABC", '\\'));
        assert!(like("a%c", "a\\%c", '\\'));
        assert!(!like("abc", "a\\%c", '\\'));
        assert!(!like("ab", "a_c", '\\'));
        assert!(like("", "%", '\\'));
        assert!(like("café", "CAFE", '\\'));
    }

    #[test]
    fn one_compiled_pattern_matches_many_texts() {
        let p = LikePattern::general_ci("%special%requests%", '\\');
        let mut scratch = LikeScratch::default();
        let texts = [
            ("carefully SPECIAL deposits; requests", true),
            ("requests before special", false),
            ("spécial requests, ÉTÉ", true),
            ("", false),
            ("special requests", true),
        ];
        for (text, want) in texts {
            assert_eq!(p.matches(text, &mut scratch), want, "{text}");
            assert_eq!(like(text, "%special%requests%", '\\'), want, "{text}");
        }
    }

    /// Every pattern of up to four units over `a B % _` against every text of up to five
    /// characters over `a A b é`: the ASCII matcher (texts without `é`) answers as the
    /// weight matcher does.
    #[test]
    fn the_ascii_matcher_answers_as_the_weight_matcher() {
        fn words(alphabet: &[char], max: usize) -> Vec<String> {
            let mut all = vec![String::new()];
            let mut last = vec![String::new()];
            for _ in 0..max {
                last = last
                    .iter()
                    .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
                    .collect();
                all.extend(last.iter().cloned());
            }
            all
        }
        let texts = words(&['a', 'A', 'b', 'é'], 5);
        let mut scratch = LikeScratch::default();
        let mut checked = 0;
        for pattern in words(&['a', 'B', '%', '_'], 4) {
            let p = LikePattern::general_ci(&pattern, '\\');
            assert!(p.ascii.is_some(), "{pattern}");
            for text in &texts {
                let weights: Vec<u32> = text.chars().map(general_ci_unit).collect();
                let want = like_units(&weights, &p.units);
                assert_eq!(
                    p.matches(text, &mut scratch),
                    want,
                    "{text:?} LIKE {pattern:?}"
                );
                checked += usize::from(text.is_ascii());
            }
        }
        assert!(checked > 100_000);
        // A literal that weighs outside ASCII keeps to the weight matcher.
        assert!(LikePattern::general_ci("%ø%", '\\').ascii.is_none());
        assert!(like("bøb", "%Ø%", '\\'));
    }

    #[test]
    fn mod_by_zero_is_null_and_the_sign_follows_the_dividend() {
        let e = Expr::value(sqlparser::ast::Value::Null);
        let m = |x: i64, y: i64| {
            arith(
                &BinaryOperator::Modulo,
                Datum::Int(x),
                Datum::Int(y),
                &e,
                &e,
            )
            .unwrap()
        };
        assert_eq!(m(-7, 3), Datum::Int(-1));
        assert_eq!(m(7, 0), Datum::Null);
    }

    #[test]
    fn now_is_a_valid_datetime() {
        let n = now();
        assert!(n.is_valid() && n.year >= 2024, "{n:?}");
    }
}
