//! Reading the audit log: admins read every event, team members the events about their
//! teams' objects.

use authdomain_api::AuditEvent;

use super::{Actor, AdminError};
use crate::authority::Authority;
use crate::store::AuditFilter;

impl Authority {
    pub async fn list_audit(
        &self,
        actor: &Actor,
        mut filter: AuditFilter,
    ) -> Result<Vec<AuditEvent>, AdminError> {
        filter.teams = actor.teams().map(|t| t.iter().cloned().collect());
        Ok(self.with_retry(|| self.store.list_audit(&filter)).await?)
    }
}
