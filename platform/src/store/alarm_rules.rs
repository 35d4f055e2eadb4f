//! Alarm rules, what they watch, their evaluation checkpoints, and the raises and clears the
//! evaluator (`alerting::engine`) decides. Rules and their changes are audited; a raise or
//! clear commits with the rule's checkpoint and its webhook event in one transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::Row;
use utoipa::ToSchema;

use super::alarms::{notify, Alarm, COLUMNS as ALARM_COLUMNS};
use super::{TenantId, TenantSession};
use crate::alerting::rule::{Condition, Severity};
use crate::alerting::{RuleState, Transition};
use crate::error::{Error, Result};
use crate::webhooks::event;

/// A stored alarm rule.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AlarmRule {
    /// Identifier.
    pub id: i64,
    /// Unique within the tenant.
    pub name: String,
    /// The one tag it watches (or `tag_suffix`).
    pub tag_id: Option<i64>,
    /// It watches every tag named `<anything>.<tag_suffix>` (or `tag_id`).
    pub tag_suffix: Option<String>,
    /// With `tag_suffix`: only on machines of this kind.
    pub machine_kind: Option<String>,
    /// What makes its alarm active.
    pub condition: Condition,
    /// Seconds the condition must hold (data time) before the alarm is raised.
    pub on_delay_secs: i32,
    /// The alarm's severity.
    pub severity: Severity,
    /// The alarm's message template.
    pub message: String,
    /// Whether it is evaluated.
    pub enabled: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

const RULE_COLUMNS: &str = "id, name, tag_id, tag_suffix, machine_kind, condition, \
     on_delay_secs, severity, message, enabled, created_at, updated_at";

impl AlarmRule {
    fn from_row(r: &Row) -> Result<Self> {
        let condition: Value = r.get("condition");
        let severity: String = r.get("severity");
        Ok(Self {
            id: r.get("id"),
            name: r.get("name"),
            tag_id: r.get("tag_id"),
            tag_suffix: r.get("tag_suffix"),
            machine_kind: r.get("machine_kind"),
            condition: serde_json::from_value(condition)
                .map_err(|e| Error::Stored(format!("alarm rule condition: {e}")))?,
            on_delay_secs: r.get("on_delay_secs"),
            severity: Severity::parse(&severity)
                .ok_or_else(|| Error::Stored(format!("alarm severity {severity}")))?,
            message: r.get("message"),
            enabled: r.get("enabled"),
            created_at: r.get("created_at"),
            updated_at: r.get("updated_at"),
        })
    }
}

/// A rule as the API validated it (for create, every field; for a change, the merged rule).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFields {
    /// Name.
    pub name: String,
    /// One tag, or
    pub tag_id: Option<i64>,
    /// every tag with this name suffix,
    pub tag_suffix: Option<String>,
    /// optionally only on machines of this kind.
    pub machine_kind: Option<String>,
    /// Condition.
    pub condition: Condition,
    /// On-delay, seconds.
    pub on_delay_secs: i32,
    /// Severity.
    pub severity: Severity,
    /// Message template.
    pub message: String,
    /// Enabled?
    pub enabled: bool,
}

impl From<&AlarmRule> for RuleFields {
    fn from(r: &AlarmRule) -> Self {
        Self {
            name: r.name.clone(),
            tag_id: r.tag_id,
            tag_suffix: r.tag_suffix.clone(),
            machine_kind: r.machine_kind.clone(),
            condition: r.condition.clone(),
            on_delay_secs: r.on_delay_secs,
            severity: r.severity,
            message: r.message.clone(),
            enabled: r.enabled,
        }
    }
}

/// A tag a rule watches, with the names its messages use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTarget {
    /// The rule.
    pub rule_id: i64,
    /// The tag.
    pub tag_id: i64,
    /// The tag's name.
    pub tag_name: String,
    /// The tag's unit.
    pub unit: String,
    /// Its machine.
    pub machine_id: i64,
    /// The machine's name.
    pub machine_name: String,
}

