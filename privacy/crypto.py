"""Authenticated encryption of private information: AES-256-GCM under a key ring.

Every value is bound to a *context*, which is authenticated with it (GCM's
associated data) but not stored in it. A field's context is
``"<app>.<model>.<field>:<the row's crypto_id>"`` (see ``privacy.fields``), so a
value copied to another row or another field does not decrypt. A file's
context is chosen the same way by whoever stores the file.

The keys come from ``settings.PRIVATE_INFO_KEYS`` (see ``privacy.keyring_setup``),
newest first: the first key encrypts, every key decrypts, and the key id
travels in each ciphertext so that the right key is found and
``manage.py rotate_private_info_keys`` knows which values to re-encrypt.

Formats (the nonce is 96 random bits, the GCM tag 128 bits):

- text token, for database columns: ``enc1:<key id>:<base64url(nonce | ciphertext | tag)>``
- binary blob, for files: ``ENC1 <key id length, 1 byte> <key id> <nonce> <ciphertext | tag>``

Anything that does not authenticate (a tampered value, a wrong or missing key,
a value from another context, something that is not a ciphertext at all)
raises ``DecryptionError``. Nothing here ever hands back its input as if it
were the plain text.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from privacy.keyring_setup import KEY_ID_RE, parse_key_entries, split_key_entries

TOKEN_PREFIX = "enc1"
BLOB_MAGIC = b"ENC1"
NONCE_BYTES = 12
TAG_BYTES = 16


class DecryptionError(Exception):
    """A value did not decrypt: tampered, wrong or removed key, or moved from elsewhere.

    Its message names the context and the key id, never the value.
    """


class KeyRing:
    """Keys by id, newest first: the first encrypts, all of them decrypt."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self.key_ids: tuple[str, ...] = tuple(key_id for key_id, _ in keys)
        if len(set(self.key_ids)) != len(self.key_ids):
            raise ValueError("key ids must be unique")
        for key_id, key in keys:
            if not KEY_ID_RE.match(key_id) or len(key) != 32:
                raise ValueError(f"key {key_id!r} needs a short id and 32 bytes")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys}

    @classmethod
    def from_entries(cls, entries: Sequence[str] | str) -> KeyRing:
        """From ``"<id>:<base64 key>"`` entries (a list, or one comma-separated string)."""
        if isinstance(entries, str):
            entries = split_key_entries(entries)
        return cls(parse_key_entries(entries))

    def __repr__(self) -> str:
        return f"KeyRing(key_ids={self.key_ids!r})"

    @property
    def current_key_id(self) -> str:
        return self.key_ids[0]

    # --- text tokens (database columns) ---
    # Functions that hold a plain value are @sensitive_variables(): error reports
    # (when DEBUG is off) show stars for their variables and for those of what they call.

    @sensitive_variables()
    def encrypt(self, data: bytes | str, *, context: str) -> str:
        if isinstance(data, str):
            data = data.encode()
        key_id = self.current_key_id
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, data, _aad(TOKEN_PREFIX, key_id, context))
        payload = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{TOKEN_PREFIX}:{key_id}:{payload}"

    def decrypt(self, token: str, *, context: str) -> bytes:
        key_id, raw = _parse_token(token, context)
        return self._open(TOKEN_PREFIX, key_id, raw, context)

    @sensitive_variables()
    def decrypt_text(self, token: str, *, context: str) -> str:
        try:
            return self.decrypt(token, context=context).decode()
        except UnicodeDecodeError:
            raise DecryptionError(f"value for {context!r} is not UTF-8 text") from None

    # --- binary blobs (files) ---

    @sensitive_variables()
    def encrypt_bytes(self, data: bytes, *, context: str) -> bytes:
        key_id = self.current_key_id
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, data, _aad("ENC1", key_id, context))
        return BLOB_MAGIC + bytes([len(key_id)]) + key_id.encode() + nonce + sealed

    def decrypt_bytes(self, blob: bytes, *, context: str) -> bytes:
        key_id, raw = _parse_blob(blob, context)
        return self._open("ENC1", key_id, raw, context)

    # --- both ---

    def is_current(self, token_or_blob: str | bytes) -> bool:
        """Whether the value is encrypted with the newest key (it is not decrypted)."""
        return key_id_of(token_or_blob) == self.current_key_id

    @sensitive_variables()
    def reencrypt(self, token: str, *, context: str) -> str:
        """The same value under the newest key; DecryptionError if it does not decrypt."""
        return self.encrypt(self.decrypt(token, context=context), context=context)

    @sensitive_variables()
    def reencrypt_bytes(self, blob: bytes, *, context: str) -> bytes:
        return self.encrypt_bytes(self.decrypt_bytes(blob, context=context), context=context)

    def _open(self, fmt: str, key_id: str, raw: bytes, context: str) -> bytes:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise DecryptionError(
                f"value for {context!r} is encrypted with key {key_id!r}, "
                "which is not in PRIVATE_INFO_KEYS"
            )
        nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
        try:
            return cipher.decrypt(nonce, sealed, _aad(fmt, key_id, context))
        except InvalidTag:
            raise DecryptionError(
                f"value for {context!r} does not authenticate with key {key_id!r}: "
                "tampered, a wrong key, or copied from another row or field"
            ) from None


