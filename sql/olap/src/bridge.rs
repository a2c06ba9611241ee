//! MySQL expressions that DataFusion does not have, or computes differently, evaluated on
//! the analytical path by the OLTP evaluator (`reef_sql::expr::eval`), so a function gives
//! the same answer whichever path runs the query.
//!
//! Before planning, each such node (a function call such as `DATE_FORMAT(d, '%Y-%m')`,
//! `CAST`/`CONVERT`, `d + INTERVAL n UNIT`, `DIV`, `SUBSTRING`, `POSITION`, `TRIM(x FROM s)`)
//! becomes a call `reef_expr_<n>(operands...)` of a scalar UDF that holds the node as a
//! template: its operands replaced by placeholders, its literals kept in place. Equal
//! templates share one UDF, so an expression written in both the SELECT list and GROUP BY
//! stays one expression for DataFusion. The UDF's result type follows MySQL's rules for
//! the node (see [`result_type`]); values are computed row by row through `reef_sql`'s
//! `Datum`s and converted to that type.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::ArrayRef;
use arrow_schema::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};
use reef_sql::datum::Datum;
use reef_sql::expr::{eval_shown, Scope};
use reef_sql::SqlError;
use sqlparser::ast::{
    BinaryOperator, CastKind, DataType as SqlType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, Ident, ObjectName, Query, UnaryOperator,
    Value as SqlValue,
};

use crate::types::{array_of, datums_of};

/// How a bridged function's result is typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    Text,
    Bytes,
    Integer,
    Date,
    /// The common type of the operands from this position on (IF's branches, IFNULL,
    /// GREATEST, LEAST).
    Common(usize),
    /// `%` / MOD: integer, DECIMAL or DOUBLE as the operands are.
    Arith,
    /// ROUND / TRUNCATE: the first operand's type, a DECIMAL at the requested scale.
    Round,
    /// UNIX_TIMESTAMP: an integer, or a DECIMAL with the fraction a DATETIME may carry.
    UnixTimestamp,
    /// FROM_UNIXTIME: a DATETIME, or text with a format.
    FromUnixtime,
    /// STR_TO_DATE: a DATE or DATETIME as the (literal) format has time parts.
    StrToDate,
    /// DATE_ADD and its kin: the type of `date + INTERVAL` (ADDDATE(d, n) adds days).
    DateArith,
}

/// The functions the analytical path evaluates through the OLTP evaluator, with how
/// their results are typed. (Functions DataFusion computes as MySQL does are in
/// `SAME_FUNCTIONS` and stay DataFusion's.)
const FUNCTIONS: &[(&str, Rule)] = &[
    ("concat", Rule::Text),
    ("hex", Rule::Text),
    ("left", Rule::Text),
    ("right", Rule::Text),
    ("repeat", Rule::Text),
    ("reverse", Rule::Text),
    ("lpad", Rule::Text),
    ("rpad", Rule::Text),
    ("date_format", Rule::Text),
    ("unhex", Rule::Bytes),
    ("length", Rule::Integer),
    ("isnull", Rule::Integer),
    ("locate", Rule::Integer),
    ("instr", Rule::Integer),
    ("year", Rule::Integer),
    ("month", Rule::Integer),
    ("day", Rule::Integer),
    ("dayofmonth", Rule::Integer),
    ("hour", Rule::Integer),
    ("minute", Rule::Integer),
    ("second", Rule::Integer),
    ("quarter", Rule::Integer),
    ("dayofweek", Rule::Integer),
    ("dayofyear", Rule::Integer),
    ("datediff", Rule::Integer),
    ("to_days", Rule::Integer),
    ("date", Rule::Date),
    ("if", Rule::Common(1)),
    ("ifnull", Rule::Common(0)),
    ("greatest", Rule::Common(0)),
    ("least", Rule::Common(0)),
    ("mod", Rule::Arith),
    ("round", Rule::Round),
    ("truncate", Rule::Round),
    ("unix_timestamp", Rule::UnixTimestamp),
    ("from_unixtime", Rule::FromUnixtime),
    ("str_to_date", Rule::StrToDate),
    ("date_add", Rule::DateArith),
    ("adddate", Rule::DateArith),
    ("date_sub", Rule::DateArith),
    ("subdate", Rule::DateArith),
];

