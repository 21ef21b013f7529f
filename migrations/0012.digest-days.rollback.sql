DROP TABLE IF EXISTS digest_days;
