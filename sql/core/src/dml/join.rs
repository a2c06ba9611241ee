//! Key-lookup joins on the OLTP path. The planner picks the OLTP executor or DataFusion per
//! statement (DESIGN.md §7); a SELECT over two tables runs here when one table's rows come
//! from a few keys, a short key range or a small table, and each of those rows fixes the
//! other table's whole primary key, or a leading part of it, through equalities: TPC-C's
//! Stock-Level (an order's lines, each naming the stock row of its item), or an order with
//! its lines (`ol_w_id = o_w_id AND ol_d_id = o_d_id AND ol_o_id = o_id`). The executor
//! reads the outer rows, then the inner rows they name (one point read per distinct key, or
//! one range read per distinct key prefix, at most [`OLAP_SCAN_ROWS`] inner rows in all,
//! past which the statement goes to the OLAP path), then evaluates the rest of the WHERE
//! clause over each joined row. Grouping, aggregates, ORDER BY, DISTINCT and
//! LIMIT are the one-table executor's, over the joined row. Planning such a join in
//! DataFusion costs milliseconds against the reads' fraction of one; every other join stays
//! on the OLAP path.

use std::collections::HashMap;

use sqlparser::ast::{JoinConstraint, JoinOperator};

use super::*;

/// One table of the join.
struct Side {
    def: Arc<TableDef>,
    /// The name columns may be qualified with: its alias, else its name.
    qualifier: String,
    /// Where its columns start in the joined row.
    offset: usize,
}

/// A planned key-lookup join.
pub(super) struct KeyJoin {
    /// The query over the joined row: FROM names the first table alone, column qualifiers
    /// are gone (the two tables' column names are disjoint) and the ON condition is part of
    /// WHERE.
    query: Query,
    /// The joined row's columns: the first table's, then the second's (FROM order).
    joined: TableDef,
    sides: [Side; 2],
    order: Order,
}

/// Which table is read first, and how the join's conjuncts divide between the two reads.
struct Order {
    /// The side read first.
    outer: usize,
    /// The conjuncts naming no inner column: the outer read's filter.
    outer_filter: Option<Expr>,
    /// The other conjuncts, evaluated over each joined row.
    join_filter: Option<Expr>,
    /// Per leading inner primary-key column, the expression over the outer row it equals
    /// (all of the key's columns, or a prefix of them).
    inner_key: Vec<Expr>,
    /// How the outer rows are read.
    access: (Access, Option<usize>),
}

/// A table of a FROM clause: its name and alias.
type Named<'a> = (&'a ObjectName, Option<&'a str>);

