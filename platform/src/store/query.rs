//! Reads: raw samples, bucketed aggregates (from the rollups where they cover the bucket
//! width, from raw samples otherwise) and the latest value of many tags.
//!
//! Buckets are aligned to `2000-01-01T00:00:00Z` and a bucketed query covers whole buckets:
//! `from` is rounded down and `to` up to a bucket boundary, so the rollup and the raw path
//! answer the same question.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};

use super::ingest::Quality;
use super::TenantSession;
use crate::error::{Error, Result};

/// Seconds from the Unix epoch to the bucket origin, 2000-01-01T00:00:00Z.
const ORIGIN: i64 = 946_684_800;

/// A stored sample.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RawSample {
    /// When it was measured.
    pub time: DateTime<Utc>,
    /// The value (absent for bad samples that carried none).
    pub value: Option<f64>,
    /// Its quality.
    pub quality: Quality,
}

/// One bucket of an aggregate.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct BucketPoint {
    /// Start of the bucket.
    pub time: DateTime<Utc>,
    /// The aggregate over the bucket's non-empty values (absent if it had none).
    pub value: Option<f64>,
}

/// The aggregate a bucketed query computes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Agg {
    /// Mean.
    Avg,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Value with the latest timestamp.
    Last,
    /// Number of values.
    Count,
}

/// Where a bucketed answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The one-minute rollup.
    #[serde(rename = "rollup_1m")]
    Rollup1m,
    /// The one-hour rollup.
    #[serde(rename = "rollup_1h")]
    Rollup1h,
    /// Raw samples.
    Raw,
}

/// A bucket width in whole seconds, written like `30s`, `1m`, `15m`, `1h`, `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketWidth(i64);

impl BucketWidth {
    /// Largest bucket accepted: 31 days.
    const MAX_SECS: i64 = 31 * 86_400;

    /// Parses `<n><s|m|h|d>`.
    pub fn parse(text: &str) -> Option<Self> {
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (n, unit) = text.split_at(split);
        let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
        let unit = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return None,
        };
        let secs = n.checked_mul(unit)?;
        (secs <= Self::MAX_SECS).then_some(Self(secs))
    }

    /// Width in seconds.
    pub fn secs(self) -> i64 {
        self.0
    }

    /// The start of the bucket holding `t` (clamped to chrono's range at its far ends, where
    /// the API never lets a query go: it refuses years outside 1 to 9999).
    pub fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let s = t.timestamp() - ORIGIN;
        let start = ORIGIN + s.div_euclid(self.0) * self.0;
        Utc.timestamp_opt(start, 0)
            .single()
            .unwrap_or(if start < 0 {
                DateTime::<Utc>::MIN_UTC
            } else {
                DateTime::<Utc>::MAX_UTC
            })
    }

    /// The first bucket boundary at or after `t` (clamped like [`BucketWidth::floor`]).
    pub fn ceil(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let floor = self.floor(t);
        if floor >= t {
            floor
        } else {
            floor
                .checked_add_signed(chrono::Duration::seconds(self.0))
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        }
    }

    /// The relation that can answer this width, from coarsest to finest.
    fn source(self) -> Source {
        if self.0 % 3600 == 0 {
            Source::Rollup1h
        } else if self.0 % 60 == 0 {
            Source::Rollup1m
        } else {
            Source::Raw
        }
    }
}