fn function_rule(name: &str) -> Option<Rule> {
    FUNCTIONS.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

/// Whether the analytical path evaluates function `name` through the OLTP evaluator.
pub fn is_bridged_function(name: &str) -> bool {
    function_rule(name).is_some()
}

const ARG_PREFIX: &str = "__reef_arg_";

fn placeholder(i: usize) -> Expr {
    Expr::Identifier(Ident::new(format!("{ARG_PREFIX}{i}")))
}

/// The operand a placeholder name stands for.
fn arg_index(name: &str) -> Option<usize> {
    name.strip_prefix(ARG_PREFIX)?.parse().ok()
}

fn placeholder_index(e: &Expr) -> Option<usize> {
    match e {
        Expr::Identifier(id) => arg_index(&id.value),
        _ => None,
    }
}

fn function_name(f: &Function) -> Option<String> {
    match f.name.0.as_slice() {
        [part] => part.as_ident().map(|i| i.value.to_ascii_lowercase()),
        _ => None,
    }
}

fn is_constant(e: &Expr) -> bool {
    match e {
        Expr::Value(v) => !matches!(v.value, SqlValue::Placeholder(_)),
        Expr::UnaryOp {
            op: UnaryOperator::Minus | UnaryOperator::Plus,
            expr,
        }
        | Expr::Nested(expr) => is_constant(expr),
        _ => false,
    }
}

/// A CAST the session writes for a temporal value it inlined (`NOW()`, a DATE variable):
/// a string literal read as DATE or TIMESTAMP, which DataFusion reads the same way.
fn is_inlined_temporal(e: &Expr) -> bool {
    matches!(e, Expr::Cast { expr, data_type: SqlType::Date | SqlType::Timestamp(..), .. }
        if matches!(expr.as_ref(), Expr::Value(v) if matches!(v.value, SqlValue::SingleQuotedString(_))))
}

fn is_interval(e: &Expr) -> bool {
    matches!(e, Expr::Interval(_))
}

/// Whether `e` is a node the bridge evaluates.
fn bridged(e: &Expr) -> bool {
    match e {
        Expr::Function(f) => {
            f.over.is_none()
                && matches!(f.args, FunctionArguments::List(_) | FunctionArguments::None)
                && function_name(f).is_some_and(|n| is_bridged_function(&n))
        }
        Expr::Cast {
            kind: CastKind::Cast,
            ..
        } => !is_inlined_temporal(e),
        Expr::Convert { .. } => true,
        Expr::BinaryOp { left, op, right } => {
            *op == BinaryOperator::MyIntegerDivide
                || (matches!(op, BinaryOperator::Plus | BinaryOperator::Minus)
                    && (is_interval(left) || is_interval(right)))
        }
        Expr::Substring { .. } | Expr::Position { .. } => true,
        Expr::Trim { trim_what, .. } => trim_what.is_some(),
        _ => false,
    }
}

/// The slot of an operand: an INTERVAL's amount rather than the INTERVAL itself.
fn operand_slot(e: &mut Expr) -> &mut Expr {
    match e {
        Expr::Interval(iv) => iv.value.as_mut(),
        other => other,
    }
}

/// The operand slots of a bridged node.
fn slots(e: &mut Expr) -> Vec<&mut Expr> {
    match e {
        Expr::Function(f) => match &mut f.args {
            FunctionArguments::List(l) => l
                .args
                .iter_mut()
                .filter_map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(operand_slot(x)),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        },
        Expr::Cast { expr, .. } | Expr::Convert { expr, .. } => vec![expr.as_mut()],
        Expr::BinaryOp { left, right, .. } => {
            vec![operand_slot(left.as_mut()), operand_slot(right.as_mut())]
        }
        Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => std::iter::once(expr.as_mut())
            .chain(substring_from.as_deref_mut())
            .chain(substring_for.as_deref_mut())
            .collect(),
        Expr::Position { expr, r#in } => vec![expr.as_mut(), r#in.as_mut()],
        Expr::Trim {
            expr, trim_what, ..
        } => std::iter::once(expr.as_mut())
            .chain(trim_what.as_deref_mut())
            .collect(),
        _ => Vec::new(),
    }
}

/// The call `name(args...)`.
pub(crate) fn call(name: String, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// Rewrites the bridged nodes of `q` into UDF calls; returns the UDFs to register.
pub fn bridge(q: &mut Query) -> Vec<ScalarUDF> {
    let mut templates: HashMap<String, usize> = HashMap::new();
    let mut udfs = Vec::new();
    // Post-order: operands are rewritten before the node that holds them.
    let _ = sqlparser::ast::visit_expressions_mut(q, |e| {
        if !bridged(e) {
            return ControlFlow::<()>::Continue(());
        }
        let mut operands = Vec::new();
        for slot in slots(e) {
            if !is_constant(slot) {
                let operand = std::mem::replace(slot, placeholder(operands.len()));
                operands.push(operand);
            }
        }
        let text = e.to_string();
        let n = *templates.entry(text).or_insert_with(|| {
            udfs.push(ScalarUDF::new_from_impl(Bridged::new(
                format!("reef_expr_{}", udfs.len()),
                e.clone(),
            )));
            udfs.len() - 1
        });
        *e = call(format!("reef_expr_{n}"), operands);
        ControlFlow::Continue(())
    });
    udfs
}

/// One bridged template.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Bridged {
    name: String,
    template: Expr,
    signature: Signature,
    /// The template as a computation on its one text operand's Arrow array, where it is
    /// one (a substring at constant places, a byte length).
    on_array: Option<OnArray>,
}

impl Bridged {
    fn new(name: String, template: Expr) -> Bridged {
        Bridged {
            name,
            on_array: OnArray::of(&template),
            template,
            signature: Signature::one_of(
                vec![TypeSignature::Nullary, TypeSignature::VariadicAny],
                Volatility::Immutable,
            ),
        }
    }
}

/// A template computed on the Arrow array of its one text operand instead of row by row
/// through the evaluator, with the evaluator's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum OnArray {
    /// `SUBSTRING` or `LEFT` at constant places.
    Substring(Substring),
    /// `LENGTH` / `OCTET_LENGTH`: bytes of the UTF-8 text.
    ByteLength,
}

impl OnArray {
    fn of(template: &Expr) -> Option<OnArray> {
        if let Some(sub) = Substring::of(template) {
            return Some(OnArray::Substring(sub));
        }
        let Expr::Function(f) = template else {
            return None;
        };
        let FunctionArguments::List(list) = &f.args else {
            return None;
        };
        let args: Vec<&Expr> = list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(x),
                _ => None,
            })
            .collect::<Option<_>>()?;
        match (function_name(f)?.as_str(), args.as_slice()) {
            ("length" | "octet_length", [text]) if placeholder_index(text) == Some(0) => {
                Some(OnArray::ByteLength)
            }
            ("left", [text, n]) if placeholder_index(text) == Some(0) => {
                let len = usize::try_from(literal_integer(n)?).ok()?;
                Some(OnArray::Substring(Substring {
                    skip: 0,
                    len: Some(len),
                }))
            }
            _ => None,
        }
    }

    /// The result for a text array, typed as the template's result `ty`; `None` where
    /// the row evaluator must answer.
    fn apply(&self, text: &ArrayRef, ty: &DataType) -> Option<ArrayRef> {
        let text = text.as_string_opt::<i32>()?;
        Some(match (self, ty) {
            (OnArray::Substring(sub), DataType::Utf8) => Arc::new(
                text.iter()
                    .map(|s| s.map(|s| sub.apply(s)))
                    .collect::<arrow_array::StringArray>(),
            ),
            (OnArray::ByteLength, DataType::Int64) => Arc::new(
                text.iter()
                    .map(|s| s.map(|s| s.len() as i64))
                    .collect::<arrow_array::Int64Array>(),
            ),
            _ => return None,
        })
    }
}

