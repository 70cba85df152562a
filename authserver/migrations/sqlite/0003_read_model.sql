-- The read model (see ARCHITECTURE.md): what the token path needs is published outside the
-- database, and its version goes up with every committed change to what it holds. The
-- triggers bump the version in the same transaction as the change, so no code path can
-- change a client, a scope, a key or a revocation without the published copy falling behind.
CREATE TABLE read_model_state (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    version           BIGINT NOT NULL,
    published_version BIGINT NOT NULL DEFAULT 0,
    published_at      BIGINT,
    last_error        TEXT,
    last_error_at     BIGINT
);
INSERT INTO read_model_state (id, version) VALUES (1, 1);

CREATE TRIGGER read_model_clients_insert AFTER INSERT ON clients
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_clients_update AFTER UPDATE ON clients
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_clients_delete AFTER DELETE ON clients
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_client_secrets_insert AFTER INSERT ON client_secrets
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_client_secrets_update AFTER UPDATE ON client_secrets
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_client_secrets_delete AFTER DELETE ON client_secrets
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_resource_servers_insert AFTER INSERT ON resource_servers
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_resource_servers_update AFTER UPDATE ON resource_servers
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_resource_servers_delete AFTER DELETE ON resource_servers
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_resource_server_scopes_insert AFTER INSERT ON resource_server_scopes
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_resource_server_scopes_update AFTER UPDATE ON resource_server_scopes
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_resource_server_scopes_delete AFTER DELETE ON resource_server_scopes
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_signing_keys_insert AFTER INSERT ON signing_keys
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_signing_keys_update AFTER UPDATE ON signing_keys
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_signing_keys_delete AFTER DELETE ON signing_keys
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_revoked_tokens_insert AFTER INSERT ON revoked_tokens
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_revoked_tokens_update AFTER UPDATE ON revoked_tokens
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER read_model_revoked_tokens_delete AFTER DELETE ON revoked_tokens
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
END;