/// The join of `q` as the OLTP executor would run it, if it is a key-lookup join over few
/// outer rows; `None` leaves the query to the OLAP path (which also gives the errors of
/// queries that name unknown tables or columns).
pub(super) fn plan(engine: &SqlEngine, s: &SessionInfo, q: &Query) -> Option<KeyJoin> {
    if q.with.is_some() || olap_allowed(q, s).is_err() {
        return None;
    }
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return None;
    };
    let (tables, on) = two_tables(&sel.from)?;
    let mut sides = Vec::with_capacity(2);
    let mut offset = 0;
    for (name, alias) in tables {
        let def = lookup(engine, name, s.db.as_deref()).ok()?;
        let qualifier = alias.unwrap_or(&def.name).to_string();
        let width = def.columns.len();
        sides.push(Side {
            def,
            qualifier,
            offset,
        });
        offset += width;
    }
    let sides: [Side; 2] = sides.try_into().ok()?;
    if sides[0].qualifier.eq_ignore_ascii_case(&sides[1].qualifier)
        || sides[0]
            .def
            .columns
            .iter()
            .any(|c| sides[1].def.column(&c.name).is_some())
    {
        return None;
    }
    let query = over_joined_row(q, on, &sides)?;
    if crate::olap::needs_olap(&query) {
        return None;
    }
    let SetExpr::Select(joined_sel) = query.body.as_ref() else {
        return None;
    };
    let mut parts = Vec::new();
    if let Some(w) = &joined_sel.selection {
        conjuncts(w, &mut parts);
    }
    // Either table may be the outer one: one read by a key wins over a scanned one, then
    // the one with the fewer rows to read, then the one whose rows give the other's whole
    // key (one row per lookup).
    let mut best: Option<((bool, u64, bool), Order)> = None;
    for outer in 0..2 {
        let inner = &sides[1 - outer];
        let Some(inner_key) = inner_key(&inner.def, &parts) else {
            continue;
        };
        let (mine, rest): (Vec<&Expr>, Vec<&Expr>) =
            parts.iter().partition(|e| !names_columns_of(e, &inner.def));
        let outer_filter = conjunction(&mine);
        let def = &sides[outer].def;
        let (acc, fixed) = access(def, outer_filter.as_ref(), s).ok()?;
        // Counting stops where this order could no longer win: past the rows of a keyed
        // order found already (Stock-Level's stock side would otherwise walk 10,000 MemTable
        // keys of the warehouse's stock to lose to twenty orders' lines).
        let enough = match &best {
            Some(((false, rows, _), _)) => rows.saturating_add(1).min(OLAP_SCAN_ROWS),
            _ => OLAP_SCAN_ROWS,
        };
        let rows = estimated_rows(engine, def, &acc, enough)?;
        let rank = (
            matches!(acc, Access::Scan),
            rows,
            inner_key.len() < inner.def.pk.len(),
        );
        if rows >= OLAP_SCAN_ROWS || best.as_ref().is_some_and(|b| b.0 <= rank) {
            continue;
        }
        best = Some((
            rank,
            Order {
                outer,
                outer_filter,
                join_filter: conjunction(&rest),
                inner_key,
                access: (acc, fixed),
            },
        ));
    }
    let (_, order) = best?;
    let joined = TableDef {
        id: sides[0].def.id,
        db: sides[0].def.db.clone(),
        name: sides[0].def.name.clone(),
        columns: [sides[0].def.columns.clone(), sides[1].def.columns.clone()].concat(),
        pk: Vec::new(),
        indexes: Vec::new(),
    };
    Some(KeyJoin {
        query,
        joined,
        sides,
        order,
    })
}

/// The two plain tables of a FROM clause (`a, b` or `a [INNER] JOIN b [ON ...]`) and the ON
/// condition.
fn two_tables(from: &[TableWithJoins]) -> Option<([Named<'_>; 2], Option<&Expr>)> {
    fn plain(t: &TableFactor) -> Option<Named<'_>> {
        match t {
            TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } if alias.as_ref().is_none_or(|a| a.columns.is_empty()) => {
                Some((name, alias.as_ref().map(|a| a.name.value.as_str())))
            }
            _ => None,
        }
    }
    match from {
        [a, b] if a.joins.is_empty() && b.joins.is_empty() => {
            Some(([plain(&a.relation)?, plain(&b.relation)?], None))
        }
        [a] => match a.joins.as_slice() {
            [j] => {
                let on = match &j.join_operator {
                    JoinOperator::Join(c) | JoinOperator::Inner(c) | JoinOperator::CrossJoin(c) => {
                        match c {
                            JoinConstraint::On(e) => Some(e),
                            JoinConstraint::None => None,
                            _ => return None,
                        }
                    }
                    _ => return None,
                };
                Some(([plain(&a.relation)?, plain(&j.relation)?], on))
            }
            _ => None,
        },
        _ => None,
    }
}

