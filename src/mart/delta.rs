//! Reading and committing the mart's Delta tables.
//!
//! Every write is one Delta commit carrying an application transaction (`txn`) with the ETL
//! batch's sequence number. A table whose recorded transaction version is already at or past
//! the batch's number has this batch's write, so a rerun after a crash skips it: that is what
//! makes a resumed load converge to the same mart as an uninterrupted one.

use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use deltalake::datafile::writer::{DeltaWriter, WriterConfig};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder, ensure_table_uri};

use super::schema::{self, MartTable};
use crate::error::{Error, Result};

/// Application id of the ETL's Delta transactions.
pub const ETL_APP_ID: &str = "crm-mart-etl";

/// How a commit changes a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Add rows.
    Append,
    /// Replace the table's contents (the old version stays readable by time travel).
    Overwrite,
}

/// A mart directory: one Delta table per sub-directory.
#[derive(Debug, Clone)]
pub struct Mart {
    root: PathBuf,
}

impl Mart {
    /// The mart at `root` (need not exist yet).
    pub fn new(root: &Path) -> Self {
        Mart {
            root: root.to_path_buf(),
        }
    }

    /// The mart's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory of table `name`.
    pub fn table_dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Whether table `name` exists (has a Delta log).
    pub fn has_table(&self, name: &str) -> bool {
        self.table_dir(name).join("_delta_log").is_dir()
    }

    /// Opens table `name`, or None if it does not exist yet.
    pub async fn open(&self, name: &str) -> Result<Option<DeltaTable>> {
        if !self.has_table(name) {
            return Ok(None);
        }
        let dir = self.table_dir(name);
        let url = ensure_table_uri(dir.to_string_lossy())?;
        let table = DeltaTable::try_from_url(url).await?;
        Ok(table.version().map(|_| table))
    }

    /// Current Delta version of table `name`.
    pub async fn version(&self, name: &str) -> Result<Option<i64>> {
        Ok(self
            .open(name)
            .await?
            .and_then(|t| t.version())
            .map(|v| v as i64))
    }

    /// All rows of table `name` (none if it does not exist).
    pub async fn read(&self, name: &str) -> Result<Vec<RecordBatch>> {
        self.query(name, &format!("SELECT * FROM {name}")).await
    }

    /// Runs `sql` over table `name` registered under its own name.
    pub async fn query(&self, name: &str, sql: &str) -> Result<Vec<RecordBatch>> {
        let Some(table) = self.open(name).await? else {
            return Ok(Vec::new());
        };
        let ctx = SessionContext::new();
        table.update_datafusion_session(&ctx.state())?;
        let provider = table.table_provider().await?;
        ctx.register_table(name, provider)?;
        Ok(ctx.sql(sql).await?.collect().await?)
    }

