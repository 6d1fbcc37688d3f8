-- The role the centre's login role is given (GRANT framechain_center_writer
-- TO <login>): it reads and writes rooms, pods and placements, and on the
-- audit trail it has only what framechain_audit_writer has (INSERT and
-- SELECT). It cannot change the schema: migrations run apart, as the
-- owner (`framechain center --postgres OWNER_URL --migrate-only`).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'framechain_center_writer') THEN
        CREATE ROLE framechain_center_writer NOLOGIN;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'cannot create role framechain_center_writer: run the migrations as a role with CREATEROLE, or create it first (CREATE ROLE framechain_center_writer NOLOGIN)';
END
$$;

GRANT USAGE ON SCHEMA public TO framechain_center_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON rooms, pods, placements TO framechain_center_writer;
-- The schema check at start reads which migrations were applied.
GRANT SELECT ON refinery_schema_history TO framechain_center_writer;
GRANT framechain_audit_writer TO framechain_center_writer;
