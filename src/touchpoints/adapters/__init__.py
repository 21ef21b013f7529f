"""Adapters: Bitrix24 REST, Postgres and in-memory implementations of the ports."""
