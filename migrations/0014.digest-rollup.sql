-- The manager's roll-up as its own bot message, and a bot that was deleted on the portal.
--
-- ``digest_log.rollup_message_id``: the roll-up message an admin or team viewer got with
-- that (portal, user, local day)'s digest, under the same claim; kept right after the
-- send, so a resend after a crash updates it instead of sending a second one.
-- ``portal_bots.status = 'deleted'``: Bitrix24 confirmed (with our stored tokens) that the
-- bot is gone after ONIMBOTV2DELETE; the digest falls back to system notifications until
-- an install or update registers the bot again.
-- depends: 0012.digest-days

ALTER TABLE digest_log
    ADD COLUMN rollup_message_id bigint,
    ADD CONSTRAINT digest_log_rollup_message_id_positive CHECK (rollup_message_id > 0);

ALTER TABLE portal_bots
    DROP CONSTRAINT portal_bots_status_valid,
    ADD CONSTRAINT portal_bots_status_valid
        CHECK (status IN ('registered', 'unavailable', 'deleted'));
