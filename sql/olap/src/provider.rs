//! Tables as DataFusion sees them: one catalog per query holding the tables the query names,
//! each scanned through the storage engine's Arrow scan at the query's snapshot (MemTables
//! and SSTables merged, the transaction's own writes included), with the projection pushed
//! into the scan and comparisons of leading primary-key columns with constants narrowing it
//! to a key range (DataFusion still applies every filter to what the range returns).

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{Arc, OnceLock};

use arrow_array::{RecordBatch, RecordBatchOptions};
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use datafusion::arrow::compute::BatchCoalescer;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{
    Constraint, Constraints, DataFusionError, Result, ScalarValue, Statistics,
};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterPushdownPhase, FilterPushdownPropagation,
};
use datafusion::physical_plan::limit::LimitStream;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    apply_expression_roots, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning,
    PlanProperties, StatisticsArgs,
};
use reef_common::error;
use reef_common::types::ColumnType;
use reef_sql::catalog::TableDef;
use reef_sql::datum::Datum;
use reef_sql::{primary_key_range, KeyBound, SqlError};
use reef_storage::mvcc::ReadCtx;
use reef_storage::scan::{
    bound_key, intersect, point_of, ArrowScan, ArrowScanRequest, ColumnRange, KeyRange,
};
use reef_storage::tablet::{full_range, Tablet};

use crate::join_filter::{allowed_now, bound_of, scalar_datum, Allowed, Predicate};
use crate::types::{logical_batch, table_schema};

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
    /// The primary key, so DataFusion knows what it determines (functional dependencies).
    constraints: Constraints,
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
        let constraints = Constraints::new_unverified(if def.pk.is_empty() {
            Vec::new()
        } else {
            vec![Constraint::PrimaryKey(def.pk.clone())]
        });
        ReefTable {
            constraints,
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

    fn constraints(&self) -> Option<&Constraints> {
        Some(&self.constraints)
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
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut preds = Vec::new();
        for f in filters {
            self.predicates(f, &mut preds);
        }
        let keys = key_range(&self.def, &preds).map_err(external)?;
        let (ranges, ranges_shown) = self.column_ranges(&preds);
        let projection: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.def.columns.len()).collect(),
        };
        let schema = Arc::new(self.schema.project(&projection)?);
        // One partition per part of the key range, cut on macroblock boundaries, so
        // DataFusion reads (and filters, and aggregates) them on its threads in parallel.
        let cuts = self
            .tablet
            .split_keys(&keys, state.config().target_partitions());
        let mut starts = vec![keys.0.clone()];
        starts.extend(cuts.iter().map(|c| Bound::Included(c.clone())));
        let mut ends: Vec<Bound<Vec<u8>>> = cuts.into_iter().map(Bound::Excluded).collect();
        ends.push(keys.1.clone());
        let parts = starts
            .into_iter()
            .zip(ends)
            .map(|keys| ScanPartition {
                def: self.def.clone(),
                tablet: self.tablet.clone(),
                read: self.read.clone(),
                interrupt: self.interrupt.clone(),
                projection: projection.clone(),
                schema: schema.clone(),
                keys,
                ranges: ranges.clone(),
                join: None,
                rows: OnceLock::new(),
                int_ranges: OnceLock::new(),
            })
            .collect();
        Ok(Arc::new(ReefScanExec::new(
            ScanShape {
                table: self.def.name.clone(),
                schema,
                key_range: keys != full_range(),
                ranges: ranges_shown,
                limit,
                preds,
                join_filters: Vec::new(),
            },
            parts,
        )))
    }
}

