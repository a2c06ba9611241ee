//! The initial population (TPC-C 5.11 clause 4.3.3), loaded in parallel through multi-row
//! INSERTs: items first in chunks, then whole warehouses, each worker on its own connection.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use anyhow::{Context, Result};
use mysql::prelude::Queryable;
use mysql::Conn;
use rand::seq::SliceRandom;

use crate::gen::{format_fixed, last_name, Constants, Gen};
use crate::progress::Progress;
use crate::schema::{Config, Scale};
use crate::ConnArgs;

/// Rows per INSERT statement, and the most text one statement carries.
const BATCH_ROWS: usize = 200;
const BATCH_BYTES: usize = 256 * 1024;
const ITEM_CHUNK: u32 = 10_000;

#[derive(Clone, Copy, Debug)]
enum Job {
    Items { first: u32, last: u32 },
    Warehouse(u32),
}

/// A multi-row INSERT being filled.
struct Insert {
    head: String,
    sql: String,
    rows: usize,
}

impl Insert {
    fn new(table: &str, columns: &str) -> Insert {
        let head = format!("INSERT INTO {table} ({columns}) VALUES ");
        Insert {
            sql: head.clone(),
            head,
            rows: 0,
        }
    }

    fn row(&mut self, conn: &mut Conn, progress: &Progress, values: &str) -> Result<()> {
        if self.rows > 0 {
            self.sql.push_str(", ");
        }
        self.sql.push('(');
        self.sql.push_str(values);
        self.sql.push(')');
        self.rows += 1;
        if self.rows >= BATCH_ROWS || self.sql.len() >= BATCH_BYTES {
            self.flush(conn, progress)?;
        }
        Ok(())
    }

    fn flush(&mut self, conn: &mut Conn, progress: &Progress) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        conn.query_drop(&self.sql)
            .with_context(|| format!("{}… ({} rows)", self.head, self.rows))?;
        progress.add(self.rows as u64);
        self.sql.truncate(self.head.len());
        self.rows = 0;
        Ok(())
    }
}

/// A string literal. Generated text is alphanumeric, but quoting stays correct for any.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Two random upper-case letters.
fn state(g: &mut Gen) -> String {
    (0..2)
        .map(|_| (b'A' + g.number(0, 25) as u8) as char)
        .collect()
}

/// Street 1, street 2, city, state and zip, as SQL literals.
fn address(g: &mut Gen) -> String {
    let street_1 = g.a_string(10, 20);
    let street_2 = g.a_string(10, 20);
    let city = g.a_string(10, 20);
    let st = state(g);
    let zip = g.zip();
    format!(
        "{}, {}, {}, {}, {}",
        q(&street_1),
        q(&street_2),
        q(&city),
        q(&st),
        q(&zip)
    )
}

