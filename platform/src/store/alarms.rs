//! Alarms: raised by the scorer when a promoted model's output crosses its threshold (at most
//! one open alarm per (machine, kind), cleared when the output is back to normal), and by
//! alarm rules (kind `rule`, at most one open per (rule, machine); see `store::alarm_rules`).
//! Acknowledged and shelved through the API. Every raise, clear and acknowledgement writes a
//! webhook event in its own transaction (`store::webhooks::enqueue`), unless the alarm is
//! shelved. Row-level security confines them to the session's tenant.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;

use super::models::ModelKind;
use super::TenantSession;
use crate::error::{Error, Result};
use crate::webhooks::event;

/// An alarm.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Alarm {
    /// Identifier.
    pub id: i64,
    /// The machine it is about.
    pub machine_id: i64,
    /// What raised it: a model kind (`anomaly`, `failure`, `rul`, `defect`), `rule` (an alarm
    /// rule) or `spc` (a control-chart rule of a quality characteristic).
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
    /// The rule that raised it (rule alarms; absent once the rule is deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<i64>,
    /// The tag the rule watched (rule alarms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_id: Option<i64>,
    /// `low`, `medium`, `high` or `critical` (rule alarms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// The rule's message, rendered when raised (rule alarms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Shelved until then: hidden from `?shelved=false` lists and silent (no webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shelved_until: Option<DateTime<Utc>>,
    /// Who shelved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shelved_by: Option<String>,
    /// Why it was shelved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shelve_reason: Option<String>,
    /// The quality characteristic an `spc` alarm is about.
    pub characteristic_id: Option<i64>,
    /// The control-chart rule an `spc` alarm is about, e.g. `western_electric:2`.
    pub spc_rule: Option<String>,
}

/// What raised an alarm.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum AlarmKind {
    /// A promoted anomaly model.
    Anomaly,
    /// A promoted failure model.
    Failure,
    /// A promoted remaining-useful-life model.
    Rul,
    /// A promoted defect-probability model.
    Defect,
    /// An alarm rule.
    Rule,
    /// A control-chart rule of a quality characteristic.
    Spc,
}

impl AlarmKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anomaly => "anomaly",
            Self::Failure => "failure",
            Self::Rul => "rul",
            Self::Defect => "defect",
            Self::Rule => "rule",
            Self::Spc => "spc",
        }
    }

    /// The kind of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rule" => Some(Self::Rule),
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
    pub(super) fn from_row(r: &Row) -> Self {
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
            rule_id: r.get("rule_id"),
            tag_id: r.get("tag_id"),
            severity: r.get("severity"),
            message: r.get("message"),
            shelved_until: r.get("shelved_until"),
            shelved_by: r.get("shelved_by"),
            shelve_reason: r.get("shelve_reason"),
            characteristic_id: r.get("characteristic_id"),
            spc_rule: r.get("spc_rule"),
        }
    }

    /// Whether it is shelved at `now`.
    pub fn is_shelved(&self, now: DateTime<Utc>) -> bool {
        self.shelved_until.is_some_and(|u| u > now)
    }
}

/// Which alarms `GET /alarms` lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlarmFilter {
    /// Open, cleared or all.
    pub state: AlarmState,
    /// Only this machine's.
    pub machine_id: Option<i64>,
    /// Only this rule's.
    pub rule_id: Option<i64>,
    /// Only shelved (`true`) or only not shelved (`false`) alarms.
    pub shelved: Option<bool>,
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

pub(super) const COLUMNS: &str =
    "id, machine_id, kind, raised_at, value, threshold, model_version, \
     acknowledged_by, acknowledged_at, cleared_at, rule_id, tag_id, severity, message, \
     shelved_until, shelved_by, shelve_reason, characteristic_id, spc_rule";

