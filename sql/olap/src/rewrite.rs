//! The analyzer rule that gives DataFusion plans MySQL's semantics. It runs after
//! DataFusion's own type coercion, so every expression's type is known:
//!
//! - string comparisons (`=`, `<`, `IN`, `BETWEEN`, `CASE x WHEN`), join keys, ORDER BY,
//!   window PARTITION/ORDER BY, `COUNT(DISTINCT s)`, MIN/MAX, GROUP BY and DISTINCT act on
//!   collation weights (utf8mb4_general_ci unless a column says utf8mb4_bin): the sort key
//!   where order matters, the cheaper equality key where only equality does (`=`, `<>`,
//!   `IN`, `CASE x WHEN`, joins, grouping, DISTINCT, PARTITION BY); a group reports one of
//!   its original values, as MySQL does;
//! - `LIKE` matches under utf8mb4_general_ci;
//! - a string compared with a number (`=`, `<`, ..., IN, BETWEEN, join keys) compares as a DOUBLE,
//!   the string read by its numeric prefix, where DataFusion would cast it to the number's
//!   type and fail on `'abc'`;
//! - `/` on exact operands gives a DECIMAL with four more digits of scale, NULL on zero;
//! - SUM and AVG over integers are exact DECIMALs (AVG with four more digits of scale).
//!
//! Expression names are preserved, so parents of a rewritten node still resolve.

use std::sync::Arc;

use arrow_schema::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, Result};
use datafusion::functions_aggregate::first_last::first_value_udaf;
use datafusion::logical_expr::expr::{AggregateFunction, Cast, InList, Like, WindowFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    cast, Aggregate, AggregateUDF, Between, BinaryExpr, Case, Distinct, Expr, ExprFunctionExt,
    ExprSchemable, LogicalPlan, Operator, Projection, ScalarUDF, Sort, SortExpr,
};
use datafusion::optimizer::AnalyzerRule;
use reef_common::collation::Collation;

use crate::any_value::AnyValue;
use crate::types::field_collation;
use crate::udf::{Div, InStrings, Like as LikeUdf, ToDouble, Weight};

/// Which of the GROUP BY expressions `group` are columns that other group columns
/// determine, by the input's functional dependencies (ReefDB's tables declare their
/// primary keys, so grouping on one determines the rest of that table's columns, through
/// inner joins too): every row of a group has the same value of such a column, as in
/// TPC-H Q10's `GROUP BY c_custkey, c_name, c_address, ...`. Dependencies that may hold
/// NULL sources (after an outer join) are left alone.
fn determined_groups(group: &[Expr], schema: &DFSchema) -> Vec<bool> {
    let index: Vec<Option<usize>> = group
        .iter()
        .map(|g| match g {
            Expr::Column(c) => schema.index_of_column(c).ok(),
            _ => None,
        })
        .collect();
    let mut determined = vec![false; group.len()];
    for fd in schema.functional_dependencies().iter() {
        if fd.nullable || fd.source_indices.is_empty() {
            continue;
        }
        let grouped = |idx: &usize| {
            index
                .iter()
                .zip(&determined)
                .any(|(i, d)| *i == Some(*idx) && !*d)
        };
        if !fd.source_indices.iter().all(grouped) {
            continue;
        }
        for (k, i) in index.iter().enumerate() {
            if let Some(i) = i {
                if fd.target_indices.contains(i) && !fd.source_indices.contains(i) {
                    determined[k] = true;
                }
            }
        }
    }
    determined
}

/// Whether `e` is type coercion's cast of a string to a number that would fail on a string
/// that is not a whole number (a string constant the cast converts is left alone, so key
/// ranges still see a constant).
fn failing_string_cast(e: &Expr, s: &DFSchema) -> bool {
    let Expr::Cast(Cast { expr, field }) = e else {
        return false;
    };
    let converts = match expr.as_ref() {
        Expr::Literal(v, _) => v.cast_to(field.data_type()).is_ok(),
        _ => false,
    };
    field.data_type().is_numeric() && string_expr(expr, s) && !converts
}

