//! Column statistics for the mart's Delta scans.
//!
//! delta-rs' scan reports a table's row count but no column statistics (min, max, null count)
//! unless a filter names the column, so DataFusion cannot estimate a join: the facts joined to
//! two dimensions look like a few dozen rows, become the build side of a hash join, and the
//! dimension filters never reach the fact scan. The mart's tables are written by this program
//! with per-file statistics in their Delta log; [`statistics`] folds them into table statistics
//! (integer and date columns, partition values included), and [`StatsTable`] hands them to the
//! planner above delta-rs' scan, which is otherwise unchanged.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::{ColumnStatistics, Precision, Statistics};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableType;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::{CardinalityEffect, ReplaceChildrenOptions};
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterDescription, FilterPushdownPhase, FilterPushdownPropagation,
};
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use datafusion::scalar::ScalarValue;
use deltalake::DeltaTable;

use crate::error::Result;

/// Whether the Delta log's statistics of a column of this type are folded (integers and dates:
/// keys and the columns joins and filters use; string statistics are truncated prefixes).
fn folded(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Date32
    )
}

/// A statistic from the log (a JSON number, or the text of a date or partition value).
fn scalar(v: &serde_json::Value, t: &DataType) -> Option<ScalarValue> {
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    ScalarValue::try_from_string(text, t).ok()
}

/// Min, max and null count of one column so far; `None` once a file does not say.
#[derive(Clone, Default)]
struct Fold {
    min: Option<ScalarValue>,
    max: Option<ScalarValue>,
    nulls: usize,
}

impl Fold {
    fn add(mut self, min: Option<ScalarValue>, max: Option<ScalarValue>, nulls: usize) -> Self {
        if let Some(v) = min {
            self.min = Some(match self.min {
                Some(m) if m <= v => m,
                _ => v,
            });
        }
        if let Some(v) = max {
            self.max = Some(match self.max {
                Some(m) if m >= v => m,
                _ => v,
            });
        }
        self.nulls += nulls;
        self
    }

    fn column(self) -> ColumnStatistics {
        let exact = |v: Option<ScalarValue>| v.map_or(Precision::Absent, Precision::Exact);
        ColumnStatistics::new_unknown()
            .with_min_value(exact(self.min))
            .with_max_value(exact(self.max))
            .with_null_count(Precision::Exact(self.nulls))
    }
}

/// The table statistics of a Delta table's loaded version in the column order of `schema` (the
/// provider's): rows, bytes, and min, max and null count of its integer and date columns.
pub(super) fn statistics(table: &DeltaTable, schema: &SchemaRef) -> Result<Statistics> {
    let snapshot = table.snapshot()?;
    let partition_cols = snapshot.metadata().partition_columns().to_vec();
    let mut rows = Some(0usize);
    let mut bytes = 0usize;
    let mut folds: Vec<Option<Fold>> = schema
        .fields()
        .iter()
        .map(|f| folded(f.data_type()).then(Fold::default))
        .collect();
    for file in snapshot.log_data().iter() {
        bytes += file.size() as usize;
        let stats: serde_json::Value = file
            .stats()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        let n = stats["numRecords"].as_u64().map(|n| n as usize);
        rows = rows.zip(n).map(|(a, b)| a + b);
        let parts = file.partition_values_map();
        for (f, fold) in schema.fields().iter().zip(folds.iter_mut()) {
            let Some(acc) = fold.take() else { continue };
            let t = f.data_type();
            *fold = if partition_cols.contains(f.name()) {
                match parts.get(f.name()).cloned().flatten() {
                    Some(text) => {
                        let v = scalar(&serde_json::Value::String(text), t);
                        v.is_some().then(|| acc.add(v.clone(), v, 0))
                    }
                    None => n.map(|n| acc.add(None, None, n)),
                }
            } else {
                let nulls = stats["nullCount"][f.name()].as_u64().map(|v| v as usize);
                let min = scalar(&stats["minValues"][f.name()], t);
                let max = scalar(&stats["maxValues"][f.name()], t);
                match (n, nulls) {
                    // All null: no min or max to fold.
                    (Some(n), Some(z)) if z == n => Some(acc.add(None, None, z)),
                    (Some(_), Some(z)) if min.is_some() && max.is_some() => {
                        Some(acc.add(min, max, z))
                    }
                    _ => None,
                }
            };
        }
    }
    Ok(Statistics {
        num_rows: rows.map_or(Precision::Absent, Precision::Exact),
        total_byte_size: Precision::Inexact(bytes),
        column_statistics: folds
            .into_iter()
            .map(|f| f.map_or_else(ColumnStatistics::new_unknown, Fold::column))
            .collect(),
    })
}