/// `SUBSTRING(s FROM from [FOR len])` with a constant `from` of 1 or more and a constant
/// `len` of 0 or more, where MySQL's answer is plainly the characters `from..from+len`
/// (a `from` of 0 or below, or a negative `len`, keep to the row-by-row evaluator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Substring {
    /// Characters skipped: `from - 1`.
    skip: usize,
    len: Option<usize>,
}

impl Substring {
    fn of(template: &Expr) -> Option<Substring> {
        let Expr::Substring {
            expr,
            substring_from: Some(from),
            substring_for,
            ..
        } = template
        else {
            return None;
        };
        let count = |e: &Expr| match e {
            Expr::Value(v) => match &v.value {
                SqlValue::Number(n, _) => n.parse::<usize>().ok(),
                _ => None,
            },
            _ => None,
        };
        if placeholder_index(expr) != Some(0) {
            return None;
        }
        let skip = count(from)?.checked_sub(1)?;
        let len = match substring_for {
            Some(l) => Some(count(l)?),
            None => None,
        };
        Some(Substring { skip, len })
    }

    /// The characters of `s` this substring takes.
    fn apply<'a>(&self, s: &'a str) -> &'a str {
        let len = self.len.unwrap_or(usize::MAX);
        if s.is_ascii() {
            let start = self.skip.min(s.len());
            return &s[start..start.saturating_add(len).min(s.len())];
        }
        let mut bounds = s
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(s.len()));
        let Some(start) = bounds.nth(self.skip) else {
            return "";
        };
        let end = match len {
            0 => start,
            n => bounds.nth(n - 1).unwrap_or(s.len()),
        };
        &s[start..end]
    }
}

