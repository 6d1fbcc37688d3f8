-- The centre's rooms, the pods it has heard from, and where each room runs.
-- Placement (crates/framechain-center/src/store.rs) changes `placements`
-- only inside a transaction holding the placement advisory lock, so two
-- centre replicas never place one room twice nor overfill a pod.

-- A room as the scheduling system declares it: the same JSON object as
-- serve's rooms file (`spec`), with the optional `labels` it asks of a pod.
CREATE TABLE rooms (
    room       text PRIMARY KEY,
    spec       jsonb NOT NULL,
    -- The room's window, from spec's not_before / not_after (NULL: open).
    not_before timestamptz,
    not_after  timestamptz,
    created    timestamptz NOT NULL DEFAULT now(),
    updated    timestamptz NOT NULL DEFAULT now()
);

-- Every pod that ever sent a heartbeat, with the last one. Whether a pod is
-- alive is Redis's answer (its heartbeat key has not expired), not this
-- table's: `last_seen` is for the status page and the operator.
CREATE TABLE pods (
    node        text PRIMARY KEY,
    last_status jsonb NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now()
);

-- Where each room runs. `generation` counts the placements of the room
-- (1 for the first); a failover bumps it and keeps the node it left.
CREATE TABLE placements (
    room          text PRIMARY KEY REFERENCES rooms (room) ON DELETE CASCADE,
    node          text NOT NULL,
    placed_at     timestamptz NOT NULL DEFAULT now(),
    generation    bigint NOT NULL DEFAULT 1,
    previous_node text
);

CREATE INDEX placements_by_node ON placements (node);