def _aad(fmt: str, key_id: str, context: str) -> bytes:
    if not context:
        raise ValueError("an encryption context is required")
    # The header is authenticated too; the context is not stored.
    return f"{fmt}:{key_id}:{context}".encode()


def _parse_token(token: str, context: str) -> tuple[str, bytes]:
    if not isinstance(token, str):
        raise DecryptionError(f"value for {context!r} is not an encrypted token")
    prefix, _, rest = token.partition(":")
    key_id, _, payload = rest.partition(":")
    if prefix != TOKEN_PREFIX or not KEY_ID_RE.match(key_id):
        raise DecryptionError(f"value for {context!r} is not an encrypted token")
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        raise DecryptionError(f"value for {context!r} is not valid base64") from None
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError(f"value for {context!r} is truncated")
    return key_id, raw


def _parse_blob(blob: bytes, context: str) -> tuple[str, bytes]:
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise DecryptionError(f"file for {context!r} is not an encrypted blob")
    blob = bytes(blob)
    if not blob.startswith(BLOB_MAGIC) or len(blob) < len(BLOB_MAGIC) + 1:
        raise DecryptionError(f"file for {context!r} is not an encrypted blob")
    start = len(BLOB_MAGIC) + 1
    end = start + blob[len(BLOB_MAGIC)]
    key_id = blob[start:end].decode("ascii", errors="replace")
    if not KEY_ID_RE.match(key_id) or len(blob) < end + NONCE_BYTES + TAG_BYTES:
        raise DecryptionError(f"file for {context!r} is truncated or malformed")
    return key_id, blob[end:]


def key_id_of(token_or_blob: str | bytes) -> str:
    """The id of the key a token or blob was encrypted with (nothing is decrypted)."""
    if isinstance(token_or_blob, str):
        return _parse_token(token_or_blob, "?")[0]
    return _parse_blob(token_or_blob, "?")[0]


# --- the configured ring --------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _ring_for(entries: tuple[str, ...]) -> KeyRing:
    return KeyRing.from_entries(list(entries))


def get_keyring() -> KeyRing:
    """The ring from ``settings.PRIVATE_INFO_KEYS`` (follows ``override_settings``)."""
    configured = settings.PRIVATE_INFO_KEYS
    if isinstance(configured, str):
        configured = split_key_entries(configured)
    return _ring_for(tuple(configured))


def encrypt(data: bytes | str, *, context: str) -> str:
    return get_keyring().encrypt(data, context=context)


def decrypt(token: str, *, context: str) -> bytes:
    return get_keyring().decrypt(token, context=context)


def decrypt_text(token: str, *, context: str) -> str:
    return get_keyring().decrypt_text(token, context=context)


def encrypt_bytes(data: bytes, *, context: str) -> bytes:
    return get_keyring().encrypt_bytes(data, context=context)


def decrypt_bytes(blob: bytes, *, context: str) -> bytes:
    return get_keyring().decrypt_bytes(blob, context=context)


# --- files ------------------------------------------------------------------------


@sensitive_variables()
def write_encrypted_file(path: Path, data: bytes, *, context: str) -> None:
    """Encrypt ``data`` into ``path``, atomically: a reader sees the old file or the new."""
    blob = encrypt_bytes(data, context=context)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_encrypted_file(path: Path, *, context: str) -> bytes:
    return decrypt_bytes(path.read_bytes(), context=context)


@sensitive_variables()
def rotate_file(path: Path, *, context: str, dry_run: bool = False) -> bool:
    """Re-encrypt one file with the newest key if it is on an older one.

    True if the file was (in a dry run: would be) re-encrypted. DecryptionError
    if it does not decrypt; the file is then left as it was.
    """
    ring = get_keyring()
    blob = path.read_bytes()
    if ring.is_current(blob):
        return False
    data = ring.decrypt_bytes(blob, context=context)
    if not dry_run:
        write_encrypted_file(path, data, context=context)
    return True


class FileRotator(Protocol):
    """Re-encrypts one kind of encrypted file for ``rotate_private_info_keys``.

    ``count()`` is how many files ``rotate()`` will look at (for the progress
    bar); ``rotate()`` looks at each and yields True for each file it
    re-encrypted (in a dry run: would re-encrypt), False for one already on the
    newest key. ``rotate_file`` does the work for one file.
    """

    label: str

    def count(self) -> int: ...

    def rotate(self, *, dry_run: bool) -> Iterator[bool]: ...


_file_rotators: dict[str, FileRotator] = {}


def register_file_rotator(rotator: FileRotator) -> None:
    """Have the rotation command re-encrypt these files after the rows.

    Call it from an ``AppConfig.ready``; registering the same label again replaces it.
    """
    _file_rotators[rotator.label] = rotator


def unregister_file_rotator(label: str) -> None:
    _file_rotators.pop(label, None)


def file_rotators() -> list[FileRotator]:
    return list(_file_rotators.values())
