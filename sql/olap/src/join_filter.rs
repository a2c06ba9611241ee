//! What a hash join's build side tells the scan on its probe side.
//!
//! Once a hash join has read its build side, DataFusion publishes a dynamic filter over the
//! probe side's join columns: bounds (`col >= min AND col <= max`) and, for a small build
//! side, the set of its keys (`col IN (...)`), under a `CASE` over hash partitions when the
//! join is partitioned. A ReefDB scan reads that filter when its first batch is asked for
//! and turns it into primary-key ranges: a probe on a table's key (TPC-C's Stock-Level reads
//! `stock` by `(s_w_id, s_i_id)` for the items of twenty orders) becomes a handful of point
//! reads instead of a scan of the table. The join still applies its condition to every row,
//! so the filter only ever narrows what is read, and a form the scan does not recognise
//! narrows nothing.

use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{
    BinaryExpr, CaseExpr, Column, DynamicFilterPhysicalExpr, InListExpr, Literal,
};
use datafusion::physical_expr::PhysicalExpr;
use reef_sql::datum::Datum;
use reef_sql::KeyBound;

use crate::types::datum_at;

/// `column op constant`: the table column's slot, which bound the constant is, and the
/// constant.
pub type Predicate = (usize, KeyBound, Datum);

/// The rows a filter lets through, as far as the scan can tell.
#[derive(Debug, Clone, PartialEq)]
pub enum Allowed {
    /// Rows for which every predicate holds and, when `values` is set, whose column takes one
    /// of those values. Empty predicates and no values: any row.
    Rows {
        preds: Vec<Predicate>,
        values: Option<(usize, Vec<Datum>)>,
    },
    /// No row passes.
    Nothing,
}

impl Allowed {
    fn any() -> Allowed {
        Allowed::Rows {
            preds: Vec::new(),
            values: None,
        }
    }

    /// Rows both allow.
    fn and(self, other: Allowed) -> Allowed {
        match (self, other) {
            (Allowed::Nothing, _) | (_, Allowed::Nothing) => Allowed::Nothing,
            (
                Allowed::Rows {
                    mut preds,
                    values: a,
                },
                Allowed::Rows {
                    preds: more,
                    values: b,
                },
            ) => {
                preds.extend(more);
                Allowed::Rows {
                    preds,
                    values: a.or(b),
                }
            }
        }
    }

    /// Rows either allows: value sets of one column join; anything else is not kept (a
    /// wider answer is always a correct one).
    fn or(self, other: Allowed) -> Allowed {
        match (self, other) {
            (Allowed::Nothing, x) | (x, Allowed::Nothing) => x,
            (
                Allowed::Rows {
                    values: Some((slot, mut a)),
                    ..
                },
                Allowed::Rows {
                    values: Some((other, b)),
                    ..
                },
            ) if slot == other => {
                a.extend(b);
                Allowed::Rows {
                    preds: Vec::new(),
                    values: Some((slot, a)),
                }
            }
            _ => Allowed::any(),
        }
    }
}

/// What the dynamic filter `filter` allows now; `slot_of` maps a column of the scan's
/// output to the table column it reads. Any other expression allows every row.
pub fn allowed_now(
    filter: &Arc<dyn PhysicalExpr>,
    slot_of: &dyn Fn(usize) -> Option<usize>,
) -> Allowed {
    match filter.downcast_ref::<DynamicFilterPhysicalExpr>() {
        Some(d) => match d.current() {
            Ok(current) => allowed(&current, slot_of),
            Err(_) => Allowed::any(),
        },
        None => Allowed::any(),
    }
}

/// What `e` allows.
pub fn allowed(e: &Arc<dyn PhysicalExpr>, slot_of: &dyn Fn(usize) -> Option<usize>) -> Allowed {
    let slot =
        |e: &Arc<dyn PhysicalExpr>| e.downcast_ref::<Column>().and_then(|c| slot_of(c.index()));
    if let Some(l) = e.downcast_ref::<Literal>() {
        return match l.value() {
            ScalarValue::Boolean(Some(true)) => Allowed::any(),
            // FALSE and NULL both filter every row out.
            ScalarValue::Boolean(_) | ScalarValue::Null => Allowed::Nothing,
            _ => Allowed::any(),
        };
    }
    if let Some(b) = e.downcast_ref::<BinaryExpr>() {
        match b.op() {
            Operator::And => return allowed(b.left(), slot_of).and(allowed(b.right(), slot_of)),
            Operator::Or => return allowed(b.left(), slot_of).or(allowed(b.right(), slot_of)),
            _ => {}
        }
        for (column, value, flipped) in [(b.left(), b.right(), false), (b.right(), b.left(), true)]
        {
            let (Some(s), Some(d)) = (slot(column), constant(value)) else {
                continue;
            };
            let Some(how) = bound_of(b.op(), flipped) else {
                continue;
            };
            return Allowed::Rows {
                preds: vec![(s, how, d)],
                values: None,
            };
        }
        return Allowed::any();
    }
    if let Some(list) = e.downcast_ref::<InListExpr>() {
        let Some(s) = slot(list.expr()).filter(|_| !list.negated()) else {
            return Allowed::any();
        };
        let mut values = Vec::with_capacity(list.len());
        for item in list.list() {
            let Some(l) = item.downcast_ref::<Literal>() else {
                return Allowed::any();
            };
            // NULL equals nothing: it adds no row.
            if l.value().is_null() {
                continue;
            }
            match constant(item) {
                Some(d) => values.push(d),
                None => return Allowed::any(),
            }
        }
        if values.is_empty() {
            return Allowed::Nothing;
        }
        return Allowed::Rows {
            preds: Vec::new(),
            values: Some((s, values)),
        };
    }
    if let Some(case) = e.downcast_ref::<CaseExpr>() {
        // A row passes through one branch: the union of the branches bounds them all.
        // Without ELSE, unmatched rows get NULL, which filters them out.
        let mut out = match case.else_expr() {
            Some(e) => allowed(e, slot_of),
            None => Allowed::Nothing,
        };
        for (_, then) in case.when_then_expr() {
            out = out.or(allowed(then, slot_of));
        }
        return out;
    }
    Allowed::any()
}

