//! Who may change what: the one authorization model of the admin API, the portal, the CLI
//! and management events. Every admin operation takes an [`Actor`]; the rules are here and
//! nowhere else, so the page is only another client of the same checks.
//!
//! - An admin sees and changes everything (except that a client managed by a tool, such as
//!   the Kubernetes operator, is read-only in the portal: change it where it is managed).
//! - A team member sees the resource servers of their teams, the clients of their teams,
//!   and (read-only) other clients that hold one of their scopes. They change only those
//!   resource servers and clients, and grant only their teams' scopes.
//! - Keys are readable by every signed-in person; only admins rotate them.

use std::collections::BTreeSet;

use authdomain_api::{ADMIN_AUDIENCE, AuditEvent};
use serde_json::Value;

use super::AdminError;
use crate::authority::Authority;
use crate::store::{ClientRecord, ResourceServerRecord};

/// The caller's role when it acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Admin,
    /// A member of these teams (never empty for a useful member; an empty set sees nothing).
    Member(BTreeSet<String>),
}

/// Through which door the change came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Portal,
    Api,
    Cli,
    Event,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Portal => "portal",
            Via::Api => "api",
            Via::Cli => "cli",
            Via::Event => "event",
        }
    }
}

/// Who is acting: recorded in the audit log and checked by every operation.
#[derive(Debug, Clone)]
pub struct Actor {
    /// A person (`alice@example.com`), an API client (`client:ID`) or a tool (`cli`).
    pub id: String,
    pub role: Role,
    pub via: Via,
    /// The caller's address, when known.
    pub source: Option<String>,
}

impl Actor {
    /// A local tool with full rights (the `authserver` CLI, `authdomain dev`, management
    /// events, which IAM already restricts to the operator and the provisioner).
    pub fn system(via: Via, id: impl Into<String>) -> Actor {
        Actor {
            id: id.into(),
            role: Role::Admin,
            via,
            source: None,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The teams of a member (None for an admin: every team).
    pub fn teams(&self) -> Option<&BTreeSet<String>> {
        match &self.role {
            Role::Admin => None,
            Role::Member(t) => Some(t),
        }
    }

    fn in_team(&self, team: Option<&str>) -> bool {
        match &self.role {
            Role::Admin => true,
            Role::Member(teams) => team.is_some_and(|t| teams.contains(t)),
        }
    }

    fn role_name(&self) -> &'static str {
        match (&self.role, self.via) {
            (Role::Admin, Via::Cli | Via::Event) => "system",
            (Role::Admin, _) => "admin",
            (Role::Member(_), _) => "team",
        }
    }

    /// Admin only.
    pub(crate) fn require_admin(&self, what: &str) -> Result<(), AdminError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AdminError::Forbidden(format!("{what} is for admins only")))
        }
    }

    pub(crate) fn can_see_resource_server(&self, r: &ResourceServerRecord) -> bool {
        self.is_admin() || (r.identifier != ADMIN_AUDIENCE && self.in_team(r.team.as_deref()))
    }

    pub(crate) fn require_resource_server(
        &self,
        r: &ResourceServerRecord,
    ) -> Result<(), AdminError> {
        if self.can_see_resource_server(r) {
            Ok(())
        } else {
            Err(AdminError::Forbidden(format!(
                "resource server `{}` belongs to another team",
                r.identifier
            )))
        }
    }

    /// The team a member's new object goes to: the one named (one of theirs), or their
    /// only team. Admins may name any team or none.
    pub(crate) fn owning_team(
        &self,
        field: &str,
        named: Option<&str>,
    ) -> Result<Option<String>, AdminError> {
        if let Some(t) = named
            && !authdomain_api::names::is_team(t)
        {
            return Err(super::invalid(
                field,
                "expected a team name of 1 to 64 characters a-z 0-9 - _ .",
            ));
        }
        match (&self.role, named) {
            (Role::Admin, named) => Ok(named.map(str::to_owned)),
            (Role::Member(teams), Some(t)) if teams.contains(t) => Ok(Some(t.to_owned())),
            (Role::Member(teams), Some(t)) => Err(AdminError::Forbidden(format!(
                "you are not a member of team `{t}` (your teams: {})",
                list(teams)
            ))),
            (Role::Member(teams), None) if teams.len() == 1 => {
                Ok(teams.iter().next().map(|t| t.to_owned()))
            }
            (Role::Member(teams), None) => Err(super::invalid(
                field,
                format!("name the owning team, one of: {}", list(teams)),
            )),
        }
    }

    /// Scopes defined by resource servers of the actor's teams (None for admins: all).
    pub(crate) fn own_scopes(&self, catalog: &[ResourceServerRecord]) -> Option<BTreeSet<String>> {
        self.teams().map(|_| {
            catalog
                .iter()
                .filter(|r| self.can_see_resource_server(r))
                .flat_map(|r| r.scopes.iter().map(|s| s.name.clone()))
                .collect()
        })
    }

    pub(crate) fn can_see_client(&self, c: &ClientRecord, own: Option<&BTreeSet<String>>) -> bool {
        self.in_team(c.team.as_deref())
            || own.is_some_and(|own| c.allowed_scopes.iter().any(|s| own.contains(s)))
    }

    /// May change this client: admins, and members of its team; a client managed by a tool
    /// is changed there, never through the portal.
    pub(crate) fn require_client_change(&self, c: &ClientRecord) -> Result<(), AdminError> {
        self.check_client_change(&c.client_id, c.team.as_deref(), c.managed_by.as_deref())
    }

    /// [`Actor::require_client_change`] for a client as the API shows it (the portal's
    /// buttons).
    pub fn may_change_client(&self, c: &authdomain_api::Client) -> bool {
        self.check_client_change(&c.client_id, c.team.as_deref(), c.managed_by.as_deref())
            .is_ok()
    }

    fn check_client_change(
        &self,
        client_id: &str,
        team: Option<&str>,
        managed_by: Option<&str>,
    ) -> Result<(), AdminError> {
        if let Some(tool) = managed_by
            && self.via == Via::Portal
        {
            return Err(AdminError::Forbidden(format!(
                "client `{client_id}` is managed by {tool}: change it there"
            )));
        }
        if self.in_team(team) {
            Ok(())
        } else {
            Err(AdminError::Forbidden(format!(
                "client `{client_id}` belongs to another team"
            )))
        }
    }
}

