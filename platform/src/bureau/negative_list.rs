//! The platform-wide negative list: categories and tags that are never shared, whatever a
//! tenant chooses (the seed's negative-list principle). Tags are matched by name with `*` as
//! a wildcard (`*price*`, `recipe_*`), case-insensitively.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::sharing::Category;

/// Categories and tag patterns never shared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NegativeList {
    /// Categories never shared.
    #[serde(default)]
    pub categories: BTreeSet<Category>,
    /// Tag-name patterns never read for a contribution (`*` matches any run of characters).
    #[serde(default)]
    pub tags: Vec<String>,
}

impl NegativeList {
    /// Whether `c` may be shared at all.
    pub fn allows(&self, c: Category) -> bool {
        !self.categories.contains(&c)
    }

    /// Whether the tag named `name` may enter a contribution.
    pub fn allows_tag(&self, name: &str) -> bool {
        let name = name.to_lowercase();
        !self.tags.iter().any(|p| wildcard(&p.to_lowercase(), &name))
    }

    /// What a tenant's choice amounts to once the list has had its say.
    pub fn effective<'a>(
        &'a self,
        shared: impl IntoIterator<Item = &'a Category> + 'a,
    ) -> impl Iterator<Item = Category> + 'a {
        shared.into_iter().copied().filter(|c| self.allows(*c))
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_written() {
        assert!(wildcard("*price*", "unit_price_cny"));
        assert!(wildcard("recipe_*", "recipe_7"));
        assert!(!wildcard("recipe_*", "my_recipe_7"));
        assert!(wildcard("a*b*c", "axxbyyc"));
        assert!(!wildcard("a*b*c", "axxcyyb"));
        assert!(wildcard("exact", "exact"));
        assert!(!wildcard("exact", "exactly"));
        assert!(wildcard("*", ""));
        assert!(!wildcard("ab*ba", "aba"));
    }

    #[test]
    fn the_list_overrides_what_a_tenant_shares() {
        let list = NegativeList {
            categories: [Category::Energy].into(),
            tags: vec!["*PRICE*".into()],
        };
        let shared: BTreeSet<Category> = [Category::Energy, Category::Output].into();
        assert_eq!(
            list.effective(&shared).collect::<Vec<_>>(),
            [Category::Output]
        );
        assert!(!list.allows_tag("line1.unit_price"));
        assert!(list.allows_tag("line1.energy_kwh"));
    }
}
