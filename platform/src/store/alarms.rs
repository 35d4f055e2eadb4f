//! Alarms raised by the scorer when a promoted model's output crosses its threshold: at most
//! one open alarm per (machine, kind), cleared when the output is back to normal, acknowledged
//! by engineers through the API. Row-level security confines them to the session's tenant.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;

use super::models::ModelKind;
use super::TenantSession;
use crate::error::{Error, Result};

/// An alarm.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Alarm {
    /// Identifier.
    pub id: i64,
    /// The machine it is about.
    pub machine_id: i64,
    /// What raised it: a model kind, or `spc` (a control-chart rule).
    pub kind: AlarmKind,
    /// Data time of the window that first crossed the threshold.
    pub raised_at: DateTime<Utc>,
    /// The model's output then.
    pub value: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// The model version that raised it.
    pub model_version: Option<i64>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// When it was acknowledged.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Data time at which the output was back to normal (open while absent).
    pub cleared_at: Option<DateTime<Utc>>,
    /// The quality characteristic an `spc` alarm is about.
    pub characteristic_id: Option<i64>,
    /// The control-chart rule an `spc` alarm is about, e.g. `western_electric:2`.
    pub spc_rule: Option<String>,
}

/// What raised an alarm.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum AlarmKind {
    /// An anomaly model.
    Anomaly,
    /// A failure-probability model.
    Failure,
    /// A remaining-useful-life model.
    Rul,
    /// A defect-probability model.
    Defect,
    /// A control-chart rule of a quality characteristic.
    Spc,
}

impl AlarmKind {
    /// The kind of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "spc" => Some(Self::Spc),
            _ => ModelKind::parse(s).map(Self::from),
        }
    }
}

impl From<ModelKind> for AlarmKind {
    fn from(k: ModelKind) -> Self {
        match k {
            ModelKind::Anomaly => Self::Anomaly,
            ModelKind::Failure => Self::Failure,
            ModelKind::Rul => Self::Rul,
            ModelKind::Defect => Self::Defect,
        }
    }
}

impl Alarm {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            machine_id: r.get("machine_id"),
            kind: AlarmKind::parse(r.get("kind")).unwrap_or(AlarmKind::Anomaly),
            raised_at: r.get("raised_at"),
            value: r.get("value"),
            threshold: r.get("threshold"),
            model_version: r.get("model_version"),
            acknowledged_by: r.get("acknowledged_by"),
            acknowledged_at: r.get("acknowledged_at"),
            cleared_at: r.get("cleared_at"),
            characteristic_id: r.get("characteristic_id"),
            spc_rule: r.get("spc_rule"),
        }
    }
}

/// Which alarms to list.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum AlarmState {
    /// Not cleared.
    Open,
    /// Cleared.
    Cleared,
    /// Both.
    #[default]
    All,
}

/// One scored window of one machine, as the scorer hands it to [`TenantSession::apply_alarm`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlarmReading {
    /// The machine.
    pub machine_id: i64,
    /// The model kind.
    pub kind: ModelKind,
    /// Whether the output crosses the threshold.
    pub alarming: bool,
    /// Data time of the scored window.
    pub at: DateTime<Utc>,
    /// The model's output.
    pub value: f64,
    /// The threshold.
    pub threshold: f64,
    /// The model version.
    pub model_version: i64,
}

/// What [`TenantSession::apply_alarm`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmChange {
    /// A new alarm was raised.
    Raised(i64),
    /// The open alarm was cleared.
    Cleared(i64),
    /// Nothing changed.
    None,
}

const COLUMNS: &str = "id, machine_id, kind, raised_at, value, threshold, model_version, \
     acknowledged_by, acknowledged_at, cleared_at, characteristic_id, spc_rule";

