//! From a person's groups (as the identity provider's ID token lists them) to a role: an
//! admin when in any admin group, else a member of the teams whose groups they are in,
//! else nobody the portal knows.

use std::collections::BTreeSet;

use serde_json::Value;

use super::PortalSettings;
use crate::admin::Role;

/// The groups in `claim` of the ID token's claims: a JSON array of strings, or one string
/// of space- or comma-separated names (some providers send that). Absent: none.
pub fn groups(claims: &Value, claim: &str) -> Vec<String> {
    match claims.get(claim) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => s
            .split([' ', ','])
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The role these groups give, or None when they give none.
pub fn role_for(groups: &[String], settings: &PortalSettings) -> Option<Role> {
    if groups.iter().any(|g| settings.admin_groups.contains(g)) {
        return Some(Role::Admin);
    }
    let teams: BTreeSet<String> = settings
        .teams
        .iter()
        .filter(|(_, team_groups)| groups.iter().any(|g| team_groups.contains(g)))
        .map(|(team, _)| team.clone())
        .collect();
    (!teams.is_empty()).then_some(Role::Member(teams))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::SignIn;
    use serde_json::json;

    fn settings() -> PortalSettings {
        let mut s = PortalSettings::new(SignIn::Development);
        s.admin_groups = vec!["platform-admins".into()];
        s.teams.insert(
            "payments".into(),
            vec!["payments-devs".into(), "payments-ops".into()],
        );
        s.teams.insert("search".into(), vec!["search-devs".into()]);
        s
    }

    #[test]
    fn groups_map_to_roles() {
        let s = settings();
        let g = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            role_for(&g(&["platform-admins", "search-devs"]), &s),
            Some(Role::Admin)
        );
        assert_eq!(
            role_for(&g(&["payments-ops", "search-devs", "other"]), &s),
            Some(Role::Member(
                ["payments".to_string(), "search".to_string()].into()
            ))
        );
        assert_eq!(role_for(&g(&["other"]), &s), None);
        assert_eq!(role_for(&[], &s), None);
    }

    #[test]
    fn groups_come_as_arrays_or_strings() {
        assert_eq!(
            groups(&json!({"groups": ["a", "b", 3]}), "groups"),
            vec!["a", "b"]
        );
        assert_eq!(
            groups(&json!({"roles": "a b,c"}), "roles"),
            vec!["a", "b", "c"]
        );
        assert!(groups(&json!({}), "groups").is_empty());
    }
}