/// The operands of one row.
struct Row<'a>(&'a [Datum]);

impl Scope for Row<'_> {
    fn column(&self, _qualifier: Option<&str>, name: &str) -> Result<Datum, SqlError> {
        arg_index(name)
            .and_then(|i| self.0.get(i).cloned())
            .ok_or_else(|| SqlError::internal(format!("bridged operand {name}")))
    }

    fn system_var(&self, name: &str) -> Result<Datum, SqlError> {
        Err(SqlError::internal(format!(
            "system variable {name} left in an analytical query"
        )))
    }

    fn user_var(&self, _name: &str) -> Datum {
        Datum::Null
    }

    fn session_fn(&self, _name: &str) -> Option<Datum> {
        None
    }
}

fn external(e: SqlError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

impl ScalarUDFImpl for Bridged {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        result_type(&self.template, args, &[]).map_err(external)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let fsps: Vec<u8> = args
            .arg_fields
            .iter()
            .map(|f| crate::types::fsp_of(f))
            .collect();
        let t = result_type(&self.template, &types, &fsps).map_err(external)?;
        let field = Field::new(self.name(), t.clone(), true);
        // A computed DATETIME shows as many fractional digits as its operands carry.
        Ok(Arc::new(match t {
            DataType::Timestamp(..) => field.with_metadata(HashMap::from([(
                crate::types::FSP_KEY.to_string(),
                fsps.iter().max().copied().unwrap_or(0).to_string(),
            )])),
            _ => field,
        }))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        if let (Some(on_array), [text]) = (&self.on_array, arrays.as_slice()) {
            if let Some(out) = on_array.apply(text, args.return_field.data_type()) {
                return Ok(ColumnarValue::Array(out));
            }
        }
        let mut operands = arrays
            .iter()
            .map(|a| datums_of(a.as_ref()).map(Vec::into_iter))
            .collect::<Result<Vec<_>, _>>()
            .map_err(external)?;
        let mut out = Vec::with_capacity(rows);
        let mut vals = Vec::with_capacity(arrays.len());
        for _ in 0..rows {
            vals.clear();
            vals.extend(operands.iter_mut().map(|o| o.next().unwrap_or(Datum::Null)));
            out.push(eval_shown(&self.template, &Row(&vals)).map_err(external)?);
        }
        Ok(ColumnarValue::Array(
            array_of(args.return_field.data_type(), &out).map_err(external)?,
        ))
    }
}

