//! Ingest: binary COPY into the session's staging table, then `ingest_commit()` moves the rows
//! into `samples`, stamping the session's tenant and skipping (tag, time) pairs already stored.
//! Re-sending a batch is therefore harmless, which is what makes the connectors' at-least-once
//! delivery exactly-once in effect.

use chrono::{DateTime, Utc};
use futures::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use super::text::TextSampleRow;
use super::TenantSession;
use crate::error::{Error, Result};
use deadpool_postgres::Transaction;

/// OPC UA-style quality of a sample.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// The value is trustworthy.
    #[default]
    Good,
    /// The value may be inaccurate (sensor out of calibration, substituted value, ...).
    Uncertain,
    /// No usable value: the device did not answer or reported an error.
    Bad,
}

impl Quality {
    /// The stored code: 0 good, 1 uncertain, 2 bad.
    pub fn code(self) -> i16 {
        match self {
            Self::Good => 0,
            Self::Uncertain => 1,
            Self::Bad => 2,
        }
    }

    /// The quality of a stored code (unknown codes read as bad).
    pub fn from_code(code: i16) -> Self {
        match code {
            0 => Self::Good,
            1 => Self::Uncertain,
            _ => Self::Bad,
        }
    }
}

/// One validated sample, ready to store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleRow {
    /// The tag it belongs to (of the session's tenant; others are skipped by the database).
    pub tag_id: i64,
    /// When it was measured.
    pub time: DateTime<Utc>,
    /// The value; `None` only for bad-quality samples that carry no value.
    pub value: Option<f64>,
    /// Its quality.
    pub quality: Quality,
}

/// What an ingest call stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestOutcome {
    /// Rows newly stored.
    pub inserted: u64,
    /// Rows skipped because their (tag, time) was already stored (or was repeated in the batch)
    /// or their tag is not the tenant's.
    pub skipped: u64,
}

impl TenantSession {
    /// Stores `rows` in one transaction. Two batches that overlap and arrive at once can
    /// deadlock on the unique index; ingest is idempotent, so the loser simply runs again.
    pub async fn ingest(&mut self, rows: &[SampleRow]) -> Result<IngestOutcome> {
        self.ingest_with_text(rows, &[]).await
    }

    /// Stores numeric `rows` and `text` rows (of text tags) in one transaction, so a batch
    /// mixing both lands whole or not at all.
    pub async fn ingest_with_text(
        &mut self,
        rows: &[SampleRow],
        text: &[TextSampleRow],
    ) -> Result<IngestOutcome> {
        if rows.is_empty() && text.is_empty() {
            return Ok(IngestOutcome::default());
        }
        let mut attempt = 1;
        loop {
            match self.ingest_once(rows, text).await {
                Err(e)
                    if attempt < 4 && e.sql_state() == Some(&SqlState::T_R_DEADLOCK_DETECTED) =>
                {
                    tracing::debug!(attempt, "Ingest batch lost a deadlock; retrying.");
                    attempt += 1;
                }
                // Issue #18: on Citus, a batch planned just before a tenant's shards were split
                // (`tenant move`) fails at the switch-over; nothing was stored, so run it again.
                Err(e) if attempt < 4 && shard_replaced(&e) => {
                    tracing::info!(attempt, "Ingest batch met a shard split; retrying.");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn ingest_once(
        &mut self,
        rows: &[SampleRow],
        text: &[TextSampleRow],
    ) -> Result<IngestOutcome> {
        let tx = self.begin().await?;
        let mut inserted: i64 = 0;
        if !rows.is_empty() {
            inserted += copy_numbers(&tx, rows).await?;
        }
        if !text.is_empty() {
            inserted += super::text::commit_text(&tx, text).await?;
        }
        // Counted in the same transaction, so the plan's daily quota sees exactly what landed.
        tx.execute("SELECT usage_add_samples($1)", &[&inserted])
            .await
            .map_err(Error::db("counting usage"))?;
        tx.commit()
            .await
            .map_err(Error::db("committing the ingest transaction"))?;
        let inserted = inserted as u64;
        Ok(IngestOutcome {
            inserted,
            skipped: (rows.len() + text.len()) as u64 - inserted,
        })
    }
}

/// Whether `e` is Citus's error for a statement planned against a shard that a split or move
/// has replaced since (issue #18): the transaction stored nothing and can be run again.
fn shard_replaced(e: &Error) -> bool {
    match e {
        Error::Database { source, .. } => source.as_db_error().is_some_and(|db| {
            *db.code() == SqlState::INTERNAL_ERROR
                && db
                    .message()
                    .starts_with("could not find valid entry for shard")
        }),
        _ => false,
    }
}

/// Copies numeric rows into the session's staging table and commits them into `samples`;
/// returns the rows newly stored.
async fn copy_numbers(tx: &Transaction<'_>, rows: &[SampleRow]) -> Result<i64> {
    tx.execute("SELECT ingest_prepare()", &[])
        .await
        .map_err(Error::db("preparing ingest"))?;
    let sink = tx
        .copy_in(
            "COPY pg_temp.ingest_staging (tag_id, time, value, quality) FROM STDIN (FORMAT binary)",
        )
        .await
        .map_err(Error::db("starting COPY"))?;
    let writer = BinaryCopyInWriter::new(
        sink,
        &[Type::INT8, Type::TIMESTAMPTZ, Type::FLOAT8, Type::INT2],
    );
    pin_mut!(writer);
    for row in rows {
        let quality = row.quality.code();
        writer
            .as_mut()
            .write(&[&row.tag_id, &row.time, &row.value, &quality])
            .await
            .map_err(Error::db("copying samples"))?;
    }
    writer.finish().await.map_err(Error::db("finishing COPY"))?;
    Ok(tx
        .query_one("SELECT ingest_commit()", &[])
        .await
        .map_err(Error::db("committing samples"))?
        .get(0))
}