impl ReefTable {
    /// Min/max ranges the scan skips microblocks by, with how EXPLAIN shows them: bounds on
    /// integer, DECIMAL (up to 18 digits), DATE and DATETIME columns by constants of the
    /// column's own class, in its
    /// stored form (so they compare as the microblock statistics do). Other comparisons
    /// (strings under collations, wider decimals, floats, time-zone-bound TIMESTAMPs) are left to
    /// DataFusion's filter. A bound that does not convert exactly is dropped, never bent.
    fn column_ranges(&self, preds: &[Predicate]) -> (Vec<ColumnRange>, Vec<String>) {
        // Per column: the range, and the constants of its bounds as EXPLAIN shows them.
        let mut ranges: Vec<(ColumnRange, Option<String>, Option<String>)> = Vec::new();
        for (slot, how, d) in preds {
            let column = &self.def.columns[*slot];
            let fits = match (&column.ty, d) {
                (ColumnType::Int { .. }, Datum::Int(_) | Datum::UInt(_))
                | (ColumnType::Date, Datum::Date(_))
                | (ColumnType::DateTime { .. }, Datum::DateTime(_)) => true,
                // DECIMAL stored as its scaled integer: statistics are integers too.
                (
                    ty @ ColumnType::Decimal { .. },
                    Datum::Int(_) | Datum::UInt(_) | Datum::Decimal(_),
                ) => ty.scaled_decimal().is_some(),
                _ => false,
            };
            let Some(v) = fits
                .then(|| d.to_stored(&column.ty, &column.name).ok())
                .flatten()
            else {
                continue;
            };
            // A constant with more fractional digits than the column rounds when stored:
            // that bound is dropped, never bent.
            if Datum::from_stored(&v, &column.ty).compare(d) != Some(std::cmp::Ordering::Equal) {
                continue;
            }
            let at = match ranges.iter().position(|r| r.0.slot == *slot) {
                Some(at) => at,
                None => {
                    let empty = ColumnRange {
                        slot: *slot,
                        min: None,
                        max: None,
                    };
                    ranges.push((empty, None, None));
                    ranges.len() - 1
                }
            };
            let (r, lo, hi) = &mut ranges[at];
            if matches!(how, KeyBound::Eq | KeyBound::AtLeast) {
                r.min = Some(v.clone());
                *lo = d.to_text();
            }
            if matches!(how, KeyBound::Eq | KeyBound::AtMost) {
                r.max = Some(v);
                *hi = d.to_text();
            }
        }
        let shown = ranges
            .iter()
            .map(|(r, lo, hi)| {
                let name = &self.def.columns[r.slot].name;
                match (lo, hi) {
                    (Some(lo), Some(hi)) => format!("{lo} <= {name} <= {hi}"),
                    (Some(lo), None) => format!("{name} >= {lo}"),
                    (None, Some(hi)) => format!("{name} <= {hi}"),
                    (None, None) => name.clone(),
                }
            })
            .collect();
        (ranges.into_iter().map(|r| r.0).collect(), shown)
    }

