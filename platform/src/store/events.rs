//! Machine events: failures, repairs and maintenance, recorded by people or by the simulators.
//! They are the labels predictive-maintenance models learn from (failure within a horizon,
//! time to the next failure, time since maintenance). Row-level security confines them to the
//! session's tenant; another tenant's machine is simply not found.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;

use super::TenantSession;
use crate::error::{Error, Result};

/// What happened to a machine.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// The machine failed (stopped by a fault).
    Failure,
    /// A repair was completed; the machine runs again.
    Repair,
    /// Planned maintenance was completed.
    Maintenance,
}

impl EventKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failure => "failure",
            Self::Repair => "repair",
            Self::Maintenance => "maintenance",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "failure" => Self::Failure,
            "repair" => Self::Repair,
            _ => Self::Maintenance,
        }
    }
}

/// A recorded event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct MachineEvent {
    /// Identifier.
    pub id: i64,
    /// The machine it happened to.
    pub machine_id: i64,
    /// What happened.
    pub kind: EventKind,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Alarm or failure code, e.g. `101` (empty when none).
    pub code: String,
    /// Free text.
    pub note: String,
}

impl MachineEvent {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            machine_id: r.get("machine_id"),
            kind: EventKind::parse(r.get("kind")),
            at: r.get("at"),
            code: r.get("code"),
            note: r.get("note"),
        }
    }
}

/// An event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub at: DateTime<Utc>,
    /// Alarm or failure code.
    pub code: String,
    /// Free text.
    pub note: String,
}

const COLUMNS: &str = "id, machine_id, kind, at, code, note";

impl TenantSession {
    /// Records an event; `None` if the machine does not exist for this tenant.
    pub async fn record_event(
        &mut self,
        machine_id: i64,
        e: &NewEvent,
    ) -> Result<Option<MachineEvent>> {
        let sql = format!(
            "INSERT INTO machine_events (tenant_id, machine_id, kind, at, code, note) \
             SELECT tenant_id, id, $2, $3, $4, $5 FROM machines WHERE tenant_id = $6 AND id = $1 \
             RETURNING {COLUMNS}"
        );
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let row = tx
            .query_opt(
                &sql,
                &[
                    &machine_id,
                    &e.kind.as_str(),
                    &e.at,
                    &e.code,
                    &e.note,
                    &tenant.0,
                ],
            )
            .await
            .map_err(Error::db("recording a machine event"))?;
        let event = row.as_ref().map(MachineEvent::from_row);
        if let Some(ev) = &event {
            super::audit::append(
                &tx,
                tenant,
                &actor,
                "machine_event.record",
                format!("machine/{machine_id}"),
                None,
                serde_json::to_value(ev).ok(),
            )
            .await?;
        }
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(event)
    }

    /// Events of a machine in `[from, to)` (open ends when absent), oldest first, at most
    /// `limit`; `None` if the machine does not exist for this tenant.
    pub async fn machine_events(
        &mut self,
        machine_id: i64,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Option<Vec<MachineEvent>>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let exists = tx
            .query_opt(
                "SELECT 1 FROM machines WHERE tenant_id = $2 AND id = $1",
                &[&machine_id, &tenant.0],
            )
            .await
            .map_err(Error::db("looking up a machine"))?;
        if exists.is_none() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM machine_events WHERE tenant_id = $5 AND machine_id = $1 \
               AND ($2::timestamptz IS NULL OR at >= $2) AND ($3::timestamptz IS NULL OR at < $3) \
             ORDER BY at, id LIMIT $4"
        );
        let rows = tx
            .query(&sql, &[&machine_id, &from, &to, &limit, &tenant.0])
            .await
            .map_err(Error::db("listing machine events"))?;
        Ok(Some(rows.iter().map(MachineEvent::from_row).collect()))
    }

    /// Deletes an event recorded by mistake; false if it does not exist for this tenant's
    /// machine `machine_id`.
    pub async fn delete_event(&mut self, machine_id: i64, id: i64) -> Result<bool> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let row = tx
            .query_opt(
                &format!(
                    "DELETE FROM machine_events WHERE tenant_id = $3 AND id = $1 AND machine_id = $2 \
                     RETURNING {COLUMNS}"
                ),
                &[&id, &machine_id, &tenant.0],
            )
            .await
            .map_err(Error::db("deleting a machine event"))?;
        let Some(row) = row else {
            return Ok(false);
        };
        super::audit::append(
            &tx,
            tenant,
            &actor,
            "machine_event.delete",
            format!("machine/{machine_id}"),
            serde_json::to_value(MachineEvent::from_row(&row)).ok(),
            None,
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(true)
    }
}
