-- AuthDomain auth server schema (PostgreSQL). Times are Unix seconds.
CREATE TABLE resource_servers (
    identifier  TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Scope names are unique across the domain: the primary key enforces it.
CREATE TABLE resource_server_scopes (
    name        TEXT PRIMARY KEY,
    identifier  TEXT NOT NULL REFERENCES resource_servers (identifier) ON DELETE CASCADE,
    description TEXT NOT NULL DEFAULT ''
);
CREATE INDEX resource_server_scopes_identifier ON resource_server_scopes (identifier);

CREATE TABLE clients (
    client_id         TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    auth_method       TEXT NOT NULL,
    grant_types       TEXT NOT NULL,  -- JSON array
    allowed_scopes    TEXT NOT NULL,  -- JSON array
    default_scopes    TEXT NOT NULL,  -- JSON array
    token_ttl_seconds BIGINT,
    jwks              TEXT,
    jwks_uri          TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE client_secrets (
    secret_id   TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    secret_hash BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX client_secrets_client_id ON client_secrets (client_id);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
    public_jwk     TEXT NOT NULL,
    private_sealed BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    activated_at   BIGINT,
    retired_at     BIGINT,
    expires_at     BIGINT
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE state = 'active';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (alg) WHERE state = 'next';

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- RFC 7523 §3: a client assertion's jti may be used once.
CREATE TABLE used_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
