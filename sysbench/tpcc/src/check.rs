//! The consistency conditions of TPC-C 5.11 clause 3.3.2, checked on a quiet database.
//! Each table is read with plain single-table queries (grouped where the server can do the
//! sums) and the conditions are joined here, so any MySQL-protocol server can be checked.
//! Condition 11 holds only before the first Delivery and is not checked.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, Result};
use mysql::prelude::Queryable;
use mysql::{Conn, Row};

use crate::gen::parse_fixed;
use crate::schema::Config;

/// How one condition came out: the rows it looked at and up to a few violations.
#[derive(Debug, Default)]
pub struct Condition {
    pub checked: u64,
    pub violations: u64,
    pub examples: Vec<String>,
}

impl Condition {
    fn expect(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.checked += 1;
        if !ok {
            self.violations += 1;
            if self.examples.len() < 3 {
                self.examples.push(what());
            }
        }
    }
}

/// The conditions by number.
#[derive(Debug, Default)]
struct Report(BTreeMap<u32, Condition>);

impl Report {
    fn expect(&mut self, n: u32, ok: bool, what: impl FnOnce() -> String) {
        self.0.entry(n).or_default().expect(ok, what);
    }
}

/// An amount column as cents; NULL is an error.
fn cents(row: &Row, i: usize) -> Result<i64> {
    let v: Option<String> = row.get_opt(i).ok_or_else(|| anyhow!("no column {i}"))??;
    let v = v.ok_or_else(|| anyhow!("column {i} is NULL"))?;
    parse_fixed(&v, 2).ok_or_else(|| anyhow!("not an amount: {v}"))
}

/// A SUM over amounts as cents; the NULL of a sum over no rows is zero.
fn sum_cents(row: &Row, i: usize) -> Result<i64> {
    let v: Option<String> = row.get_opt(i).ok_or_else(|| anyhow!("no column {i}"))??;
    v.map_or(Ok(0), |v| {
        parse_fixed(&v, 2).ok_or_else(|| anyhow!("not an amount: {v}"))
    })
}

fn int(row: &Row, i: usize) -> Result<i64> {
    Ok(row
        .get_opt::<i64, usize>(i)
        .ok_or_else(|| anyhow!("no column {i}"))??)
}

fn opt_int(row: &Row, i: usize) -> Result<Option<i64>> {
    Ok(row
        .get_opt::<Option<i64>, usize>(i)
        .ok_or_else(|| anyhow!("no column {i}"))??)
}

/// Runs conditions 1 to 10 and 12; prints one line per condition.
pub fn check(conn: &mut Conn) -> Result<bool> {
    // A database without its configuration row is an interrupted load.
    Config::read(conn)?;
    let report = conditions(conn)?;
    let mut ok = true;
    for (n, c) in &report.0 {
        if c.violations == 0 {
            println!("consistency condition {n:2}: ok ({} checked)", c.checked);
        } else {
            ok = false;
            println!(
                "consistency condition {n:2}: FAILED, {} of {} — {}",
                c.violations,
                c.checked,
                c.examples.join("; ")
            );
        }
    }
    Ok(ok)
}