/// Creates the schema and loads `warehouses` warehouses with `threads` connections.
pub fn load(
    args: &ConnArgs,
    warehouses: u32,
    scale: Scale,
    threads: usize,
    seed: u64,
) -> Result<Config> {
    args.create_database()?;
    let mut conn = args.connect()?;
    crate::schema::create(&mut conn)?;
    let mut g = Gen::new(seed, Constants::for_load(&mut rand::rng()));
    let cfg = Config {
        warehouses,
        scale,
        c_load: Constants::for_load(g.rng()),
    };
    let mut jobs = VecDeque::new();
    let mut first = 1;
    while first <= scale.items {
        let last = (first + ITEM_CHUNK - 1).min(scale.items);
        jobs.push_back(Job::Items { first, last });
        first = last + 1;
    }
    jobs.extend((1..=warehouses).map(Job::Warehouse));
    // Each job draws from a generator seeded by the seed and the job's place in the list,
    // so the data is the same whichever loader thread takes which job.
    let jobs: VecDeque<(u64, Job)> = (1..).zip(jobs).collect();
    let total = u64::from(scale.items) + u64::from(warehouses) * scale.rows_per_warehouse();
    let progress = Progress::new("load", total);
    let jobs = Mutex::new(jobs);
    let failed = AtomicBool::new(false);
    let threads = threads.clamp(1, jobs.lock().expect("fresh").len());
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let reporter = s.spawn(|| progress.report());
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (jobs, progress, failed) = (&jobs, &progress, &failed);
                s.spawn(move || -> Result<()> {
                    let mut conn = args.connect()?;
                    loop {
                        if failed.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        let Some((n, job)) = jobs.lock().expect("no panics hold it").pop_front()
                        else {
                            return Ok(());
                        };
                        let mut g = Gen::new(
                            seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                            cfg.c_load,
                        );
                        let r = match job {
                            Job::Items { first, last } => {
                                load_items(&mut conn, &mut g, progress, first, last)
                            }
                            Job::Warehouse(w) => {
                                load_warehouse(&mut conn, &mut g, progress, scale, w)
                            }
                        };
                        if let Err(e) = r {
                            failed.store(true, Ordering::Relaxed);
                            return Err(e.context(format!("loading {job:?}")));
                        }
                    }
                })
            })
            .collect();
        let results = workers
            .into_iter()
            .map(|w| w.join().expect("loader threads do not panic"))
            .collect();
        progress.finish();
        reporter.join().expect("the reporter does not panic");
        results
    });
    for r in results {
        r?;
    }
    // Written last: a database without it is an interrupted load.
    cfg.store(&mut conn)?;
    Ok(cfg)
}

fn load_items(
    conn: &mut Conn,
    g: &mut Gen,
    progress: &Progress,
    first: u32,
    last: u32,
) -> Result<()> {
    let mut ins = Insert::new("item", "i_id, i_im_id, i_name, i_price, i_data");
    for i in first..=last {
        let row = format!(
            "{i}, {}, {}, {}, {}",
            g.number(1, 10_000),
            q(&g.a_string(14, 24)),
            g.decimal(100, 10_000, 2),
            q(&g.data_with_original())
        );
        ins.row(conn, progress, &row)?;
    }
    ins.flush(conn, progress)
}

fn load_warehouse(
    conn: &mut Conn,
    g: &mut Gen,
    progress: &Progress,
    scale: Scale,
    w: u32,
) -> Result<()> {
    let name = g.a_string(6, 10);
    // 300,000.00 at full scale: the initial history's 10.00 per customer (4.3.3.1).
    let ytd = format_fixed(1000 * i64::from(scale.districts * scale.customers), 2);
    let row = format!(
        "{w}, {}, {}, {}, {ytd}",
        q(&name),
        address(g),
        g.decimal(0, 2000, 4)
    );
    let mut ins = Insert::new(
        "warehouse",
        "w_id, w_name, w_street_1, w_street_2, w_city, w_state, w_zip, w_tax, w_ytd",
    );
    ins.row(conn, progress, &row)?;
    ins.flush(conn, progress)?;

    let mut stock = Insert::new(
        "stock",
        "s_i_id, s_w_id, s_quantity, s_dist_01, s_dist_02, s_dist_03, s_dist_04, s_dist_05, \
         s_dist_06, s_dist_07, s_dist_08, s_dist_09, s_dist_10, s_ytd, s_order_cnt, \
         s_remote_cnt, s_data",
    );
    for i in 1..=scale.items {
        let mut row = format!("{i}, {w}, {}", g.number(10, 100));
        for _ in 0..10 {
            row.push_str(", ");
            row.push_str(&q(&g.a_string(24, 24)));
        }
        row.push_str(&format!(", 0, 0, 0, {}", q(&g.data_with_original())));
        stock.row(conn, progress, &row)?;
    }
    stock.flush(conn, progress)?;

    for d in 1..=scale.districts {
        load_district(conn, g, progress, scale, w, d)?;
    }
    Ok(())
}

