-- The digest's per-portal schedule: a pass skips a portal without reading its users until
-- its next digest is due, and several runners split the portals between them.
--
-- ``next_at``: the instant the portal's next digest slot opens; set once a local day is
-- settled (every claimed digest sent) or when a pass comes before the digest hour. Null or
-- past: the portal is looked at by the next pass. ``leased_until``: a runner is working
-- on the portal until then (its per-portal budget); other runners leave it alone. A lease
-- left behind by a crashed runner simply expires.
-- depends: 0011.smart-processes

CREATE TABLE digest_days (
    portal_id    bigint PRIMARY KEY REFERENCES portals (id) ON DELETE CASCADE,
    next_at      timestamptz,
    leased_until timestamptz
);

ALTER TABLE digest_days ENABLE ROW LEVEL SECURITY;

-- A pass lists the active portals that are due: those without a row or whose ``next_at``
-- has come.
CREATE INDEX digest_days_next_at_idx ON digest_days (next_at);