/// A raise or clear decided by the evaluator, with the checkpoint to commit alongside.
#[derive(Debug, Clone)]
pub struct RuleAlarmChange<'a> {
    /// The rule.
    pub rule: &'a AlarmRule,
    /// The tag and machine.
    pub target: &'a RuleTarget,
    /// Raise or clear.
    pub transition: Transition,
    /// The rendered message (raises).
    pub message: String,
    /// The rule's state after the transition.
    pub state: &'a RuleState,
}

fn condition_json(c: &Condition) -> Result<Value> {
    serde_json::to_value(c).map_err(|e| Error::Stored(e.to_string()))
}

impl TenantSession {
    /// Creates a rule (validated by the caller).
    pub async fn create_rule(&mut self, f: &RuleFields) -> Result<AlarmRule> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let condition = condition_json(&f.condition)?;
        let tx = self.begin().await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO alarm_rules (tenant_id, name, tag_id, tag_suffix, machine_kind, condition, \
                         on_delay_secs, severity, message, enabled) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {RULE_COLUMNS}"
                ),
                &[
                    &tenant.0,
                    &f.name,
                    &f.tag_id,
                    &f.tag_suffix,
                    &f.machine_kind,
                    &condition,
                    &f.on_delay_secs,
                    &f.severity.as_str(),
                    &f.message,
                    &f.enabled,
                ],
            )
            .await
            .map_err(Error::db("creating an alarm rule"))?;
        let rule = AlarmRule::from_row(&row)?;
        super::audit::append(
            &tx,
            tenant,
            &actor,
            "alarm_rule.create",
            format!("alarm_rule/{}", rule.id),
            None,
            serde_json::to_value(&rule).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(rule)
    }

    /// The tenant's rules, by id, after `after`, at most `limit`.
    pub async fn rules(&mut self, after: Option<i64>, limit: i64) -> Result<Vec<AlarmRule>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {RULE_COLUMNS} FROM alarm_rules WHERE tenant_id = $1 \
                     AND ($2::bigint IS NULL OR id > $2) ORDER BY id LIMIT $3"
                ),
                &[&tenant.0, &after, &limit],
            )
            .await
            .map_err(Error::db("listing alarm rules"))?;
        rows.iter().map(AlarmRule::from_row).collect()
    }

    /// One rule.
    pub async fn rule(&mut self, id: i64) -> Result<Option<AlarmRule>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let row = tx
            .query_opt(
                &format!("SELECT {RULE_COLUMNS} FROM alarm_rules WHERE tenant_id = $1 AND id = $2"),
                &[&tenant.0, &id],
            )
            .await
            .map_err(Error::db("reading an alarm rule"))?;
        row.as_ref().map(AlarmRule::from_row).transpose()
    }

    /// Replaces a rule's fields (the API merges a PATCH into the stored rule first). Its
    /// checkpoints are dropped, so it is evaluated afresh; an open alarm stays open until the
    /// changed rule clears it. `None` if there is no such rule.
    pub async fn update_rule(&mut self, id: i64, f: &RuleFields) -> Result<Option<AlarmRule>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let condition = condition_json(&f.condition)?;
        let tx = self.begin().await?;
        let before = tx
            .query_opt(
                &format!(
                    "SELECT {RULE_COLUMNS} FROM alarm_rules WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
                ),
                &[&tenant.0, &id],
            )
            .await
            .map_err(Error::db("reading an alarm rule"))?;
        let Some(before) = before else {
            return Ok(None);
        };
        let before = AlarmRule::from_row(&before)?;
        let row = tx
            .query_one(
                &format!(
                    "UPDATE alarm_rules SET name = $3, tag_id = $4, tag_suffix = $5, machine_kind = $6, \
                         condition = $7, on_delay_secs = $8, severity = $9, message = $10, \
                         enabled = $11, updated_at = now() \
                     WHERE tenant_id = $1 AND id = $2 RETURNING {RULE_COLUMNS}"
                ),
                &[
                    &tenant.0,
                    &id,
                    &f.name,
                    &f.tag_id,
                    &f.tag_suffix,
                    &f.machine_kind,
                    &condition,
                    &f.on_delay_secs,
                    &f.severity.as_str(),
                    &f.message,
                    &f.enabled,
                ],
            )
            .await
            .map_err(Error::db("changing an alarm rule"))?;
        let after = AlarmRule::from_row(&row)?;
        tx.execute(
            "DELETE FROM alarm_rule_states WHERE tenant_id = $1 AND rule_id = $2",
            &[&tenant.0, &id],
        )
        .await
        .map_err(Error::db("resetting an alarm rule's state"))?;
        if !after.enabled {
            clear_rule_alarms(&tx, tenant, id).await?;
        }
        super::audit::append(
            &tx,
            tenant,
            &actor,
            "alarm_rule.update",
            format!("alarm_rule/{id}"),
            serde_json::to_value(&before).ok(),
            serde_json::to_value(&after).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(Some(after))
    }

    /// Deletes a rule; its open alarms are cleared now, its alarm history stays. False if
    /// there is no such rule.
    pub async fn delete_rule(&mut self, id: i64) -> Result<bool> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        clear_rule_alarms(&tx, tenant, id).await?;
        let row = tx
            .query_opt(
                &format!(
                    "DELETE FROM alarm_rules WHERE tenant_id = $1 AND id = $2 RETURNING {RULE_COLUMNS}"
                ),
                &[&tenant.0, &id],
            )
            .await
            .map_err(Error::db("deleting an alarm rule"))?;
        let Some(row) = row else {
            return Ok(false);
        };
        super::audit::append(
            &tx,
            tenant,
            &actor,
            "alarm_rule.delete",
            format!("alarm_rule/{id}"),
            serde_json::to_value(AlarmRule::from_row(&row)?).ok(),
            None,
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(true)
    }

    /// Every enabled rule with the numeric tags it watches (the evaluator's configuration).
    pub async fn rule_targets(&mut self) -> Result<Vec<(AlarmRule, Vec<RuleTarget>)>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rules = tx
            .query(
                &format!(
                    "SELECT {RULE_COLUMNS} FROM alarm_rules WHERE tenant_id = $1 AND enabled ORDER BY id"
                ),
                &[&tenant.0],
            )
            .await
            .map_err(Error::db("loading alarm rules"))?;
        let targets = tx
            .query(
                "SELECT r.id AS rule_id, t.id AS tag_id, t.name AS tag_name, t.unit, \
                        m.id AS machine_id, m.name AS machine_name \
                 FROM alarm_rules r \
                 JOIN tags t ON t.tenant_id = r.tenant_id \
                  AND (t.id = r.tag_id OR (r.tag_suffix IS NOT NULL \
                       AND (t.name = r.tag_suffix OR right(t.name, length(r.tag_suffix) + 1) = '.' || r.tag_suffix))) \
                 JOIN machines m ON m.tenant_id = t.tenant_id AND m.id = t.machine_id \
                 WHERE r.tenant_id = $1 AND r.enabled AND t.value_type <> 'text' \
                   AND (r.machine_kind IS NULL OR m.kind = r.machine_kind) \
                 ORDER BY r.id, t.id",
                &[&tenant.0],
            )
            .await
            .map_err(Error::db("loading alarm rule targets"))?;
        let mut by_rule: HashMap<i64, Vec<RuleTarget>> = HashMap::new();
        for t in targets {
            let target = RuleTarget {
                rule_id: t.get("rule_id"),
                tag_id: t.get("tag_id"),
                tag_name: t.get("tag_name"),
                unit: t.get("unit"),
                machine_id: t.get("machine_id"),
                machine_name: t.get("machine_name"),
            };
            by_rule.entry(target.rule_id).or_default().push(target);
        }
        rules
            .iter()
            .map(|r| {
                let rule = AlarmRule::from_row(r)?;
                let targets = by_rule.remove(&rule.id).unwrap_or_default();
                Ok((rule, targets))
            })
            .collect()
    }

    /// The checkpointed states, by (rule, tag).
    pub async fn rule_states(&mut self) -> Result<HashMap<(i64, i64), RuleState>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT rule_id, tag_id, state FROM alarm_rule_states WHERE tenant_id = $1",
                &[&tenant.0],
            )
            .await
            .map_err(Error::db("loading alarm rule states"))?;
        let mut out = HashMap::new();
        for r in rows {
            // A state that no longer parses is dropped: the rule starts afresh.
            if let Ok(state) = serde_json::from_value::<RuleState>(r.get("state")) {
                out.insert((r.get("rule_id"), r.get("tag_id")), state);
            }
        }
        Ok(out)
    }

    /// The (rule, machine) pairs with an open rule alarm.
    pub async fn open_rule_alarms(&mut self) -> Result<HashSet<(i64, i64)>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT rule_id, machine_id FROM alarms WHERE tenant_id = $1 AND kind = 'rule' \
                 AND cleared_at IS NULL AND rule_id IS NOT NULL",
                &[&tenant.0],
            )
            .await
            .map_err(Error::db("loading open rule alarms"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Checkpoints states of (rule, tag) in one statement. Rules or tags deleted meanwhile
    /// are skipped.
    pub async fn save_rule_states(&mut self, states: &[(i64, i64, Value)]) -> Result<()> {
        if states.is_empty() {
            return Ok(());
        }
        let tenant = self.tenant();
        let rules: Vec<i64> = states.iter().map(|s| s.0).collect();
        let tags: Vec<i64> = states.iter().map(|s| s.1).collect();
        let values: Vec<&Value> = states.iter().map(|s| &s.2).collect();
        let tx = self.begin().await?;
        tx.execute(
            "INSERT INTO alarm_rule_states (tenant_id, rule_id, tag_id, state, updated_at) \
             SELECT $1::integer, s.rule_id, s.tag_id, s.state, now() \
             FROM unnest($2::bigint[], $3::bigint[], $4::jsonb[]) AS s (rule_id, tag_id, state) \
             WHERE EXISTS (SELECT 1 FROM alarm_rules r WHERE r.tenant_id = $1 AND r.id = s.rule_id) \
               AND EXISTS (SELECT 1 FROM tags t WHERE t.tenant_id = $1 AND t.id = s.tag_id) \
             ON CONFLICT (tenant_id, rule_id, tag_id) \
             DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            &[&tenant.0, &rules, &tags, &values],
        )
        .await
        .map_err(Error::db("checkpointing alarm rule states"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(())
    }

    /// Raises or clears a rule's alarm on a machine, with the rule's checkpoint and the
    /// webhook event, in one transaction. `None` when nothing changed (already open, or
    /// nothing open to clear, e.g. another replica got there first).
    pub async fn apply_rule_change(&mut self, c: &RuleAlarmChange<'_>) -> Result<Option<Alarm>> {
        let tenant = self.tenant();
        let state = serde_json::to_value(c.state).map_err(|e| Error::Stored(e.to_string()))?;
        let (rule_id, machine_id) = (c.rule.id, c.target.machine_id);
        let tx = self.begin().await?;
        let row = match c.transition {
            Transition::Raise { at, value } => tx
                .query_opt(
                    &format!(
                        "INSERT INTO alarms (tenant_id, machine_id, kind, raised_at, value, threshold, \
                             rule_id, tag_id, severity, message, shelved_until, shelved_by, shelve_reason) \
                         SELECT $1::integer, $2::bigint, 'rule', $3::timestamptz, $4::float8, \
                                $5::float8, $6::bigint, $7::bigint, $8::text, $9::text, \
                                s.shelved_until, s.shelved_by, s.shelve_reason \
                         FROM (SELECT 1) one LEFT JOIN LATERAL ( \
                             SELECT shelved_until, shelved_by, shelve_reason FROM alarms \
                             WHERE tenant_id = $1 AND rule_id = $6 AND machine_id = $2 \
                               AND shelved_until > now() \
                             ORDER BY shelved_until DESC LIMIT 1) s ON true \
                         ON CONFLICT (tenant_id, rule_id, machine_id) \
                             WHERE cleared_at IS NULL AND kind = 'rule' DO NOTHING \
                         RETURNING {ALARM_COLUMNS}"
                    ),
                    &[
                        &tenant.0,
                        &machine_id,
                        &at,
                        &value,
                        &c.rule.condition.limit(),
                        &rule_id,
                        &c.target.tag_id,
                        &c.rule.severity.as_str(),
                        &c.message,
                    ],
                )
                .await
                .map_err(Error::db("raising a rule alarm"))?,
            Transition::Clear { at, .. } => tx
                .query_opt(
                    &format!(
                        "UPDATE alarms SET cleared_at = greatest($4, raised_at) \
                         WHERE tenant_id = $1 AND rule_id = $2 AND machine_id = $3 \
                           AND kind = 'rule' AND cleared_at IS NULL RETURNING {ALARM_COLUMNS}"
                    ),
                    &[&tenant.0, &rule_id, &machine_id, &at],
                )
                .await
                .map_err(Error::db("clearing a rule alarm"))?,
        };
        tx.execute(
            "INSERT INTO alarm_rule_states (tenant_id, rule_id, tag_id, state) \
             SELECT $1::integer, $2::bigint, $3::bigint, $4::jsonb WHERE EXISTS ( \
                 SELECT 1 FROM alarm_rules WHERE tenant_id = $1 AND id = $2) \
             ON CONFLICT (tenant_id, rule_id, tag_id) \
             DO UPDATE SET state = excluded.state, updated_at = now()",
            &[&tenant.0, &rule_id, &c.target.tag_id, &state],
        )
        .await
        .map_err(Error::db("checkpointing an alarm rule state"))?;
        let alarm = row.as_ref().map(Alarm::from_row);
        if let Some(a) = &alarm {
            let kind = match c.transition {
                Transition::Raise { .. } => event::ALARM_RAISED,
                Transition::Clear { .. } => event::ALARM_CLEARED,
            };
            notify(&tx, tenant, kind, a).await?;
        }
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(alarm)
    }
}

/// Clears the open alarms of rule `id` now (it is deleted or disabled).
async fn clear_rule_alarms(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: TenantId,
    id: i64,
) -> Result<()> {
    let rows = tx
        .query(
            &format!(
                "UPDATE alarms SET cleared_at = greatest(now(), raised_at) \
                 WHERE tenant_id = $1 AND rule_id = $2 AND kind = 'rule' AND cleared_at IS NULL \
                 RETURNING {ALARM_COLUMNS}"
            ),
            &[&tenant.0, &id],
        )
        .await
        .map_err(Error::db("clearing a rule's alarms"))?;
    for row in &rows {
        notify(tx, tenant, event::ALARM_CLEARED, &Alarm::from_row(row)).await?;
    }
    Ok(())
}

/// The tenants that have enabled rules (the evaluator's start-up list; owner's connection).
impl super::Store {
    /// Tenants with at least one enabled alarm rule.
    pub async fn tenants_with_alarm_rules(&self) -> Result<Vec<TenantId>> {
        let client = self.owner.get().await?;
        let rows = client
            .query(
                "SELECT DISTINCT tenant_id FROM alarm_rules WHERE enabled ORDER BY tenant_id",
                &[],
            )
            .await
            .map_err(Error::db("listing tenants with alarm rules"))?;
        Ok(rows.iter().map(|r| TenantId(r.get(0))).collect())
    }
}
