DROP TABLE IF EXISTS b24_rate_budget;