/// `q` over the joined row: the first table alone in FROM, `on` joined to WHERE, and every
/// qualified column reference reduced to its column's name. `None` if a reference names
/// neither table, a database, or a `t.*` wildcard.
fn over_joined_row(q: &Query, on: Option<&Expr>, sides: &[Side; 2]) -> Option<Query> {
    let mut query = q.clone();
    let SetExpr::Select(sel) = query.body.as_mut() else {
        return None;
    };
    if sel
        .projection
        .iter()
        .any(|i| matches!(i, SelectItem::QualifiedWildcard(..)))
    {
        return None;
    }
    sel.from.truncate(1);
    sel.from[0].joins.clear();
    if let Some(on) = on {
        sel.selection = Some(match sel.selection.take() {
            Some(w) => Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(w))),
                op: BinaryOperator::And,
                right: Box::new(Expr::Nested(Box::new(on.clone()))),
            },
            None => on.clone(),
        });
    }
    let resolved = sqlparser::ast::visit_expressions_mut(&mut query, |e| {
        let Expr::CompoundIdentifier(parts) = e else {
            return ControlFlow::Continue(());
        };
        let [table, column] = parts.as_slice() else {
            return ControlFlow::Break(());
        };
        let side = sides.iter().find(|t| {
            t.qualifier.eq_ignore_ascii_case(&table.value) && t.def.column(&column.value).is_some()
        });
        match side {
            Some(_) => {
                *e = Expr::Identifier(column.clone());
                ControlFlow::Continue(())
            }
            None => ControlFlow::Break(()),
        }
    });
    resolved.is_continue().then_some(query)
}

/// Whether `e` names a column of `def` (qualifiers are gone: names are the tables' own).
fn names_columns_of(e: &Expr, def: &TableDef) -> bool {
    any_expr(
        e,
        |x| matches!(x, Expr::Identifier(id) if def.column(&id.value).is_some()),
    )
}

/// The conjunction of `parts` (None for none). An OR or XOR part goes in parentheses, so
/// the expression prints as it reads (`x = 1 AND (y = 1 OR y = 2)`).
fn conjunction(parts: &[&Expr]) -> Option<Expr> {
    parts
        .iter()
        .map(|&e| match e {
            Expr::BinaryOp {
                op: BinaryOperator::Or | BinaryOperator::Xor,
                ..
            } => Expr::Nested(Box::new(e.clone())),
            _ => e.clone(),
        })
        .reduce(|a, b| Expr::BinaryOp {
            left: Box::new(a),
            op: BinaryOperator::And,
            right: Box::new(b),
        })
}

/// For the leading primary-key columns of `inner`, as many as have one, an expression
/// naming none of its columns that the column equals by one of `parts`; None if the first
/// key column has none.
fn inner_key(inner: &TableDef, parts: &[&Expr]) -> Option<Vec<Expr>> {
    let key: Vec<Expr> = inner
        .pk
        .iter()
        .map_while(|&slot| {
            parts.iter().find_map(|p| match p {
                Expr::BinaryOp {
                    left,
                    op: BinaryOperator::Eq,
                    right,
                } => [(left, right), (right, left)]
                    .into_iter()
                    .find(|(col, other)| {
                        matches!(col.as_ref(), Expr::Identifier(_))
                            && column_of(col, inner) == Some(slot)
                            && !names_columns_of(other, inner)
                    })
                    .map(|(_, other)| other.as_ref().clone()),
                _ => None,
            })
        })
        .collect();
    (!key.is_empty()).then_some(key)
}

/// The rows `acc` reads of `def`, by the tablets' estimates (counting MemTable keys stops
/// at `enough`, at most [`OLAP_SCAN_ROWS`]).
fn estimated_rows(engine: &SqlEngine, def: &TableDef, acc: &Access, enough: u64) -> Option<u64> {
    Some(match acc {
        Access::Points(keys) => keys.len() as u64,
        Access::Range(lo, hi, _) => engine
            .tablet_of(def)
            .ok()?
            .rows_in(&(lo.clone(), hi.clone()), enough),
        Access::Index { index, lo, hi } => engine
            .tablet_by_id(index.id, &index.name)
            .ok()?
            .rows_in(&(lo.clone(), hi.clone()), enough),
        Access::Scan => engine.tablet_of(def).ok()?.approx_rows(),
    })
}

