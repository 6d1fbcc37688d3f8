-- The audit trail: every event the edge pods sent, one row each, written
-- once and never changed (docs/center.md, "The audit trail").

CREATE TABLE audit_events (
    -- The event's own id (UUIDv7, made by the pod): delivery is
    -- at-least-once, and this key makes a second delivery a no-op.
    id          uuid PRIMARY KEY,
    pod         text NOT NULL,
    -- The pod's hash chain and the record's place in it (from 0, no gaps).
    chain       uuid NOT NULL,
    seq         bigint NOT NULL CHECK (seq >= 0),
    -- When the pod recorded it.
    time        timestamptz NOT NULL,
    room        text NULL,
    participant text NULL,
    kind        text NOT NULL,
    -- The exact JSON line the chain covers; the columns above are copies
    -- of its fields for queries, and `framechain audit verify` checks
    -- that they still agree.
    body        text NOT NULL,
    prev_hash   text NOT NULL,
    hash        text NOT NULL,
    -- When the centre stored it.
    received    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chain, seq)
);

CREATE INDEX audit_events_room_time ON audit_events (room, time) WHERE room IS NOT NULL;
CREATE INDEX audit_events_participant_time ON audit_events (participant, time)
    WHERE participant IS NOT NULL;
CREATE INDEX audit_events_time ON audit_events (time);

-- Stream entries the ingest could not store as events (a field missing, a
-- body that is not an event, a hash that does not match): kept here,
-- acknowledged and counted, never dropped in silence.
CREATE TABLE audit_rejects (
    -- The Redis stream entry's id (`1733400000000-0`): a second delivery
    -- of the same entry is a no-op.
    stream_id   text PRIMARY KEY,
    received    timestamptz NOT NULL DEFAULT now(),
    -- Why it was not stored, one line.
    reason      text NOT NULL,
    -- The entry's fields as they came (cut to a bound), for a person.
    entry       text NOT NULL
);

-- History is not rewritten, not even by a bug in the centre: rows may be
-- inserted and read, never updated, deleted or truncated. Only the tables'
-- owner can lift this (ALTER TABLE … DISABLE TRIGGER), and the centre's
-- login role is not the owner.
CREATE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_rejects_append_only
    BEFORE UPDATE OR DELETE ON audit_rejects
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_rejects_no_truncate
    BEFORE TRUNCATE ON audit_rejects
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- The role the centre's login role is made a member of: insert and read
-- the audit tables, nothing else on them.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'framechain_audit_writer') THEN
        CREATE ROLE framechain_audit_writer NOLOGIN;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'cannot create role framechain_audit_writer: run the migrations as a role with CREATEROLE, or create it first (CREATE ROLE framechain_audit_writer NOLOGIN)';
END;
$$;

REVOKE ALL ON audit_events, audit_rejects FROM PUBLIC;
REVOKE ALL ON audit_events, audit_rejects FROM framechain_audit_writer;
GRANT USAGE ON SCHEMA public TO framechain_audit_writer;
GRANT INSERT, SELECT ON audit_events, audit_rejects TO framechain_audit_writer;
