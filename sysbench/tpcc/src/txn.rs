//! The five TPC-C transactions (TPC-C 5.11 clauses 2.4 to 2.8) as a terminal sends them:
//! server-side prepared statements inside `BEGIN ... COMMIT`, locking reads where the
//! transaction goes on to update the row. Inputs are drawn before the first attempt, so a
//! retry after a deadlock or lock-wait timeout resubmits the same business transaction.

use std::fmt;

use mysql::prelude::{FromRow, FromValue, Queryable};
use mysql::{Conn, Params, Row};

use crate::gen::{format_fixed, last_name, parse_fixed, Gen};
use crate::schema::Config;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    NewOrder,
    Payment,
    OrderStatus,
    Delivery,
    StockLevel,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::NewOrder,
        Kind::Payment,
        Kind::OrderStatus,
        Kind::Delivery,
        Kind::StockLevel,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::NewOrder => "New-Order",
            Kind::Payment => "Payment",
            Kind::OrderStatus => "Order-Status",
            Kind::Delivery => "Delivery",
            Kind::StockLevel => "Stock-Level",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Share of the mix, in percent: the minimums of clause 5.2.3 with New-Order taking
    /// the rest.
    pub fn weight(self) -> usize {
        match self {
            Kind::NewOrder => 45,
            Kind::Payment => 43,
            _ => 4,
        }
    }

    /// Keying time and mean think time in seconds (clause 5.2.5.7).
    pub fn keying_and_think(self) -> (f64, f64) {
        match self {
            Kind::NewOrder => (18.0, 12.0),
            Kind::Payment => (3.0, 12.0),
            Kind::OrderStatus => (2.0, 10.0),
            Kind::Delivery | Kind::StockLevel => (2.0, 5.0),
        }
    }

    /// The 90th-percentile response time the specification allows, in seconds (5.2.5.3).
    pub fn response_limit(self) -> f64 {
        match self {
            Kind::Delivery => 80.0,
            Kind::StockLevel => 20.0,
            _ => 5.0,
        }
    }
}

/// How a transaction that did not fail ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Done {
    Committed,
    /// The New-Order transactions that carry an unused item number roll back by design.
    RolledBack,
}

#[derive(Debug)]
pub enum TxnError {
    Db(mysql::Error),
    /// The database answered something the loaded data rules out.
    Invalid(String),
}

impl TxnError {
    /// Errors a MySQL application retries: deadlock, lock wait timeout, record changed.
    pub fn retryable(&self) -> bool {
        matches!(self, TxnError::Db(mysql::Error::MySqlError(e)) if matches!(e.code, 1213 | 1205 | 1020))
    }

    /// Whether the connection is gone and a new one is needed.
    pub fn connection_lost(&self) -> bool {
        matches!(
            self,
            TxnError::Db(mysql::Error::IoError(_) | mysql::Error::DriverError(_))
        )
    }

    /// A short key to group errors by: the MySQL code or the error's kind.
    pub fn key(&self) -> String {
        match self {
            TxnError::Db(mysql::Error::MySqlError(e)) => format!("{} ({})", e.code, e.state),
            TxnError::Db(mysql::Error::IoError(_)) => "I/O".into(),
            TxnError::Db(mysql::Error::DriverError(_)) => "driver".into(),
            TxnError::Db(_) => "client".into(),
            TxnError::Invalid(_) => "invalid data".into(),
        }
    }
}

impl fmt::Display for TxnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxnError::Db(e) => write!(f, "{e}"),
            TxnError::Invalid(m) => f.write_str(m),
        }
    }
}

impl From<mysql::Error> for TxnError {
    fn from(e: mysql::Error) -> Self {
        TxnError::Db(e)
    }
}

type Result<T> = std::result::Result<T, TxnError>;

/// Column `i` of a row, converted.
fn col<T: FromValue>(row: &Row, i: usize) -> Result<T> {
    match row.get_opt::<T, usize>(i) {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(TxnError::Invalid(format!("column {i}: {e}"))),
        None => Err(TxnError::Invalid(format!("no column {i}"))),
    }
}

