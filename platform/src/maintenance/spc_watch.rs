//! SPC alarms (issue #15): when new values of a characteristic that has a baseline period
//! arrive, [`check_alarms`] draws its chart against those fixed limits and raises one alarm per
//! rule broken at a new point (kind `spc`, one open per characteristic and rule), clearing those
//! whose newest point is back in control.
//!
//! Values come two ways. Measured values arrive with quality records, and the records route
//! checks their characteristics at once. Characteristics on a tag read the tag's samples, which
//! arrive through ingest at the machine's pace; [`SpcWatch`] checks those in every round of
//! the scorer (`models.scoring_interval_secs`), from where its previous round left off.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::error::{Error, Result};
use crate::quality::series::{draw, ChartSettings, SeqPoint};
use crate::quality::spc_alarms::changes;
use crate::store::quality::Characteristic;
use crate::store::{Store, TenantId, TenantSession};

/// Most points a baseline period may hold.
const MAX_BASELINE_POINTS: i64 = 100_000;
/// Points read back when checking new values for alarms (per subgroup member).
const ALARM_WINDOW: i64 = 500;
/// How far back a round looks before the previous one: samples reach the store a little
/// after their source time (connector batching, an uplink's replay).
const LATE_SAMPLES_SECS: i64 = 30;

/// A characteristic's chart settings.
pub fn settings(c: &Characteristic) -> ChartSettings {
    ChartSettings {
        chart: c.chart,
        subgroup_size: c.subgroup_size.max(1) as usize,
        rules: c.rules,
    }
}

/// The points of a characteristic's baseline period (none without one).
pub async fn baseline_points(
    session: &mut TenantSession,
    c: &Characteristic,
) -> crate::error::Result<Vec<SeqPoint>> {
    Ok(match (c.baseline_from, c.baseline_to) {
        (Some(from), Some(to)) => session
            .characteristic_points(c, Some(from), Some(to), MAX_BASELINE_POINTS)
            .await?
            .into_iter()
            .map(|(p, _)| p)
            .collect(),
        _ => Vec::new(),
    })
}

/// Checks a characteristic's chart after new values made at or after `since` arrived, and
/// raises or clears its SPC alarms; returns the alarms raised. A characteristic without a
/// baseline period has no fixed limits and raises nothing.
pub async fn check_alarms(
    session: &mut TenantSession,
    id: i64,
    since: DateTime<Utc>,
) -> Result<Vec<i64>> {
    let Some(c) = session.characteristic(id).await? else {
        return Ok(Vec::new());
    };
    if c.baseline_from.is_none() || c.baseline_to.is_none() {
        return Ok(Vec::new());
    }
    let base = baseline_points(session, &c).await?;
    let n = c.subgroup_size.max(1) as i64;
    let recent = session
        .characteristic_points(&c, None, None, ALARM_WINDOW * n)
        .await?;
    let points: Vec<SeqPoint> = recent.iter().map(|(p, _)| *p).collect();
    let Some(first_new_seq) = points
        .iter()
        .filter(|p| p.time >= since)
        .map(|p| p.seq)
        .min()
    else {
        return Ok(Vec::new());
    };
    let d = draw(settings(&c), &base, &points, 25).map_err(|e| Error::Stored(e.to_string()))?;
    // The first plotted point (or subgroup) holding a new value.
    let first_new = d
        .seqs
        .iter()
        .position(|&s| s + n > first_new_seq)
        .unwrap_or(d.seqs.len());
    let ch = changes(&d.pair, first_new);
    let point_of = |i: usize| {
        let last_seq = d.seqs.get(i)? + n - 1;
        recent
            .iter()
            .find(|(p, _)| p.seq == last_seq)
            .and_then(|(p, m)| m.map(|m| (m, p.time)))
    };
    let newest = points.last().map(|p| p.time).unwrap_or(since);
    let (raised, cleared) = session
        .apply_spc_alarms(c.id, &ch, point_of, newest)
        .await?;
    if !cleared.is_empty() {
        tracing::info!(characteristic = c.id, cleared = ?cleared, "SPC alarms cleared.");
    }
    Ok(raised)
}

/// Checks the tag characteristics of every tenant, each from where the previous round left
/// off (the first round from its own start: a restart does not re-raise old violations).
#[derive(Debug, Default)]
pub struct SpcWatch {
    checked_until: HashMap<TenantId, DateTime<Utc>>,
}

impl SpcWatch {
    /// A watch that has checked nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One round over every tenant with a tag characteristic that has a baseline period;
    /// returns the alarms raised.
    pub async fn run_once(&mut self, store: &Store, now: DateTime<Utc>) -> Result<Vec<i64>> {
        let mut raised = Vec::new();
        for (tenant, ids) in store.tag_characteristics().await? {
            let since = *self.checked_until.entry(tenant).or_insert(now)
                - Duration::seconds(LATE_SAMPLES_SECS);
            let mut session = store.tenant(tenant).await?;
            for id in ids {
                match check_alarms(&mut session, id, since).await {
                    Ok(ids) => raised.extend(ids),
                    // Too few values to chart yet, most often: the next round tries again.
                    Err(e) => {
                        tracing::debug!(tenant = %tenant, characteristic = id, error = %e, "No SPC check for this tag characteristic this round.");
                    }
                }
            }
            self.checked_until.insert(tenant, now);
        }
        Ok(raised)
    }
}
