-- Undo the initial schema (development only: this drops every portal's data).

DROP TABLE IF EXISTS feedback;
DROP TABLE IF EXISTS digest_log;
DROP TABLE IF EXISTS touchpoints;
DROP TABLE IF EXISTS user_preferences;
DROP TABLE IF EXISTS settings;
DROP TABLE IF EXISTS portals;
