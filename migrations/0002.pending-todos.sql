-- To-dos the app asked Bitrix24 to create but has not recorded yet.
--
-- A row is written before crm.activity.todo.add and removed in the same transaction that
-- records the touch-point. A row that stays (the call timed out, the process died, the
-- database failed after the CRM call) tells reconciliation to look for that to-do in the
-- CRM and adopt it, or to forget the attempt when the CRM never created it (DESIGN.md §3.5).
-- depends: 0001.initial-schema

CREATE TABLE pending_todos (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    portal_id      bigint NOT NULL REFERENCES portals (id) ON DELETE CASCADE,
    owner_type     text NOT NULL,
    owner_id       bigint NOT NULL,
    type           text NOT NULL,
    deadline       timestamptz NOT NULL,
    responsible_id bigint NOT NULL,
    created_by     bigint NOT NULL,
    previous_id    bigint,
    activity_id    bigint,
    created_at     timestamptz NOT NULL,
    CONSTRAINT pending_todos_owner_type_valid
        CHECK (owner_type IN ('lead', 'deal', 'contact', 'company')),
    CONSTRAINT pending_todos_type_valid
        CHECK (type IN ('call', 'meeting', 'email', 'message', 'visit', 'other')),
    CONSTRAINT pending_todos_ids_positive CHECK (
        owner_id > 0 AND responsible_id > 0 AND created_by > 0
        AND (previous_id IS NULL OR previous_id > 0)
        AND (activity_id IS NULL OR activity_id > 0)
    ),
    CONSTRAINT pending_todos_previous_fkey FOREIGN KEY (portal_id, previous_id)
        REFERENCES touchpoints (portal_id, id) ON DELETE CASCADE
);

-- Reconciliation reads a portal's oldest attempts.
CREATE INDEX pending_todos_portal_created_idx ON pending_todos (portal_id, created_at);

ALTER TABLE pending_todos ENABLE ROW LEVEL SECURITY;
