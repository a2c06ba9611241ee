//! Tables as DataFusion sees them: one catalog per query holding the tables the query names,
//! each scanned through the storage engine's Arrow scan at the query's snapshot (MemTables
//! and SSTables merged, the transaction's own writes included), with the projection pushed
//! into the scan and comparisons of leading primary-key columns with constants narrowing it
//! to a key range (DataFusion still applies every filter to what the range returns).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchOptions};
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::ExecutionPlan;
use reef_common::error;
use reef_sql::catalog::TableDef;
use reef_sql::datum::Datum;
use reef_sql::{primary_key_range, KeyBound, SqlError};
use reef_storage::mvcc::ReadCtx;
use reef_storage::scan::{ArrowScanRequest, KeyRange};
use reef_storage::tablet::{full_range, Tablet};

use crate::types::{datum_at, logical_batch, table_schema};

/// A ReefDB error carried through DataFusion.
pub fn external(e: SqlError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// One table at one snapshot.
#[derive(Debug)]
pub struct ReefTable {
    def: Arc<TableDef>,
    tablet: Arc<Tablet>,
    schema: SchemaRef,
    read: ReadCtx,
    interrupt: Interrupt,
}

/// The query's `KILL QUERY` flag.
type Interrupt = Option<Arc<std::sync::atomic::AtomicBool>>;

impl ReefTable {
    /// `def`'s rows in `tablet`, read at `read`; scans stop with 1317 once `interrupt` is
    /// raised (the next batch any operator asks for fails, so the whole plan stops).
    pub fn new(
        def: Arc<TableDef>,
        tablet: Arc<Tablet>,
        read: ReadCtx,
        interrupt: Interrupt,
    ) -> ReefTable {
        let schema = table_schema(&def);
        ReefTable {
            def,
            tablet,
            schema,
            read,
            interrupt,
        }
    }
}

#[async_trait]
impl TableProvider for ReefTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Every filter may narrow the scan; none is trusted to be exact, so DataFusion keeps
    /// applying them all.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let keys = self.key_range(filters).map_err(external)?;
        let projection: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.def.columns.len()).collect(),
        };
        let schema = Arc::new(self.schema.project(&projection)?);
        let part = ScanPartition {
            def: self.def.clone(),
            tablet: self.tablet.clone(),
            read: self.read.clone(),
            interrupt: self.interrupt.clone(),
            projection,
            schema: schema.clone(),
            keys,
        };
        Ok(Arc::new(StreamingTableExec::try_new(
            schema,
            vec![Arc::new(part)],
            None,
            vec![],
            false,
            limit,
        )?))
    }
}

impl ReefTable {
    /// The primary-key range `filters` confine this table's rows to: comparisons of a
    /// column with a numeric constant (`=`, `<`, `<=`, `>`, `>=`, `BETWEEN`) read as the
    /// OLTP planner reads them. Strings and temporal values are compared by collation and
    /// time zone rules DataFusion applies after the scan, so they never narrow it.
    fn key_range(&self, filters: &[Expr]) -> std::result::Result<KeyRange, SqlError> {
        let mut preds = Vec::new();
        for f in filters {
            self.key_predicates(f, &mut preds);
        }
        Ok(primary_key_range(&self.def, &preds)?.unwrap_or_else(full_range))
    }

    fn key_predicates(&self, e: &Expr, out: &mut Vec<(usize, KeyBound, Datum)>) {
        let slot = |e: &Expr| match e {
            Expr::Column(c) => self.schema.index_of(&c.name).ok(),
            _ => None,
        };
        let constant = |e: &Expr| match e {
            Expr::Literal(v, _) => v
                .to_array()
                .ok()
                .and_then(|a| datum_at(a.as_ref(), 0).ok())
                .filter(|d| {
                    matches!(
                        d,
                        Datum::Int(_) | Datum::UInt(_) | Datum::Decimal(_) | Datum::Double(_)
                    )
                }),
            _ => None,
        };
        match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) if *op == Operator::And => {
                self.key_predicates(left, out);
                self.key_predicates(right, out);
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                for (col, val, flipped) in [(left, right, false), (right, left, true)] {
                    let (Some(s), Some(d)) = (slot(col), constant(val)) else {
                        continue;
                    };
                    let how = match (op, flipped) {
                        (Operator::Eq, _) => KeyBound::Eq,
                        (Operator::Gt | Operator::GtEq, false)
                        | (Operator::Lt | Operator::LtEq, true) => KeyBound::AtLeast,
                        (Operator::Lt | Operator::LtEq, false)
                        | (Operator::Gt | Operator::GtEq, true) => KeyBound::AtMost,
                        _ => continue,
                    };
                    out.push((s, how, d));
                }
            }
            Expr::Between(b) if !b.negated => {
                if let (Some(s), Some(lo), Some(hi)) =
                    (slot(&b.expr), constant(&b.low), constant(&b.high))
                {
                    out.push((s, KeyBound::AtLeast, lo));
                    out.push((s, KeyBound::AtMost, hi));
                }
            }
            _ => {}
        }
    }
}