/// `e` as a DOUBLE the way MySQL reads it beside a string in a comparison or arithmetic: a
/// string (or type coercion's cast of one to a number) by its numeric prefix through
/// `to_double`, anything else by a cast.
fn as_double(to_double: &ScalarUDF, e: Expr, schema: &DFSchema) -> Expr {
    let e = match e {
        Expr::Cast(Cast { expr, field })
            if field.data_type().is_numeric() && string_expr(&expr, schema) =>
        {
            *expr
        }
        other => other,
    };
    if string_expr(&e, schema) {
        to_double.call(vec![e])
    } else {
        cast(e, DataType::Float64)
    }
}

/// `x [NOT] BETWEEN a AND b` with `f` applied to each of `x`, `a` and `b`.
fn between_each(
    (expr, negated, low, high): (Box<Expr>, bool, Box<Expr>, Box<Expr>),
    f: impl Fn(Expr) -> Expr,
) -> Expr {
    Expr::Between(Between::new(
        Box::new(f(*expr)),
        negated,
        Box::new(f(*low)),
        Box::new(f(*high)),
    ))
}

/// The rule (see the module documentation).
#[derive(Debug)]
pub struct MysqlSemantics {
    weight_ci: Arc<ScalarUDF>,
    weight_bin: Arc<ScalarUDF>,
    eqkey_ci: Arc<ScalarUDF>,
    eqkey_bin: Arc<ScalarUDF>,
    in_ci: Arc<ScalarUDF>,
    in_bin: Arc<ScalarUDF>,
    like: Arc<ScalarUDF>,
    to_double: Arc<ScalarUDF>,
    div: Arc<ScalarUDF>,
    any_value: Arc<AggregateUDF>,
}

impl Default for MysqlSemantics {
    fn default() -> Self {
        MysqlSemantics {
            weight_ci: Arc::new(Weight::udf(Collation::Utf8mb4GeneralCi)),
            weight_bin: Arc::new(Weight::udf(Collation::Utf8mb4Bin)),
            eqkey_ci: Arc::new(Weight::eq_udf(Collation::Utf8mb4GeneralCi)),
            eqkey_bin: Arc::new(Weight::eq_udf(Collation::Utf8mb4Bin)),
            in_ci: Arc::new(InStrings::udf(Collation::Utf8mb4GeneralCi)),
            in_bin: Arc::new(InStrings::udf(Collation::Utf8mb4Bin)),
            like: Arc::new(LikeUdf::udf()),
            to_double: Arc::new(ToDouble::udf()),
            div: Arc::new(Div::udf()),
            any_value: Arc::new(AnyValue::udaf()),
        }
    }
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer()
}

fn is_exact(t: &DataType) -> bool {
    is_integer(t) || matches!(t, DataType::Decimal128(..))
}

fn type_of(e: &Expr, schema: &DFSchema) -> Option<DataType> {
    e.get_type(schema).ok()
}

fn string_expr(e: &Expr, schema: &DFSchema) -> bool {
    type_of(e, schema).as_ref().is_some_and(is_string)
}

/// The collation `e` compares under: a column's own, `binary` for a binary string cast to
/// text (type coercion wraps binary operands of LIKE and comparisons so), else the
/// connection's general_ci.
fn collation_of(e: &Expr, schema: &DFSchema) -> Collation {
    if let Expr::Cast(datafusion::logical_expr::Cast { expr, .. })
    | Expr::TryCast(datafusion::logical_expr::TryCast { expr, .. }) = e
    {
        if type_of(expr, schema).is_some_and(|t| {
            matches!(
                t,
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView
            )
        }) {
            return Collation::Binary;
        }
    }
    e.to_field(schema)
        .map_or(Collation::Utf8mb4GeneralCi, |(_, f)| field_collation(&f))
}

/// What a string is weighed for: ordering needs the collation's sort key, equality
/// (`=`, `IN`, joins, grouping) only its cheaper equality key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum For {
    Order,
    Equality,
}

