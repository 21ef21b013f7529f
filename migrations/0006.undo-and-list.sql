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
