"""The Postgres adapter: asyncpg repositories behind the storage port."""
