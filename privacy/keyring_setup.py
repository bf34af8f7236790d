"""The keys of encrypted private information, as the settings module reads them.

A key entry is ``"<key id>:<32 bytes in base64>"``. ``PRIVATE_INFO_KEYS`` is a
list of entries, newest first: new values are encrypted with the first, and
every key in the list still decrypts. The keys are their own secret, never
derived from ``SECRET_KEY``.

This module imports nothing from Django but its exception, so that
``marketplace/settings.py`` can use it before Django is set up.

A new key entry, to put first in ``PRIVATE_INFO_KEYS`` (then run
``manage.py rotate_private_info_keys``)::

    python -m privacy.keyring_setup
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

KEY_BYTES = 32  # AES-256
# A key id is written into every ciphertext, so it is short and never contains ":" or ",".
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def split_key_entries(value: str) -> list[str]:
    """The entries of the comma-separated environment variable, in order."""
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def parse_key_entries(entries: Iterable[str]) -> list[tuple[str, bytes]]:
    """(key id, key) pairs, newest first; ImproperlyConfigured if any entry is malformed.

    The message names the entry's position and key id, never the key.
    """
    keys: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        key_id, sep, encoded = entry.strip().partition(":")
        if not sep or not KEY_ID_RE.match(key_id):
            raise ImproperlyConfigured(
                f"PRIVATE_INFO_KEYS entry {position} must be '<key id>:<base64 key>' with a "
                "key id of 1-32 letters, digits, '.', '_' or '-'."
            )
        if key_id in seen:
            raise ImproperlyConfigured(f"PRIVATE_INFO_KEYS has key id {key_id!r} twice.")
        seen.add(key_id)
        try:
            # Accept both base64 alphabets, with or without padding.
            normalized = encoded.strip().replace("+", "-").replace("/", "_").rstrip("=")
            key = base64.urlsafe_b64decode(normalized + "=" * (-len(normalized) % 4))
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != KEY_BYTES:
            raise ImproperlyConfigured(
                f"PRIVATE_INFO_KEYS key {key_id!r} must be {KEY_BYTES} random bytes in base64."
            )
        keys.append((key_id, key))
    if not keys:
        raise ImproperlyConfigured("PRIVATE_INFO_KEYS holds no key.")
    return keys


def new_key_entry(key_id: str | None = None) -> str:
    """A fresh random key as an entry; its id is today's date and a random suffix."""
    key_id = key_id or f"{time.strftime('%Y%m%d')}-{secrets.token_hex(3)}"
    if not KEY_ID_RE.match(key_id):
        raise ValueError(f"invalid key id {key_id!r}")
    key = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode().rstrip("=")
    return f"{key_id}:{key}"


def local_key_entries(path: Path) -> list[str]:
    """The entries of a local key file, made with one new key on first use.

    For development and the embedded defaults only: production sets the
    ``PRIVATE_INFO_KEYS`` environment variable. The file holds one entry a line,
    newest first, and is readable by its owner only (mode 0600). Two processes
    starting at once (web server and worker) end up with the same key: the file
    is written aside and then linked into place, which fails if it already exists.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(
                    "# Keys of encrypted private information (local development only), newest\n"
                    "# first: new values use the first line; every line still decrypts.\n"
                    "# Add a new key on top with `python -m privacy.keyring_setup`, then run\n"
                    "# `manage.py rotate_private_info_keys`.\n"
                    f"{new_key_entry()}\n"
                )
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    lines = path.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


if __name__ == "__main__":
    print(new_key_entry())
