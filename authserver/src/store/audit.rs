//! The audit log: one row per change, appended by the admin layer and read with filters.

use authdomain_api::AuditEvent;

use super::{Db, Result, Store, StoreError};

/// Which events to read (every field narrows; `teams` limits to objects of those teams).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// A prefix of the action: `client` matches `client.create` and `client.secret.add`.
    pub action: Option<String>,
    pub target: Option<String>,
    /// Only events at or after this Unix time.
    pub since: Option<i64>,
    /// Only events before this id (paging backwards).
    pub before_id: Option<i64>,
    /// Only events about objects owned by one of these teams (None: every event).
    pub teams: Option<Vec<String>>,
    pub limit: i64,
}

/// The audit query with a driver's team clause (a literal, so the statement is static).
macro_rules! audit_select {
    ($team_clause:literal) => {
        concat!(
            "SELECT id, at, actor, role, via, action, target, team, source, detail FROM audit_events ",
            "WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action LIKE $2) ",
            "AND ($3 IS NULL OR target = $3) AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR id < $5) ",
            "AND ($6 IS NULL OR ",
            $team_clause,
            ") ORDER BY id DESC LIMIT $7"
        )
    };
}

type AuditRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
);

impl Store {
    /// Append one event (its `id` is assigned by the database).
    pub async fn append_audit(&self, e: &AuditEvent) -> Result<()> {
        let detail = e.detail.to_string();
        with_pool!(self, p => {
            sqlx::query(
                "INSERT INTO audit_events (at, actor, role, via, action, target, team, source, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(e.at).bind(&e.actor).bind(&e.role).bind(&e.via).bind(&e.action).bind(&e.target)
            .bind(&e.team).bind(&e.source).bind(&detail)
            .execute(p).await?;
        });
        Ok(())
    }

    /// Events newest first. Filters are bound parameters; an absent filter is a NULL that
    /// matches everything, so the statement stays one static string.
    pub async fn list_audit(&self, f: &AuditFilter) -> Result<Vec<AuditEvent>> {
        let teams = f
            .teams
            .as_ref()
            .map(|t| serde_json::to_string(t).expect("serialisable"));
        let action_like = f
            .action
            .as_ref()
            .map(|a| format!("{}%", a.replace(['%', '_'], "")));
        // The team filter reads the JSON list in SQL: json_array_elements_text (PostgreSQL)
        // and json_each (SQLite).
        let sql = match self.pool() {
            Db::Postgres(_) => audit_select!("team IN (SELECT json_array_elements_text($6::json))"),
            Db::Sqlite(_) => audit_select!("team IN (SELECT value FROM json_each($6))"),
        };
        let rows: Vec<AuditRow> = with_pool!(self, p => {
            sqlx::query_as(sql)
                .bind(&f.actor).bind(&action_like).bind(&f.target).bind(f.since).bind(f.before_id)
                .bind(&teams).bind(f.limit.clamp(1, 500))
                .fetch_all(p).await?
        });
        rows.into_iter()
            .map(
                |(id, at, actor, role, via, action, target, team, source, detail)| {
                    Ok(AuditEvent {
                        id,
                        at,
                        actor,
                        role,
                        via,
                        action,
                        target,
                        team,
                        source,
                        detail: serde_json::from_str(&detail).map_err(|e| {
                            StoreError::Corrupt(format!("audit detail of event {id}: {e}"))
                        })?,
                    })
                },
            )
            .collect()
    }
}