/// The inner primary key (or key prefix) that `outer_row` gives through `inner_key`; None
/// where a part of it is NULL (which equals nothing).
fn inner_key_of(
    inner_key: &[Expr],
    outer: &TableDef,
    inner: &TableDef,
    outer_row: &[Datum],
    s: &SessionInfo,
) -> Result<Option<Vec<u8>>, SqlError> {
    let scope = RowScope {
        def: outer,
        alias: None,
        row: outer_row,
        session: s,
    };
    let mut vals = Vec::with_capacity(inner_key.len());
    for (e, &slot) in inner_key.iter().zip(&inner.pk) {
        let v = eval(e, &scope)?;
        if v.is_null() {
            return Ok(None);
        }
        if !same_class(&v, &inner.columns[slot].ty) {
            return Err(SqlError::unsupported(
                "key lookups by a value of another type than the key column",
            ));
        }
        vals.push(v);
    }
    let refs: Vec<&Datum> = vals.iter().collect();
    match encode_constants(inner, &inner.pk[..refs.len()], &refs)? {
        Some(key) => Ok(Some(key)),
        None => Err(SqlError::unsupported(
            "key lookups by a value its key column cannot hold",
        )),
    }
}

impl KeyJoin {
    /// Runs the join at the transaction's snapshot. Fails with 1235 (and the statement goes
    /// to the OLAP path) where a key value is not of its column's class: MySQL then
    /// compares by conversion, which a key lookup cannot do.
    pub(super) fn run(
        self,
        engine: &SqlEngine,
        txn: &mut Transaction,
        s: &SessionInfo,
    ) -> Result<Output, SqlError> {
        let KeyJoin {
            query,
            joined,
            sides,
            order,
        } = self;
        let SetExpr::Select(sel) = query.body.as_ref() else {
            return Err(SqlError::internal("a planned join that is not a SELECT"));
        };
        let group_by: &[Expr] = match &sel.group_by {
            GroupByExpr::Expressions(v, mods) if mods.is_empty() => v,
            _ => return Err(SqlError::unsupported("GROUP BY ALL and WITH ROLLUP")),
        };
        if sel.having.is_some() && group_by.is_empty() {
            return Err(SqlError::unsupported("HAVING without GROUP BY"));
        }
        let mut cols = projection(sel, Some((&joined, None)))?;
        refuse_nested_aggregates(group_by, &cols)?;
        for (p, c) in &mut cols {
            if let Proj::Slot(slot) = p {
                let side = &sides[usize::from(*slot >= sides[1].offset)];
                c.table = side.qualifier.clone();
                c.org_table = side.def.name.clone();
                c.db = side.def.db.clone();
                c.primary_key = side.def.pk.contains(&(*slot - side.offset));
            }
        }
        let Order {
            outer: outer_side,
            outer_filter,
            join_filter,
            inner_key,
            access,
        } = order;
        let outer = &sides[outer_side];
        let inner = &sides[1 - outer_side];
        let outer_rows = matching_rows(
            engine,
            txn,
            (&outer.def, None),
            (outer_filter.as_ref(), access),
            s,
            ReadShape {
                wanted: columns_named(&query, sel, &outer.def),
                ..ReadShape::default()
            },
        )?;
        let keys = outer_rows
            .iter()
            .map(|(_, row)| inner_key_of(&inner_key, &outer.def, &inner.def, row, s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut wanted: Vec<Vec<u8>> = keys.iter().flatten().cloned().collect();
        wanted.sort_unstable();
        wanted.dedup();
        let decoder = RowDecoder::only(&inner.def, columns_named(&query, sel, &inner.def));
        let tablet = engine.tablet_of(&inner.def)?;
        // The inner rows under each key (whole key: at most one) or key prefix.
        let mut found: HashMap<Vec<u8>, Vec<Vec<Datum>>> = HashMap::new();
        if inner_key.len() == inner.def.pk.len() {
            for (key, row) in rows_by_key(txn, &tablet, &decoder, wanted, None)? {
                found.insert(key, vec![row]);
            }
        } else {
            let mut budget = OLAP_SCAN_ROWS as usize;
            for prefix in wanted {
                let range =
                    Access::Range(Bound::Included(prefix.clone()), prefix_end(&prefix), None);
                let under = candidates(engine, txn, &tablet, &decoder, range, budget + 1)?;
                if under.len() > budget {
                    return Err(SqlError::unsupported(format!(
                        "key-lookup joins reading more than {OLAP_SCAN_ROWS} inner rows"
                    )));
                }
                budget -= under.len();
                found.insert(prefix, under.into_iter().map(|(_, row)| row).collect());
            }
        }
        let mut rows = Vec::new();
        for (n, ((_, outer_row), key)) in outer_rows.into_iter().zip(keys).enumerate() {
            interrupt_point(txn, n)?;
            let Some(inner_rows) = key.and_then(|k| found.get(&k)) else {
                continue;
            };
            for inner_row in inner_rows {
                let row: Vec<Datum> = if outer_side == 0 {
                    outer_row.iter().chain(inner_row).cloned().collect()
                } else {
                    inner_row.iter().chain(&outer_row).cloned().collect()
                };
                let scope = RowScope {
                    def: &joined,
                    alias: None,
                    row: &row,
                    session: s,
                };
                if matches(join_filter.as_ref(), &scope)? {
                    rows.push((Vec::new(), row));
                }
            }
        }
        shape_rows(&query, (sel, group_by), (&joined, None), cols, rows, s)
    }

    /// `EXPLAIN`'s rows: the outer table as its access reads it, then the inner one looked
    /// up by its primary key (`eq_ref`) or a prefix of it (`ref`), each in its own row as
    /// MySQL lists a join.
    pub(super) fn explain_rows(&self) -> [(String, &'static str, Option<String>, String); 2] {
        let outer = &self.sides[self.order.outer];
        let inner = &self.sides[1 - self.order.outer];
        let (ty, key) = access_kind(&self.order.access.0);
        let mut outer_extra = String::new();
        if self.order.outer_filter.is_some() {
            outer_extra.push_str("Using where; ");
        }
        outer_extra.push_str("ReefDB: OLTP path (key-lookup join)");
        let inner_extra = if self.order.join_filter.is_some() {
            "Using where"
        } else {
            ""
        };
        [
            (
                outer.qualifier.clone(),
                ty,
                key.map(str::to_string),
                outer_extra,
            ),
            (
                inner.qualifier.clone(),
                if self.whole_key() { "eq_ref" } else { "ref" },
                Some("PRIMARY".to_string()),
                inner_extra.to_string(),
            ),
        ]
    }

    /// `EXPLAIN FORMAT=TREE`'s steps below the shaping ones: the join filter, the loop, the
    /// outer read and the lookups.
    pub(super) fn explain_steps(&self) -> Vec<String> {
        let outer = &self.sides[self.order.outer];
        let inner = &self.sides[1 - self.order.outer];
        let mut steps = Vec::new();
        if let Some(f) = &self.order.join_filter {
            steps.push(format!("Filter: {f}"));
        }
        let key = inner
            .def
            .pk
            .iter()
            .zip(&self.order.inner_key)
            .map(|(&slot, e)| format!("{} = {e}", inner.def.columns[slot].name))
            .collect::<Vec<_>>()
            .join(", ");
        let lookup = if self.whole_key() {
            "a single-row lookup"
        } else {
            "a range scan"
        };
        steps.push(format!(
            "Nested loop inner join: for each row of {}, {lookup} on {} using PRIMARY ({key})",
            outer.qualifier, inner.qualifier
        ));
        if let Some(f) = &self.order.outer_filter {
            steps.push(format!("Filter: {f}"));
        }
        steps.push(access_step(&self.order.access.0, &outer.qualifier));
        steps
    }

    /// Whether the outer rows give the inner table's whole primary key.
    fn whole_key(&self) -> bool {
        self.order.inner_key.len() == self.sides[1 - self.order.outer].def.pk.len()
    }

    /// The query over the joined row.
    pub(super) fn query(&self) -> &Query {
        &self.query
    }
}