fn conditions(conn: &mut Conn) -> Result<Report> {
    // Every condition is listed, also one with nothing to look at.
    let mut r = Report::default();
    for n in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12] {
        r.0.insert(n, Condition::default());
    }
    type D = (i64, i64);
    let w_ytd: HashMap<i64, i64> = conn
        .query::<Row, _>("SELECT w_id, w_ytd FROM warehouse")?
        .iter()
        .map(|row| Ok((int(row, 0)?, cents(row, 1)?)))
        .collect::<Result<_>>()?;
    let mut d_ytd: HashMap<D, i64> = HashMap::new();
    let mut d_next: HashMap<D, i64> = HashMap::new();
    for row in conn.query::<Row, _>("SELECT d_w_id, d_id, d_ytd, d_next_o_id FROM district")? {
        let k = (int(&row, 0)?, int(&row, 1)?);
        d_ytd.insert(k, cents(&row, 2)?);
        d_next.insert(k, int(&row, 3)?);
    }
    // 1: W_YTD = sum(D_YTD).
    let mut sum_d: HashMap<i64, i64> = HashMap::new();
    for (&(w, _), &v) in &d_ytd {
        *sum_d.entry(w).or_default() += v;
    }
    for (&w, &v) in &w_ytd {
        let s = sum_d.get(&w).copied().unwrap_or(0);
        r.expect(1, v == s, || {
            format!("warehouse {w}: w_ytd {v} ≠ Σd_ytd {s} (cents)")
        });
    }

    // Orders: per district max(o_id) and Σo_ol_cnt; per order its customer, carrier, count.
    struct Order {
        c_id: i64,
        carrier: Option<i64>,
        ol_cnt: i64,
    }
    let mut orders: HashMap<(i64, i64, i64), Order> = HashMap::new();
    let mut max_o: HashMap<D, i64> = HashMap::new();
    let mut sum_ol_cnt: HashMap<D, i64> = HashMap::new();
    for row in conn.query::<Row, _>(
        "SELECT o_w_id, o_d_id, o_id, o_c_id, o_carrier_id, o_ol_cnt FROM orders",
    )? {
        let (w, d, o) = (int(&row, 0)?, int(&row, 1)?, int(&row, 2)?);
        let m = max_o.entry((w, d)).or_insert(o);
        *m = (*m).max(o);
        let ol_cnt = int(&row, 5)?;
        *sum_ol_cnt.entry((w, d)).or_default() += ol_cnt;
        orders.insert(
            (w, d, o),
            Order {
                c_id: int(&row, 3)?,
                carrier: opt_int(&row, 4)?,
                ol_cnt,
            },
        );
    }
    let mut new_orders: HashMap<D, Vec<i64>> = HashMap::new();
    for row in conn.query::<Row, _>("SELECT no_w_id, no_d_id, no_o_id FROM new_orders")? {
        new_orders
            .entry((int(&row, 0)?, int(&row, 1)?))
            .or_default()
            .push(int(&row, 2)?);
    }
    for (&(w, d), &next) in &d_next {
        let max_order = max_o.get(&(w, d)).copied().unwrap_or(0);
        let no = new_orders.get(&(w, d));
        let max_no = no.and_then(|v| v.iter().max().copied());
        // 2: D_NEXT_O_ID - 1 = max(O_ID) = max(NO_O_ID).
        r.expect(2,
            next - 1 == max_order && max_no.is_none_or(|m| m == max_order),
            || format!("district {w}/{d}: next {next}, max order {max_order}, max new-order {max_no:?}"),
        );
        // 3: max(NO_O_ID) - min(NO_O_ID) + 1 = count(NEW-ORDER).
        if let Some(v) = no {
            let (lo, hi) = (
                *v.iter().min().expect("non-empty"),
                *v.iter().max().expect("non-empty"),
            );
            r.expect(3, hi - lo + 1 == v.len() as i64, || {
                format!(
                    "district {w}/{d}: new orders {lo}..={hi} but {} rows",
                    v.len()
                )
            });
        }
    }

    // Order lines, grouped per order by the server.
    struct Lines {
        count: i64,
        undelivered: i64,
        delivered_cents: i64,
    }
    let mut lines: HashMap<(i64, i64, i64), Lines> = HashMap::new();
    let mut lines_per_district: HashMap<D, i64> = HashMap::new();
    for row in conn.query::<Row, _>(
        "SELECT ol_w_id, ol_d_id, ol_o_id, COUNT(*), \
         SUM(CASE WHEN ol_delivery_d IS NULL THEN 1 ELSE 0 END), \
         SUM(CASE WHEN ol_delivery_d IS NULL THEN 0 ELSE ol_amount END) \
         FROM order_line GROUP BY ol_w_id, ol_d_id, ol_o_id",
    )? {
        let k = (int(&row, 0)?, int(&row, 1)?, int(&row, 2)?);
        let count = int(&row, 3)?;
        *lines_per_district.entry((k.0, k.1)).or_default() += count;
        lines.insert(
            k,
            Lines {
                count,
                undelivered: int(&row, 4)?,
                delivered_cents: sum_cents(&row, 5)?,
            },
        );
    }
    // 4: Σ O_OL_CNT = count(ORDER-LINE) per district.
    for (&(w, d), &s) in &sum_ol_cnt {
        let n = lines_per_district.get(&(w, d)).copied().unwrap_or(0);
        r.expect(4, s == n, || {
            format!("district {w}/{d}: Σo_ol_cnt {s} but {n} order lines")
        });
    }
    let pending: std::collections::HashSet<(i64, i64, i64)> = new_orders
        .iter()
        .flat_map(|(&(w, d), v)| v.iter().map(move |&o| (w, d, o)))
        .collect();
    let mut delivered_per_customer: HashMap<(i64, i64, i64), i64> = HashMap::new();
    for (&(w, d, o), order) in &orders {
        // 5: O_CARRIER_ID is null exactly when a NEW-ORDER row exists.
        r.expect(
            5,
            order.carrier.is_none() == pending.contains(&(w, d, o)),
            || format!("order {w}/{d}/{o}: carrier {:?}", order.carrier),
        );
        let l = lines.get(&(w, d, o));
        // 6: O_OL_CNT = its order lines.
        let n = l.map_or(0, |l| l.count);
        r.expect(6, n == order.ol_cnt, || {
            format!("order {w}/{d}/{o}: o_ol_cnt {} but {n} lines", order.ol_cnt)
        });
        // 7: OL_DELIVERY_D null exactly when O_CARRIER_ID is.
        if let Some(l) = l {
            let want = if order.carrier.is_none() { l.count } else { 0 };
            r.expect(7, l.undelivered == want, || {
                format!(
                    "order {w}/{d}/{o}: carrier {:?}, {} of {} lines undelivered",
                    order.carrier, l.undelivered, l.count
                )
            });
            *delivered_per_customer
                .entry((w, d, order.c_id))
                .or_default() += l.delivered_cents;
        }
    }

    // History sums, grouped by the server three ways.
    let mut h_w: HashMap<i64, i64> = HashMap::new();
    for row in conn.query::<Row, _>("SELECT h_w_id, SUM(h_amount) FROM history GROUP BY h_w_id")? {
        h_w.insert(int(&row, 0)?, sum_cents(&row, 1)?);
    }
    for (&w, &v) in &w_ytd {
        let h = h_w.get(&w).copied().unwrap_or(0);
        r.expect(8, v == h, || {
            format!("warehouse {w}: w_ytd {v} ≠ Σh_amount {h} (cents)")
        });
    }
    let mut h_d: HashMap<D, i64> = HashMap::new();
    for row in conn.query::<Row, _>(
        "SELECT h_w_id, h_d_id, SUM(h_amount) FROM history GROUP BY h_w_id, h_d_id",
    )? {
        h_d.insert((int(&row, 0)?, int(&row, 1)?), sum_cents(&row, 2)?);
    }
    for (&(w, d), &v) in &d_ytd {
        let h = h_d.get(&(w, d)).copied().unwrap_or(0);
        r.expect(9, v == h, || {
            format!("district {w}/{d}: d_ytd {v} ≠ Σh_amount {h} (cents)")
        });
    }
    let mut h_c: HashMap<(i64, i64, i64), i64> = HashMap::new();
    for row in conn.query::<Row, _>(
        "SELECT h_c_w_id, h_c_d_id, h_c_id, SUM(h_amount) FROM history GROUP BY h_c_w_id, h_c_d_id, h_c_id",
    )? {
        h_c.insert((int(&row, 0)?, int(&row, 1)?, int(&row, 2)?), sum_cents(&row, 3)?);
    }
    for row in
        conn.query::<Row, _>("SELECT c_w_id, c_d_id, c_id, c_balance, c_ytd_payment FROM customer")?
    {
        let k = (int(&row, 0)?, int(&row, 1)?, int(&row, 2)?);
        let (balance, ytd) = (cents(&row, 3)?, cents(&row, 4)?);
        let delivered = delivered_per_customer.get(&k).copied().unwrap_or(0);
        let paid = h_c.get(&k).copied().unwrap_or(0);
        // 10: C_BALANCE = Σ delivered OL_AMOUNT - Σ H_AMOUNT.
        r.expect(10, balance == delivered - paid, || {
            format!(
                "customer {}/{}/{}: balance {balance}, delivered {delivered}, paid {paid} (cents)",
                k.0, k.1, k.2
            )
        });
        // 12: C_BALANCE + C_YTD_PAYMENT = Σ delivered OL_AMOUNT.
        r.expect(12, balance + ytd == delivered, || {
            format!(
                "customer {}/{}/{}: balance {balance} + ytd {ytd} ≠ delivered {delivered} (cents)",
                k.0, k.1, k.2
            )
        });
    }
    Ok(r)
}