/// The type of a template's direct child: an operand's, or a literal's.
fn child_type(e: &Expr, args: &[DataType]) -> DataType {
    if let Some(i) = placeholder_index(e) {
        return args.get(i).cloned().unwrap_or(DataType::Null);
    }
    match e {
        Expr::Value(v) => match &v.value {
            SqlValue::Null => DataType::Null,
            SqlValue::Number(n, _) if n.contains(['e', 'E']) => DataType::Float64,
            SqlValue::Number(n, _) => match n.split_once('.') {
                Some((_, frac)) => DataType::Decimal128(38, frac.len().min(30) as i8),
                None => DataType::Int64,
            },
            SqlValue::HexStringLiteral(_) => DataType::Binary,
            _ => DataType::Utf8,
        },
        Expr::UnaryOp { expr, .. } | Expr::Nested(expr) => child_type(expr, args),
        _ => DataType::Utf8,
    }
}

fn child_fsp(e: &Expr, fsps: &[u8]) -> u8 {
    placeholder_index(e)
        .and_then(|i| fsps.get(i).copied())
        .unwrap_or(0)
}

fn is_decimal(t: &DataType) -> bool {
    matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
}

fn scale_of(t: &DataType) -> i8 {
    match t {
        DataType::Decimal128(_, s) | DataType::Decimal256(_, s) => *s,
        _ => 0,
    }
}

/// The type MySQL gives a value that may come from any of `types` (IF's branches,
/// IFNULL, GREATEST): NULLs aside, one type if all agree; integers stay integers,
/// exact values become DECIMAL, any DOUBLE makes a DOUBLE; DATE with DATETIME is a
/// DATETIME; binary strings win over text; any other mix is text.
fn common_type(types: &[DataType]) -> DataType {
    let known: Vec<&DataType> = types.iter().filter(|t| **t != DataType::Null).collect();
    let Some(first) = known.first() else {
        return DataType::Null;
    };
    if known.iter().all(|t| t == first) {
        return (*first).clone();
    }
    let numeric = |t: &DataType| t.is_integer() || is_decimal(t) || t.is_floating();
    if known.iter().all(|t| numeric(t)) {
        if known.iter().any(|t| t.is_floating()) {
            return DataType::Float64;
        }
        if known.iter().all(|t| t.is_integer()) {
            return DataType::Int64;
        }
        let scale = known.iter().map(|t| scale_of(t)).max().unwrap_or(0);
        return DataType::Decimal128(38, scale);
    }
    let temporal = |t: &DataType| matches!(t, DataType::Date32 | DataType::Timestamp(..));
    if known.iter().all(|t| temporal(t)) {
        return DataType::Timestamp(TimeUnit::Microsecond, None);
    }
    if known.iter().any(|t| matches!(t, DataType::Binary)) {
        return DataType::Binary;
    }
    DataType::Utf8
}

/// The DECIMAL MySQL gives ROUND(x, d) of a DECIMAL(p, s): scale `d`, enough digits for
/// the integer part and a carry.
fn rounded_decimal(t: &DataType, d: Option<i64>) -> DataType {
    let (p, s) = match t {
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => (*p as i64, *s as i64),
        _ => (38, 0),
    };
    let scale = d.map_or(s, |d| d.clamp(0, 30)).min(s.max(0));
    let precision = (p - s + scale + 1).clamp(scale + 1, 38);
    DataType::Decimal128(precision as u8, scale as i8)
}