fn load_district(
    conn: &mut Conn,
    g: &mut Gen,
    progress: &Progress,
    scale: Scale,
    w: u32,
    d: u32,
) -> Result<()> {
    let mut district = Insert::new(
        "district",
        "d_id, d_w_id, d_name, d_street_1, d_street_2, d_city, d_state, d_zip, d_tax, d_ytd, \
         d_next_o_id",
    );
    let name = g.a_string(6, 10);
    let row = format!(
        "{d}, {w}, {}, {}, {}, {}, {}",
        q(&name),
        address(g),
        g.decimal(0, 2000, 4),
        format_fixed(1000 * i64::from(scale.customers), 2),
        scale.orders + 1
    );
    district.row(conn, progress, &row)?;
    district.flush(conn, progress)?;

    let mut customer = Insert::new(
        "customer",
        "c_id, c_d_id, c_w_id, c_first, c_middle, c_last, c_street_1, c_street_2, c_city, \
         c_state, c_zip, c_phone, c_since, c_credit, c_credit_lim, c_discount, c_balance, \
         c_ytd_payment, c_payment_cnt, c_delivery_cnt, c_data",
    );
    let mut history = Insert::new(
        "history",
        "h_c_id, h_c_d_id, h_c_w_id, h_d_id, h_w_id, h_date, h_amount, h_data",
    );
    for c in 1..=scale.customers {
        // The first 1,000 customers take each name once; the rest are drawn (4.3.3.1).
        let last = if c <= 1000 {
            last_name(c - 1)
        } else {
            last_name(g.nurand(255, 0, 999))
        };
        let first = g.a_string(8, 16);
        let addr = address(g);
        let phone = g.n_string(16, 16);
        let credit = if g.one_in(10) { "BC" } else { "GC" };
        let row = format!(
            "{c}, {d}, {w}, {}, 'OE', {}, {addr}, {}, NOW(), '{credit}', 50000.00, {}, -10.00, \
             10.00, 1, 0, {}",
            q(&first),
            q(&last),
            q(&phone),
            g.decimal(0, 5000, 4),
            q(&g.a_string(300, 500))
        );
        customer.row(conn, progress, &row)?;
        let row = format!(
            "{c}, {d}, {w}, {d}, {w}, NOW(), 10.00, {}",
            q(&g.a_string(12, 24))
        );
        history.row(conn, progress, &row)?;
    }
    customer.flush(conn, progress)?;
    history.flush(conn, progress)?;

    let mut orders = Insert::new(
        "orders",
        "o_id, o_d_id, o_w_id, o_c_id, o_entry_d, o_carrier_id, o_ol_cnt, o_all_local",
    );
    let mut lines = Insert::new(
        "order_line",
        "ol_o_id, ol_d_id, ol_w_id, ol_number, ol_i_id, ol_supply_w_id, ol_delivery_d, \
         ol_quantity, ol_amount, ol_dist_info",
    );
    let mut new_orders = Insert::new("new_orders", "no_o_id, no_d_id, no_w_id");
    // Every customer places one order, in a random order of customers.
    let mut customers: Vec<u32> = (1..=scale.customers).collect();
    customers.shuffle(g.rng());
    let fresh = scale.first_new_order();
    for o in 1..=scale.orders {
        let c = customers[(o - 1) as usize % customers.len()];
        let delivered = o < fresh;
        let carrier = if delivered {
            g.number(1, 10).to_string()
        } else {
            "NULL".into()
        };
        let count = g.number(5, 15);
        orders.row(
            conn,
            progress,
            &format!("{o}, {d}, {w}, {c}, NOW(), {carrier}, {count}, 1"),
        )?;
        for n in 1..=count {
            let (delivery, amount) = if delivered {
                ("NOW()", "0.00".to_string())
            } else {
                ("NULL", g.decimal(1, 999_999, 2))
            };
            let row = format!(
                "{o}, {d}, {w}, {n}, {}, {w}, {delivery}, 5, {amount}, {}",
                g.number(1, scale.items),
                q(&g.a_string(24, 24))
            );
            lines.row(conn, progress, &row)?;
        }
        if !delivered {
            new_orders.row(conn, progress, &format!("{o}, {d}, {w}"))?;
        }
    }
    orders.flush(conn, progress)?;
    lines.flush(conn, progress)?;
    new_orders.flush(conn, progress)
}