impl TenantSession {
    /// Raises an alarm for (machine, kind) if the reading is alarming and none is open, or
    /// clears the open one if it is not. Writes the webhook event in the same transaction.
    pub async fn apply_alarm(&mut self, r: &AlarmReading) -> Result<AlarmChange> {
        let (machine_id, kind, at) = (r.machine_id, r.kind.as_str(), r.at);
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let open = tx
            .query_opt(
                "SELECT id FROM alarms WHERE tenant_id = $3 AND machine_id = $1 AND kind = $2 \
                 AND cleared_at IS NULL",
                &[&machine_id, &kind, &tenant.0],
            )
            .await
            .map_err(Error::db("reading the open alarm"))?;
        let (change, row) = if r.alarming && open.is_some() {
            (AlarmChange::None, None)
        } else if r.alarming {
            // The unique index still settles a race with another scorer (any unique index:
            // its predicate has changed with the alarm kinds, V11).
            let row = tx
                .query_opt(
                    &format!(
                        "INSERT INTO alarms (tenant_id, machine_id, kind, raised_at, value, threshold, model_version) \
                         VALUES ($7, $1, $2, $3, $4, $5, $6) \
                         ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
                    ),
                    &[&machine_id, &kind, &at, &r.value, &r.threshold, &r.model_version, &tenant.0],
                )
                .await
                .map_err(Error::db("raising an alarm"))?;
            match row {
                Some(row) => (AlarmChange::Raised(row.get("id")), Some(row)),
                None => (AlarmChange::None, None),
            }
        } else {
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE alarms SET cleared_at = greatest($3, raised_at) \
                         WHERE tenant_id = $4 AND machine_id = $1 AND kind = $2 \
                         AND cleared_at IS NULL RETURNING {COLUMNS}"
                    ),
                    &[&machine_id, &kind, &at, &tenant.0],
                )
                .await
                .map_err(Error::db("clearing an alarm"))?;
            match row {
                Some(row) => (AlarmChange::Cleared(row.get("id")), Some(row)),
                None => (AlarmChange::None, None),
            }
        };
        if let Some(row) = row {
            let alarm = Alarm::from_row(&row);
            let event = match change {
                AlarmChange::Raised(_) => event::ALARM_RAISED,
                _ => event::ALARM_CLEARED,
            };
            notify(&tx, tenant, event, &alarm).await?;
        }
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
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(
                &format!(
                    "UPDATE alarms SET cleared_at = $2 \
                     WHERE tenant_id = $3 AND machine_id = $1 AND cleared_at IS NULL \
                     AND raised_at < $2 RETURNING {COLUMNS}"
                ),
                &[&machine_id, &at, &tenant.0],
            )
            .await
            .map_err(Error::db("clearing alarms after a repair"))?;
        for row in &rows {
            notify(&tx, tenant, event::ALARM_CLEARED, &Alarm::from_row(row)).await?;
        }
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(rows.iter().map(|r| r.get("id")).collect())
    }

    /// Alarms in `state`, optionally of one machine, newest first, at most `limit`.
    pub async fn alarms(
        &mut self,
        state: AlarmState,
        machine_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Alarm>> {
        let filter = AlarmFilter {
            state,
            machine_id,
            ..AlarmFilter::default()
        };
        self.filtered_alarms(&filter, limit).await
    }

    /// Alarms matching `f`, newest first, at most `limit`.
    pub async fn filtered_alarms(&mut self, f: &AlarmFilter, limit: i64) -> Result<Vec<Alarm>> {
        let state = match f.state {
            AlarmState::Open => "cleared_at IS NULL",
            AlarmState::Cleared => "cleared_at IS NOT NULL",
            AlarmState::All => "true",
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM alarms WHERE tenant_id = $1 AND {state} \
             AND ($2::bigint IS NULL OR machine_id = $2) AND ($3::bigint IS NULL OR rule_id = $3) \
             AND ($4::boolean IS NULL OR $4 = coalesce(shelved_until > now(), false)) \
             ORDER BY raised_at DESC, id DESC LIMIT $5"
        );
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(
                &sql,
                &[&tenant.0, &f.machine_id, &f.rule_id, &f.shelved, &limit],
            )
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
             WHERE tenant_id = $3 AND id = $1 RETURNING {COLUMNS}"
        );
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        // Only the first acknowledgement is an event; the row lock settles concurrent ones.
        let first = tx
            .query_opt(
                "SELECT acknowledged_at IS NULL FROM alarms WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
                &[&tenant.0, &id],
            )
            .await
            .map_err(Error::db("reading an alarm"))?
            .is_some_and(|r| r.get::<_, bool>(0));
        let row = tx
            .query_opt(&sql, &[&id, &by, &tenant.0])
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
            if first {
                notify(&tx, tenant, event::ALARM_ACKNOWLEDGED, a).await?;
            }
        }
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(alarm)
    }

    /// Shelves an open alarm until `until` (or unshelves it with `None`), recording who and
    /// why; `Ok(None)` if no such alarm, `Err(ShelveRefused)` inside if it is cleared.
    pub async fn shelve_alarm(
        &mut self,
        id: i64,
        until: Option<DateTime<Utc>>,
        reason: &str,
    ) -> Result<Option<std::result::Result<Alarm, ShelveRefused>>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let before = tx
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM alarms WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
                ),
                &[&tenant.0, &id],
            )
            .await
            .map_err(Error::db("reading an alarm"))?
            .map(|r| Alarm::from_row(&r));
        let Some(before) = before else {
            return Ok(None);
        };
        if before.cleared_at.is_some() {
            return Ok(Some(Err(ShelveRefused)));
        }
        let (by, reason) = match until {
            Some(_) => (Some(actor.as_str()), Some(reason)),
            None => (None, None),
        };
        let row = tx
            .query_one(
                &format!(
                    "UPDATE alarms SET shelved_until = $3, shelved_by = $4, shelve_reason = $5 \
                     WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
                ),
                &[&tenant.0, &id, &until, &by, &reason],
            )
            .await
            .map_err(Error::db("shelving an alarm"))?;
        let after = Alarm::from_row(&row);
        super::audit::append(
            &tx,
            tenant,
            &actor,
            if until.is_some() {
                "alarm.shelve"
            } else {
                "alarm.unshelve"
            },
            format!("alarm/{id}"),
            serde_json::to_value(&before).ok(),
            serde_json::to_value(&after).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(Some(Ok(after)))
    }
}

/// A cleared alarm cannot be shelved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShelveRefused;

/// Writes the webhook event for an alarm change in `tx`, unless the alarm is shelved.
pub(super) async fn notify(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: super::TenantId,
    event_type: &str,
    alarm: &Alarm,
) -> Result<()> {
    if alarm.is_shelved(Utc::now()) {
        return Ok(());
    }
    let payload = serde_json::to_value(alarm).map_err(|e| Error::Stored(e.to_string()))?;
    super::webhooks::enqueue(tx, tenant, event_type, &payload).await?;
    Ok(())
}