/// A DECIMAL column as hundredths.
fn money(row: &Row, i: usize) -> Result<i64> {
    let text: String = col(row, i)?;
    parse_fixed(&text, 2).ok_or_else(|| TxnError::Invalid(format!("not an amount: {text}")))
}

fn missing(what: String) -> TxnError {
    TxnError::Invalid(format!("{what} is missing"))
}

/// The row a statement must find; `what` names it in the error when it is not there.
fn one<T: FromRow>(
    conn: &mut Conn,
    sql: &str,
    params: impl Into<Params>,
    what: impl FnOnce() -> String,
) -> Result<T> {
    conn.exec_first(sql, params)?.ok_or_else(|| missing(what()))
}

/// Hundredths as the DOUBLE parameter an `x = x + ?` update adds: exact once the server
/// stores the sum back into a DECIMAL(…,2) column.
fn amount_param(cents: i64) -> f64 {
    cents as f64 / 100.0
}

#[derive(Clone, Debug)]
pub enum Customer {
    ById(u32),
    ByName(String),
}

#[derive(Clone, Debug)]
pub struct OrderLine {
    pub i_id: u32,
    pub supply_w_id: u32,
    pub quantity: u32,
}

#[derive(Clone, Debug)]
pub enum Input {
    NewOrder {
        d_id: u32,
        c_id: u32,
        lines: Vec<OrderLine>,
    },
    Payment {
        d_id: u32,
        c_w_id: u32,
        c_d_id: u32,
        customer: Customer,
        cents: i64,
    },
    OrderStatus {
        d_id: u32,
        customer: Customer,
    },
    Delivery {
        carrier_id: u32,
    },
    StockLevel {
        threshold: u32,
    },
}

/// One emulated terminal: a connection, its home warehouse and district, and its random
/// source.
#[derive(Debug)]
pub struct Terminal {
    pub conn: Conn,
    pub gen: Gen,
    pub w_id: u32,
    pub d_id: u32,
    pub cfg: Config,
}

const STOCK_FOR_DISTRICT: [&str; 10] = [
    "SELECT s_quantity, s_data, s_dist_01 FROM stock WHERE s_i_id = ? AND s_w_id = ? FOR UPDATE",
    "SELECT s_quantity, s_data, s_dist_02 FROM stock WHERE s_i_id = ? AND s_w_id = ? FOR UPDATE",
    "SELECT s_quantity, s_data, s_dist_03 FROM stock WHERE s_i_id = ? AND s_w_id = ? FOR UPDATE",
    "SELECT s_quantity, s_data, s_dist_04 FROM stock WHERE s_i_id = ? AND s_w_id = ? FOR UPDATE",
    "SELECT s_quantity, s_data, s_dist_05 FROM stock WHERE s_i_id = ? AND s_w_id = ? FOR UPDATE",
    "SELECT s_quantity, s_data, s_dist_06 FROM stock WHERE s_i_id = ? AND s_w_id = ? FOR UPDATE",
    "SELECT s_quantity, s_data, s_dist_07 FROM stock WHERE s_i_id = ? AND s_w_id = ? FOR UPDATE",
    "SELECT s_quantity, s_data, s_dist_08 FROM stock WHERE s_i_id = ? AND s_w_id = ? FOR UPDATE",
    "SELECT s_quantity, s_data, s_dist_09 FROM stock WHERE s_i_id = ? AND s_w_id = ? FOR UPDATE",
    "SELECT s_quantity, s_data, s_dist_10 FROM stock WHERE s_i_id = ? AND s_w_id = ? FOR UPDATE",
];

impl Terminal {
    /// Another warehouse than the home one, uniformly (callers check there is one).
    fn remote_warehouse(&mut self) -> u32 {
        let w = self.gen.number(1, self.cfg.warehouses - 1);
        if w >= self.w_id {
            w + 1
        } else {
            w
        }
    }

    fn customer(&mut self) -> Customer {
        if self.gen.number(1, 100) <= 60 {
            let max = self.cfg.scale.last_name_max();
            Customer::ByName(last_name(self.gen.nurand(255, 0, max)))
        } else {
            Customer::ById(self.gen.nurand(1023, 1, self.cfg.scale.customers))
        }
    }

