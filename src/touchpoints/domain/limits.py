"""The limits of what the app accepts (DESIGN.md §3.4–§3.5), written once and read everywhere."""

from __future__ import annotations

TITLE_MAX = 255
"""A to-do's subject, in characters."""

NOTE_MAX = 10_000
"""A to-do's description and a result note, in characters."""

FEEDBACK_MAX = 5_000
"""A feedback message, in characters (at least one that is not a space)."""

EMAIL_MAX = 254
"""An e-mail address, in characters (RFC 5321's path limit)."""

SEARCH_MAX = 100
"""A CRM record search, in characters."""

TIME_ZONE_MAX = 64
"""An IANA time zone name, in characters."""

MAX_ID_DIGITS = 18
MAX_ID = 10**MAX_ID_DIGITS - 1
"""The largest id we accept: 18 decimal digits always fit a Postgres ``bigint``."""

INTERVAL_MIN, INTERVAL_MAX = 1, 90
"""The default follow-up interval's range."""

MAX_HOLIDAYS = 366
REMINDER_MAX = 10_080
"""A reminder's offset before the deadline, in minutes (a week)."""
MAX_REMINDERS = 10
MAX_TEAM_VIEWERS = 1_000
# Smart-process types a portal may enable besides the four entities (each binds a card tab).
MAX_SMART_PROCESSES = 50

FIRST_YEAR, LAST_YEAR = 2000, 2200
"""The years a date or datetime in a request may fall in."""

BULK_MAX = 500
"""Touch-points one bulk action (or sweep) handles."""

SHIFT_MAX = 366
"""The largest move by working or calendar days, either way."""

LIST_LIMIT_MAX, LIST_LIMIT_DEFAULT = 200, 50
"""A list page's size."""

CURSOR_MAX = 200
"""A list cursor, in characters."""
