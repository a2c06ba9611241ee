//! The nine TPC-C tables (TPC-C 5.11 clause 1.3) with the two secondary indexes every
//! implementation adds (customer by last name, orders by customer), and the scale of a
//! loaded database.

use anyhow::{bail, Context, Result};
use mysql::prelude::Queryable;
use mysql::Conn;

/// How many rows a warehouse holds. `FULL` is the specification's; `TINY` keeps every
/// relation and ratio at a fraction of the size, for smoke tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    pub items: u32,
    pub districts: u32,
    /// Customers per district.
    pub customers: u32,
    /// Orders per district at load time (one per customer).
    pub orders: u32,
}

impl Scale {
    pub const FULL: Scale = Scale {
        items: 100_000,
        districts: 10,
        customers: 3_000,
        orders: 3_000,
    };
    pub const TINY: Scale = Scale {
        items: 1_000,
        districts: 10,
        customers: 30,
        orders: 30,
    };

    /// The first order id loaded undelivered: the last 900 of 3,000 orders (clause 4.3.3.1).
    pub fn first_new_order(&self) -> u32 {
        self.orders - self.orders * 900 / 3000 + 1
    }

    /// Customer last names are numbered 0..=this.
    pub fn last_name_max(&self) -> u32 {
        999.min(self.customers - 1)
    }

    /// Rows one warehouse adds at load time (order lines counted at their mean of 10).
    pub fn rows_per_warehouse(&self) -> u64 {
        let new_orders = u64::from(self.orders - self.first_new_order() + 1);
        let per_district =
            1 + 2 * u64::from(self.customers) + 11 * u64::from(self.orders) + new_orders;
        1 + u64::from(self.items) + u64::from(self.districts) * per_district
    }
}

pub const TABLES: [&str; 10] = [
    "tpcc_config",
    "warehouse",
    "district",
    "customer",
    "history",
    "new_orders",
    "orders",
    "order_line",
    "item",
    "stock",
];

const DDL: [&str; 10] = [
    "CREATE TABLE tpcc_config (cfg_name VARCHAR(32) NOT NULL PRIMARY KEY, cfg_value BIGINT NOT NULL)",
    "CREATE TABLE warehouse (
        w_id INT NOT NULL, w_name VARCHAR(10), w_street_1 VARCHAR(20), w_street_2 VARCHAR(20),
        w_city VARCHAR(20), w_state CHAR(2), w_zip CHAR(9), w_tax DECIMAL(4,4), w_ytd DECIMAL(12,2),
        PRIMARY KEY (w_id))",
    "CREATE TABLE district (
        d_id TINYINT NOT NULL, d_w_id INT NOT NULL, d_name VARCHAR(10), d_street_1 VARCHAR(20),
        d_street_2 VARCHAR(20), d_city VARCHAR(20), d_state CHAR(2), d_zip CHAR(9),
        d_tax DECIMAL(4,4), d_ytd DECIMAL(12,2), d_next_o_id INT,
        PRIMARY KEY (d_w_id, d_id))",
    "CREATE TABLE customer (
        c_id INT NOT NULL, c_d_id TINYINT NOT NULL, c_w_id INT NOT NULL, c_first VARCHAR(16),
        c_middle CHAR(2), c_last VARCHAR(16), c_street_1 VARCHAR(20), c_street_2 VARCHAR(20),
        c_city VARCHAR(20), c_state CHAR(2), c_zip CHAR(9), c_phone CHAR(16), c_since DATETIME,
        c_credit CHAR(2), c_credit_lim DECIMAL(12,2), c_discount DECIMAL(4,4),
        c_balance DECIMAL(12,2), c_ytd_payment DECIMAL(12,2), c_payment_cnt SMALLINT,
        c_delivery_cnt SMALLINT, c_data VARCHAR(500),
        PRIMARY KEY (c_w_id, c_d_id, c_id),
        KEY idx_customer_name (c_w_id, c_d_id, c_last, c_first))",
    "CREATE TABLE history (
        h_c_id INT, h_c_d_id TINYINT, h_c_w_id INT, h_d_id TINYINT, h_w_id INT, h_date DATETIME,
        h_amount DECIMAL(6,2), h_data VARCHAR(24))",
    "CREATE TABLE new_orders (
        no_o_id INT NOT NULL, no_d_id TINYINT NOT NULL, no_w_id INT NOT NULL,
        PRIMARY KEY (no_w_id, no_d_id, no_o_id))",
    "CREATE TABLE orders (
        o_id INT NOT NULL, o_d_id TINYINT NOT NULL, o_w_id INT NOT NULL, o_c_id INT,
        o_entry_d DATETIME, o_carrier_id TINYINT, o_ol_cnt TINYINT, o_all_local TINYINT,
        PRIMARY KEY (o_w_id, o_d_id, o_id),
        KEY idx_orders_customer (o_w_id, o_d_id, o_c_id, o_id))",
    "CREATE TABLE order_line (
        ol_o_id INT NOT NULL, ol_d_id TINYINT NOT NULL, ol_w_id INT NOT NULL,
        ol_number TINYINT NOT NULL, ol_i_id INT, ol_supply_w_id INT, ol_delivery_d DATETIME,
        ol_quantity TINYINT, ol_amount DECIMAL(6,2), ol_dist_info CHAR(24),
        PRIMARY KEY (ol_w_id, ol_d_id, ol_o_id, ol_number))",
    "CREATE TABLE item (
        i_id INT NOT NULL, i_im_id INT, i_name VARCHAR(24), i_price DECIMAL(5,2), i_data VARCHAR(50),
        PRIMARY KEY (i_id))",
    "CREATE TABLE stock (
        s_i_id INT NOT NULL, s_w_id INT NOT NULL, s_quantity SMALLINT,
        s_dist_01 CHAR(24), s_dist_02 CHAR(24), s_dist_03 CHAR(24), s_dist_04 CHAR(24),
        s_dist_05 CHAR(24), s_dist_06 CHAR(24), s_dist_07 CHAR(24), s_dist_08 CHAR(24),
        s_dist_09 CHAR(24), s_dist_10 CHAR(24), s_ytd DECIMAL(8,0), s_order_cnt SMALLINT,
        s_remote_cnt SMALLINT, s_data VARCHAR(50),
        PRIMARY KEY (s_w_id, s_i_id))",
];

