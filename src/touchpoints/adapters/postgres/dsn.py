"""Postgres DSN helpers: the yoyo spelling, another database or user on the same server."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

_SCHEMES = ("postgresql", "postgres")


def _split(dsn: str) -> tuple[str, str, str, str, str]:
    parts = urlsplit(dsn)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in _SCHEMES:
        raise ValueError("expected a postgresql:// DSN")
    return parts.scheme, parts.netloc, parts.path, parts.query, parts.fragment


def yoyo_url(dsn: str) -> str:
    """The DSN spelled for yoyo, which must use psycopg 3 (``postgresql+psycopg://``)."""
    _scheme, netloc, path, query, fragment = _split(dsn)
    return urlunsplit(("postgresql+psycopg", netloc, path, query, fragment))


def libpq_url(dsn: str) -> str:
    """The DSN spelled for libpq/psycopg and asyncpg (``postgresql://``)."""
    _scheme, netloc, path, query, fragment = _split(dsn)
    return urlunsplit(("postgresql", netloc, path, query, fragment))


def with_database(dsn: str, database: str) -> str:
    """The same server and credentials, another database."""
    _scheme, netloc, _path, query, fragment = _split(dsn)
    return urlunsplit(("postgresql", netloc, "/" + quote(database, safe=""), query, fragment))


def with_user(dsn: str, user: str, password: str | None = None) -> str:
    """The same server and database, another role."""
    _scheme, netloc, path, query, fragment = _split(dsn)
    host = netloc.rpartition("@")[2]
    credentials = quote(user, safe="")
    if password is not None:
        credentials += ":" + quote(password, safe="")
    return urlunsplit(("postgresql", f"{credentials}@{host}", path, query, fragment))
