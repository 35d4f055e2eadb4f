//! What a tenant shares with bureaus: a set of categories, none by default; and the tenant's
//! size class, which bureaus may use to read indices by company size.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A category of figures a tenant may share.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Planned time and run time: equipment utilisation and operating rate.
    Utilisation,
    /// Parts made: the output index.
    Output,
    /// OEE per machine.
    Oee,
    /// Downtime inside planned time.
    Downtime,
    /// Alarms raised.
    Alarms,
    /// Energy used, from tags in kWh.
    Energy,
    /// Good parts among parts made.
    Quality,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 7] = [
        Category::Utilisation,
        Category::Output,
        Category::Oee,
        Category::Downtime,
        Category::Alarms,
        Category::Energy,
        Category::Quality,
    ];

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Utilisation => "utilisation",
            Category::Output => "output",
            Category::Oee => "oee",
            Category::Downtime => "downtime",
            Category::Alarms => "alarms",
            Category::Energy => "energy",
            Category::Quality => "quality",
        }
    }

    /// The category named `s`.
    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A company's size class, by employees as the EU's SME definition counts them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SizeClass {
    /// Not said.
    Unknown,
    /// Fewer than 10 employees.
    Micro,
    /// 10 to 49.
    Small,
    /// 50 to 249.
    Medium,
    /// 250 or more.
    Large,
}

impl SizeClass {
    /// Every size class.
    pub const ALL: [SizeClass; 5] = [
        SizeClass::Unknown,
        SizeClass::Micro,
        SizeClass::Small,
        SizeClass::Medium,
        SizeClass::Large,
    ];

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            SizeClass::Unknown => "unknown",
            SizeClass::Micro => "micro",
            SizeClass::Small => "small",
            SizeClass::Medium => "medium",
            SizeClass::Large => "large",
        }
    }

    /// The class named `s`.
    pub fn parse(s: &str) -> Option<SizeClass> {
        SizeClass::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// The categories a tenant shares (empty by default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sharing {
    /// The shared categories.
    pub categories: BTreeSet<Category>,
}

impl Sharing {
    /// What the old single opt-in flag meant: `true` shared every category, `false` none.
    pub fn from_opt_in(opt_in: bool) -> Sharing {
        Sharing {
            categories: if opt_in {
                Category::ALL.into_iter().collect()
            } else {
                BTreeSet::new()
            },
        }
    }

    /// The old flag's reading: whether anything at all is shared.
    pub fn opted_in(&self) -> bool {
        !self.categories.is_empty()
    }

    /// Whether `c` is shared.
    pub fn shares(&self, c: Category) -> bool {
        self.categories.contains(&c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        for s in SizeClass::ALL {
            assert_eq!(SizeClass::parse(s.as_str()), Some(s));
        }
        assert_eq!(Category::parse("prices"), None);
    }

    #[test]
    fn nothing_is_shared_by_default_and_the_old_flag_maps_to_all_or_nothing() {
        assert!(!Sharing::default().opted_in());
        assert!(Category::ALL.iter().all(|c| !Sharing::default().shares(*c)));
        let all = Sharing::from_opt_in(true);
        assert!(Category::ALL.iter().all(|c| all.shares(*c)));
        assert!(all.opted_in());
        assert_eq!(Sharing::from_opt_in(false), Sharing::default());
    }
}
