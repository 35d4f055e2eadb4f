//! Who may do what: one table decides every action the API performs.
//!
//! Each row of [`TABLE`] names an [`Action`], the roles that may perform it and the plan
//! feature it needs (none for what every plan has). [`allowed`] answers for a role alone;
//! [`decide`] adds the tenant's plan and says why not, so a 403 can name either the missing
//! role or the plan that includes the route.
//!
//! ```
//! use millwright_tenants::permission::{allowed, decide, Action, Decision};
//! use millwright_tenants::{plan::Plan, role::Role};
//! assert!(allowed(Role::Engineer, Action::ManagePlantModel));
//! assert!(!allowed(Role::Viewer, Action::Ingest));
//! assert!(!allowed(Role::Bureau, Action::ReadTelemetry));
//! match decide(Role::Engineer, Some(Plan::Monitor), Action::TrainModel) {
//!     Decision::PlanExcludes { needed, .. } => assert_eq!(needed, Plan::Pro),
//!     other => panic!("{other:?}"),
//! }
//! ```

use serde::{Deserialize, Serialize};

use crate::plan::{Feature, Plan};
use crate::role::Role;

/// Everything the API does that someone might not be allowed to do.
///
/// Health, readiness, metrics and the OpenAPI document need no permission and are not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read samples, latest values and bucketed series.
    ReadTelemetry,
    /// List and get sites, lines, machines and tags.
    ReadPlantModel,
    /// Send samples (connectors, manual entry).
    Ingest,
    /// Create, change and delete sites, lines, machines and tags.
    ManagePlantModel,
    /// Ask a connector to write a setpoint to a machine.
    IssueCommands,
    /// Claim setpoint commands and report their outcome (connectors).
    ExecuteCommands,
    /// Record or remove machine events: failures, repairs, maintenance (the labels models
    /// learn from, and the plant's maintenance log).
    RecordMachineEvents,
    /// See active and past alarms.
    ReadAlarms,
    /// Acknowledge or shelve an alarm.
    AcknowledgeAlarms,
    /// Create, change and delete alarm rules.
    ManageAlarmRules,
    /// Read OEE, work orders, quality and yield.
    ReadMes,
    /// Report counts, scrap, downtime reasons and quality checks against a work order.
    RecordProduction,
    /// Create, schedule, change and close work orders.
    ManageWorkOrders,
    /// See predictive-maintenance scores, alerts and the models behind them.
    ReadPredictions,
    /// Train a predictive-maintenance model.
    TrainModel,
    /// Promote a trained model to production (its scores then raise alerts).
    PromoteModel,
    /// Score data with a model on demand.
    ScoreModel,
    /// See C2B custom orders.
    ReadCustomOrders,
    /// Accept, price, schedule and cancel C2B custom orders.
    ManageCustomOrders,
    /// Invite and remove users, change their roles.
    ManageUsers,
    /// Issue, list and revoke API keys and device tokens.
    ManageApiKeys,
    /// Create, change and delete webhook endpoints; read their delivery log, redeliver.
    ManageWebhooks,
    /// Read the tenant's audit log.
    ReadAuditLog,
    /// See consumption against the plan's quotas.
    ReadUsage,
    /// Change the tenant's settings and plan, or delete it.
    ManageTenant,
    /// Read aggregated, opted-in sector figures (never a single tenant's data).
    ReadSectorAggregates,
}

/// One row of the permission table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The action this row decides.
    pub action: Action,
    /// The roles that may perform it.
    pub roles: &'static [Role],
    /// The plan feature it needs; `None` when every plan has it (or no plan applies).
    pub feature: Option<Feature>,
}

// The groups the table is written in. Each is the one before it minus its lowest role.
const EVERYONE_IN_TENANT: &[Role] = &[
    Role::Owner,
    Role::Admin,
    Role::Engineer,
    Role::Operator,
    Role::Viewer,
];
const SHOP_FLOOR: &[Role] = &[Role::Owner, Role::Admin, Role::Engineer, Role::Operator];
const BUILDERS: &[Role] = &[Role::Owner, Role::Admin, Role::Engineer];
const ADMINS: &[Role] = &[Role::Owner, Role::Admin];
const OWNER: &[Role] = &[Role::Owner];
const BUREAU: &[Role] = &[Role::Bureau];
// Connectors hold device tokens; people may also read, send samples and run commands by hand.
const READERS_AND_DEVICES: &[Role] = &[
    Role::Owner,
    Role::Admin,
    Role::Engineer,
    Role::Operator,
    Role::Viewer,
    Role::Device,
];
const SHOP_FLOOR_AND_DEVICES: &[Role] = &[
    Role::Owner,
    Role::Admin,
    Role::Engineer,
    Role::Operator,
    Role::Device,
];
const BUILDERS_AND_DEVICES: &[Role] = &[Role::Owner, Role::Admin, Role::Engineer, Role::Device];

const fn rule(action: Action, roles: &'static [Role], feature: Option<Feature>) -> Rule {
    Rule {
        action,
        roles,
        feature,
    }
}