/// A table provider that is `inner` with `stats` for the planner.
#[derive(Debug)]
pub(super) struct StatsTable {
    pub(super) inner: Arc<dyn TableProvider>,
    pub(super) stats: Statistics,
}

#[async_trait]
impl TableProvider for StatsTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let args = ScanArgs::default()
            .with_projection(projection.map(|p| p.as_slice()))
            .with_filters(Some(filters))
            .with_limit(limit);
        Ok(self.scan_with_args(state, args).await?.into_inner())
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> datafusion::error::Result<ScanResult> {
        let narrowed = args.filters().is_some_and(|f| !f.is_empty()) || args.limit().is_some();
        let plan = self.inner.scan_with_args(state, args).await?.into_inner();
        // The scan's columns by name (a provider may order or add columns as it likes).
        let schema = self.inner.schema();
        let columns: Option<Vec<ColumnStatistics>> = plan
            .schema()
            .fields()
            .iter()
            .map(|f| {
                let i = schema.index_of(f.name()).ok()?;
                Some(self.stats.column_statistics[i].clone())
            })
            .collect();
        let Some(column_statistics) = columns else {
            return Ok(plan.into());
        };
        let stats = Statistics {
            num_rows: self.stats.num_rows,
            total_byte_size: self.stats.total_byte_size,
            column_statistics,
        };
        let stats = if narrowed { stats.to_inexact() } else { stats };
        Ok(ScanResult::new(Arc::new(StatsExec {
            input: plan,
            stats: Arc::new(stats),
        })))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        Some(self.stats.clone())
    }
}

/// A scan with the table's statistics: passes rows, filters and properties through.
#[derive(Debug)]
struct StatsExec {
    input: Arc<dyn ExecutionPlan>,
    stats: Arc<Statistics>,
}

impl DisplayAs for StatsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "MartStatisticsExec: rows={:?}", self.stats.num_rows)
    }
}

#[expect(deprecated)]
impl ExecutionPlan for StatsExec {
    fn name(&self) -> &str {
        "MartStatisticsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> datafusion::error::Result<TreeNodeRecursion>,
    ) -> datafusion::error::Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(StatsExec {
            input: children.swap_remove(0),
            stats: Arc::clone(&self.stats),
        }))
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(StatsExec {
            input: children.swap_remove(0),
            stats: Arc::clone(&self.stats),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> datafusion::error::Result<Arc<Statistics>> {
        Ok(match args.partition() {
            None => Arc::clone(&self.stats),
            Some(_) => Arc::clone(&input_stats[0]),
        })
    }

    fn partition_statistics(
        &self,
        partition: Option<usize>,
    ) -> datafusion::error::Result<Arc<Statistics>> {
        match partition {
            None => Ok(Arc::clone(&self.stats)),
            Some(_) => self.input.partition_statistics(partition),
        }
    }

    fn cardinality_effect(&self) -> CardinalityEffect {
        CardinalityEffect::Equal
    }

    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> datafusion::error::Result<FilterDescription> {
        FilterDescription::from_children(parent_filters, &self.children())
    }

    fn handle_child_pushdown_result(
        &self,
        _phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> datafusion::error::Result<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        Ok(FilterPushdownPropagation::if_all(child_pushdown_result))
    }
}
