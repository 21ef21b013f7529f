DROP TABLE IF EXISTS handovers;
DROP TABLE IF EXISTS undo_tokens;
DROP INDEX IF EXISTS touchpoints_portal_responsible_deadline_id_idx;
DROP INDEX IF EXISTS touchpoints_portal_deadline_id_idx;
