-- One Bitrix24 request budget per portal, shared by every replica and digest runner
-- (BITRIX24.md §7): the app's copy of the portal's leaky bucket and the methods paused by
-- the operating-time limit. Bitrix24 counts per portal, not per process.
--
-- ``level`` is the bucket's level at ``updated_at`` (the database clock, the one clock all
-- processes share), reservations included; ``paused`` maps a REST method to the unix
-- second until which it is held back (§7.2). Deleting the portal deletes its budget.
-- depends: 0005.trust

CREATE TABLE b24_rate_budget (
    portal_id  bigint PRIMARY KEY REFERENCES portals (id) ON DELETE CASCADE,
    level      double precision NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL,
    paused     jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT b24_rate_budget_level_range CHECK (level >= 0),
    CONSTRAINT b24_rate_budget_paused_object CHECK (jsonb_typeof(paused) = 'object')
);

ALTER TABLE b24_rate_budget ENABLE ROW LEVEL SECURITY;