impl TenantSession {
    /// Raises an alarm for (machine, kind) if the reading is alarming and none is open, or
    /// clears the open one if it is not.
    pub async fn apply_alarm(&mut self, r: &AlarmReading) -> Result<AlarmChange> {
        let (machine_id, kind, at) = (r.machine_id, r.kind.as_str(), r.at);
        let tx = self.begin().await?;
        let open = tx
            .query_opt(
                "SELECT id FROM alarms WHERE machine_id = $1 AND kind = $2 AND cleared_at IS NULL",
                &[&machine_id, &kind],
            )
            .await
            .map_err(Error::db("reading the open alarm"))?;
        let change = if r.alarming && open.is_some() {
            AlarmChange::None
        } else if r.alarming {
            // The unique index still settles a race with another scorer (any unique index:
            // its predicate has changed with the alarm kinds, V11).
            let row = tx
                .query_opt(
                    "INSERT INTO alarms (machine_id, kind, raised_at, value, threshold, model_version) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT DO NOTHING \
                     RETURNING id",
                    &[&machine_id, &kind, &at, &r.value, &r.threshold, &r.model_version],
                )
                .await
                .map_err(Error::db("raising an alarm"))?;
            row.map_or(AlarmChange::None, |r| AlarmChange::Raised(r.get(0)))
        } else {
            let row = tx
                .query_opt(
                    "UPDATE alarms SET cleared_at = greatest($3, raised_at) \
                     WHERE machine_id = $1 AND kind = $2 AND cleared_at IS NULL RETURNING id",
                    &[&machine_id, &kind, &at],
                )
                .await
                .map_err(Error::db("clearing an alarm"))?;
            row.map_or(AlarmChange::None, |r| AlarmChange::Cleared(r.get(0)))
        };
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(change)
    }

    /// Clears the open alarms of a machine raised before `at`, when a repair or maintenance
    /// at `at` dealt with them; returns their ids.
    pub async fn clear_alarms_before(
        &mut self,
        machine_id: i64,
        at: DateTime<Utc>,
    ) -> Result<Vec<i64>> {
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "UPDATE alarms SET cleared_at = $2 \
                 WHERE machine_id = $1 AND cleared_at IS NULL AND raised_at < $2 RETURNING id",
                &[&machine_id, &at],
            )
            .await
            .map_err(Error::db("clearing alarms after a repair"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Alarms in `state`, optionally of one machine, newest first, at most `limit`.
    pub async fn alarms(
        &mut self,
        state: AlarmState,
        machine_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Alarm>> {
        let filter = match state {
            AlarmState::Open => "cleared_at IS NULL",
            AlarmState::Cleared => "cleared_at IS NOT NULL",
            AlarmState::All => "true",
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM alarms WHERE {filter} AND ($1::bigint IS NULL OR machine_id = $1) \
             ORDER BY raised_at DESC, id DESC LIMIT $2"
        );
        let tx = self.begin().await?;
        let rows = tx
            .query(&sql, &[&machine_id, &limit])
            .await
            .map_err(Error::db("listing alarms"))?;
        Ok(rows.iter().map(Alarm::from_row).collect())
    }

    /// Acknowledges an alarm (the first acknowledgement stands); `None` if it does not exist
    /// for this tenant.
    pub async fn acknowledge_alarm(&mut self, id: i64, by: &str) -> Result<Option<Alarm>> {
        let sql = format!(
            "UPDATE alarms SET acknowledged_by = coalesce(acknowledged_by, $2), \
                 acknowledged_at = coalesce(acknowledged_at, now()) \
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let row = tx
            .query_opt(&sql, &[&id, &by])
            .await
            .map_err(Error::db("acknowledging an alarm"))?;
        let alarm = row.as_ref().map(Alarm::from_row);
        if let Some(a) = &alarm {
            super::audit::append(
                &tx,
                tenant,
                &actor,
                "alarm.acknowledge",
                format!("alarm/{id}"),
                None,
                serde_json::to_value(a).ok(),
            )
            .await?;
        }
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(alarm)
    }
}
