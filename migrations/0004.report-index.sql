-- Reports and the raw CSV export read one portal's touch-points created within a period.
-- depends: 0003.user-language

CREATE INDEX touchpoints_portal_created_idx ON touchpoints (portal_id, created_at);
