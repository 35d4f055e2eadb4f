//! Setpoint commands: issued for a tag by the platform, claimed by a connector, which writes
//! the value to the device and reports the outcome. Row-level security confines every
//! statement to the session's tenant, so another tenant's tag or command is simply not found.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;

use super::TenantSession;
use crate::error::{Error, Result};

/// Where a command stands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CommandStatus {
    /// Issued, not yet claimed by a connector.
    Pending,
    /// Claimed by a connector, which is writing it.
    Delivered,
    /// Written to the device.
    Done,
    /// Not written; `detail` says why.
    Failed,
    /// Nobody claimed it before `expires_at`: it will never be written.
    Expired,
}

impl CommandStatus {
    fn parse(s: &str) -> Self {
        match s {
            "delivered" => Self::Delivered,
            "done" => Self::Done,
            "failed" => Self::Failed,
            "expired" => Self::Expired,
            _ => Self::Pending,
        }
    }

    /// Whether the command has its outcome (done, failed or expired).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Expired)
    }
}

/// A setpoint to write to a tag.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Command {
    /// Identifier.
    pub id: i64,
    /// The tag to write.
    pub tag_id: i64,
    /// The tag's name, by which connectors address it.
    pub tag: String,
    /// The engineering value to write.
    pub value: f64,
    /// Where it stands.
    pub status: CommandStatus,
    /// The connector's report (empty until there is one).
    pub detail: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
    /// A command still pending at this time expires and is never written.
    pub expires_at: DateTime<Utc>,
}

impl Command {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            tag_id: r.get("tag_id"),
            tag: r.get("tag"),
            value: r.get("value"),
            status: CommandStatus::parse(r.get("status")),
            detail: r.get("detail"),
            created_at: r.get("created_at"),
            updated_at: r.get("updated_at"),
            expires_at: r.get("expires_at"),
        }
    }
}

/// Columns of a command joined with its tag `t`, from a row set named `c`. A pending command
/// past its expiry reads as expired even before a claim marks it so.
const COLUMNS: &str = "c.id, c.tag_id, t.name AS tag, c.value, \
     CASE WHEN c.status = 'pending' AND c.expires_at <= now() THEN 'expired' ELSE c.status END \
         AS status, \
     c.detail, c.created_at, c.updated_at, c.expires_at";

impl TenantSession {
    /// Issues a command for `tag_id` that expires after `ttl_secs` unless claimed; `None` if
    /// the tag does not exist for this tenant.
    pub async fn issue_command(
        &mut self,
        tag_id: i64,
        value: f64,
        ttl_secs: u32,
    ) -> Result<Option<Command>> {
        let sql = format!(
            "WITH t AS (SELECT tenant_id, id, name FROM tags WHERE tenant_id = $4 AND id = $1), \
                  c AS (INSERT INTO commands (tenant_id, tag_id, value, expires_at) \
                        SELECT tenant_id, id, $2, now() + make_interval(secs => $3) FROM t RETURNING *) \
             SELECT {COLUMNS} FROM c JOIN t ON t.tenant_id = c.tenant_id AND t.id = c.tag_id"
        );
        let ttl = f64::from(ttl_secs);
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let row = tx
            .query_opt(&sql, &[&tag_id, &value, &ttl, &tenant.0])
            .await
            .map_err(Error::db("issuing a command"))?;
        let command = row.as_ref().map(Command::from_row);
        if let Some(c) = &command {
            // A setpoint moves a machine: who asked for it belongs in the audit log.
            super::audit::append(
                &tx,
                tenant,
                &actor,
                "command.issue",
                format!("tag/{tag_id}"),
                None,
                serde_json::to_value(c).ok(),
            )
            .await?;
        }
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(command)
    }

    /// Claims up to `limit` pending commands, oldest first, and marks them delivered; with
    /// `tags`, only commands for tags of those names. Commands another session is claiming at
    /// the same moment are skipped, so two connectors never claim the same command; commands
    /// past their expiry are marked expired instead, and never delivered.
    pub async fn claim_commands(
        &mut self,
        tags: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<Command>> {
        let sql = format!(
            "WITH c AS ( \
                UPDATE commands SET status = 'delivered', updated_at = now() \
                WHERE tenant_id = $3 AND id IN ( \
                    SELECT p.id FROM commands p \
                    JOIN tags pt ON pt.tenant_id = p.tenant_id AND pt.id = p.tag_id \
                    WHERE p.tenant_id = $3 AND p.status = 'pending' AND p.expires_at > now() \
                      AND ($1::text[] IS NULL OR pt.name = ANY($1)) \
                    ORDER BY p.id LIMIT $2 FOR UPDATE OF p SKIP LOCKED) \
                RETURNING *) \
             SELECT {COLUMNS} FROM c JOIN tags t ON t.tenant_id = c.tenant_id AND t.id = c.tag_id \
             ORDER BY c.id"
        );
        let tags: Option<Vec<String>> = tags.map(<[String]>::to_vec);
        let tenant = self.tenant();
        let tx = self.begin().await?;
        tx.execute(
            "UPDATE commands SET status = 'expired', updated_at = now() \
             WHERE tenant_id = $1 AND status = 'pending' AND expires_at <= now()",
            &[&tenant.0],
        )
        .await
        .map_err(Error::db("expiring commands"))?;
        let rows = tx
            .query(&sql, &[&tags, &limit, &tenant.0])
            .await
            .map_err(Error::db("claiming commands"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(rows.iter().map(Command::from_row).collect())
    }

    /// Records a command's outcome (done when `ok`, else failed, with `detail`). `None` if
    /// the command does not exist for this tenant or already has its outcome.
    pub async fn report_command(
        &mut self,
        id: i64,
        ok: bool,
        detail: &str,
    ) -> Result<Option<Command>> {
        let sql = format!(
            "WITH c AS ( \
                UPDATE commands \
                SET status = CASE WHEN $2 THEN 'done' ELSE 'failed' END, \
                    detail = $3, updated_at = now() \
                WHERE tenant_id = $4 AND id = $1 AND (status = 'delivered' \
                                   OR (status = 'pending' AND expires_at > now())) \
                RETURNING *) \
             SELECT {COLUMNS} FROM c JOIN tags t ON t.tenant_id = c.tenant_id AND t.id = c.tag_id"
        );
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let row = tx
            .query_opt(&sql, &[&id, &ok, &detail, &tenant.0])
            .await
            .map_err(Error::db("reporting a command's outcome"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(row.as_ref().map(Command::from_row))
    }

    /// One command, or `None` if it does not exist for this tenant.
    pub async fn command(&mut self, id: i64) -> Result<Option<Command>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM commands c JOIN tags t ON t.tenant_id = c.tenant_id AND t.id = c.tag_id \
             WHERE c.tenant_id = $2 AND c.id = $1"
        );
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let row = tx
            .query_opt(&sql, &[&id, &tenant.0])
            .await
            .map_err(Error::db("reading a command"))?;
        Ok(row.as_ref().map(Command::from_row))
    }
}