/// The permission table: one row per [`Action`], in declaration order (checked at compile
/// time). Change permissions here and nowhere else.
pub const TABLE: [Rule; 26] = {
    use Action::*;
    use Feature::*;
    [
        rule(ReadTelemetry, EVERYONE_IN_TENANT, Some(Telemetry)),
        rule(ReadPlantModel, READERS_AND_DEVICES, Some(Telemetry)),
        rule(Ingest, SHOP_FLOOR_AND_DEVICES, Some(Telemetry)),
        rule(ManagePlantModel, BUILDERS, Some(Telemetry)),
        // A setpoint moves a machine: engineers, not operators, change process parameters.
        rule(IssueCommands, BUILDERS, Some(Telemetry)),
        rule(ExecuteCommands, BUILDERS_AND_DEVICES, Some(Telemetry)),
        rule(RecordMachineEvents, SHOP_FLOOR, Some(Telemetry)),
        rule(ReadAlarms, EVERYONE_IN_TENANT, Some(Alarms)),
        rule(AcknowledgeAlarms, SHOP_FLOOR, Some(Alarms)),
        rule(ManageAlarmRules, BUILDERS, Some(Alarms)),
        rule(ReadMes, EVERYONE_IN_TENANT, Some(Mes)),
        rule(RecordProduction, SHOP_FLOOR, Some(Mes)),
        rule(ManageWorkOrders, BUILDERS, Some(Mes)),
        rule(
            ReadPredictions,
            EVERYONE_IN_TENANT,
            Some(PredictiveMaintenance),
        ),
        rule(TrainModel, BUILDERS, Some(PredictiveMaintenance)),
        // Promotion changes the alerts everyone sees: an admin signs it off.
        rule(PromoteModel, ADMINS, Some(PredictiveMaintenance)),
        rule(ScoreModel, BUILDERS, Some(PredictiveMaintenance)),
        rule(ReadCustomOrders, EVERYONE_IN_TENANT, Some(CustomOrders)),
        // Accepting a custom order is a commercial commitment.
        rule(ManageCustomOrders, ADMINS, Some(CustomOrders)),
        rule(ManageUsers, ADMINS, None),
        rule(ManageApiKeys, ADMINS, None),
        // Endpoints receive the tenant's events and hold a signing secret.
        rule(ManageWebhooks, ADMINS, None),
        rule(ReadAuditLog, ADMINS, None),
        rule(ReadUsage, ADMINS, None),
        rule(ManageTenant, OWNER, None),
        // Bureaus have no plan; they read only what tenants opted into, aggregated.
        rule(ReadSectorAggregates, BUREAU, None),
    ]
};

// The table is indexed by `Action as usize`: refuse to compile if a row is out of place.
const _: () = {
    let mut i = 0;
    while i < TABLE.len() {
        assert!(
            TABLE[i].action as usize == i,
            "TABLE rows must follow Action's order"
        );
        i += 1;
    }
};

impl Action {
    /// Every action, in declaration order.
    pub const ALL: [Action; TABLE.len()] = {
        let mut all = [Action::ReadTelemetry; TABLE.len()];
        let mut i = 0;
        while i < TABLE.len() {
            all[i] = TABLE[i].action;
            i += 1;
        }
        all
    };

    /// This action's row of [`TABLE`].
    pub const fn rule(self) -> &'static Rule {
        &TABLE[self as usize]
    }

    /// The plan feature this action needs, if any.
    pub const fn feature(self) -> Option<Feature> {
        self.rule().feature
    }
}

/// Whether `role` may perform `action`, whatever the plan.
pub fn allowed(role: Role, action: Action) -> bool {
    action.rule().roles.contains(&role)
}

/// The verdict on one request, with the reason when it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allowed,
    /// The caller's role may not do this; no plan would change that.
    RoleForbids {
        /// The caller's role.
        role: Role,
        /// What was attempted.
        action: Action,
    },
    /// The role may, but the tenant's plan does not include the feature.
    PlanExcludes {
        /// The feature the action needs.
        feature: Feature,
        /// The tenant's plan (`None`: the caller has no plan).
        current: Option<Plan>,
        /// The cheapest plan that includes the feature, for the 403 to name.
        needed: Plan,
    },
}

impl Decision {
    /// Whether the request may go ahead.
    pub fn is_allowed(self) -> bool {
        matches!(self, Decision::Allowed)
    }
}

/// A sentence for a 403 problem+json `detail`. It names roles, actions and plans only.
impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decision::Allowed => f.write_str("allowed"),
            Decision::RoleForbids { role, action } => {
                write!(f, "the {role} role may not {}", action_phrase(*action))
            }
            Decision::PlanExcludes {
                feature,
                current: Some(current),
                needed,
            } => write!(
                f,
                "the {current} plan does not include {}; the {needed} plan does",
                feature.label()
            ),
            Decision::PlanExcludes {
                feature,
                current: None,
                needed,
            } => write!(f, "{} needs the {needed} plan", feature.label()),
        }
    }
}

