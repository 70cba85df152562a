-- The portal: teams own resource servers and clients, tools mark the clients they manage,
-- every change is audited, and browser sessions are kept server-side.
ALTER TABLE resource_servers ADD COLUMN team TEXT;
ALTER TABLE clients ADD COLUMN team TEXT;
ALTER TABLE clients ADD COLUMN managed_by TEXT;
-- The order secrets were added in, per client: `created_at` has one-second resolution, and
-- a rotation within the second must still list the old secret first.
ALTER TABLE client_secrets ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE audit_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    role    TEXT NOT NULL,
    via     TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    team    TEXT,
    source  TEXT,
    detail  TEXT NOT NULL  -- JSON object, never a secret
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_target ON audit_events (target);

-- A sign-in under way: one row per authorization request, consumed by its callback.
CREATE TABLE portal_logins (
    state         TEXT PRIMARY KEY,
    nonce         TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    return_to     TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);

-- A signed-in person. The cookie holds a random id; only its SHA-256 is stored.
CREATE TABLE portal_sessions (
    id_hash    TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    name       TEXT NOT NULL,
    email      TEXT,
    admin      BOOLEAN NOT NULL,
    teams      TEXT NOT NULL,  -- JSON array
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX portal_sessions_expires ON portal_sessions (expires_at);
