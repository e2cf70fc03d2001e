"""Return and receipt codes: random, shown once, only their SHA-256 kept."""

from __future__ import annotations

import hashlib
import re
import secrets

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read aloud and typed safely
GROUPS, GROUP_LENGTH = 4, 4  # 16 characters: 80 bits, out of reach of guessing
_NOT_IN_CODE = re.compile(r"[\s\-_.]")


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    return "-".join(raw[i : i + GROUP_LENGTH] for i in range(0, len(raw), GROUP_LENGTH))


def normalise(typed: str) -> str | None:
    """What a person typed as a code (any case, spaces or dashes), or None if it cannot be one."""
    compact = _NOT_IN_CODE.sub("", typed or "").upper()[:64]
    if len(compact) != GROUPS * GROUP_LENGTH or any(c not in ALPHABET for c in compact):
        return None
    return compact


def code_hash(code: str, purpose: str) -> str:
    """The stored form of a code; `purpose` keeps a return code from working as a receipt."""
    compact = normalise(code) or ""
    return hashlib.sha256(f"gdsi-{purpose}:{compact}".encode()).hexdigest()


RETURN, RECEIPT = "return", "receipt"