    /// Rows of `table` (None when it does not exist).
    pub async fn row_count(&self, table: MartTable) -> Result<Option<i64>> {
        let name = table.name();
        let batches = self
            .query(name, &format!("SELECT count(*) FROM {name}"))
            .await?;
        let Some(b) = batches.first() else {
            return Ok(None);
        };
        let c = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Int64)?;
        let c = c.as_any().downcast_ref::<arrow::array::Int64Array>();
        Ok(c.filter(|c| !c.is_empty()).map(|c| c.value(0)))
    }

    /// Whether table `name` already has batch `seq`'s write.
    pub async fn has_batch(&self, name: &str, seq: i64) -> Result<bool> {
        let Some(table) = self.open(name).await? else {
            return Ok(false);
        };
        let done = table
            .snapshot()?
            .transaction_version(table.log_store().as_ref(), ETL_APP_ID)
            .await?;
        Ok(done.is_some_and(|v| v >= seq))
    }

    /// A streaming appender to table `name`: batches become Parquet files as they come, and
    /// table content only with [`AppendWriter::commit`] (which first creates a missing table),
    /// so that a batch refused before its commit leaves the mart as it was.
    pub async fn append_writer(&self, name: &str) -> Result<AppendWriter> {
        let table = self.open_for_write(name).await?;
        let partition_columns: Vec<String> = schema::partition_column(name)
            .into_iter()
            .map(str::to_string)
            .collect();
        let indexed = match table.version() {
            Some(_) => table
                .snapshot()?
                .table_config()
                .data_skipping_num_indexed_cols
                .unwrap_or_default(),
            None => Default::default(),
        };
        let config = WriterConfig::new(
            schema::schema(name),
            partition_columns.clone(),
            None,
            std::num::NonZeroU64::new(128 << 20),
            None,
            indexed,
            None,
        );
        Ok(AppendWriter {
            mart: self.clone(),
            name: name.to_string(),
            table,
            config,
            adds: Vec::new(),
            removes: Vec::new(),
            partition_columns,
            open: None,
        })
    }

    /// Whether table `name` is missing, or lacks a column of its contract (written by an older
    /// version; the next append adds it).
    pub async fn lacks_columns(&self, name: &str) -> Result<bool> {
        let Some(table) = self.open(name).await? else {
            return Ok(true);
        };
        let have = table.snapshot()?.schema();
        Ok(schema::schema(name)
            .fields()
            .iter()
            .any(|f| have.field(f.name()).is_none()))
    }

    /// Commits `batches` to table `name` as batch `seq`, unless that batch's write is already
    /// there. Returns whether a commit was made.
    pub async fn commit(
        &self,
        name: &str,
        batches: Vec<RecordBatch>,
        mode: WriteMode,
        seq: i64,
    ) -> Result<bool> {
        let table = self.open_for_write(name).await?;
        if table.version().is_some() {
            let done = table
                .snapshot()?
                .transaction_version(table.log_store().as_ref(), ETL_APP_ID)
                .await?;
            if done.is_some_and(|v| v >= seq) {
                return Ok(false);
            }
        }
        let batches = if batches.is_empty() {
            vec![RecordBatch::new_empty(schema::schema(name))]
        } else {
            batches
        };
        let save_mode = match mode {
            WriteMode::Append => SaveMode::Append,
            WriteMode::Overwrite => SaveMode::Overwrite,
        };
        let mut builder = table
            .write(batches)
            .with_save_mode(save_mode)
            // A table written by an older version gains the contract's new columns (consent in
            // dim_customer, update counts in _etl_runs).
            .with_schema_mode(match mode {
                WriteMode::Append => deltalake::operations::write::SchemaMode::Merge,
                WriteMode::Overwrite => deltalake::operations::write::SchemaMode::Overwrite,
            })
            .with_commit_properties(
                CommitProperties::default()
                    .with_application_transaction(Transaction::new(ETL_APP_ID, seq)),
            );
        if let Some(p) = schema::partition_column(name) {
            builder = builder.with_partition_columns([p]);
        }
        builder.await?;
        Ok(true)
    }
}

impl Mart {
    /// Table `name` ready for a write: loaded if it exists, else a new (not yet created) table.
    async fn open_for_write(&self, name: &str) -> Result<DeltaTable> {
        let dir = self.table_dir(name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let url = ensure_table_uri(dir.to_string_lossy())?;
        Ok(if self.has_table(name) {
            DeltaTable::try_from_url(url).await?
        } else {
            // A new table: nothing to load (loading would log a spurious "no files" error).
            DeltaTableBuilder::from_url(url)?.build()?
        })
    }

    /// Replaces the whole content of model-output table `name` (created if missing) with
    /// `batches` in one commit; earlier contents stay readable by time travel. `stage` names the
    /// writer in the commit's application transaction.
    pub async fn replace(
        &self,
        table: MartTable,
        batches: Vec<RecordBatch>,
        stage: &str,
    ) -> Result<i64> {
        let name = table.name();
        let table = self.open_for_write(name).await?;
        let next = table.version().map(|v| v as i64 + 1).unwrap_or(0);
        let batches = if batches.is_empty() {
            vec![RecordBatch::new_empty(schema::schema(name))]
        } else {
            batches
        };
        // The table is wholly derived: a run of a newer layout replaces the old one's columns.
        let table = table
            .write(batches)
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
            .with_commit_properties(
                CommitProperties::default()
                    .with_application_transaction(Transaction::new(stage, next)),
            )
            .await?;
        Ok(table.version().map(|v| v as i64).unwrap_or(next))
    }
}

impl Mart {
    /// Appends `batches` to `table` (created if missing) in one commit.
    pub async fn append(&self, table: MartTable, batches: Vec<RecordBatch>) -> Result<()> {
        let name = table.name();
        let t = self.open_for_write(name).await?;
        let mut builder = t
            .write(batches)
            .with_save_mode(SaveMode::Append)
            .with_schema_mode(deltalake::operations::write::SchemaMode::Merge);
        if let Some(p) = table.partitioning() {
            builder = builder.with_partition_columns([p]);
        }
        builder.await?;
        Ok(())
    }
}

/// Removes `dir` and its sub-directories if they hold no file.
fn remove_empty_dirs(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_empty_dirs(&entry.path())?;
        }
    }
    std::fs::remove_dir(dir)
}

