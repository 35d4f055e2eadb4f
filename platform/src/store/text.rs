//! Text samples: the values of tags whose `value_type` is `text` (program names, recipe ids,
//! order numbers, operator badges, fault texts).
//!
//! They live in `text_samples`, beside `samples` and under the same isolation: a partitioned
//! table or a compressed hypertable that the application role cannot reach, read through the
//! security-barrier view `tenant_text_samples`, written by binary COPY into a per-session
//! staging table and `ingest_commit_text()`, which stamps the transaction's tenant and keeps
//! only rows of that tenant's text tags (see `layout/text_*.sql`). There are no rollups: a
//! bucketed read of text offers `last` and `count` only, computed from the raw samples.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use futures::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

use super::fill::Fill;
use super::ingest::Quality;
use super::query::{Agg, BucketWidth};
use super::TenantSession;
use crate::error::{Error, Result};

/// Longest text value accepted, in characters: room for a fault text, short enough that a
/// stray binary blob is refused rather than stored.
pub const MAX_TEXT_CHARS: usize = 1024;

/// The aggregates a bucketed query over a text tag may ask for.
pub const TEXT_AGGS: [Agg; 2] = [Agg::Last, Agg::Count];

/// A sample's value on the wire: a number, or text for text tags.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum SampleValue {
    /// The value of a float, integer or boolean tag (booleans as 0 and 1).
    Number(f64),
    /// The value of a text tag.
    Text(String),
}

/// One validated text sample, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct TextSampleRow {
    /// The tag (a text tag of the session's tenant; others are skipped by the database).
    pub tag_id: i64,
    /// When it was true at the machine.
    pub time: DateTime<Utc>,
    /// The text; `None` only for bad-quality samples that carry no value.
    pub value: Option<String>,
    /// Its quality.
    pub quality: Quality,
}

/// A stored text sample.
#[derive(Debug, Clone, PartialEq)]
pub struct TextSample {
    /// When it was true at the machine.
    pub time: DateTime<Utc>,
    /// The text (absent for bad samples that carried none).
    pub value: Option<String>,
    /// Its quality.
    pub quality: Quality,
}

/// One bucket of a text tag: the last text, or the number of values.
#[derive(Debug, Clone, PartialEq)]
pub struct TextBucket {
    /// Start of the bucket.
    pub time: DateTime<Utc>,
    /// `last`: the text with the latest timestamp; `count`: how many values.
    pub value: Option<SampleValue>,
}

/// Completes the buckets of a text tag over `[from, to)` as `fill` says: `none` leaves empty
/// buckets out, `null` answers them with no value, `previous` repeats the text (or count)
/// before them. `linear` means nothing for text; the caller refuses it (it is left as `none`).
pub fn fill_buckets(
    points: Vec<TextBucket>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    width: BucketWidth,
    fill: Fill,
) -> Vec<TextBucket> {
    if !matches!(fill, Fill::Null | Fill::Previous) {
        return points;
    }
    let (mut t, end) = (width.floor(from), width.ceil(to));
    let step = chrono::Duration::seconds(width.secs());
    let mut given = points.into_iter().peekable();
    let mut out = Vec::new();
    let mut last: Option<SampleValue> = None;
    while t < end {
        let value = match given.peek() {
            Some(p) if p.time == t => given.next().and_then(|p| p.value),
            _ if fill == Fill::Previous => last.clone(),
            _ => None,
        };
        if value.is_some() {
            last = value.clone();
        }
        out.push(TextBucket { time: t, value });
        t += step;
    }
    out
}

/// Why a value does not fit a text tag, if it does not: too long, or holding a NUL character
/// (which PostgreSQL text cannot store).
pub fn text_problem(text: &str) -> Option<String> {
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        Some(format!(
            "text of {chars} characters; at most {MAX_TEXT_CHARS} are accepted"
        ))
    } else if text.contains('\0') {
        Some("text must not contain the NUL character (\\u0000)".into())
    } else {
        None
    }
}

/// Copies `rows` into the session's text staging table and commits them into `text_samples`;
/// returns the rows newly stored. Runs inside the ingest transaction, beside numeric samples.
pub(super) async fn commit_text(tx: &Transaction<'_>, rows: &[TextSampleRow]) -> Result<i64> {
    tx.execute("SELECT ingest_prepare_text()", &[])
        .await
        .map_err(Error::db("preparing text ingest"))?;
    let sink = tx
        .copy_in(
            "COPY pg_temp.ingest_staging_text (tag_id, time, value, quality) FROM STDIN (FORMAT binary)",
        )
        .await
        .map_err(Error::db("starting COPY of text samples"))?;
    let writer = BinaryCopyInWriter::new(
        sink,
        &[Type::INT8, Type::TIMESTAMPTZ, Type::TEXT, Type::INT2],
    );
    pin_mut!(writer);
    for row in rows {
        let quality = row.quality.code();
        writer
            .as_mut()
            .write(&[&row.tag_id, &row.time, &row.value, &quality])
            .await
            .map_err(Error::db("copying text samples"))?;
    }
    writer
        .finish()
        .await
        .map_err(Error::db("finishing COPY of text samples"))?;
    Ok(tx
        .query_one("SELECT ingest_commit_text()", &[])
        .await
        .map_err(Error::db("committing text samples"))?
        .get(0))
}