fn literal_integer(e: &Expr) -> Option<i64> {
    match e {
        Expr::Value(v) => match &v.value {
            SqlValue::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => literal_integer(expr).map(|n| -n),
        Expr::Nested(e) => literal_integer(e),
        _ => None,
    }
}

fn literal_text(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(v) => match &v.value {
            SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// A call's plain (unnamed) arguments.
pub(crate) fn function_children(f: &Function) -> Vec<&Expr> {
    match &f.args {
        FunctionArguments::List(l) => l
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(x),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The type of `temporal + INTERVAL` (`keeps_date`: the unit is day-sized): a DATE stays a
/// DATE for day-sized units; text stays text (MySQL answers a string for a string
/// operand); otherwise a DATETIME.
fn interval_result(v: &DataType, keeps_date: bool) -> DataType {
    match v {
        DataType::Date32 if keeps_date => DataType::Date32,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        _ => DataType::Timestamp(TimeUnit::Microsecond, None),
    }
}

/// The Arrow type of `CAST(x AS ty)`; `None` for a target the OLTP path does not cast to
/// or a DECIMAL wider than a 128-bit Arrow decimal.
fn cast_type(ty: &SqlType) -> Option<DataType> {
    match crate::types::arrow_type(&reef_sql::cast_type(ty)?) {
        DataType::Decimal256(..) => None,
        t => Some(t),
    }
}

/// The result type of a bridged template whose operands have `args` types (and, for
/// DATETIME operands, `fsps` fractional digits).
fn result_type(template: &Expr, args: &[DataType], fsps: &[u8]) -> Result<DataType, SqlError> {
    let unsupported = || SqlError::unsupported(format!("{template} on the analytical path"));
    Ok(match template {
        Expr::Function(f) => {
            let name = function_name(f).unwrap_or_default();
            let children = function_children(f);
            let types: Vec<DataType> = children.iter().map(|c| child_type(c, args)).collect();
            let rule = function_rule(&name).ok_or_else(unsupported)?;
            match rule {
                Rule::Text => DataType::Utf8,
                Rule::Bytes => DataType::Binary,
                Rule::Integer => DataType::Int64,
                Rule::Date => DataType::Date32,
                Rule::DateArith => match children.as_slice() {
                    [v, Expr::Interval(iv)] => {
                        interval_result(&child_type(v, args), reef_sql::interval_keeps_date(iv))
                    }
                    // ADDDATE(d, n): n days.
                    [v, _] => interval_result(&child_type(v, args), true),
                    _ => DataType::Timestamp(TimeUnit::Microsecond, None),
                },
                Rule::Common(from) => common_type(types.get(from..).unwrap_or_default()),
                Rule::Arith => match common_type(&types) {
                    t if t.is_integer() => t,
                    t if is_decimal(&t) || t.is_floating() => t,
                    _ => DataType::Float64,
                },
                Rule::Round => match types.first() {
                    Some(t) if t.is_integer() => DataType::Int64,
                    Some(t) if is_decimal(t) => {
                        let d = match children.get(1) {
                            None => Some(0),
                            Some(c) => literal_integer(c),
                        };
                        rounded_decimal(t, d)
                    }
                    _ => DataType::Float64,
                },
                Rule::UnixTimestamp => match (types.first(), children.first()) {
                    (Some(DataType::Timestamp(..)), Some(c)) if child_fsp(c, fsps) > 0 => {
                        DataType::Decimal128(24, child_fsp(c, fsps) as i8)
                    }
                    (Some(DataType::Utf8), Some(c)) => match literal_text(c) {
                        Some(t) if !t.contains('.') => DataType::Int64,
                        _ => DataType::Decimal128(24, 6),
                    },
                    _ => DataType::Int64,
                },
                Rule::FromUnixtime => match types.len() {
                    1 => DataType::Timestamp(TimeUnit::Microsecond, None),
                    _ => DataType::Utf8,
                },
                Rule::StrToDate => match children.get(1).and_then(|c| literal_text(c)) {
                    Some(format) if reef_sql::format_has_time(format) => {
                        DataType::Timestamp(TimeUnit::Microsecond, None)
                    }
                    Some(_) => DataType::Date32,
                    None => return Err(SqlError::unsupported(
                        "STR_TO_DATE with a format that is not a literal on the analytical path",
                    )),
                },
            }
        }
        Expr::Cast { data_type, .. }
        | Expr::Convert {
            data_type: Some(data_type),
            ..
        } => cast_type(data_type).ok_or_else(unsupported)?,
        Expr::Convert { .. } => DataType::Utf8,
        Expr::BinaryOp {
            left,
            op: BinaryOperator::MyIntegerDivide,
            right,
        } => match (child_type(left, args), child_type(right, args)) {
            (DataType::UInt64, _) | (_, DataType::UInt64) => DataType::UInt64,
            _ => DataType::Int64,
        },
        Expr::BinaryOp { left, right, .. } => match (left.as_ref(), right.as_ref()) {
            (v, Expr::Interval(iv)) | (Expr::Interval(iv), v) => {
                interval_result(&child_type(v, args), reef_sql::interval_keeps_date(iv))
            }
            _ => return Err(unsupported()),
        },
        Expr::Substring { expr, .. } | Expr::Trim { expr, .. } => match child_type(expr, args) {
            DataType::Binary => DataType::Binary,
            _ => DataType::Utf8,
        },
        Expr::Position { .. } => DataType::Int64,
        _ => return Err(unsupported()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::datum_at;
    use reef_sql::dialect::ReefDialect;
    use sqlparser::parser::Parser;

    fn query(sql: &str) -> Query {
        *Parser::new(&ReefDialect::default())
            .try_with_sql(sql)
            .expect("tokenizes")
            .parse_query()
            .expect("parses")
    }

    /// The Arrow paths of constant-place SUBSTRING and LEFT, and of LENGTH, answer as the
    /// row evaluator does.
    #[test]
    fn computations_on_arrays_match_the_row_evaluator() {
        let template = |sql: &str| {
            let q = query(&format!("SELECT {sql}"));
            match *q.body {
                sqlparser::ast::SetExpr::Select(s) => match &s.projection[0] {
                    sqlparser::ast::SelectItem::UnnamedExpr(e) => e.clone(),
                    other => panic!("{other}"),
                },
                other => panic!("{other}"),
            }
        };
        let texts = ["", "a", "abcdef", "héllo wörld", "日本語テキスト", "ab  "];
        let array: ArrayRef = Arc::new(arrow_array::StringArray::from(
            texts
                .iter()
                .map(|t| Some(*t))
                .chain([None])
                .collect::<Vec<_>>(),
        ));
        for (form, ty) in [
            ("SUBSTRING(__reef_arg_0 FROM 1 FOR 2)", DataType::Utf8),
            ("SUBSTRING(__reef_arg_0, 3)", DataType::Utf8),
            ("SUBSTRING(__reef_arg_0, 2, 0)", DataType::Utf8),
            ("SUBSTRING(__reef_arg_0 FROM 4 FOR 10)", DataType::Utf8),
            ("SUBSTRING(__reef_arg_0, 7, 1)", DataType::Utf8),
            ("LEFT(__reef_arg_0, 2)", DataType::Utf8),
            ("LEFT(__reef_arg_0, 0)", DataType::Utf8),
            ("left(__reef_arg_0, 40)", DataType::Utf8),
            ("LENGTH(__reef_arg_0)", DataType::Int64),
            ("OCTET_LENGTH(__reef_arg_0)", DataType::Int64),
        ] {
            let t = template(form);
            let on_array = OnArray::of(&t).unwrap_or_else(|| panic!("{form} runs on arrays"));
            let got = on_array.apply(&array, &ty).expect("a text array");
            for (r, text) in texts
                .iter()
                .map(|t| Datum::str(*t))
                .chain([Datum::Null])
                .enumerate()
            {
                let want = eval_shown(&t, &Row(std::slice::from_ref(&text))).expect("evaluates");
                let got = datum_at(got.as_ref(), r).expect("readable");
                assert_eq!(got, want, "{form} of {text:?}");
            }
        }
        for form in [
            "SUBSTRING(__reef_arg_0, 0, 2)",
            "SUBSTRING(__reef_arg_0, -2)",
            "SUBSTRING(__reef_arg_0, 1, -1)",
            "SUBSTRING(__reef_arg_0, __reef_arg_1)",
            "SUBSTRING('abc', __reef_arg_0)",
            "LEFT(__reef_arg_0, -1)",
            "LEFT(__reef_arg_0, __reef_arg_1)",
            "LEFT('abc', __reef_arg_0)",
            "LENGTH('abc')",
            "CHAR_LENGTH(__reef_arg_0)",
        ] {
            assert_eq!(OnArray::of(&template(form)), None, "{form}");
        }
    }

    #[test]
    fn equal_templates_share_one_function() {
        let mut q = query(
            "SELECT DATE_FORMAT(d, '%Y-%m'), COUNT(*) FROM t JOIN u ON t.a = u.a \
             GROUP BY DATE_FORMAT(d, '%Y-%m')",
        );
        let udfs = bridge(&mut q);
        assert_eq!(udfs.len(), 1);
        assert_eq!(
            q.to_string(),
            "SELECT reef_expr_0(d), COUNT(*) FROM t JOIN u ON t.a = u.a GROUP BY reef_expr_0(d)"
        );
    }

    #[test]
    fn operands_nest_and_literals_stay_in_the_template() {
        let mut q = query("SELECT CAST(YEAR(d) + 1 AS CHAR), d + INTERVAL 1 DAY, 7 DIV 2 FROM t");
        let udfs = bridge(&mut q);
        assert_eq!(udfs.len(), 4);
        assert_eq!(
            q.to_string(),
            "SELECT reef_expr_1(reef_expr_0(d) + 1), reef_expr_2(d), reef_expr_3() FROM t"
        );
    }

    #[test]
    fn session_temporal_literals_stay_datafusions() {
        let mut q = query("SELECT CAST('2024-01-02' AS DATE) FROM t");
        assert!(bridge(&mut q).is_empty());
    }

    #[test]
    fn result_types_follow_mysql() {
        let ty = |sql: &str, args: &[DataType]| {
            result_type(&bridge_template(sql), args, &[]).expect("typed")
        };
        let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
        assert_eq!(
            ty("DATE_FORMAT(d, '%Y')", std::slice::from_ref(&ts)),
            DataType::Utf8
        );
        assert_eq!(
            ty("d + INTERVAL 1 DAY", &[DataType::Date32]),
            DataType::Date32
        );
        assert_eq!(ty("d + INTERVAL 1 HOUR", &[DataType::Date32]), ts);
        assert_eq!(
            ty("IF(c, 1, 2.50)", &[DataType::Int64]),
            DataType::Decimal128(38, 2)
        );
        assert_eq!(ty("IFNULL(a, 'x')", &[DataType::Int64]), DataType::Utf8);
        assert_eq!(
            ty("ROUND(x, 1)", &[DataType::Decimal128(10, 3)]),
            DataType::Decimal128(9, 1)
        );
        assert_eq!(
            ty("CAST(x AS DECIMAL(6,2))", &[DataType::Utf8]),
            DataType::Decimal128(6, 2)
        );
        assert_eq!(
            ty("a DIV b", &[DataType::UInt64, DataType::Int64]),
            DataType::UInt64
        );
        assert!(result_type(&bridge_template("CAST(x AS JSON)"), &[DataType::Utf8], &[]).is_err());
    }

    /// The template of the single bridged node of `SELECT {sql}`.
    fn bridge_template(sql: &str) -> Expr {
        let mut q = query(&format!("SELECT {sql}"));
        let udfs = bridge(&mut q);
        let udf = udfs.last().expect("bridged");
        udf.inner()
            .downcast_ref::<Bridged>()
            .expect("a bridged UDF")
            .template
            .clone()
    }

    #[test]
    fn every_bridged_function_is_one_the_oltp_evaluator_knows() {
        let known = |sql: &str| {
            let e = query(&format!("SELECT {sql}"));
            let sqlparser::ast::SetExpr::Select(sel) = e.body.as_ref() else {
                unreachable!()
            };
            let sqlparser::ast::SelectItem::UnnamedExpr(call) = &sel.projection[0] else {
                unreachable!()
            };
            eval_shown(call, &Row(&[])).map_or_else(
                |e| e.code != reef_common::error::ER_NOT_SUPPORTED_YET,
                |_| true,
            )
        };
        for (name, _) in FUNCTIONS {
            let forms = [
                "NULL",
                "NULL, NULL",
                "NULL, NULL, NULL",
                "NULL, INTERVAL 1 DAY",
            ];
            assert!(
                forms.iter().any(|args| known(&format!("{name}({args})"))),
                "{name}"
            );
        }
        assert!(!known("no_such_function(1)"));
    }
}
