-- Work in bulk (DESIGN.md §3.6): the list view's keyset paging and server-side undo.
--
-- The list view pages by (deadline, id) over every status: a team viewer's list uses the
-- first index, a user's own list the second (the board's index leads with status).
--
-- ``undo_tokens`` keeps what a move, reassignment, bulk action or sweep changed, for a
-- quarter of an hour, so that any replica can put it back once. Only a SHA-256 of each
-- token is stored. ``items`` holds, per touch-point, the deadline and responsible before
-- and after: data we already keep on the touch-point itself.
-- depends: 0005.trust

CREATE INDEX touchpoints_portal_deadline_id_idx ON touchpoints (portal_id, deadline, id);
CREATE INDEX touchpoints_portal_responsible_deadline_id_idx
    ON touchpoints (portal_id, responsible_id, deadline, id);

CREATE TABLE undo_tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    portal_id  bigint NOT NULL REFERENCES portals (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL,
    token_hash bytea NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    items      jsonb NOT NULL,
    CONSTRAINT undo_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT undo_tokens_user_id_positive CHECK (user_id > 0),
    CONSTRAINT undo_tokens_token_hash_length CHECK (octet_length(token_hash) = 32),
    CONSTRAINT undo_tokens_expiry_after_creation CHECK (expires_at > created_at),
    CONSTRAINT undo_tokens_items_array CHECK (jsonb_typeof(items) = 'array')
);

-- Forgetting a portal's expired tokens.
CREATE INDEX undo_tokens_portal_expires_idx ON undo_tokens (portal_id, expires_at);

ALTER TABLE undo_tokens ENABLE ROW LEVEL SECURITY;

-- Hand-over with return: which touch-points went from one user to another for a period,
-- so that the ones still open can go back when it ends (a background pass).
CREATE TABLE handovers (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    portal_id       bigint NOT NULL REFERENCES portals (id) ON DELETE CASCADE,
    from_user_id    bigint NOT NULL,
    to_user_id      bigint NOT NULL,
    first_day       date NOT NULL,
    last_day        date NOT NULL,
    created_by      bigint NOT NULL,
    created_at      timestamptz NOT NULL,
    touch_point_ids bigint[] NOT NULL,
    returned_at     timestamptz,
    CONSTRAINT handovers_users_positive
        CHECK (from_user_id > 0 AND to_user_id > 0 AND created_by > 0),
    CONSTRAINT handovers_someone_else CHECK (from_user_id <> to_user_id),
    CONSTRAINT handovers_period CHECK (last_day >= first_day AND last_day - first_day < 366),
    CONSTRAINT handovers_items_count CHECK (cardinality(touch_point_ids) <= 5000)
);

-- The return pass: a portal's hand-overs not returned yet.
CREATE INDEX handovers_portal_open_idx ON handovers (portal_id, last_day)
    WHERE returned_at IS NULL;

ALTER TABLE handovers ENABLE ROW LEVEL SECURITY;
