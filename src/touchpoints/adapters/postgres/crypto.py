"""Encryption at rest of the OAuth tokens we store, with keys derived from the server secret.

Each secret (``TOUCHPOINTS_SECRET_KEY`` and, during a rotation, the previous ones) is
stretched by HKDF-SHA256 into a Fernet key (AES-128-CBC plus HMAC-SHA256, authenticated,
timestamped). ``MultiFernet`` encrypts with the current key and decrypts with any, so a
key can be rotated by deploying the new secret with the old one listed as previous, then
re-encrypting (``PostgresStorage.reencrypt_tokens``), then dropping the old secret.
A database dump therefore holds only ciphertext that is useless without the server secret.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from touchpoints.domain.secrets import Secret
from touchpoints.ports.storage import StorageError

# Domain separation: the same server secret also signs sessions elsewhere, so the token
# key is derived for this one purpose (changing these would make stored tokens unreadable).
_SALT = b"touchpoints/storage"
_INFO = b"oauth-token-encryption/v1"


class TokenUnreadable(StorageError):
    """A stored token cannot be decrypted with any configured key (wrong or retired secret)."""


def derive_key(secret: Secret) -> bytes:
    """The urlsafe-base64 Fernet key derived from one server secret."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(
        secret.reveal().encode()
    )
    return base64.urlsafe_b64encode(raw)


class TokenCipher:
    """Encrypts tokens with the current secret; decrypts with the current or a previous one.

    Its repr names how many keys it holds, never a key or a token.
    """

    __slots__ = ("_fernet", "_key_count")

    def __init__(self, current: Secret, previous: Sequence[Secret] = ()) -> None:
        if not current:
            raise ValueError("the token encryption secret must not be empty")
        keys = [Fernet(derive_key(current))]
        keys.extend(Fernet(derive_key(secret)) for secret in previous if secret)
        self._fernet = MultiFernet(keys)
        self._key_count = len(keys)

    def encrypt(self, token: Secret) -> bytes:
        """Ciphertext of ``token`` under the current key (different on every call)."""
        return self._fernet.encrypt(token.reveal().encode())

    def decrypt(self, ciphertext: bytes) -> Secret:
        """Raises: TokenUnreadable when no configured key opens ``ciphertext``."""
        try:
            return Secret(self._fernet.decrypt(bytes(ciphertext)).decode())
        except (InvalidToken, UnicodeDecodeError) as exc:
            raise TokenUnreadable(
                "a stored token cannot be decrypted with the configured keys"
            ) from exc

    def rotate(self, ciphertext: bytes) -> bytes:
        """Re-encrypt ``ciphertext`` under the current key.

        Raises: TokenUnreadable when no configured key opens it.
        """
        try:
            return self._fernet.rotate(bytes(ciphertext))
        except InvalidToken as exc:
            raise TokenUnreadable(
                "a stored token cannot be decrypted with the configured keys"
            ) from exc

    def __repr__(self) -> str:
        return f"<TokenCipher keys={self._key_count}>"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would copy the keys out of the process; nothing needs it.
        raise TypeError("TokenCipher cannot be pickled")
