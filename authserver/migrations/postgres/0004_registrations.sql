-- Who manages a resource server: `spec` for those an AuthDomain's spec.resourceServers
-- created (apply, drift and the operator converge them; the portal shows them read-only),
-- NULL for the portal's and the admin API's.
ALTER TABLE resource_servers ADD COLUMN managed_by TEXT;

-- Which images may run on this schema: an image whose newest migration is older than
-- `oldest_compatible` refuses to start its migrations (a clear error naming both), one at
-- or after it runs (an image may be older than the schema when every migration since its
-- own is additive). A migration that older images cannot live with raises it to its own
-- version.
CREATE TABLE authdomain_schema (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    oldest_compatible BIGINT NOT NULL
);
INSERT INTO authdomain_schema (id, oldest_compatible) VALUES (1, 1);

-- What the read model holds changed (resource servers carry `managed_by` now): a new
-- version, so the next `prepare` or change publishes it.
UPDATE read_model_state SET version = version + 1 WHERE id = 1;
