-- The app's code on the portal, as ``app.info`` answers it (``CODE``): the Market code of a
-- Market app, the client id of a local one. Links into the app (the digest's "Done…", the
-- board) are ``/marketplace/view/<code>/`` (BITRIX24.md §22.1.11); NULL until an install or
-- a first check of our app id reads it, and links then fall back to the client id.
-- depends: 0014.digest-rollup

ALTER TABLE portals ADD COLUMN app_code text
    CONSTRAINT portals_app_code_length CHECK (length(app_code) BETWEEN 1 AND 255);
