ALTER TABLE portals DROP COLUMN app_code;
