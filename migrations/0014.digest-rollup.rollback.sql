UPDATE portal_bots SET status = 'unavailable' WHERE status = 'deleted';

ALTER TABLE portal_bots
    DROP CONSTRAINT portal_bots_status_valid,
    ADD CONSTRAINT portal_bots_status_valid CHECK (status IN ('registered', 'unavailable'));

ALTER TABLE digest_log DROP COLUMN rollup_message_id;
