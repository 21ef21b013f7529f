ALTER TABLE settings
    DROP CONSTRAINT IF EXISTS settings_reminder_minutes_valid,
    DROP COLUMN IF EXISTS reminder_minutes;
ALTER TABLE user_preferences DROP COLUMN IF EXISTS rollup_enabled;
DROP INDEX IF EXISTS digest_log_messages_idx;
ALTER TABLE digest_log
    DROP CONSTRAINT IF EXISTS digest_log_message_id_positive,
    DROP COLUMN IF EXISTS message_id;
DROP TABLE IF EXISTS portal_bots;
