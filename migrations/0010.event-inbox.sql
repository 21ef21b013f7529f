-- Durable event intake: a verified activity event for one of our touch-points is recorded
-- here before Bitrix24 gets its 2xx (Bitrix24 never re-sends, BITRIX24.md §9.3), and the
-- row is deleted once the touch-point has converged. Any replica may process a row:
-- ``claimed_until`` is a short lease (the receiving process takes one at once, a drainer
-- claims expired ones with FOR UPDATE SKIP LOCKED), so a crashed process's rows are
-- picked up by the next one within seconds.
--
-- One row per (portal, activity): a new event for an activity already waiting coalesces
-- into it and moves ``received_at`` on, so a worker that finishes an older version deletes
-- nothing newer than what it synced.
-- depends: 0005.trust

CREATE TABLE event_inbox (
    portal_id     bigint NOT NULL REFERENCES portals (id) ON DELETE CASCADE,
    activity_id   bigint NOT NULL,
    received_at   timestamptz NOT NULL,
    claimed_until timestamptz,
    PRIMARY KEY (portal_id, activity_id),
    CONSTRAINT event_inbox_activity_id_positive CHECK (activity_id > 0)
);

CREATE INDEX event_inbox_claimable_idx ON event_inbox (claimed_until);

ALTER TABLE event_inbox ENABLE ROW LEVEL SECURITY;