/// Whether `e` is a non-NULL string literal.
fn is_string_literal(e: &Expr) -> bool {
    matches!(e, Expr::Literal(v, _) if v.try_as_str().is_some_and(|s| s.is_some()))
}

/// The collation two compared strings meet under: a binary one wins over general_ci.
fn stronger(a: Collation, b: Collation) -> Collation {
    match (a, b) {
        (Collation::Utf8mb4GeneralCi, Collation::Utf8mb4GeneralCi) => Collation::Utf8mb4GeneralCi,
        _ => Collation::Utf8mb4Bin,
    }
}

impl MysqlSemantics {
    /// The sort key of `e` under `c`.
    fn weight(&self, e: Expr, c: Collation) -> Expr {
        self.key(e, c, For::Order)
    }

    fn key(&self, e: Expr, c: Collation, purpose: For) -> Expr {
        let f = match (c, purpose) {
            (Collation::Utf8mb4GeneralCi, For::Order) => &self.weight_ci,
            (_, For::Order) => &self.weight_bin,
            (Collation::Utf8mb4GeneralCi, For::Equality) => &self.eqkey_ci,
            (_, For::Equality) => &self.eqkey_bin,
        };
        f.call(vec![e])
    }

    /// Keys of both sides of a comparison (`l` typed in `ls`, `r` in `rs`), under the
    /// stronger side's collation: a binary one wins over general_ci.
    fn weigh_pair(
        &self,
        l: Expr,
        ls: &DFSchema,
        r: Expr,
        rs: &DFSchema,
        purpose: For,
    ) -> (Expr, Expr) {
        let c = stronger(collation_of(&l, ls), collation_of(&r, rs));
        (self.key(l, c, purpose), self.key(r, c, purpose))
    }

    fn weigh_sort(&self, s: SortExpr, schema: &DFSchema) -> SortExpr {
        if string_expr(&s.expr, schema) {
            let c = collation_of(&s.expr, schema);
            SortExpr {
                expr: self.weight(s.expr, c),
                ..s
            }
        } else {
            s
        }
    }

    /// `e` equal to one of `constants` (non-NULL string literals) under `c`, negated when
    /// asked, as one call that compares without writing keys; `None` when a constant is
    /// not a string literal.
    fn in_constants(
        &self,
        e: Expr,
        constants: &[Expr],
        c: Collation,
        negated: bool,
    ) -> Option<Expr> {
        if constants.is_empty() || !constants.iter().all(is_string_literal) {
            return None;
        }
        let f = match c {
            Collation::Utf8mb4GeneralCi => &self.in_ci,
            _ => &self.in_bin,
        };
        let call = f.call(
            std::iter::once(e)
                .chain(constants.iter().cloned())
                .collect(),
        );
        Some(if negated {
            Expr::Not(Box::new(call))
        } else {
            call
        })
    }

    /// The equality key of a string expression; any other expression as it is.
    fn eq_key_of(&self, e: Expr, schema: &DFSchema) -> Expr {
        if string_expr(&e, schema) {
            let c = collation_of(&e, schema);
            self.key(e, c, For::Equality)
        } else {
            e
        }
    }

    /// The pair `(l, r)` compared as MySQL compares a string with a number, both as DOUBLE,
    /// where type coercion cast one side from a string to the other's numeric type (which
    /// fails on a string that is not a whole number); None for other pairs. A string
    /// constant the cast converts keeps the cast, so key ranges still see a constant.
    fn strings_as_numbers(
        &self,
        (l, ls): (&Expr, &DFSchema),
        (r, rs): (&Expr, &DFSchema),
    ) -> Option<(Expr, Expr)> {
        (failing_string_cast(l, ls) || failing_string_cast(r, rs)).then(|| {
            (
                as_double(&self.to_double, l.clone(), ls),
                as_double(&self.to_double, r.clone(), rs),
            )
        })
    }

    fn to_decimal(e: Expr, schema: &DFSchema) -> Expr {
        match type_of(&e, schema) {
            Some(t) if is_integer(&t) => cast(e, DataType::Decimal128(20, 0)),
            _ => e,
        }
    }