/// Which bound `column op constant` puts on the column (`flipped`: written `constant op
/// column`); `None` for an operator that is not a comparison bounding it.
pub fn bound_of(op: &Operator, flipped: bool) -> Option<KeyBound> {
    Some(match (op, flipped) {
        (Operator::Eq, _) => KeyBound::Eq,
        (Operator::Gt | Operator::GtEq, false) | (Operator::Lt | Operator::LtEq, true) => {
            KeyBound::AtLeast
        }
        (Operator::Lt | Operator::LtEq, false) | (Operator::Gt | Operator::GtEq, true) => {
            KeyBound::AtMost
        }
        _ => return None,
    })
}

/// The non-NULL constant `e` holds.
fn constant(e: &Arc<dyn PhysicalExpr>) -> Option<Datum> {
    let l = e.downcast_ref::<Literal>()?;
    scalar_datum(l.value())
}

/// A DataFusion constant as a ReefDB datum; `None` for NULL or a value with no datum.
pub fn scalar_datum(v: &ScalarValue) -> Option<Datum> {
    v.to_array()
        .ok()
        .and_then(|a| datum_at(a.as_ref(), 0).ok())
        .filter(|d| !matches!(d, Datum::Null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{DataType, Field, Schema};
    use datafusion::physical_expr::expressions::{lit, CaseExpr};

    fn col(name: &str, index: usize) -> Arc<dyn PhysicalExpr> {
        Arc::new(Column::new(name, index))
    }

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Int64, true),
        ])
    }

    fn in_list(column: usize, values: &[Option<i64>]) -> Arc<dyn PhysicalExpr> {
        let array = Arc::new(arrow_array::Int64Array::from(values.to_vec()));
        Arc::new(InListExpr::try_new_from_array(col("x", column), array, false, &schema()).unwrap())
    }

    fn bin(
        l: Arc<dyn PhysicalExpr>,
        op: Operator,
        r: Arc<dyn PhysicalExpr>,
    ) -> Arc<dyn PhysicalExpr> {
        Arc::new(BinaryExpr::new(l, op, r))
    }

    /// Output column i reads table column i + 10.
    fn slot(i: usize) -> Option<usize> {
        Some(i + 10)
    }

    #[test]
    fn bounds_and_key_sets_become_predicates_and_values() {
        let e = bin(
            bin(
                bin(col("b", 1), Operator::GtEq, lit(3i64)),
                Operator::And,
                bin(lit(9i64), Operator::Gt, col("b", 1)),
            ),
            Operator::And,
            in_list(1, &[Some(3), None, Some(7)]),
        );
        assert_eq!(
            allowed(&e, &slot),
            Allowed::Rows {
                preds: vec![
                    (11, KeyBound::AtLeast, Datum::Int(3)),
                    (11, KeyBound::AtMost, Datum::Int(9)),
                ],
                values: Some((11, vec![Datum::Int(3), Datum::Int(7)])),
            }
        );
        assert_eq!(allowed(&in_list(0, &[None]), &slot), Allowed::Nothing);
        assert_eq!(allowed(&lit(false), &slot), Allowed::Nothing);
        assert_eq!(allowed(&lit(true), &slot), Allowed::any());
        // A column the scan cannot place, or an OR with an unknown side: every row.
        assert_eq!(allowed(&in_list(0, &[Some(1)]), &|_| None), Allowed::any());
        let either = bin(
            in_list(0, &[Some(1)]),
            Operator::Or,
            bin(col("a", 0), Operator::NotEq, lit(2i64)),
        );
        assert_eq!(allowed(&either, &slot), Allowed::any());
    }

    #[test]
    fn partitioned_joins_union_their_branches() {
        let routing = bin(col("a", 0), Operator::Modulo, lit(2i64));
        let case = |otherwise: Arc<dyn PhysicalExpr>| -> Arc<dyn PhysicalExpr> {
            Arc::new(
                CaseExpr::try_new(
                    Some(routing.clone()),
                    vec![
                        (lit(0i64), in_list(0, &[Some(4)])),
                        (lit(1i64), lit(false)),
                        (lit(2i64), in_list(0, &[Some(5), Some(6)])),
                    ],
                    Some(otherwise),
                )
                .unwrap(),
            )
        };
        assert_eq!(
            allowed(&case(lit(false)), &slot),
            Allowed::Rows {
                preds: vec![],
                values: Some((10, vec![Datum::Int(4), Datum::Int(5), Datum::Int(6)])),
            }
        );
        // A branch that lets everything through (a canceled partition) keeps every row.
        assert_eq!(allowed(&case(lit(true)), &slot), Allowed::any());
    }
}
