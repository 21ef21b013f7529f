-- The digest bot (DESIGN.md §3.7, BITRIX24.md §22.1): the chat-bot registered for each
-- portal, and the bot message each user's digest was sent as.
--
-- ``portal_bots`` holds one row per portal once registration was tried: ``registered``
-- with the bot's id, or ``unavailable`` when the installation lacks the ``imbot`` scope
-- (the digest then falls back to system notifications and the settings page says so).
-- ``digest_log.message_id`` is the bot message of that (portal, user, local day): kept
-- right after the send, so a resend after a crash updates the message instead of
-- sending a second one, and the next day's digest can take the buttons off it.
-- ``user_preferences.rollup_enabled``: whether an admin or team viewer wants the team's
-- roll-up in their digest (null: the default, on).
-- ``settings.reminder_minutes``: the to-dos' reminders (``pingOffsets``, §22.6).
-- depends: 0005.trust

CREATE TABLE portal_bots (
    portal_id  bigint PRIMARY KEY REFERENCES portals (id) ON DELETE CASCADE,
    status     text NOT NULL,
    bot_id     bigint,
    updated_at timestamptz NOT NULL,
    CONSTRAINT portal_bots_status_valid CHECK (status IN ('registered', 'unavailable')),
    CONSTRAINT portal_bots_bot_id_positive CHECK (bot_id > 0),
    CONSTRAINT portal_bots_registered_has_id CHECK ((status = 'registered') = (bot_id IS NOT NULL))
);

ALTER TABLE portal_bots ENABLE ROW LEVEL SECURITY;

ALTER TABLE digest_log
    ADD COLUMN message_id bigint,
    ADD CONSTRAINT digest_log_message_id_positive CHECK (message_id > 0);

-- The latest bot message of each user: the one whose buttons a press acts on, and the one
-- the next day's digest clears.
CREATE INDEX digest_log_messages_idx ON digest_log (portal_id, user_id, local_day DESC)
    WHERE message_id IS NOT NULL;

ALTER TABLE user_preferences ADD COLUMN rollup_enabled boolean;

ALTER TABLE settings
    ADD COLUMN reminder_minutes smallint[] NOT NULL DEFAULT '{15}',
    ADD CONSTRAINT settings_reminder_minutes_valid
        CHECK (0 <= ALL (reminder_minutes) AND 10080 >= ALL (reminder_minutes)
               AND cardinality(reminder_minutes) <= 10);