/// The stream of one table scan.
#[derive(Debug)]
struct ScanPartition {
    def: Arc<TableDef>,
    tablet: Arc<Tablet>,
    read: ReadCtx,
    interrupt: Interrupt,
    projection: Vec<usize>,
    schema: SchemaRef,
    /// The primary-key range the filters allow.
    keys: KeyRange,
}

impl PartitionStream for ScanPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        // A scan with no columns (COUNT(*)) reads the first column and keeps the counts.
        let slots = if self.projection.is_empty() {
            vec![0]
        } else {
            self.projection.clone()
        };
        let def = self.def.clone();
        let schema = self.schema.clone();
        let projection = self.projection.clone();
        let interrupt = self.interrupt.clone();
        let batches: Box<dyn Iterator<Item = Result<RecordBatch>> + Send> =
            match self.tablet.scan_arrow(
                ArrowScanRequest {
                    keys: self.keys.clone(),
                    ..ArrowScanRequest::all(slots.clone())
                },
                self.read.clone(),
            ) {
                Ok(scan) => Box::new(scan.map(move |b| {
                    if interrupt
                        .as_ref()
                        .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
                    {
                        return Err(external(SqlError::new(
                            reef_common::error::ER_QUERY_INTERRUPTED,
                            "Query execution was interrupted",
                        )));
                    }
                    let b = b.map_err(|e| external(SqlError::from(e)))?;
                    if projection.is_empty() {
                        RecordBatch::try_new_with_options(
                            schema.clone(),
                            vec![],
                            &RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
                        )
                        .map_err(DataFusionError::from)
                    } else {
                        logical_batch(&def, &slots, &schema, &b).map_err(external)
                    }
                })),
                Err(e) => Box::new(std::iter::once(Err(external(SqlError::from(e))))),
            };
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures::stream::iter(batches),
        ))
    }
}

/// The databases and tables one query names, resolved before planning.
#[derive(Debug, Default)]
pub struct QueryCatalog {
    schemas: HashMap<String, QuerySchema>,
}

impl QueryCatalog {
    /// Adds table `name` of database `db` (both as the query spells them, lower-cased).
    pub fn add(&mut self, db: &str, name: &str, table: Arc<dyn TableProvider>) {
        self.schemas
            .entry(db.to_lowercase())
            .or_insert_with(|| QuerySchema::new(db))
            .tables
            .insert(name.to_lowercase(), table);
    }
}

impl CatalogProvider for QueryCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.schemas.keys().cloned().collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        Some(match self.schemas.get(&name.to_lowercase()) {
            Some(s) => Arc::new(s.clone()),
            // A database the query names but the resolver did not find answers 1146 per table.
            None => Arc::new(QuerySchema::new(name)),
        })
    }
}

/// One database's tables in a [`QueryCatalog`].
#[derive(Debug, Clone)]
pub struct QuerySchema {
    db: String,
    tables: HashMap<String, Arc<dyn TableProvider>>,
}

impl QuerySchema {
    fn new(db: &str) -> QuerySchema {
        QuerySchema {
            db: db.to_string(),
            tables: HashMap::new(),
        }
    }
}

#[async_trait]
impl SchemaProvider for QuerySchema {
    fn table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if self.db.is_empty() {
            return Err(external(SqlError::new(
                error::ER_NO_DB_ERROR,
                "No database selected",
            )));
        }
        match self.tables.get(&name.to_lowercase()) {
            Some(t) => Ok(Some(t.clone())),
            None => Err(external(SqlError::new(
                error::ER_NO_SUCH_TABLE,
                format!("Table '{}.{name}' doesn't exist", self.db),
            ))),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.contains_key(&name.to_lowercase())
    }
}
