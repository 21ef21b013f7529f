"""Short-lived app sessions: sealed (encrypted and signed) tokens, no server-side state.

A session carries the user's portal, id, admin flag and the user's own Bitrix24 access
token (so CRM calls run with the user's permissions). It is sealed with a key derived from
``TOUCHPOINTS_SECRET_KEY``, so any replica behind a round-robin balancer can open it and no
shared store is needed; it lives no longer than the access token inside it. The browser
keeps it in memory and sends it as ``Authorization: Bearer``; no cookies, no URLs.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import attrs
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from touchpoints.domain.secrets import Secret

MAX_LIFETIME = timedelta(hours=1)
_VERSION = 1


class SessionInvalid(Exception):
    """Not a session we issued (tampered, another key, malformed)."""


class SessionExpired(SessionInvalid):
    """A session we issued, past its expiry: renew it with fresh frame auth."""


@attrs.frozen(kw_only=True)
class AppSession:
    portal_id: int
    member_id: str
    user_id: int
    is_admin: bool
    access_token: Secret
    expires_at: datetime
    lang: str = "en"


def derive_key(secret_key: Secret, purpose: str) -> bytes:
    """A Fernet key for one purpose, derived from the server secret with HKDF-SHA256."""
    raw = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"touchpoints/{purpose}".encode()
    ).derive(secret_key.reveal().encode())
    return base64.urlsafe_b64encode(raw)


class SessionSealer:
    """Seals and opens sessions; its repr shows nothing of the key."""

    def __init__(self, secret_key: Secret) -> None:
        self._fernet = Fernet(derive_key(secret_key, "sessions"))

    def __repr__(self) -> str:
        return "SessionSealer(<secret>)"

    def issue(
        self,
        *,
        portal_id: int,
        member_id: str,
        user_id: int,
        is_admin: bool,
        access_token: Secret,
        token_expires_at: datetime,
        now: datetime,
        lang: str = "en",
    ) -> tuple[str, AppSession]:
        """A sealed token and the session it holds; it expires with the access token."""
        expires_at = min(token_expires_at, now + MAX_LIFETIME)
        session = AppSession(
            portal_id=portal_id,
            member_id=member_id,
            user_id=user_id,
            is_admin=is_admin,
            access_token=access_token,
            expires_at=expires_at,
            lang=lang,
        )
        payload = {
            "v": _VERSION,
            "p": portal_id,
            "m": member_id,
            "u": user_id,
            "a": is_admin,
            "t": access_token.reveal(),
            "x": int(expires_at.timestamp()),
            "l": lang,
        }
        token = self._fernet.encrypt(json.dumps(payload, separators=(",", ":")).encode())
        return token.decode(), session

    def open(self, token: str, *, now: datetime) -> AppSession:
        """Raises: SessionExpired (ours, too old), SessionInvalid (not ours)."""
        try:
            data = json.loads(self._fernet.decrypt(token.encode()))
            if data.get("v") != _VERSION:
                raise SessionInvalid("unknown session version")
            session = AppSession(
                portal_id=int(data["p"]),
                member_id=str(data["m"]),
                user_id=int(data["u"]),
                is_admin=bool(data["a"]),
                access_token=Secret(str(data["t"])),
                expires_at=datetime.fromtimestamp(int(data["x"]), tz=UTC),
                lang=str(data.get("l", "en")),
            )
        except (InvalidToken, ValueError, KeyError, TypeError, UnicodeError) as exc:
            raise SessionInvalid("not a valid session") from exc
        if now >= session.expires_at:
            raise SessionExpired("the session has expired")
        return session