    /// One expression node (children already rewritten).
    fn expr(&self, e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
        use Operator::*;
        Ok(match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right })
                if matches!(
                    op,
                    Eq | NotEq | Lt | LtEq | Gt | GtEq | IsDistinctFrom | IsNotDistinctFrom
                ) && (string_expr(&left, schema) && string_expr(&right, schema)) =>
            {
                // A column against a constant: one comparison that writes no keys.
                let constant_side = match (is_string_literal(&left), is_string_literal(&right)) {
                    (_, true) => Some((&left, &right)),
                    (true, false) => Some((&right, &left)),
                    (false, false) => None,
                };
                if let (Eq | NotEq, Some((value, constant))) = (op, constant_side) {
                    let c = stronger(collation_of(&left, schema), collation_of(&right, schema));
                    let call = self.in_constants(
                        (**value).clone(),
                        std::slice::from_ref(&**constant),
                        c,
                        op == NotEq,
                    );
                    if let Some(call) = call {
                        return Ok(Transformed::yes(call));
                    }
                }
                let purpose = match op {
                    Eq | NotEq | IsDistinctFrom | IsNotDistinctFrom => For::Equality,
                    _ => For::Order,
                };
                let (l, r) = self.weigh_pair(*left, schema, *right, schema, purpose);
                Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                    Box::new(l),
                    op,
                    Box::new(r),
                )))
            }
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Divide,
                right,
            }) if type_of(&left, schema).as_ref().is_some_and(is_exact)
                && type_of(&right, schema).as_ref().is_some_and(is_exact) =>
            {
                let l = Self::to_decimal(*left, schema);
                let r = Self::to_decimal(*right, schema);
                Transformed::yes(self.div.call(vec![l, r]))
            }
            Expr::Like(Like {
                negated,
                expr,
                pattern,
                escape_char,
                case_insensitive: false,
            }) if string_expr(&expr, schema)
                && collation_of(&expr, schema) == Collation::Utf8mb4GeneralCi =>
            {
                let mut args = vec![*expr, *pattern];
                if let Some(c) = escape_char {
                    args.push(Expr::Literal(
                        datafusion::common::ScalarValue::Utf8(Some(c.to_string())),
                        None,
                    ));
                }
                let m = self.like.call(args);
                Transformed::yes(if negated { Expr::Not(Box::new(m)) } else { m })
            }
            Expr::InList(InList {
                expr,
                list,
                negated,
            }) if string_expr(&expr, schema) => {
                let c = collation_of(&expr, schema);
                if let Some(call) = self.in_constants((*expr).clone(), &list, c, negated) {
                    return Ok(Transformed::yes(call));
                }
                let list = list
                    .into_iter()
                    .map(|x| self.key(x, c, For::Equality))
                    .collect();
                Transformed::yes(Expr::InList(InList::new(
                    Box::new(self.key(*expr, c, For::Equality)),
                    list,
                    negated,
                )))
            }
            Expr::Between(Between {
                expr,
                negated,
                low,
                high,
            }) if string_expr(&expr, schema) => {
                let c = collation_of(&expr, schema);
                Transformed::yes(between_each((expr, negated, low, high), |e| {
                    self.weight(e, c)
                }))
            }
            Expr::Case(Case {
                expr: Some(operand),
                when_then_expr,
                else_expr,
            }) if string_expr(&operand, schema) => {
                let c = collation_of(&operand, schema);
                Transformed::yes(Expr::Case(Case {
                    expr: Some(Box::new(self.key(*operand, c, For::Equality))),
                    when_then_expr: when_then_expr
                        .into_iter()
                        .map(|(w, t)| (Box::new(self.key(*w, c, For::Equality)), t))
                        .collect(),
                    else_expr,
                }))
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right })
                if matches!(
                    op,
                    Eq | NotEq | Lt | LtEq | Gt | GtEq | IsDistinctFrom | IsNotDistinctFrom
                ) =>
            {
                match self.strings_as_numbers((&left, schema), (&right, schema)) {
                    Some((l, r)) => Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                        Box::new(l),
                        op,
                        Box::new(r),
                    ))),
                    None => Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right })),
                }
            }
            // `x IN (...)` and `x BETWEEN a AND b` where type coercion cast strings to a
            // number: all of them as DOUBLE, as `strings_as_numbers` does for comparisons.
            Expr::InList(InList {
                expr,
                list,
                negated,
            }) if std::iter::once(expr.as_ref())
                .chain(&list)
                .any(|e| failing_string_cast(e, schema)) =>
            {
                Transformed::yes(Expr::InList(InList::new(
                    Box::new(as_double(&self.to_double, *expr, schema)),
                    list.into_iter()
                        .map(|e| as_double(&self.to_double, e, schema))
                        .collect(),
                    negated,
                )))
            }
            Expr::Between(Between {
                expr,
                negated,
                low,
                high,
            }) if [&expr, &low, &high]
                .iter()
                .any(|e| failing_string_cast(e, schema)) =>
            {
                Transformed::yes(between_each((expr, negated, low, high), |e| {
                    as_double(&self.to_double, e, schema)
                }))
            }
            Expr::AggregateFunction(af) => self.aggregate(af, schema)?,
            Expr::WindowFunction(w) => {
                let WindowFunction { fun, params } = *w;
                let mut params = params;
                params.partition_by = params
                    .partition_by
                    .into_iter()
                    .map(|e| self.eq_key_of(e, schema))
                    .collect();
                params.order_by = params
                    .order_by
                    .into_iter()
                    .map(|s| self.weigh_sort(s, schema))
                    .collect();
                Transformed::yes(Expr::WindowFunction(Box::new(WindowFunction {
                    fun,
                    params,
                })))
            }
            other => Transformed::no(other),
        })
    }

    fn aggregate(&self, af: AggregateFunction, schema: &DFSchema) -> Result<Transformed<Expr>> {
        let name = af.func.name().to_ascii_lowercase();
        let mut af = af;
        // Type coercion has already cast AVG's integer argument to a double: undo that.
        if name == "avg" {
            if let Some(Expr::Cast(c)) = af.params.args.first() {
                if *c.field.data_type() == DataType::Float64
                    && type_of(&c.expr, schema).as_ref().is_some_and(is_integer)
                {
                    let inner = (*c.expr).clone();
                    af.params.args[0] = inner;
                }
            }
        }
        let arg_type = af.params.args.first().and_then(|a| type_of(a, schema));
        match (name.as_str(), arg_type) {
            ("min" | "max", Some(t)) if is_string(&t) && af.params.args.len() == 1 => {
                let arg = af.params.args.remove(0);
                let key = SortExpr::new(
                    self.weight(arg.clone(), collation_of(&arg, schema)),
                    name == "min",
                    false,
                );
                let mut call = first_value_udaf().call(vec![arg]).order_by(vec![key]);
                if let Some(f) = af.params.filter {
                    call = call.filter(*f);
                }
                Ok(Transformed::yes(call.build()?))
            }
            ("count", Some(t)) if af.params.distinct && is_string(&t) => {
                af.params.args = af
                    .params
                    .args
                    .into_iter()
                    .map(|a| self.eq_key_of(a, schema))
                    .collect();
                Ok(Transformed::yes(Expr::AggregateFunction(af)))
            }
            // GROUP_CONCAT(... ORDER BY s): ordered by the collation, as MySQL orders.
            ("string_agg", _) if !af.params.order_by.is_empty() => {
                af.params.order_by = af
                    .params
                    .order_by
                    .into_iter()
                    .map(|s| self.weigh_sort(s, schema))
                    .collect();
                Ok(Transformed::yes(Expr::AggregateFunction(af)))
            }
            ("sum" | "avg", Some(t)) if is_integer(&t) => {
                af.params.args = af
                    .params
                    .args
                    .into_iter()
                    .map(|a| cast(a, DataType::Decimal128(20, 0)))
                    .collect();
                Ok(Transformed::yes(Expr::AggregateFunction(af)))
            }
            _ => Ok(Transformed::no(Expr::AggregateFunction(af))),
        }
    }

    /// GROUP BY on case-insensitive strings: group on the equality key, report the first
    /// value. A group column that other group columns determine (the columns of a table
    /// whose primary key is grouped on, see [`determined_groups`]) is not grouped on at all:
    /// every row of a group has the same value, which the group reports.
    fn collate_groups(&self, agg: Aggregate) -> Result<Transformed<LogicalPlan>> {
        let input_schema = agg.input.schema().clone();
        if agg
            .group_expr
            .iter()
            .any(|e| matches!(e, Expr::GroupingSet(_)))
        {
            return Ok(Transformed::no(LogicalPlan::Aggregate(agg)));
        }
        let determined = determined_groups(&agg.group_expr, &input_schema);
        let ci: Vec<bool> = agg
            .group_expr
            .iter()
            .map(|g| {
                string_expr(g, &input_schema)
                    && collation_of(g, &input_schema) == Collation::Utf8mb4GeneralCi
            })
            .collect();
        if !ci.iter().chain(&determined).any(|&c| c) {
            return Ok(Transformed::no(LogicalPlan::Aggregate(agg)));
        }
        let mut group = Vec::with_capacity(agg.group_expr.len());
        let mut aggr = agg.aggr_expr.clone();
        // Where each original group column's value comes from: a kept group position, or
        // the value aggregate `__reef_gv<i>`.
        let mut kept_at: Vec<Option<usize>> = Vec::with_capacity(agg.group_expr.len());
        for (i, g) in agg.group_expr.iter().enumerate() {
            if !determined[i] && !ci[i] {
                kept_at.push(Some(group.len()));
                group.push(g.clone());
                continue;
            }
            // Reported through the value aggregate; a case-insensitive string that nothing
            // else determines is grouped on its equality key.
            kept_at.push(None);
            aggr.push(
                self.any_value
                    .call(vec![g.clone()])
                    .alias(format!("__reef_gv{i}")),
            );
            if !determined[i] {
                group.push(
                    self.key(g.clone(), Collation::Utf8mb4GeneralCi, For::Equality)
                        .alias(format!("__reef_gk{i}")),
                );
            }
        }
        let original = agg.schema.clone();
        let n_group = agg.group_expr.len();
        let n_kept = group.len();
        let rebuilt = Aggregate::try_new(agg.input.clone(), group, aggr)?;
        let new_schema = rebuilt.schema.clone();
        let exprs = (0..original.fields().len())
            .map(|j| {
                let (q, f) = original.qualified_field(j);
                let at = if j < n_group {
                    kept_at[j]
                } else {
                    Some(n_kept + (j - n_group))
                };
                let source = match at {
                    Some(at) => {
                        let (nq, nf) = new_schema.qualified_field(at);
                        Expr::Column(Column::new(nq.cloned(), nf.name()))
                    }
                    None => Expr::Column(Column::from_name(format!("__reef_gv{j}"))),
                };
                source.alias_qualified(q.cloned(), f.name())
            })
            .collect::<Vec<_>>();
        let projection = Projection::try_new(exprs, Arc::new(LogicalPlan::Aggregate(rebuilt)))?;
        Ok(Transformed::yes(LogicalPlan::Projection(projection)))
    }

    fn node(&self, plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
        // DISTINCT over case-insensitive strings is a GROUP BY of every column.
        let plan = match plan {
            LogicalPlan::Distinct(Distinct::All(input))
                if input.schema().fields().iter().any(|f| {
                    is_string(f.data_type()) && field_collation(f) == Collation::Utf8mb4GeneralCi
                }) =>
            {
                let group = input
                    .schema()
                    .columns()
                    .into_iter()
                    .map(Expr::Column)
                    .collect();
                LogicalPlan::Aggregate(Aggregate::try_new(input, group, vec![])?)
            }
            other => other,
        };
        let mut schema = DFSchema::empty();
        for input in plan.inputs() {
            schema.merge(input.schema());
        }
        if plan.inputs().is_empty() {
            schema = plan.schema().as_ref().clone();
        }
        let preserver = NamePreserver::new(&plan);
        let rewritten = plan.map_expressions(|e| {
            let saved = preserver.save(&e);
            let t = e.transform_up(|x| self.expr(x, &schema))?;
            Ok(t.update_data(|x| saved.restore(x)))
        })?;
        let plan = rewritten.data.recompute_schema()?;
        let plan = match plan {
            LogicalPlan::Aggregate(agg) => self.collate_groups(agg)?.data,
            LogicalPlan::Sort(sort) => {
                let input_schema = sort.input.schema().clone();
                let expr = sort
                    .expr
                    .into_iter()
                    .map(|s| self.weigh_sort(s, &input_schema))
                    .collect();
                LogicalPlan::Sort(Sort {
                    expr,
                    input: sort.input,
                    fetch: sort.fetch,
                })
            }
            LogicalPlan::Join(mut join) => {
                let (ls, rs) = (join.left.schema().clone(), join.right.schema().clone());
                join.on = join
                    .on
                    .into_iter()
                    .map(|(l, r)| {
                        if string_expr(&l, &ls) && string_expr(&r, &rs) {
                            self.weigh_pair(l, &ls, r, &rs, For::Equality)
                        } else if let Some(pair) = self.strings_as_numbers((&l, &ls), (&r, &rs)) {
                            pair
                        } else {
                            (l, r)
                        }
                    })
                    .collect();
                LogicalPlan::Join(join)
            }
            other => other,
        };
        Ok(Transformed::yes(plan))
    }
}

