//! Roles: five within a tenant, and the bureau outside every tenant.
//!
//! What each role may do is decided in one place, [`crate::permission`]; this module only
//! names the roles and says who may hand out which.
//!
//! ```
//! use millwright_tenants::role::Role;
//! let r: Role = "engineer".parse().unwrap();
//! assert_eq!(r, Role::Engineer);
//! assert!(Role::Admin.can_grant(Role::Operator));
//! assert!(!Role::Admin.can_grant(Role::Owner));
//! ```

use serde::{Deserialize, Serialize};

use crate::Error;

/// A user's (or an API key's) role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Owns the tenant: everything an admin does, plus the tenant itself (plan, deletion).
    Owner,
    /// Runs the tenant: users, API keys and device tokens, audit log, usage.
    Admin,
    /// Builds the plant model, alarm rules, work orders and predictive-maintenance models.
    Engineer,
    /// Works the shop floor: reads everything, acknowledges alarms, records production.
    Operator,
    /// Reads the tenant's data and changes nothing.
    Viewer,
    /// A connector's device token, never a person: sends samples, reads the plant model, and
    /// claims and reports the setpoint commands it is asked to write.
    Device,
    /// An industry bureau, outside every tenant: reads only aggregated sector figures, never
    /// any tenant's own data.
    Bureau,
}

impl Role {
    /// Every role, in declaration order (most powerful tenant role first, bureau last).
    pub const ALL: [Role; 7] = [
        Role::Owner,
        Role::Admin,
        Role::Engineer,
        Role::Operator,
        Role::Viewer,
        Role::Device,
        Role::Bureau,
    ];

    /// The snake_case name used on the wire and in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Engineer => "engineer",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
            Role::Device => "device",
            Role::Bureau => "bureau",
        }
    }

    /// Whether the role belongs to a tenant (every role but [`Role::Bureau`]).
    pub const fn is_tenant_role(self) -> bool {
        !matches!(self, Role::Bureau)
    }

    /// Whether a person may hold the role (every role but [`Role::Device`], which only device
    /// tokens carry).
    pub const fn is_for_people(self) -> bool {
        !matches!(self, Role::Device)
    }

    /// Whether a user with this role may give `other` to someone in the same tenant (invite,
    /// change role, issue an API key with that role). Owners grant any tenant role; admins
    /// grant any tenant role below owner, so an admin cannot promote anyone above themselves;
    /// nobody else grants roles. Granting [`Role::Device`] means issuing a device token. The bureau role is granted by platform operators, never from
    /// inside a tenant.
    pub const fn can_grant(self, other: Role) -> bool {
        match (self, other) {
            (_, Role::Bureau) => false,
            (Role::Owner, _) => true,
            (Role::Admin, Role::Owner) => false,
            (Role::Admin, _) => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Error::UnknownRole(s.chars().take(32).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_str_and_serde() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
        assert!("Owner".parse::<Role>().is_err());
    }

    #[test]
    fn only_owners_and_admins_grant_and_nobody_grants_bureau() {
        for granter in Role::ALL {
            for granted in Role::ALL {
                let expected = match granter {
                    Role::Owner => granted != Role::Bureau,
                    Role::Admin => !matches!(granted, Role::Owner | Role::Bureau),
                    _ => false,
                };
                assert_eq!(
                    granter.can_grant(granted),
                    expected,
                    "{granter} -> {granted}"
                );
            }
        }
    }
}