/// Drops whatever TPC-C tables exist and creates them empty.
pub fn create(conn: &mut Conn) -> Result<()> {
    for table in TABLES {
        conn.query_drop(format!("DROP TABLE IF EXISTS {table}"))
            .with_context(|| format!("dropping {table}"))?;
    }
    for (table, ddl) in TABLES.iter().zip(DDL) {
        conn.query_drop(ddl)
            .with_context(|| format!("creating {table}"))?;
    }
    Ok(())
}

/// What a loaded database records about itself, so runs and checks need no flags.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub warehouses: u32,
    pub scale: Scale,
    pub c_load: crate::gen::Constants,
}

impl Config {
    pub fn store(&self, conn: &mut Conn) -> Result<()> {
        let pairs = [
            ("warehouses", self.warehouses),
            ("items", self.scale.items),
            ("districts", self.scale.districts),
            ("customers", self.scale.customers),
            ("orders", self.scale.orders),
            ("c_last_load", self.c_load.c_last),
            ("c_id_load", self.c_load.c_id),
            ("ol_i_id_load", self.c_load.ol_i_id),
        ];
        let values: Vec<String> = pairs.iter().map(|(k, v)| format!("('{k}', {v})")).collect();
        conn.query_drop(format!(
            "INSERT INTO tpcc_config (cfg_name, cfg_value) VALUES {}",
            values.join(", ")
        ))?;
        Ok(())
    }

    pub fn read(conn: &mut Conn) -> Result<Config> {
        let rows: Vec<(String, i64)> = conn
            .query("SELECT cfg_name, cfg_value FROM tpcc_config")
            .context("reading tpcc_config: is the database loaded (`tpcc load`)?")?;
        let get = |name: &str| -> Result<u32> {
            match rows.iter().find(|(k, _)| k == name) {
                Some((_, v)) => Ok(u32::try_from(*v)?),
                None => bail!("tpcc_config has no {name}: load the database again"),
            }
        };
        Ok(Config {
            warehouses: get("warehouses")?,
            scale: Scale {
                items: get("items")?,
                districts: get("districts")?,
                customers: get("customers")?,
                orders: get("orders")?,
            },
            c_load: crate::gen::Constants {
                c_last: get("c_last_load")?,
                c_id: get("c_id_load")?,
                ol_i_id: get("ol_i_id_load")?,
            },
        })
    }
}
