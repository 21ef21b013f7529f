ALTER TABLE user_preferences DROP COLUMN IF EXISTS language;
