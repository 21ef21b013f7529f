DROP TABLE IF EXISTS abuse_budget;
DROP INDEX IF EXISTS portals_uninstall_requested_idx;
ALTER TABLE portals
    DROP CONSTRAINT IF EXISTS portals_app_id_length,
    DROP COLUMN IF EXISTS uninstall_requested_at,
    DROP COLUMN IF EXISTS app_id,
    DROP COLUMN IF EXISTS previous_application_token;
