-- Remember each user's Bitrix24 UI language (from their frame launches) so the daily digest
-- is written in it; user.get does not return it (BITRIX24.md §13).
-- depends: 0002.pending-todos

ALTER TABLE user_preferences ADD COLUMN language text;
ALTER TABLE user_preferences ADD CONSTRAINT user_preferences_language_length
    CHECK (char_length(language) BETWEEN 2 AND 16);
