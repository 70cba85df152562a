-- Who manages a resource server: `spec` for those an AuthDomain's spec.resourceServers
-- created (apply, drift and the operator converge them; the portal shows them read-only),
-- NULL for the portal's and the admin API's.
ALTER TABLE resource_servers ADD COLUMN managed_by TEXT;
