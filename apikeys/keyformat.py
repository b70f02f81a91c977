"""The shape of a gateway key: `gwk_<8-character id>_<secret>`, stored only as a SHA-256 digest.

The id (`gwk_AbC12xYz`) is the visible prefix that names the key in the admin and in usage rows.
A plain SHA-256 is the right hash here, not a password hasher: the secret carries 240 random bits,
so nothing can be guessed, and the hot path can check a key in a microsecond.
"""

from __future__ import annotations

import hashlib
import secrets
import string

SCHEME = "gwk_"
ID_LENGTH = 8
PREFIX_LENGTH = len(SCHEME) + ID_LENGTH
_ID_ALPHABET = string.ascii_letters + string.digits


def generate_key() -> tuple[str, str, str]:
    """A new key: (plaintext shown once, visible prefix, hex digest to store)."""
    prefix = SCHEME + "".join(secrets.choice(_ID_ALPHABET) for _ in range(ID_LENGTH))
    plaintext = f"{prefix}_{secrets.token_urlsafe(30)}"
    return plaintext, prefix, digest(plaintext)


def prefix_of(presented: str) -> str | None:
    """The key's visible prefix, or None when the value is not shaped like a gateway key."""
    if len(presented) > PREFIX_LENGTH + 1 and presented.startswith(SCHEME) and presented[PREFIX_LENGTH] == "_":
        return presented[:PREFIX_LENGTH]
    return None


def digest(presented: str) -> str:
    return hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()
