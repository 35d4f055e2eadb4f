//! Reading samples: raw or bucketed for one tag, latest values for many.

use axum::extract::{Path, State};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Caller, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use crate::store::entities::{Entity, Kind, ValueType};
use crate::store::fill::Fill;
use crate::store::query::{Agg, BucketPoint, BucketWidth, RawSample, Source};
use crate::store::text::{SampleValue, TEXT_AGGS};

const MAX_RAW: i64 = 100_000;
const MAX_BUCKETS: i64 = 100_000;
const MAX_LATEST_TAGS: usize = 1000;

/// Query parameters of `GET /tags/{id}/samples`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SamplesQuery {
    /// Start (inclusive), RFC 3339; default one hour before `to`.
    from: Option<DateTime<Utc>>,
    /// End (exclusive), RFC 3339; default now.
    to: Option<DateTime<Utc>>,
    /// Bucket width such as `1m`, `15m`, `1h`, `1d`; absent: raw samples.
    bucket: Option<String>,
    /// Aggregate per bucket (default `avg`; for text tags `last` or `count`, default `last`).
    agg: Option<Agg>,
    /// Raw samples only: most to return (default and maximum 100000).
    limit: Option<i64>,
    /// `raw` computes buckets from raw samples even where rollups exist.
    source: Option<String>,
    /// Buckets without a value: `none` leaves them out (default), `null` answers them with
    /// `null` (a chart draws a gap), `previous` repeats the value before, `linear`
    /// interpolates between the values on either side (never beyond them).
    #[param(inline)]
    fill: Option<Fill>,
}

/// Checks the query string of `GET /tags/{id}/samples` as the route does before it reads
/// anything (parameters, `from` before `to`, `source`, `bucket`, `limit`), without a database:
/// the entry point of the query fuzz target and property tests. `Ok` when the route would go
/// on to read.
pub fn check_samples_query(query: &str) -> Result<(), ApiError> {
    let q: SamplesQuery = super::extract::parse_query(query)?;
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - Duration::hours(1));
    if from >= to {
        return Err(ApiError::field("from", "must be before `to`"));
    }
    if !matches!(q.source.as_deref(), None | Some("auto") | Some("raw")) {
        return Err(ApiError::field("source", "is not auto or raw"));
    }
    match q.bucket {
        None => {
            let limit = q.limit.unwrap_or(MAX_RAW);
            if !(1..=MAX_RAW).contains(&limit) {
                return Err(ApiError::field("limit", "out of range"));
            }
        }
        Some(b) => {
            let width = BucketWidth::parse(&b)
                .ok_or_else(|| ApiError::field("bucket", "not a bucket width"))?;
            let _ = (width.floor(from), width.ceil(to));
        }
    }
    Ok(())
}

/// Samples of one tag.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SamplesResponse {
    /// Raw samples, oldest first.
    Raw {
        /// The tag.
        tag_id: i64,
        /// The samples.
        #[schema(value_type = Vec<RawSample>)]
        samples: Vec<RawSampleOut>,
    },
    /// One aggregate per bucket.
    Bucketed {
        /// The tag.
        tag_id: i64,
        /// Bucket width as asked.
        bucket: String,
        /// The aggregate.
        agg: Agg,
        /// How empty buckets are answered.
        #[serde(default)]
        fill: Fill,
        /// Where the answer came from.
        #[schema(value_type = Source)]
        source: String,
        /// Buckets, oldest first.
        #[schema(value_type = Vec<BucketPoint>)]
        points: Vec<BucketPointOut>,
    },
}

/// A raw sample on the wire.
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RawSampleOut {
    /// Time.
    pub time: DateTime<Utc>,
    /// Value: a number, or a string for text tags.
    pub value: Option<SampleValue>,
    /// `good`, `uncertain` or `bad`.
    pub quality: crate::store::ingest::Quality,
}

/// A bucket on the wire.
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct BucketPointOut {
    /// Bucket start.
    pub time: DateTime<Utc>,
    /// Aggregate: a number, or a string for `last` over a text tag.
    pub value: Option<SampleValue>,
}

impl From<RawSample> for RawSampleOut {
    fn from(s: RawSample) -> Self {
        Self {
            time: s.time,
            value: s.value.map(SampleValue::Number),
            quality: s.quality,
        }
    }
}

impl From<crate::store::text::TextSample> for RawSampleOut {
    fn from(s: crate::store::text::TextSample) -> Self {
        Self {
            time: s.time,
            value: s.value.map(SampleValue::Text),
            quality: s.quality,
        }
    }
}

