//! The permission table as the console reads it (`permissions.json`, one of the assets).
//!
//! The menu offers a page only if the signed-in role and plan allow the action the page's
//! first API call needs. Generating the file from [`millwright_tenants::permission`] keeps the
//! console and the server from disagreeing; the server still refuses every call on its own.

use millwright_tenants::permission::{decide, Action, Decision};
use millwright_tenants::plan::Plan;
use millwright_tenants::role::Role;
use serde_json::{json, Map, Value};

/// `{"allowed": {role: {plan or "none": [action, …]}}, "plan_for": {action: plan}}`: what each
/// role may do on each plan (`none` for callers outside tenants, such as bureau users), and
/// the cheapest plan that includes each plan-gated action (for "needs the Pro plan").
pub fn document() -> Value {
    let mut allowed = Map::new();
    for role in Role::ALL {
        let mut per_plan = Map::new();
        let plans = Plan::ALL.map(Some).into_iter().chain([None]);
        for plan in plans {
            let actions: Vec<Value> = Action::ALL
                .into_iter()
                .filter(|a| decide(role, plan, *a) == Decision::Allowed)
                .map(action_name)
                .collect();
            per_plan.insert(plan.map_or("none", Plan::as_str).into(), actions.into());
        }
        allowed.insert(role.as_str().into(), per_plan.into());
    }
    let plan_for: Map<String, Value> = Action::ALL
        .into_iter()
        .filter_map(|a| {
            let feature = a.feature()?;
            let name = action_name(a).as_str()?.to_owned();
            Some((name, Plan::cheapest_including(feature).as_str().into()))
        })
        .collect();
    json!({ "allowed": allowed, "plan_for": plan_for })
}

fn action_name(action: Action) -> Value {
    serde_json::to_value(action).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(doc: &Value, role: &str, plan: &str) -> Vec<String> {
        doc["allowed"][role][plan]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn the_document_follows_the_table() {
        let doc = document();
        let engineer = allowed(&doc, "engineer", "monitor");
        assert!(engineer.contains(&"read_telemetry".to_string()));
        assert!(!engineer.contains(&"manage_users".to_string()));
        assert!(!engineer.contains(&"train_model".to_string()), "plan-gated");
        assert!(allowed(&doc, "engineer", "pro").contains(&"train_model".to_string()));
        assert!(allowed(&doc, "operator", "pro").contains(&"acknowledge_alarms".to_string()));
        assert!(!allowed(&doc, "operator", "pro").contains(&"manage_users".to_string()));
        assert_eq!(doc["plan_for"]["train_model"], "pro");
        assert!(doc["plan_for"].get("manage_users").is_none());
    }

    #[test]
    fn bureau_users_get_no_tenant_action() {
        let doc = document();
        assert_eq!(allowed(&doc, "bureau", "none"), ["read_sector_aggregates"]);
    }
}