impl TenantSession {
    /// Raw samples of one text tag in `[from, to)`, oldest first, at most `limit`.
    pub async fn raw_text_samples(
        &mut self,
        tag_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<TextSample>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT time, value, quality FROM tenant_text_samples \
                 WHERE tenant_id = $5 AND tag_id = $1 AND time >= $2 AND time < $3 \
                 ORDER BY time LIMIT $4",
                &[&tag_id, &from, &to, &limit, &tenant],
            )
            .await
            .map_err(Error::db("reading raw text samples"))?;
        Ok(rows
            .iter()
            .map(|r| TextSample {
                time: r.get(0),
                value: r.get(1),
                quality: Quality::from_code(r.get(2)),
            })
            .collect())
    }

    /// `last` or `count` per bucket of one text tag, over whole buckets covering `[from, to)`.
    /// Other aggregates mean nothing for text: the caller refuses them (see [`TEXT_AGGS`]).
    pub async fn bucketed_text(
        &mut self,
        tag_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        width: BucketWidth,
        agg: Agg,
    ) -> Result<Vec<TextBucket>> {
        let (from, to) = (width.floor(from), width.ceil(to));
        let expr = match agg {
            Agg::Last => {
                "(array_agg(value ORDER BY time DESC) FILTER (WHERE value IS NOT NULL))[1], NULL::float8"
            }
            Agg::Count => "NULL::text, count(value)::float8",
            other => {
                return Err(Error::Stored(format!(
                    "{other:?} is not an aggregate of text samples"
                )))
            }
        };
        let sql = format!(
            "SELECT date_bin(make_interval(secs => $4), time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS b, {expr} \
             FROM tenant_text_samples WHERE tenant_id = $5 AND tag_id = $1 \
             AND time >= $2 AND time < $3 \
             GROUP BY b ORDER BY b"
        );
        let secs = width.secs() as f64;
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(&sql, &[&tag_id, &from, &to, &secs, &tenant])
            .await
            .map_err(Error::db("reading bucketed text samples"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let text: Option<String> = r.get(1);
                let number: Option<f64> = r.get(2);
                TextBucket {
                    time: r.get(0),
                    value: text
                        .map(SampleValue::Text)
                        .or(number.map(SampleValue::Number)),
                }
            })
            .collect())
    }

    /// The most recent sample of each text tag (`None` for tags with no samples yet).
    pub async fn latest_text(&mut self, tag_ids: &[i64]) -> Result<Vec<(i64, Option<TextSample>)>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT t.id, s.time, s.value, s.quality FROM unnest($1::bigint[]) WITH ORDINALITY AS t(id, n) \
                 LEFT JOIN LATERAL (SELECT time, value, quality FROM tenant_text_samples \
                                    WHERE tenant_id = $2 AND tag_id = t.id ORDER BY time DESC LIMIT 1) s ON true \
                 ORDER BY t.n",
                &[&tag_ids, &tenant],
            )
            .await
            .map_err(Error::db("reading latest text samples"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let time: Option<DateTime<Utc>> = r.get(1);
                let sample = time.map(|time| TextSample {
                    time,
                    value: r.get(2),
                    quality: Quality::from_code(r.get(3)),
                });
                (r.get(0), sample)
            })
            .collect())
    }

    /// Id and whether it is a text tag, of each named tag of this tenant.
    pub async fn tag_kinds_by_name(
        &mut self,
        names: &[&str],
    ) -> Result<HashMap<String, (i64, bool)>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT name, id, value_type = 'text' FROM tags WHERE tenant_id = $1 AND name = ANY($2)",
                &[&tenant, &names],
            )
            .await
            .map_err(Error::db("resolving tag names"))?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect())
    }

    /// Whether each of `ids` that is this tenant's tag is a text tag (absent: not a tag).
    pub async fn tag_kinds(&mut self, ids: &[i64]) -> Result<HashMap<i64, bool>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT id, value_type = 'text' FROM tags WHERE tenant_id = $1 AND id = ANY($2)",
                &[&tenant, &ids],
            )
            .await
            .map_err(Error::db("checking tag ids"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn text_buckets_fill_with_null_or_the_previous_text() {
        let t = |m: u32| Utc.with_ymd_and_hms(2026, 3, 1, 8, m, 0).unwrap();
        let width = BucketWidth::parse("1m").unwrap();
        let points = || {
            vec![TextBucket {
                time: t(1),
                value: Some(SampleValue::Text("AUTO".into())),
            }]
        };
        let values = |fill| -> Vec<Option<SampleValue>> {
            fill_buckets(points(), t(0), t(3), width, fill)
                .into_iter()
                .map(|b| b.value)
                .collect()
        };
        let auto = Some(SampleValue::Text("AUTO".into()));
        assert_eq!(values(Fill::None), std::slice::from_ref(&auto));
        assert_eq!(values(Fill::Null), [None, auto.clone(), None]);
        assert_eq!(values(Fill::Previous), [None, auto.clone(), auto]);
    }

    #[test]
    fn text_fits_within_the_limit_and_without_nul() {
        assert_eq!(text_problem("AUTO"), None);
        assert_eq!(text_problem(&"é".repeat(MAX_TEXT_CHARS)), None);
        assert!(text_problem(&"x".repeat(MAX_TEXT_CHARS + 1)).is_some());
        assert!(text_problem("a\0b").is_some());
    }
}