    /// Collects `column op constant` comparisons from the conjuncts of `e`.
    fn predicates(&self, e: &Expr, out: &mut Vec<Predicate>) {
        let slot = |e: &Expr| match e {
            Expr::Column(c) => self.schema.index_of(&c.name).ok(),
            _ => None,
        };
        let constant = |e: &Expr| match e {
            Expr::Literal(v, _) => scalar_datum(v),
            _ => None,
        };
        match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) if *op == Operator::And => {
                self.predicates(left, out);
                self.predicates(right, out);
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                for (col, val, flipped) in [(left, right, false), (right, left, true)] {
                    let (Some(s), Some(d)) = (slot(col), constant(val)) else {
                        continue;
                    };
                    let Some(how) = bound_of(op, flipped) else {
                        continue;
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

/// The primary-key range the predicates confine `def`'s rows to: comparisons of a column
/// with a numeric constant read as the OLTP planner reads them. Strings and temporal values
/// are compared by collation and time zone rules DataFusion applies after the scan, so they
/// never narrow it.
fn key_range(def: &TableDef, preds: &[Predicate]) -> std::result::Result<KeyRange, SqlError> {
    let numeric: Vec<Predicate> = preds
        .iter()
        .filter(|(_, _, d)| narrows_keys(d))
        .cloned()
        .collect();
    Ok(primary_key_range(def, &numeric)?.unwrap_or_else(full_range))
}

/// Whether a comparison with `d` may narrow a scan's key range: numeric constants only.
fn narrows_keys(d: &Datum) -> bool {
    matches!(
        d,
        Datum::Int(_) | Datum::UInt(_) | Datum::Decimal(_) | Datum::Double(_)
    )
}

/// Whether `plan` is a short query: its scans read fewer than [`FEW_ROWS`] rows by the
/// tablets' estimates, or, when a scan is the probe side of a hash join whose filter fixes
/// the next primary-key column (one point or prefix read per build-side key), the other
/// scans read fewer than [`FEW_BUILD_ROWS`]. Other leaves (information_schema's tables,
/// constants) are small.
pub fn reads_few_rows(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let mut rows = 0u64;
    let mut keyed = false;
    let mut stack = vec![plan];
    while let Some(node) = stack.pop() {
        if let Some(scan) = node.downcast_ref::<ReefScanExec>() {
            if scan.join_keyed() {
                keyed = true;
            } else {
                rows += scan.estimated_rows(FEW_ROWS - rows);
                if rows >= FEW_ROWS {
                    return false;
                }
            }
        }
        stack.extend(node.children());
    }
    rows < if keyed { FEW_BUILD_ROWS } else { FEW_ROWS }
}

/// Rows a short query reads at most, as the OLTP planner's bound for analytical reads.
const FEW_ROWS: u64 = 10_000;

/// Rows the other scans of a short query that reads by join keys read at most: a build
/// side past the join's key set ([`crate::JOIN_KEY_SET_MAX`] keys) would no longer narrow
/// the probe to key reads.
const FEW_BUILD_ROWS: u64 = crate::JOIN_KEY_SET_MAX as u64;

/// The scan of one table: one partition per part of its key range, each an Arrow scan of
/// the storage engine at the query's snapshot with the projection, the key range and the
/// min/max ranges pushed down.
#[derive(Debug)]
struct ReefScanExec {
    shape: ScanShape,
    parts: Vec<Arc<ScanPartition>>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

/// What a table scan reads, apart from its partitions.
#[derive(Debug, Clone)]
struct ScanShape {
    table: String,
    schema: SchemaRef,
    /// Whether the filters narrowed the primary-key range.
    key_range: bool,
    /// The min/max ranges, as EXPLAIN shows them.
    ranges: Vec<String>,
    limit: Option<usize>,
    /// The filters' `column op constant` predicates the key range came from.
    preds: Vec<Predicate>,
    /// Dynamic filters of the hash joins this scan is the probe side of.
    join_filters: Vec<Arc<dyn PhysicalExpr>>,
}

impl ReefScanExec {
    fn new(shape: ScanShape, parts: Vec<ScanPartition>) -> ReefScanExec {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(shape.schema.clone()),
            Partitioning::UnknownPartitioning(parts.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        ReefScanExec {
            shape,
            parts: parts.into_iter().map(Arc::new).collect(),
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The rows this scan reads by the tablet's estimate, counted up to `enough` (a part
    /// whose statistics the optimizer has asked for answers with those instead).
    fn estimated_rows(&self, enough: u64) -> u64 {
        let mut rows = 0;
        for p in &self.parts {
            rows += match p.rows.get() {
                Some(&counted) => counted,
                None => p.tablet.rows_in(&p.keys, enough.saturating_sub(rows)),
            };
            if rows >= enough {
                break;
            }
        }
        rows
    }

    /// Whether a join filter of this scan is on the primary-key column after those its own
    /// equalities fix (as [`key_range`] reads them), so it reads one key range per build-side key.
    fn join_keyed(&self) -> bool {
        let Some(def) = self.parts.first().map(|p| &p.def) else {
            return false;
        };
        let fixed = def
            .pk
            .iter()
            .take_while(|slot| {
                self.shape
                    .preds
                    .iter()
                    .any(|(s, how, d)| s == *slot && *how == KeyBound::Eq && narrows_keys(d))
            })
            .count();
        let Some(next) = def.pk.get(fixed) else {
            return false;
        };
        let projection = &self.parts[0].projection;
        self.shape.join_filters.iter().any(|f| {
            f.children().iter().any(|c| {
                c.downcast_ref::<datafusion::physical_expr::expressions::Column>()
                    .and_then(|c| projection.get(c.index()))
                    == Some(next)
            })
        })
    }

    /// This scan, also narrowed by the hash joins' dynamic `filters` when it runs.
    fn with_join_filters(&self, filters: Vec<Arc<dyn PhysicalExpr>>) -> ReefScanExec {
        let mut shape = self.shape.clone();
        shape.join_filters.extend(filters);
        let join = Arc::new(JoinFilters {
            filters: shape.join_filters.clone(),
            preds: shape.preds.clone(),
        });
        let parts = self
            .parts
            .iter()
            .map(|p| ScanPartition {
                join: Some(join.clone()),
                ..ScanPartition::clone(p)
            })
            .collect();
        ReefScanExec::new(shape, parts)
    }
}

impl DisplayAs for ReefScanExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let shape = &self.shape;
        let columns: Vec<&str> = shape
            .schema
            .fields()
            .iter()
            .map(|c| c.name().as_str())
            .collect();
        write!(
            f,
            "ReefScanExec: table={}, partitions={}, projection=[{}], keys={}",
            shape.table,
            self.parts.len(),
            columns.join(", "),
            if shape.key_range { "range" } else { "all" }
        )?;
        if !shape.ranges.is_empty() {
            write!(f, ", min_max=[{}]", shape.ranges.join(", "))?;
        }
        if !shape.join_filters.is_empty() {
            // Each join's filter as it is now: empty when planned, the build side's keys
            // after a run (EXPLAIN ANALYZE).
            let filters: Vec<String> = shape.join_filters.iter().map(|e| e.to_string()).collect();
            write!(f, ", join_filter=[{}]", filters.join(", "))?;
        }
        if let Some(limit) = shape.limit {
            write!(f, ", limit={limit}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for ReefScanExec {
    fn name(&self) -> &str {
        "ReefScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    /// The join filters: a hash join computes its dynamic filter only when a node under it
    /// holds it.
    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        apply_expression_roots(&self.shape.join_filters, f)
    }

    /// Takes the hash joins' dynamic filters (the scan reads them as key ranges when it
    /// starts) and leaves every filter to be applied above, as before.
    fn handle_child_pushdown_result(
        &self,
        _phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        let filters: Vec<Arc<dyn PhysicalExpr>> = child_pushdown_result
            .parent_filters
            .iter()
            .map(|f| Arc::clone(&f.filter))
            .filter(|f| f.downcast_ref::<DynamicFilterPhysicalExpr>().is_some())
            .collect();
        let result = FilterPushdownPropagation::all_unsupported(child_pushdown_result);
        Ok(if filters.is_empty() {
            result
        } else {
            result.with_updated_node(Arc::new(self.with_join_filters(filters)))
        })
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "a table scan has no children to replace".to_string(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        _ctx: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let part = self
            .parts
            .get(partition)
            .ok_or_else(|| DataFusionError::Internal(format!("no scan partition {partition}")))?;
        let counts = ScanCounts::new(&self.metrics, partition);
        // A limit smaller than a batch need not wait for a whole batch.
        let batch_rows = self.shape.limit.unwrap_or(BATCH_ROWS).clamp(1, BATCH_ROWS);
        let stream = part.stream(counts, batch_rows);
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        Ok(Box::pin(LimitStream::new(
            stream,
            0,
            self.shape.limit,
            baseline,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    /// The estimated rows of one part or of all, so DataFusion's join selection builds
    /// hash tables on the smaller side and collects a small one whole instead of
    /// repartitioning both sides (without statistics it keeps the order the query names
    /// the tables in). Rows, and the range of each BIGINT-like and DATE column (from the
    /// SSTables' microblock statistics), from which DataFusion estimates how many rows a
    /// join on it yields (rows × rows / the larger range) and a range filter on it keeps, so
    /// a join's estimate is not unknown and a semi join builds on its smaller side (TPC-H
    /// Q18's IN subquery). No byte sizes
    /// (every scan's estimate is then compared in rows), and all Inexact.
    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let rows: u64 = match args.partition() {
            Some(i) => self
                .parts
                .get(i)
                .ok_or_else(|| DataFusionError::Internal(format!("no scan partition {i}")))?
                .estimated_rows(),
            None => self.parts.iter().map(|p| p.estimated_rows()).sum(),
        };
        let rows = usize::try_from(rows).unwrap_or(usize::MAX);
        let rows = match self.shape.limit {
            Some(limit) => rows.min(limit),
            None => rows,
        };
        let mut stats = Statistics::new_unknown(&self.shape.schema);
        stats.num_rows = Precision::Inexact(rows);
        let parts: Vec<&Arc<ScanPartition>> = match args.partition() {
            Some(i) => self.parts.get(i).into_iter().collect(),
            None => self.parts.iter().collect(),
        };
        let days = reef_common::value::PackedDays::new();
        for (i, column) in stats.column_statistics.iter_mut().enumerate() {
            // Stored integers as the column shows them: BIGINT-like ones as they are, DATEs
            // (packed, in date order) as day counts.
            let shown = |v: i64| match self.shape.schema.field(i).data_type() {
                arrow_schema::DataType::Int64 => Some(ScalarValue::Int64(Some(v))),
                arrow_schema::DataType::Date32 => i32::try_from(days.days(v))
                    .ok()
                    .map(|d| ScalarValue::Date32(Some(d))),
                _ => None,
            };
            let range = parts
                .iter()
                .filter_map(|p| p.int_ranges().get(i).copied().flatten())
                .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)));
            if let Some((Some(lo), Some(hi))) = range.map(|(lo, hi)| (shown(lo), shown(hi))) {
                column.min_value = Precision::Inexact(lo);
                column.max_value = Precision::Inexact(hi);
            }
        }
        Ok(Arc::new(stats))
    }
}

/// The stream of one part of a table scan.
#[derive(Debug, Clone)]
struct ScanPartition {
    def: Arc<TableDef>,
    tablet: Arc<Tablet>,
    read: ReadCtx,
    interrupt: Interrupt,
    projection: Vec<usize>,
    schema: SchemaRef,
    /// The part of the primary-key range the filters allow that this partition reads.
    keys: KeyRange,
    /// Min/max ranges for skipping microblocks.
    ranges: Vec<ColumnRange>,
    /// The dynamic filters of the hash joins above, read when the scan starts.
    join: Option<Arc<JoinFilters>>,
    /// The rows this part reads by the tablet's estimate, worked out when the optimizer
    /// first asks.
    rows: OnceLock<u64>,
    /// The smallest and largest stored integer of each projected column (BIGINT-like
    /// and packed DATE ones) in the part's SSTables, worked out when the optimizer first
    /// asks.
    int_ranges: OnceLock<Vec<Option<(i64, i64)>>>,
}

/// The dynamic filters of the hash joins a scan is the probe side of, with the scan's own
/// predicates they narrow further.
#[derive(Debug)]
struct JoinFilters {
    filters: Vec<Arc<dyn PhysicalExpr>>,
    preds: Vec<Predicate>,
}

impl ScanPartition {
    /// The smallest and largest stored integer of each projected column, by the index of
    /// the SSTable microblocks the part meets ([`Tablet::sstable_int_ranges`]).
    fn int_ranges(&self) -> &[Option<(i64, i64)>] {
        self.int_ranges
            .get_or_init(|| self.tablet.sstable_int_ranges(&self.keys, &self.projection))
    }

    /// The rows this part reads by the tablet's estimate ([`Tablet::estimated_rows_in`]):
    /// SSTable rows from the index, MemTable keys counted while few.
    fn estimated_rows(&self) -> u64 {
        *self
            .rows
            .get_or_init(|| self.tablet.estimated_rows_in(&self.keys))
    }

    /// The batches of this part, of about `batch_rows` rows each, counted into `counts`.
    /// Nothing is read before the first batch is asked for: a hash join asks for its probe
    /// side once its build side is read, so by then its dynamic filter holds the build
    /// side's keys.
    fn stream(
        self: &Arc<Self>,
        counts: ScanCounts,
        batch_rows: usize,
    ) -> SendableRecordBatchStream {
        let part = Arc::clone(self);
        let batches = std::iter::once_with(move || part.batches(counts, batch_rows)).flatten();
        // The scan computes each batch inside `poll_next` and is always ready, so the task
        // driving it would never give its worker back: a task DataFusion spawned meanwhile
        // (another partition's) waits in the worker's LIFO slot, which the other workers
        // cannot steal from, and the query runs on one thread. Yielding after every few
        // batches puts this task back in the queue, where an idle worker takes one of them.
        let batches = futures::stream::unfold((batches, 0usize), |(mut it, n)| async move {
            if n > 0 && n % YIELD_EVERY_BATCHES == 0 {
                tokio::task::yield_now().await;
            }
            it.next().map(|b| (b, (it, n + 1)))
        });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), batches))
    }

    fn batches(
        self: &Arc<Self>,
        counts: ScanCounts,
        batch_rows: usize,
    ) -> Box<dyn Iterator<Item = Result<RecordBatch>> + Send> {
        // A scan with no columns (COUNT(*)) reads the first column and keeps the counts.
        let slots = if self.projection.is_empty() {
            vec![0]
        } else {
            self.projection.clone()
        };
        let key_ranges = self.key_ranges();
        if self.join.is_some() {
            counts.key_ranges.add(key_ranges.len());
        }
        let points: Option<Vec<&[u8]>> = match self.join {
            Some(_) => key_ranges.iter().map(point_of).collect(),
            None => None,
        };
        if let Some(points) = points {
            // Build-side keys that complete the primary key: point reads, not scans.
            let batches: Vec<Result<RecordBatch>> = points
                .chunks(batch_rows.max(1))
                .map(|keys| {
                    let b = self
                        .tablet
                        .get_arrow(keys, &slots, &self.read)
                        .map_err(|e| external(SqlError::from(e)))?;
                    self.logical(&slots, b)
                })
                .filter(|b| !b.as_ref().is_ok_and(|b| b.num_rows() == 0))
                .collect();
            return Box::new(batches.into_iter());
        }
        let mut scans = Vec::with_capacity(key_ranges.len());
        for keys in key_ranges {
            let request = ArrowScanRequest {
                keys,
                ranges: self.ranges.clone(),
                ..ArrowScanRequest::all(slots.clone())
            };
            match self.tablet.scan_arrow(request, self.read.clone()) {
                Ok(scan) => scans.push(scan),
                Err(e) => return Box::new(std::iter::once(Err(external(SqlError::from(e))))),
            }
        }
        let Some(physical) = scans.first().map(ArrowScan::schema) else {
            return Box::new(std::iter::empty());
        };
        let storage = scans
            .into_iter()
            .flat_map(move |scan| Counted {
                scan,
                counts: counts.clone(),
            })
            .map(|b| b.map_err(|e| external(SqlError::from(e))));
        let part = Arc::clone(self);
        Box::new(
            Coalesced::new(storage, physical, batch_rows).map(move |b| part.logical(&slots, b?)),
        )
    }

    /// A batch of stored columns (`slots`) as this part's logical batch, unless the query
    /// has been interrupted.
    fn logical(&self, slots: &[usize], b: RecordBatch) -> Result<RecordBatch> {
        if self
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
        {
            return Err(external(SqlError::new(
                reef_common::error::ER_QUERY_INTERRUPTED,
                "Query execution was interrupted",
            )));
        }
        if self.projection.is_empty() {
            RecordBatch::try_new_with_options(
                self.schema.clone(),
                vec![],
                &RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
            )
            .map_err(DataFusionError::from)
        } else {
            logical_batch(&self.def, slots, &self.schema, &b).map_err(external)
        }
    }

    /// The key ranges this part reads: its own, or, under hash joins, the ranges their
    /// filters leave of it now: one per build-side key when the keys fix a primary-key
    /// column (in key order), none when the build side is empty.
    fn key_ranges(&self) -> Vec<KeyRange> {
        let Some(join) = &self.join else {
            return vec![self.keys.clone()];
        };
        let slot_of = |i: usize| self.projection.get(i).copied();
        let mut preds = join.preds.clone();
        let mut values = None;
        for f in &join.filters {
            match allowed_now(f, &slot_of) {
                Allowed::Nothing => return Vec::new(),
                Allowed::Rows {
                    preds: p,
                    values: v,
                } => {
                    preds.extend(p);
                    values = values.or(v);
                }
            }
        }
        // A bound that does not convert to a key narrows nothing.
        let Ok(base) = key_range(&self.def, &preds) else {
            return vec![self.keys.clone()];
        };
        let mut ranges = vec![base.clone()];
        if let Some((slot, values)) = values {
            let each: Option<Vec<KeyRange>> = values
                .into_iter()
                .map(|v| {
                    let mut p = preds.clone();
                    p.push((slot, KeyBound::Eq, v));
                    key_range(&self.def, &p).ok()
                })
                .collect();
            // Keys that narrow nothing (the column is not next in the primary key) would
            // read the same range once per key.
            if let Some(each) = each.filter(|each| !each.contains(&base)) {
                ranges = each;
                ranges.sort_by(|a, b| bound_key(&a.0).cmp(bound_key(&b.0)));
                ranges.dedup();
            }
        }
        ranges
            .iter()
            .filter_map(|r| intersect(r, &self.keys))
            .collect()
    }
}

/// Batches a scan partition hands DataFusion between two yields to the runtime.
const YIELD_EVERY_BATCHES: usize = 2;

/// Rows per batch the scan hands DataFusion. The scan's fast path yields one batch per
/// microblock (about fifty rows on TPC-H's lineitem), and every operator above pays per
/// batch.
const BATCH_ROWS: usize = 8192;

/// Joins consecutive small batches into batches of `rows` rows with arrow's
/// `BatchCoalescer` (a batch already that large, with nothing buffered, passes through).
struct Coalesced<I> {
    inner: I,
    coalescer: BatchCoalescer,
    finished: bool,
}

impl<I> Coalesced<I> {
    fn new(inner: I, schema: SchemaRef, rows: usize) -> Coalesced<I> {
        Coalesced {
            inner,
            coalescer: BatchCoalescer::new(schema, rows)
                .with_biggest_coalesce_batch_size(Some(rows)),
            finished: false,
        }
    }
}

impl<I: Iterator<Item = Result<RecordBatch>>> Iterator for Coalesced<I> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(b) = self.coalescer.next_completed_batch() {
                return Some(Ok(b));
            }
            if self.finished {
                return None;
            }
            let pushed = match self.inner.next() {
                Some(Ok(b)) => self.coalescer.push_batch(b),
                Some(Err(e)) => return Some(Err(e)),
                None => {
                    self.finished = true;
                    self.coalescer.finish_buffered_batch()
                }
            };
            if let Err(e) = pushed {
                return Some(Err(e.into()));
            }
        }
    }
}

/// An Arrow scan that reports, when it is dropped (finished or cut short by a limit), how
/// it read: microblocks min/max skipped, microblocks sliced whole into batches (the fast
/// path), and rows that went through the merge of MemTables and overlapping SSTables.
struct Counted {
    scan: ArrowScan,
    counts: ScanCounts,
}

/// The scan's EXPLAIN ANALYZE counters for one partition.
#[derive(Clone)]
struct ScanCounts {
    pruned: Count,
    sliced: Count,
    merged: Count,
    /// Microblocks sliced with MemTable versions laid over them, and the MemTable rows
    /// emitted beside them.
    patched: Count,
    rows_patched: Count,
    /// Key ranges read under hash joins' dynamic filters.
    key_ranges: Count,
    /// Microblock columns the column cache served, and those decoded from disk.
    columns_cached: Count,
    columns_decoded: Count,
}

impl ScanCounts {
    fn new(metrics: &ExecutionPlanMetricsSet, partition: usize) -> ScanCounts {
        let count = |name| MetricBuilder::new(metrics).counter(name, partition);
        ScanCounts {
            pruned: count("microblocks_pruned"),
            sliced: count("microblocks_sliced"),
            merged: count("rows_merged"),
            patched: count("microblocks_patched"),
            rows_patched: count("rows_patched"),
            key_ranges: count("join_key_ranges"),
            columns_cached: count("columns_cached"),
            columns_decoded: count("columns_decoded"),
        }
    }
}

impl Iterator for Counted {
    type Item = reef_storage::Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.scan.next()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let stats = self.scan.stats();
        self.counts.pruned.add(stats.blocks_pruned as usize);
        self.counts.sliced.add(stats.blocks_sliced as usize);
        self.counts.merged.add(stats.rows_merged as usize);
        self.counts.patched.add(stats.blocks_patched as usize);
        self.counts.rows_patched.add(stats.rows_patched as usize);
        self.counts
            .columns_cached
            .add(stats.columns_cached as usize);
        self.counts
            .columns_decoded
            .add(stats.columns_decoded as usize);
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Int64Array};

    fn schema() -> SchemaRef {
        Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "v",
            arrow_schema::DataType::Int64,
            false,
        )]))
    }

    fn batch(values: std::ops::Range<i64>) -> Result<RecordBatch> {
        let array = Int64Array::from_iter_values(values);
        Ok(RecordBatch::try_new(schema(), vec![Arc::new(array)])?)
    }

    #[test]
    fn small_batches_are_joined_in_order_and_large_ones_pass() {
        let input = vec![batch(0..3), batch(3..6), batch(6..16), batch(16..17)];
        let out: Vec<RecordBatch> = Coalesced::new(input.into_iter(), schema(), 5)
            .collect::<Result<_>>()
            .unwrap();
        let sizes: Vec<usize> = out.iter().map(|b| b.num_rows()).collect();
        assert_eq!(sizes, [5, 5, 5, 2]);
        let values: Vec<i64> = out
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                (0..a.len()).map(|i| a.value(i)).collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(values, (0..17).collect::<Vec<_>>());
        // Nothing buffered: a full batch passes through whole.
        let out: Vec<RecordBatch> = Coalesced::new(vec![batch(0..12)].into_iter(), schema(), 5)
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(out.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), [12]);
    }

    #[test]
    fn an_error_passes_through() {
        let input = vec![
            batch(0..2),
            Err(DataFusionError::Internal("disk".into())),
            batch(2..4),
        ];
        let out: Vec<Result<RecordBatch>> =
            Coalesced::new(input.into_iter(), schema(), 100).collect();
        assert!(matches!(out[0], Err(DataFusionError::Internal(_))));
        let rows: usize = out[1..]
            .iter()
            .map(|b| b.as_ref().unwrap().num_rows())
            .sum();
        assert_eq!(rows, 4);
    }
}