fn list(teams: &BTreeSet<String>) -> String {
    if teams.is_empty() {
        return "none".into();
    }
    teams
        .iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Authority {
    /// Record a change. The change has happened: a failure to record it is logged loudly
    /// and counted, and does not undo or hide the change.
    pub(crate) async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        team: Option<&str>,
        detail: Value,
    ) {
        let event = AuditEvent {
            id: 0,
            at: crate::ids::now(),
            actor: actor.id.clone(),
            role: actor.role_name().to_owned(),
            via: actor.via.as_str().to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            team: team.map(str::to_owned),
            source: actor.source.clone(),
            detail,
        };
        if let Err(e) = self.with_retry(|| self.store.append_audit(&event)).await {
            metrics::counter!("authserver_audit_write_failures_total").increment(1);
            tracing::error!(error = %e, action, target, actor = %actor.id, "could not record an audit event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(teams: &[&str]) -> Actor {
        Actor {
            id: "alice@example.com".into(),
            role: Role::Member(teams.iter().map(|t| t.to_string()).collect()),
            via: Via::Portal,
            source: None,
        }
    }

    fn rs(id: &str, team: Option<&str>) -> ResourceServerRecord {
        ResourceServerRecord {
            identifier: id.into(),
            name: id.into(),
            scopes: vec![crate::store::ScopeDef {
                name: format!("{id}:read"),
                description: String::new(),
            }],
            team: team.map(str::to_owned),
            managed_by: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn members_see_their_teams_only() {
        let a = member(&["payments"]);
        assert!(a.can_see_resource_server(&rs("https://pay", Some("payments"))));
        assert!(!a.can_see_resource_server(&rs("https://search", Some("search"))));
        assert!(!a.can_see_resource_server(&rs("https://legacy", None)));
        assert!(!a.can_see_resource_server(&rs(ADMIN_AUDIENCE, Some("payments"))));
        let err = a
            .require_resource_server(&rs("https://search", Some("search")))
            .unwrap_err();
        assert!(matches!(err, AdminError::Forbidden(m) if m.contains("another team")));
        let admin = Actor::system(Via::Api, "client:ops");
        assert!(admin.can_see_resource_server(&rs("https://legacy", None)));
    }

    #[test]
    fn owning_team_defaults_and_refusals() {
        assert_eq!(
            member(&["payments"]).owning_team("team", None).unwrap(),
            Some("payments".into())
        );
        let two = member(&["payments", "search"]);
        assert!(
            matches!(two.owning_team("team", None), Err(AdminError::Invalid { field, message }) if field == "team" && message.contains("`payments`, `search`"))
        );
        assert!(matches!(
            member(&["payments"]).owning_team("team", Some("search")),
            Err(AdminError::Forbidden(_))
        ));
        assert!(matches!(
            member(&["payments"]).owning_team("team", Some("Bad Team")),
            Err(AdminError::Invalid { .. })
        ));
        assert_eq!(
            Actor::system(Via::Cli, "cli")
                .owning_team("team", None)
                .unwrap(),
            None
        );
    }

    #[test]
    fn managed_clients_are_read_only_in_the_portal() {
        let mut c = ClientRecord {
            client_id: "orders-job".into(),
            name: "orders".into(),
            auth_method: "client_secret_basic".into(),
            grant_types: vec![],
            allowed_scopes: vec!["https://pay:read".into()],
            default_scopes: vec![],
            token_ttl_seconds: None,
            jwks: None,
            jwks_uri: None,
            team: Some("payments".into()),
            managed_by: Some("kubernetes:shop/orders".into()),
            created_at: 0,
            updated_at: 0,
            secrets: vec![],
        };
        let a = member(&["payments"]);
        assert!(
            matches!(a.require_client_change(&c), Err(AdminError::Forbidden(m)) if m.contains("kubernetes:shop/orders"))
        );
        let mut portal_admin = Actor::system(Via::Portal, "carol@example.com");
        portal_admin.role = Role::Admin;
        assert!(portal_admin.require_client_change(&c).is_err());
        assert!(
            Actor::system(Via::Api, "client:operator")
                .require_client_change(&c)
                .is_ok()
        );
        c.managed_by = None;
        assert!(a.require_client_change(&c).is_ok());
        assert!(member(&["search"]).require_client_change(&c).is_err());
        // Another team's client holding one of my scopes is visible, not changeable.
        let own: BTreeSet<String> = ["https://pay:read".to_string()].into();
        c.team = Some("search".into());
        assert!(a.can_see_client(&c, Some(&own)));
        assert!(a.require_client_change(&c).is_err());
    }
}