    /// Draws the input data of one transaction of `kind` (clauses 2.4.1, 2.5.1, 2.6.1,
    /// 2.7.1, 2.8.1).
    pub fn input(&mut self, kind: Kind) -> Input {
        let scale = self.cfg.scale;
        let remote_possible = self.cfg.warehouses > 1;
        match kind {
            Kind::NewOrder => {
                let d_id = self.gen.number(1, scale.districts);
                let c_id = self.gen.nurand(1023, 1, scale.customers);
                let count = self.gen.number(5, 15);
                let rollback = self.gen.one_in(100);
                let mut lines: Vec<OrderLine> = (0..count)
                    .map(|_| {
                        let supply_w_id = if remote_possible && self.gen.one_in(100) {
                            self.remote_warehouse()
                        } else {
                            self.w_id
                        };
                        OrderLine {
                            i_id: self.gen.nurand(8191, 1, scale.items),
                            supply_w_id,
                            quantity: self.gen.number(1, 10),
                        }
                    })
                    .collect();
                // Stock rows are locked in one global order, so New-Orders wait for each
                // other instead of deadlocking; the unused item stays last.
                lines.sort_by_key(|l| (l.supply_w_id, l.i_id));
                if rollback {
                    lines.last_mut().expect("five lines or more").i_id = scale.items + 1;
                }
                Input::NewOrder { d_id, c_id, lines }
            }
            Kind::Payment => {
                let d_id = self.gen.number(1, scale.districts);
                let (c_w_id, c_d_id) = if remote_possible && self.gen.number(1, 100) > 85 {
                    (self.remote_warehouse(), self.gen.number(1, scale.districts))
                } else {
                    (self.w_id, d_id)
                };
                Input::Payment {
                    d_id,
                    c_w_id,
                    c_d_id,
                    customer: self.customer(),
                    cents: i64::from(self.gen.number(100, 500_000)),
                }
            }
            Kind::OrderStatus => Input::OrderStatus {
                d_id: self.gen.number(1, scale.districts),
                customer: self.customer(),
            },
            Kind::Delivery => Input::Delivery {
                carrier_id: self.gen.number(1, 10),
            },
            Kind::StockLevel => Input::StockLevel {
                threshold: self.gen.number(10, 20),
            },
        }
    }

    /// Runs one transaction; on any error it is rolled back before the error returns.
    ///
    /// Under REPEATABLE READ a plain SELECT reads at the transaction's snapshot, which can be
    /// older than what a locking read just returned (Delivery's later districts, a customer
    /// another Payment changed): every read of a row the transaction goes on to change, or
    /// that must match a locked row, is a locking read.
    pub fn execute(&mut self, input: &Input) -> Result<Done> {
        self.conn.query_drop("BEGIN")?;
        let result = match input {
            Input::NewOrder { d_id, c_id, lines } => self.new_order(*d_id, *c_id, lines),
            Input::Payment {
                d_id,
                c_w_id,
                c_d_id,
                customer,
                cents,
            } => self.payment(*d_id, *c_w_id, *c_d_id, customer, *cents),
            Input::OrderStatus { d_id, customer } => self.order_status(*d_id, customer),
            Input::Delivery { carrier_id } => self.delivery(*carrier_id),
            Input::StockLevel { threshold } => self.stock_level(*threshold),
        };
        match result {
            Ok(Done::Committed) => {
                self.conn.query_drop("COMMIT")?;
                Ok(Done::Committed)
            }
            Ok(Done::RolledBack) => {
                self.conn.query_drop("ROLLBACK")?;
                Ok(Done::RolledBack)
            }
            Err(e) => {
                if !e.connection_lost() {
                    // A failed rollback leaves a broken connection; the next statement says so.
                    let _ = self.conn.query_drop("ROLLBACK");
                }
                Err(e)
            }
        }
    }

