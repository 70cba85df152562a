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

CREATE FUNCTION read_model_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE read_model_state SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER read_model_clients AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION read_model_changed();
CREATE TRIGGER read_model_client_secrets AFTER INSERT OR UPDATE OR DELETE ON client_secrets
    FOR EACH ROW EXECUTE FUNCTION read_model_changed();
CREATE TRIGGER read_model_resource_servers AFTER INSERT OR UPDATE OR DELETE ON resource_servers
    FOR EACH ROW EXECUTE FUNCTION read_model_changed();
CREATE TRIGGER read_model_scopes AFTER INSERT OR UPDATE OR DELETE ON resource_server_scopes
    FOR EACH ROW EXECUTE FUNCTION read_model_changed();
CREATE TRIGGER read_model_signing_keys AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION read_model_changed();
CREATE TRIGGER read_model_revoked_tokens AFTER INSERT OR UPDATE OR DELETE ON revoked_tokens
    FOR EACH ROW EXECUTE FUNCTION read_model_changed();
