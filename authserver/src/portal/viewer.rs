//! The signed-in person: their session and the [`Actor`] every admin operation is asked
//! as. Plain data; `super::session` finds it from the request's cookie.

use std::collections::BTreeSet;

use crate::admin::{Actor, Role, Via};
use crate::ids::constant_time_eq;
use crate::store::SessionRecord;

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub session: SessionRecord,
    pub actor: Actor,
}

impl Viewer {
    pub(super) fn from_session(session: SessionRecord, source: Option<String>) -> Viewer {
        let role = if session.admin {
            Role::Admin
        } else {
            Role::Member(session.teams.iter().cloned().collect::<BTreeSet<_>>())
        };
        let actor = Actor {
            id: session
                .email
                .clone()
                .unwrap_or_else(|| session.subject.clone()),
            role,
            via: Via::Portal,
            source,
        };
        Viewer { session, actor }
    }

    /// Whether `presented` is this session's CSRF token.
    pub fn csrf_ok(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| constant_time_eq(p.as_bytes(), self.session.csrf.as_bytes()))
    }
}