fn action_phrase(action: Action) -> String {
    // `ManageApiKeys` -> "manage api keys": good enough for a message, no second table to keep.
    let name = format!("{action:?}");
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Decides a request: the role first (an upgrade would not help a viewer who may not write),
/// then the plan. `plan` is the caller's tenant's plan, `None` for callers outside tenants.
pub fn decide(role: Role, plan: Option<Plan>, action: Action) -> Decision {
    let rule = action.rule();
    if !rule.roles.contains(&role) {
        return Decision::RoleForbids { role, action };
    }
    match rule.feature {
        Some(feature) if !plan.is_some_and(|p| p.includes(feature)) => Decision::PlanExcludes {
            feature,
            current: plan,
            needed: Plan::cheapest_including(feature),
        },
        _ => Decision::Allowed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expectation, written out by hand as the matrix the README shows, independently of
    /// [`TABLE`]: columns are owner, admin, engineer, operator, viewer, bureau.
    const EXPECTED: &str = "
        read_telemetry          x x x x x . .
        read_plant_model        x x x x x x .
        ingest                  x x x x . x .
        manage_plant_model      x x x . . . .
        issue_commands          x x x . . . .
        execute_commands        x x x . . x .
        record_machine_events   x x x x . . .
        read_alarms             x x x x x . .
        acknowledge_alarms      x x x x . . .
        manage_alarm_rules      x x x . . . .
        read_mes                x x x x x . .
        record_production       x x x x . . .
        manage_work_orders      x x x . . . .
        read_predictions        x x x x x . .
        train_model             x x x . . . .
        promote_model           x x . . . . .
        score_model             x x x . . . .
        read_custom_orders      x x x x x . .
        manage_custom_orders    x x . . . . .
        manage_users            x x . . . . .
        manage_api_keys         x x . . . . .
        manage_webhooks         x x . . . . .
        read_audit_log          x x . . . . .
        read_usage              x x . . . . .
        manage_tenant           x . . . . . .
        read_sector_aggregates  . . . . . . x
    ";

    fn action_named(name: &str) -> Action {
        serde_json::from_value(serde_json::Value::String(name.into())).unwrap()
    }

    #[test]
    fn every_role_and_action_matches_the_written_expectation() {
        let rows: Vec<&str> = EXPECTED.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(rows.len(), Action::ALL.len(), "one expected row per action");
        let mut seen = std::collections::HashSet::new();
        for row in rows {
            let mut cells = row.split_whitespace();
            let action = action_named(cells.next().unwrap());
            assert!(seen.insert(action), "{action:?} listed twice");
            let marks: Vec<&str> = cells.collect();
            assert_eq!(marks.len(), Role::ALL.len(), "{row}");
            for (role, mark) in Role::ALL.into_iter().zip(marks) {
                assert_eq!(
                    allowed(role, action),
                    mark == "x",
                    "{role} {action:?}: expected {mark}"
                );
            }
        }
    }

    #[test]
    fn bureau_never_touches_tenant_data_and_tenant_roles_never_see_sector_figures() {
        for action in Action::ALL {
            let bureau_only = action == Action::ReadSectorAggregates;
            assert_eq!(allowed(Role::Bureau, action), bureau_only, "{action:?}");
            for role in Role::ALL.into_iter().filter(|r| r.is_tenant_role()) {
                if bureau_only {
                    assert!(!allowed(role, action));
                }
            }
        }
    }

    #[test]
    fn roles_are_nested() {
        // Each tenant role can do everything the one below it can.
        let tenant: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.is_tenant_role() && r.is_for_people())
            .collect();
        for pair in tenant.windows(2) {
            for action in Action::ALL {
                if allowed(pair[1], action) {
                    assert!(allowed(pair[0], action), "{:?} {action:?}", pair[0]);
                }
            }
        }
    }

    #[test]
    fn decide_checks_role_then_plan_across_the_whole_table() {
        for role in Role::ALL {
            for action in Action::ALL {
                for plan in Plan::ALL.map(Some).into_iter().chain([None]) {
                    let d = decide(role, plan, action);
                    let plan_ok = match action.feature() {
                        None => true,
                        Some(f) => plan.is_some_and(|p| p.includes(f)),
                    };
                    match d {
                        Decision::Allowed => assert!(allowed(role, action) && plan_ok),
                        Decision::RoleForbids { .. } => assert!(!allowed(role, action)),
                        Decision::PlanExcludes {
                            needed, current, ..
                        } => {
                            assert!(allowed(role, action) && !plan_ok);
                            assert_eq!(current, plan);
                            assert!(needed.includes(action.feature().unwrap()));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn refusals_read_well_and_name_the_plan() {
        let d = decide(Role::Engineer, Some(Plan::Mes), Action::TrainModel);
        assert_eq!(
            d.to_string(),
            "the MES plan does not include predictive-maintenance models; the Pro plan does"
        );
        let d = decide(Role::Viewer, Some(Plan::Pro), Action::ManageApiKeys);
        assert_eq!(d.to_string(), "the viewer role may not manage api keys");
        assert!(decide(Role::Bureau, None, Action::ReadSectorAggregates).is_allowed());
        assert!(decide(Role::Owner, Some(Plan::Monitor), Action::ManageUsers).is_allowed());
    }
}
