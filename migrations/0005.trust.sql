-- The trust model of DESIGN.md §4: rotation keeps the previous application token until
-- Bitrix24 itself uses the new one; the app's id (``app.info``) learned with our own tokens
-- at install tells user tokens of this app from tokens of another app; an uninstall event
-- waits here until Bitrix24 confirms that the stored tokens are dead.
--
-- ``abuse_budget`` counts outbound calls spent on requests that failed verification, in
-- one-minute windows shared by every replica. Its keys are hashes (no portal data), so it
-- does not hang off ``portals``: a junk installer POST names no portal we know.
-- depends: 0004.report-index

ALTER TABLE portals
    ADD COLUMN previous_application_token bytea,
    ADD COLUMN app_id text,
    ADD COLUMN uninstall_requested_at timestamptz,
    ADD CONSTRAINT portals_app_id_length CHECK (char_length(app_id) BETWEEN 1 AND 255);

CREATE INDEX portals_uninstall_requested_idx ON portals (uninstall_requested_at)
    WHERE uninstall_requested_at IS NOT NULL;

CREATE TABLE abuse_budget (
    key          text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    used         integer NOT NULL,
    CONSTRAINT abuse_budget_key_length CHECK (char_length(key) BETWEEN 1 AND 128),
    CONSTRAINT abuse_budget_used_range CHECK (used >= 0)
);

ALTER TABLE abuse_budget ENABLE ROW LEVEL SECURITY;