/// Raw or bucketed samples of one tag.
#[utoipa::path(
    get, path = "/tags/{id}/samples", tag = "samples",
    params(("id" = i64, Path, description = "Tag id"), SamplesQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = SamplesResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tag", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn tag_samples(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<SamplesQuery>,
) -> ApiResult<axum::Json<SamplesResponse>> {
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - Duration::hours(1));
    if from >= to {
        return Err(ApiError::field("from", "must be before `to`"));
    }
    let force_raw = match q.source.as_deref() {
        None | Some("auto") => false,
        Some("raw") => true,
        Some(other) => {
            return Err(ApiError::field(
                "source",
                format!("{other:?} is not auto or raw"),
            ))
        }
    };
    let mut session = caller.session(&state.store).await?;
    let is_text = match session.get(Kind::Tag, id).await? {
        None => return Err(ApiError::not_found("tag")),
        Some(Entity::Tag(t)) => t.value_type == ValueType::Text,
        Some(_) => false,
    };
    let Some(bucket) = q.bucket else {
        if q.agg.is_some() {
            return Err(ApiError::field("agg", "needs `bucket`"));
        }
        if q.fill.is_some() {
            return Err(ApiError::field("fill", "needs `bucket`"));
        }
        let limit = q.limit.unwrap_or(MAX_RAW);
        if !(1..=MAX_RAW).contains(&limit) {
            return Err(ApiError::field(
                "limit",
                format!("must be between 1 and {MAX_RAW}"),
            ));
        }
        let samples = if is_text {
            let samples = session.raw_text_samples(id, from, to, limit).await?;
            samples.into_iter().map(RawSampleOut::from).collect()
        } else {
            let samples = session.raw_samples(id, from, to, limit).await?;
            samples.into_iter().map(RawSampleOut::from).collect()
        };
        return Ok(axum::Json(SamplesResponse::Raw {
            tag_id: id,
            samples,
        }));
    };
    if q.limit.is_some() {
        return Err(ApiError::field(
            "limit",
            "applies to raw samples only, not with `bucket`",
        ));
    }
    let width = BucketWidth::parse(&bucket).ok_or_else(|| {
        ApiError::field(
            "bucket",
            format!("{bucket:?} is not a width like 30s, 1m, 15m, 1h, 1d (at most 31d)"),
        )
    })?;
    if (to - from).num_seconds() / width.secs() > MAX_BUCKETS {
        return Err(ApiError::field(
            "bucket",
            format!("more than {MAX_BUCKETS} buckets; use a wider bucket"),
        ));
    }
    if is_text {
        let fill = q.fill.unwrap_or_default();
        return text_buckets(&mut session, id, (from, to), (bucket, width), q.agg, fill).await;
    }
    let agg = q.agg.unwrap_or(Agg::Avg);
    let fill = q.fill.unwrap_or_default();
    let (source, points) = session
        .bucketed_filled(id, from, to, width, agg, force_raw, fill)
        .await?;
    let source = serde_json::to_value(source)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let points = points
        .into_iter()
        .map(|p| BucketPointOut {
            time: p.time,
            value: p.value.map(SampleValue::Number),
        })
        .collect();
    Ok(axum::Json(SamplesResponse::Bucketed {
        tag_id: id,
        bucket,
        agg,
        fill,
        source,
        points,
    }))
}

/// Query parameters of `GET /samples/latest`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LatestQuery {
    /// Comma-separated tag ids, at most 1000.
    tags: String,
}

/// The latest sample of one tag.
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct LatestValue {
    /// The tag.
    pub tag_id: i64,
    /// Its most recent sample, absent if it has none.
    pub sample: Option<RawSampleOut>,
}

/// Latest value of many tags in one call.
#[utoipa::path(
    get, path = "/samples/latest", tag = "samples",
    params(LatestQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Vec<LatestValue>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A tag does not exist", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad tag list", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn latest(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<LatestQuery>,
) -> ApiResult<axum::Json<Vec<LatestValue>>> {
    let ids: Vec<i64> = q
        .tags
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::field("tags", format!("{s:?} is not a tag id")))
        })
        .collect::<Result<_, _>>()?;
    if ids.is_empty() || ids.len() > MAX_LATEST_TAGS {
        return Err(ApiError::field(
            "tags",
            format!("give between 1 and {MAX_LATEST_TAGS} tag ids"),
        ));
    }
    let mut session = caller.session(&state.store).await?;
    let kinds = session.tag_kinds(&ids).await?;
    if let Some(missing) = ids.iter().find(|id| !kinds.contains_key(id)) {
        return Err(ApiError::not_found("tag").with_field(format!("tags ({missing})")));
    }
    // Numeric and text tags are read from their own relations, then put back in asked order.
    let (text_ids, number_ids): (Vec<i64>, Vec<i64>) = ids.iter().partition(|id| kinds[id]);
    let mut found: std::collections::HashMap<i64, Option<RawSampleOut>> = Default::default();
    if !number_ids.is_empty() {
        for (id, s) in session.latest(&number_ids).await? {
            found.insert(id, s.map(RawSampleOut::from));
        }
    }
    if !text_ids.is_empty() {
        for (id, s) in session.latest_text(&text_ids).await? {
            found.insert(id, s.map(RawSampleOut::from));
        }
    }
    Ok(axum::Json(
        ids.into_iter()
            .map(|tag_id| LatestValue {
                tag_id,
                sample: found.remove(&tag_id).flatten(),
            })
            .collect(),
    ))
}

/// Bucketed samples of a text tag: `last` (the default) or `count`, from raw samples.
async fn text_buckets(
    session: &mut crate::store::TenantSession,
    id: i64,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    (bucket, width): (String, BucketWidth),
    agg: Option<Agg>,
    fill: Fill,
) -> ApiResult<axum::Json<SamplesResponse>> {
    let agg = agg.unwrap_or(Agg::Last);
    if fill == Fill::Linear {
        return Err(ApiError::field(
            "fill",
            "linear does not apply to a text tag; use one of: none, null, previous",
        ));
    }
    if !TEXT_AGGS.contains(&agg) {
        let name = |a: &Agg| {
            serde_json::to_value(a)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        let allowed: Vec<String> = TEXT_AGGS.iter().map(name).collect();
        return Err(ApiError::field(
            "agg",
            format!(
                "{} does not apply to a text tag; use one of: {}",
                name(&agg),
                allowed.join(", ")
            ),
        ));
    }
    let points = session.bucketed_text(id, from, to, width, agg).await?;
    let points = crate::store::text::fill_buckets(points, from, to, width, fill);
    Ok(axum::Json(SamplesResponse::Bucketed {
        tag_id: id,
        bucket,
        agg,
        fill,
        source: "raw".into(),
        points: points
            .into_iter()
            .map(|p| BucketPointOut {
                time: p.time,
                value: p.value,
            })
            .collect(),
    }))
}