    /// New-Order. The values the terminal would display (taxes, discount, brand-generic
    /// flags, the order total) are read as the clause reads them but not computed: the
    /// driver has no screen.
    fn new_order(&mut self, d_id: u32, c_id: u32, lines: &[OrderLine]) -> Result<Done> {
        let w_id = self.w_id;
        let c = &mut self.conn;
        one::<Row>(
            c,
            "SELECT w_tax FROM warehouse WHERE w_id = ?",
            (w_id,),
            || format!("warehouse {w_id}"),
        )?;
        let d: Row = one(
            c,
            "SELECT d_tax, d_next_o_id FROM district WHERE d_w_id = ? AND d_id = ? FOR UPDATE",
            (w_id, d_id),
            || format!("district {w_id}/{d_id}"),
        )?;
        let o_id: u32 = col(&d, 1)?;
        c.exec_drop(
            "UPDATE district SET d_next_o_id = ? WHERE d_w_id = ? AND d_id = ?",
            (o_id + 1, w_id, d_id),
        )?;
        one::<Row>(
            c,
            "SELECT c_discount, c_last, c_credit FROM customer WHERE c_w_id = ? AND c_d_id = ? AND c_id = ?",
            (w_id, d_id, c_id),
            || format!("customer {w_id}/{d_id}/{c_id}"),
        )?;
        let all_local = lines.iter().all(|l| l.supply_w_id == w_id);
        c.exec_drop(
            "INSERT INTO orders (o_id, o_d_id, o_w_id, o_c_id, o_entry_d, o_ol_cnt, o_all_local) VALUES (?, ?, ?, ?, NOW(), ?, ?)",
            (o_id, d_id, w_id, c_id, lines.len(), u8::from(all_local)),
        )?;
        c.exec_drop(
            "INSERT INTO new_orders (no_o_id, no_d_id, no_w_id) VALUES (?, ?, ?)",
            (o_id, d_id, w_id),
        )?;
        for (number, line) in lines.iter().enumerate() {
            let Some(item) = c.exec_first::<Row, _, _>(
                "SELECT i_price, i_name, i_data FROM item WHERE i_id = ?",
                (line.i_id,),
            )?
            else {
                // "Item number is not valid": the whole order rolls back (clause 2.4.2.3).
                return Ok(Done::RolledBack);
            };
            let price = money(&item, 0)?;
            let stock: Row = one(
                c,
                STOCK_FOR_DISTRICT[(d_id - 1) as usize % 10],
                (line.i_id, line.supply_w_id),
                || format!("stock {}/{}", line.supply_w_id, line.i_id),
            )?;
            let s_quantity: i64 = col(&stock, 0)?;
            let dist_info: String = col(&stock, 2)?;
            let q = i64::from(line.quantity);
            let new_quantity = if s_quantity >= q + 10 {
                s_quantity - q
            } else {
                s_quantity - q + 91
            };
            let remote = u8::from(line.supply_w_id != w_id);
            c.exec_drop(
                "UPDATE stock SET s_quantity = ?, s_ytd = s_ytd + ?, s_order_cnt = s_order_cnt + 1, s_remote_cnt = s_remote_cnt + ? WHERE s_i_id = ? AND s_w_id = ?",
                (new_quantity, line.quantity, remote, line.i_id, line.supply_w_id),
            )?;
            c.exec_drop(
                "INSERT INTO order_line (ol_o_id, ol_d_id, ol_w_id, ol_number, ol_i_id, ol_supply_w_id, ol_quantity, ol_amount, ol_dist_info) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    o_id,
                    d_id,
                    w_id,
                    number + 1,
                    line.i_id,
                    line.supply_w_id,
                    line.quantity,
                    format_fixed(q * price, 2),
                    dist_info,
                ),
            )?;
        }
        Ok(Done::Committed)
    }

    /// The customer a by-name lookup picks: the one at position ⌈n/2⌉ by first name
    /// (clause 2.5.2.2).
    fn customer_id(&mut self, w_id: u32, d_id: u32, customer: &Customer) -> Result<u32> {
        match customer {
            Customer::ById(id) => Ok(*id),
            Customer::ByName(name) => {
                let ids: Vec<u32> = self.conn.exec(
                    "SELECT c_id FROM customer WHERE c_w_id = ? AND c_d_id = ? AND c_last = ? ORDER BY c_first",
                    (w_id, d_id, name),
                )?;
                if ids.is_empty() {
                    return Err(missing(format!("customer named {name} in {w_id}/{d_id}")));
                }
                Ok(ids[(ids.len() - 1) / 2])
            }
        }
    }

    fn payment(
        &mut self,
        d_id: u32,
        c_w_id: u32,
        c_d_id: u32,
        customer: &Customer,
        cents: i64,
    ) -> Result<Done> {
        let w_id = self.w_id;
        let amount = amount_param(cents);
        self.conn.exec_drop(
            "UPDATE warehouse SET w_ytd = w_ytd + ? WHERE w_id = ?",
            (amount, w_id),
        )?;
        let w: Row = one(&mut self.conn, "SELECT w_name, w_street_1, w_street_2, w_city, w_state, w_zip FROM warehouse WHERE w_id = ?", (w_id,), || format!("warehouse {w_id}"))?;
        let w_name: String = col(&w, 0)?;
        self.conn.exec_drop(
            "UPDATE district SET d_ytd = d_ytd + ? WHERE d_w_id = ? AND d_id = ?",
            (amount, w_id, d_id),
        )?;
        let d: Row = one(&mut self.conn, "SELECT d_name, d_street_1, d_street_2, d_city, d_state, d_zip FROM district WHERE d_w_id = ? AND d_id = ?", (w_id, d_id), || format!("district {w_id}/{d_id}"))?;
        let d_name: String = col(&d, 0)?;
        let c_id = self.customer_id(c_w_id, c_d_id, customer)?;
        let cust: Row = one(&mut self.conn, "SELECT c_first, c_middle, c_last, c_street_1, c_street_2, c_city, c_state, c_zip, c_phone, c_since, c_credit, c_credit_lim, c_discount, c_balance FROM customer WHERE c_w_id = ? AND c_d_id = ? AND c_id = ? FOR UPDATE", (c_w_id, c_d_id, c_id), || format!("customer {c_w_id}/{c_d_id}/{c_id}"))?;
        let credit: String = col(&cust, 10)?;
        if credit == "BC" {
            let data: String = one(&mut self.conn, "SELECT c_data FROM customer WHERE c_w_id = ? AND c_d_id = ? AND c_id = ? FOR UPDATE", (c_w_id, c_d_id, c_id), || format!("customer {c_w_id}/{c_d_id}/{c_id}"))?;
            let mut new_data = format!(
                "{c_id} {c_d_id} {c_w_id} {d_id} {w_id} {} | {data}",
                format_fixed(cents, 2)
            );
            new_data.truncate(500);
            self.conn.exec_drop(
                "UPDATE customer SET c_balance = c_balance - ?, c_ytd_payment = c_ytd_payment + ?, c_payment_cnt = c_payment_cnt + 1, c_data = ? WHERE c_w_id = ? AND c_d_id = ? AND c_id = ?",
                (amount, amount, new_data, c_w_id, c_d_id, c_id),
            )?;
        } else {
            self.conn.exec_drop(
                "UPDATE customer SET c_balance = c_balance - ?, c_ytd_payment = c_ytd_payment + ?, c_payment_cnt = c_payment_cnt + 1 WHERE c_w_id = ? AND c_d_id = ? AND c_id = ?",
                (amount, amount, c_w_id, c_d_id, c_id),
            )?;
        }
        let mut h_data = format!("{w_name}    {d_name}");
        h_data.truncate(24);
        self.conn.exec_drop(
            "INSERT INTO history (h_c_id, h_c_d_id, h_c_w_id, h_d_id, h_w_id, h_date, h_amount, h_data) VALUES (?, ?, ?, ?, ?, NOW(), ?, ?)",
            (c_id, c_d_id, c_w_id, d_id, w_id, format_fixed(cents, 2), h_data),
        )?;
        Ok(Done::Committed)
    }

    fn order_status(&mut self, d_id: u32, customer: &Customer) -> Result<Done> {
        let w_id = self.w_id;
        let c_id = self.customer_id(w_id, d_id, customer)?;
        one::<Row>(&mut self.conn, "SELECT c_balance, c_first, c_middle, c_last FROM customer WHERE c_w_id = ? AND c_d_id = ? AND c_id = ?", (w_id, d_id, c_id), || format!("customer {w_id}/{d_id}/{c_id}"))?;
        let order: Row = one(&mut self.conn, "SELECT o_id, o_entry_d, o_carrier_id FROM orders WHERE o_w_id = ? AND o_d_id = ? AND o_c_id = ? ORDER BY o_id DESC LIMIT 1", (w_id, d_id, c_id), || format!("an order of customer {w_id}/{d_id}/{c_id}"))?;
        let o_id: u32 = col(&order, 0)?;
        let lines: Vec<Row> = self.conn.exec(
            "SELECT ol_i_id, ol_supply_w_id, ol_quantity, ol_amount, ol_delivery_d FROM order_line WHERE ol_w_id = ? AND ol_d_id = ? AND ol_o_id = ?",
            (w_id, d_id, o_id),
        )?;
        if lines.is_empty() {
            return Err(missing(format!("order lines of {w_id}/{d_id}/{o_id}")));
        }
        Ok(Done::Committed)
    }

    /// Delivers the oldest undelivered order of every district of the home warehouse, in
    /// one database transaction (clause 2.7.4).
    fn delivery(&mut self, carrier_id: u32) -> Result<Done> {
        let w_id = self.w_id;
        for d_id in 1..=self.cfg.scale.districts {
            let Some(o_id) = self.conn.exec_first::<u32, _, _>(
                "SELECT no_o_id FROM new_orders WHERE no_w_id = ? AND no_d_id = ? ORDER BY no_o_id LIMIT 1 FOR UPDATE",
                (w_id, d_id),
            )?
            else {
                // No outstanding order in this district: skipped, as the clause allows.
                continue;
            };
            self.conn.exec_drop(
                "DELETE FROM new_orders WHERE no_w_id = ? AND no_d_id = ? AND no_o_id = ?",
                (w_id, d_id, o_id),
            )?;
            let c_id: u32 = one(
                &mut self.conn,
                "SELECT o_c_id FROM orders WHERE o_w_id = ? AND o_d_id = ? AND o_id = ? FOR UPDATE",
                (w_id, d_id, o_id),
                || format!("order {w_id}/{d_id}/{o_id}"),
            )?;
            self.conn.exec_drop(
                "UPDATE orders SET o_carrier_id = ? WHERE o_w_id = ? AND o_d_id = ? AND o_id = ?",
                (carrier_id, w_id, d_id, o_id),
            )?;
            self.conn.exec_drop(
                "UPDATE order_line SET ol_delivery_d = NOW() WHERE ol_w_id = ? AND ol_d_id = ? AND ol_o_id = ?",
                (w_id, d_id, o_id),
            )?;
            let sum: Row = one(&mut self.conn, "SELECT SUM(ol_amount) FROM order_line WHERE ol_w_id = ? AND ol_d_id = ? AND ol_o_id = ?", (w_id, d_id, o_id), || format!("order lines of {w_id}/{d_id}/{o_id}"))?;
            let sum: Option<String> = col(&sum, 0)?;
            let cents = sum
                .as_deref()
                .and_then(|s| parse_fixed(s, 2))
                .ok_or_else(|| missing(format!("order lines of {w_id}/{d_id}/{o_id}")))?;
            self.conn.exec_drop(
                "UPDATE customer SET c_balance = c_balance + ?, c_delivery_cnt = c_delivery_cnt + 1 WHERE c_w_id = ? AND c_d_id = ? AND c_id = ?",
                (amount_param(cents), w_id, d_id, c_id),
            )?;
        }
        Ok(Done::Committed)
    }

    fn stock_level(&mut self, threshold: u32) -> Result<Done> {
        let (w_id, d_id) = (self.w_id, self.d_id);
        let next: u32 = one(
            &mut self.conn,
            "SELECT d_next_o_id FROM district WHERE d_w_id = ? AND d_id = ?",
            (w_id, d_id),
            || format!("district {w_id}/{d_id}"),
        )?;
        // The count is the terminal's to show; the driver has no screen.
        self.conn.exec_drop(
            "SELECT COUNT(DISTINCT s_i_id) FROM order_line, stock WHERE ol_w_id = ? AND ol_d_id = ? AND ol_o_id < ? AND ol_o_id >= ? AND s_w_id = ? AND s_i_id = ol_i_id AND s_quantity < ?",
            (w_id, d_id, next, next.saturating_sub(20), w_id, threshold),
        )?;
        Ok(Done::Committed)
    }
}