impl AnalyzerRule for MysqlSemantics {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|p| self.node(p))
            .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "reef_mysql_semantics"
    }
}

/// Plans `+`, `-`, `*`, `/` and `%` with a string operand as MySQL computes them: in DOUBLE,
/// the string read by its numeric prefix (`'2.5' + 1` is 3.5, `'x' * 2` is 0), where
/// DataFusion refuses to plan arithmetic on strings. It runs while the SQL is planned,
/// before type coercion, which is where DataFusion's refusal comes from.
#[derive(Debug)]
pub struct StringArithmetic {
    to_double: Arc<ScalarUDF>,
}

impl Default for StringArithmetic {
    fn default() -> Self {
        StringArithmetic {
            to_double: Arc::new(ToDouble::udf()),
        }
    }
}

impl datafusion::logical_expr::planner::ExprPlanner for StringArithmetic {
    fn plan_binary_op(
        &self,
        expr: datafusion::logical_expr::planner::RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<
        datafusion::logical_expr::planner::PlannerResult<
            datafusion::logical_expr::planner::RawBinaryExpr,
        >,
    > {
        use datafusion::logical_expr::planner::PlannerResult;
        use sqlparser::ast::BinaryOperator as Op;
        let op = match expr.op {
            Op::Plus => Operator::Plus,
            Op::Minus => Operator::Minus,
            Op::Multiply => Operator::Multiply,
            Op::Divide => Operator::Divide,
            Op::Modulo => Operator::Modulo,
            _ => return Ok(PlannerResult::Original(expr)),
        };
        let typed = |e: &Expr| e.get_type(schema).ok();
        let (lt, rt) = (typed(&expr.left), typed(&expr.right));
        let operand = |t: &Option<DataType>| {
            t.as_ref()
                .is_some_and(|t| is_string(t) || t.is_numeric() || *t == DataType::Null)
        };
        let stringy = |t: &Option<DataType>| t.as_ref().is_some_and(is_string);
        if !(stringy(&lt) || stringy(&rt)) || !operand(&lt) || !operand(&rt) {
            return Ok(PlannerResult::Original(expr));
        }
        Ok(PlannerResult::Planned(Expr::BinaryExpr(BinaryExpr::new(
            Box::new(as_double(&self.to_double, expr.left, schema)),
            op,
            Box::new(as_double(&self.to_double, expr.right, schema)),
        ))))
    }
}
