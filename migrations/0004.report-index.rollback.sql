DROP INDEX IF EXISTS touchpoints_portal_created_idx;