/// Appends record batches to one table as Parquet files; one commit makes them visible.
///
/// Each [`write`](Self::write) finishes its own files (one per partition it touches), so memory
/// holds one batch at a time rather than every open partition of the whole load.
pub struct AppendWriter {
    mart: Mart,
    name: String,
    table: DeltaTable,
    config: WriterConfig,
    adds: Vec<deltalake::kernel::Add>,
    /// Data files the commit removes (rewritten because rows in them were replaced).
    removes: Vec<deltalake::kernel::Remove>,
    partition_columns: Vec<String>,
    /// The data files being written, until [`AppendWriter::end_files`].
    open: Option<DeltaWriter>,
}

impl AppendWriter {
    fn table_name(&self) -> &str {
        &self.name
    }

    /// Writes `batch` to the data files being written (not yet part of the table); batches
    /// written before the next [`AppendWriter::end_files`] share files.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let writer = self.open.get_or_insert_with(|| {
            DeltaWriter::new(self.table.object_store(), self.config.clone())
        });
        writer.write(batch).await?;
        Ok(())
    }

    /// Closes the data files being written.
    pub async fn end_files(&mut self) -> Result<()> {
        if let Some(writer) = self.open.take() {
            self.adds.extend(writer.close().await?);
        }
        Ok(())
    }

    /// Deletes every data file written and not committed (a refused batch).
    pub async fn abort(mut self) -> Result<()> {
        self.end_files().await?;
        let dir = self.mart.table_dir(&self.name);
        for add in &self.adds {
            let path = dir.join(&add.path);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        // A table directory that only held these files goes too.
        if self.table.version().is_none() {
            let _ = remove_empty_dirs(&dir);
        }
        Ok(())
    }

    /// Queues the removal of data files whose rows were rewritten into this writer's files
    /// (restated rows): the commit then replaces them, as a MERGE.
    pub fn remove_files(&mut self, removes: Vec<deltalake::kernel::Remove>) {
        self.removes.extend(removes);
    }

    /// Commits every file written (and every removal queued), as batch `seq` (with the ETL's
    /// application transaction). Returns whether there was anything to commit.
    pub async fn commit(mut self, seq: i64) -> Result<bool> {
        self.end_files().await?;
        let adds = std::mem::take(&mut self.adds);
        if adds.is_empty() && self.removes.is_empty() {
            return Ok(false);
        }
        if self.table.version().is_none() {
            // Version 0: the schema and partitioning, no data; the files follow as version 1.
            self.mart
                .commit(&self.name, Vec::new(), WriteMode::Append, 0)
                .await?;
            self.table =
                self.mart.open(&self.name).await?.ok_or_else(|| {
                    Error::Invariant(format!("table {} was not created", self.name))
                })?;
        }
        let operation = if self.removes.is_empty() {
            DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: if self.partition_columns.is_empty() {
                    None
                } else {
                    Some(self.partition_columns.clone())
                },
                predicate: None,
            }
        } else {
            // New rows are inserted, restated ones replace the row with their natural key.
            let on = schema::natural_key(self.table_name()).join(" AND ");
            DeltaOperation::Merge {
                predicate: None,
                merge_predicate: Some(on),
                matched_predicates: vec![deltalake::protocol::MergePredicate {
                    action_type: "update".into(),
                    predicate: None,
                }],
                not_matched_predicates: vec![deltalake::protocol::MergePredicate {
                    action_type: "insert".into(),
                    predicate: None,
                }],
                not_matched_by_source_predicates: Vec::new(),
            }
        };
        let mut actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
        actions.extend(self.removes.into_iter().map(Action::Remove));
        CommitBuilder::from(
            CommitProperties::default()
                .with_application_transaction(Transaction::new(ETL_APP_ID, seq)),
        )
        .with_actions(actions)
        .build(
            Some(self.table.snapshot()?),
            self.table.log_store(),
            operation,
        )
        .await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn a_replaced_table_takes_the_new_layout() {
        let dir = tempfile::tempdir().unwrap();
        let mart = Mart::new(dir.path());
        let rt = tokio::runtime::Runtime::new().unwrap();
        // An earlier layout: one column.
        let old = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "rank",
                DataType::Int64,
                false,
            )])),
            vec![Arc::new(Int64Array::from(vec![1, 2]))],
        )
        .unwrap();
        rt.block_on(mart.replace(MartTable::Recommendations, vec![old], "test"))
            .unwrap();
        let empty = RecordBatch::new_empty(schema::schema("recommendations"));
        let v = rt
            .block_on(mart.replace(MartTable::Recommendations, vec![empty], "test"))
            .unwrap();
        assert_eq!(v, 1);
        // The new columns are there, the old rows gone.
        let b = rt
            .block_on(mart.query(
                "recommendations",
                "SELECT count(kind), count(expected_value), count(*) FROM recommendations",
            ))
            .unwrap();
        let counts = b[0]
            .column(2)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(counts.value(0), 0);
    }
}