impl TenantSession {
    /// Raw samples of one tag in `[from, to)`, oldest first, at most `limit`.
    pub async fn raw_samples(
        &mut self,
        tag_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<RawSample>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT time, value, quality FROM tenant_samples \
                 WHERE tenant_id = $5 AND tag_id = $1 AND time >= $2 AND time < $3 \
                 ORDER BY time LIMIT $4",
                &[&tag_id, &from, &to, &limit, &tenant],
            )
            .await
            .map_err(Error::db("reading raw samples"))?;
        Ok(rows
            .iter()
            .map(|r| RawSample {
                time: r.get(0),
                value: r.get(1),
                quality: Quality::from_code(r.get(2)),
            })
            .collect())
    }

    /// One aggregate per bucket over whole buckets covering `[from, to)`. `force_raw` skips the
    /// rollups (benchmarks compare the two paths).
    pub async fn bucketed(
        &mut self,
        tag_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        width: BucketWidth,
        agg: Agg,
        force_raw: bool,
    ) -> Result<(Source, Vec<BucketPoint>)> {
        let (from, to) = (width.floor(from), width.ceil(to));
        let source = if force_raw {
            Source::Raw
        } else {
            width.source()
        };
        let (relation, time_col, expr) = match source {
            Source::Raw => ("tenant_samples", "time", raw_expr(agg)),
            Source::Rollup1m => ("tenant_rollup_1m", "bucket", rollup_expr(agg)),
            Source::Rollup1h => ("tenant_rollup_1h", "bucket", rollup_expr(agg)),
        };
        if source != Source::Raw {
            // Make this tag's rollups current before reading them (only the session tenant's:
            // other tenants' pending ingest is maintenance's job); a no-op on TimescaleDB.
            let tx = self.begin().await?;
            tx.execute("SELECT refresh_tag_rollups($1)", &[&tag_id])
                .await
                .map_err(Error::db("refreshing rollups"))?;
            tx.commit()
                .await
                .map_err(Error::db("committing the rollup refresh"))?;
        }
        let sql = format!(
            "SELECT date_bin(make_interval(secs => $4), {time_col}, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS b, \
                    {expr}::float8 \
             FROM {relation} WHERE tenant_id = $5 AND tag_id = $1 \
             AND {time_col} >= $2 AND {time_col} < $3 \
             GROUP BY b ORDER BY b"
        );
        let secs = width.secs() as f64;
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(&sql, &[&tag_id, &from, &to, &secs, &tenant])
            .await
            .map_err(Error::db("reading bucketed samples"))?;
        Ok((
            source,
            rows.iter()
                .map(|r| BucketPoint {
                    time: r.get(0),
                    value: r.get(1),
                })
                .collect(),
        ))
    }

    /// The most recent sample of each tag (`None` for tags with no samples yet).
    pub async fn latest(&mut self, tag_ids: &[i64]) -> Result<Vec<(i64, Option<RawSample>)>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT t.id, s.time, s.value, s.quality FROM unnest($1::bigint[]) WITH ORDINALITY AS t(id, n) \
                 LEFT JOIN LATERAL (SELECT time, value, quality FROM tenant_samples \
                                    WHERE tenant_id = $2 AND tag_id = t.id ORDER BY time DESC LIMIT 1) s ON true \
                 ORDER BY t.n",
                &[&tag_ids, &tenant],
            )
            .await
            .map_err(Error::db("reading latest samples"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let time: Option<DateTime<Utc>> = r.get(1);
                let sample = time.map(|time| RawSample {
                    time,
                    value: r.get(2),
                    quality: Quality::from_code(r.get(3)),
                });
                (r.get(0), sample)
            })
            .collect())
    }

    /// Ids of the named tags that exist for this tenant.
    pub async fn tag_ids_by_name(&mut self, names: &[&str]) -> Result<HashMap<String, i64>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT name, id FROM tags WHERE tenant_id = $2 AND name = ANY($1)",
                &[&names, &tenant.0],
            )
            .await
            .map_err(Error::db("resolving tag names"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Which of `ids` are this tenant's tags.
    pub async fn existing_tag_ids(
        &mut self,
        ids: &[i64],
    ) -> Result<std::collections::HashSet<i64>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT id FROM tags WHERE tenant_id = $2 AND id = ANY($1)",
                &[&ids, &tenant.0],
            )
            .await
            .map_err(Error::db("checking tag ids"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

impl TenantSession {
    /// [`TenantSession::bucketed`], with empty buckets answered as `fill` says (see
    /// [`super::fill`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn bucketed_filled(
        &mut self,
        tag_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        width: BucketWidth,
        agg: Agg,
        force_raw: bool,
        fill: super::fill::Fill,
    ) -> Result<(Source, Vec<BucketPoint>)> {
        let (source, points) = self
            .bucketed(tag_id, from, to, width, agg, force_raw)
            .await?;
        Ok((source, super::fill::apply(points, from, to, width, fill)))
    }
}

fn raw_expr(agg: Agg) -> &'static str {
    match agg {
        Agg::Avg => "avg(value)",
        Agg::Min => "min(value)",
        Agg::Max => "max(value)",
        Agg::Count => "count(value)",
        Agg::Last => "(array_agg(value ORDER BY time DESC) FILTER (WHERE value IS NOT NULL))[1]",
    }
}

fn rollup_expr(agg: Agg) -> &'static str {
    match agg {
        Agg::Avg => "sum(sum) / nullif(sum(count), 0)",
        Agg::Min => "min(min)",
        Agg::Max => "max(max)",
        Agg::Count => "sum(count)",
        Agg::Last => {
            "(array_agg(last ORDER BY last_time DESC) FILTER (WHERE last_time IS NOT NULL))[1]"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_widths_parse() {
        assert_eq!(BucketWidth::parse("1m").map(BucketWidth::secs), Some(60));
        assert_eq!(BucketWidth::parse("15m").map(BucketWidth::secs), Some(900));
        assert_eq!(BucketWidth::parse("2h").map(BucketWidth::secs), Some(7200));
        assert_eq!(
            BucketWidth::parse("1d").map(BucketWidth::secs),
            Some(86_400)
        );
        for bad in [
            "",
            "m",
            "0m",
            "1x",
            "-1m",
            "1.5h",
            "99999999999999999999d",
            "40d",
        ] {
            assert_eq!(BucketWidth::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn buckets_round_to_boundaries() {
        let w = BucketWidth::parse("15m").unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 29, 10, 7, 30).unwrap();
        assert_eq!(
            w.floor(t),
            Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap()
        );
        assert_eq!(
            w.ceil(t),
            Utc.with_ymd_and_hms(2026, 11, 29, 10, 15, 0).unwrap()
        );
        assert_eq!(w.ceil(w.floor(t)), w.floor(t));
        // The far ends of chrono's range clamp instead of panicking.
        let d = BucketWidth::parse("31d").unwrap();
        assert_eq!(d.floor(DateTime::<Utc>::MIN_UTC), DateTime::<Utc>::MIN_UTC);
        assert_eq!(d.ceil(DateTime::<Utc>::MAX_UTC), DateTime::<Utc>::MAX_UTC);
        assert_eq!(w.source(), Source::Rollup1m);
        assert_eq!(BucketWidth::parse("30s").unwrap().source(), Source::Raw);
        assert_eq!(BucketWidth::parse("1d").unwrap().source(), Source::Rollup1h);
    }
}
