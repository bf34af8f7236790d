"""privacy.crypto and privacy.keyring_setup: the cipher, the key ring, files, the setting."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from privacy import crypto
from privacy.crypto import DecryptionError, KeyRing
from privacy.keyring_setup import local_key_entries, new_key_entry, parse_key_entries

OLD = new_key_entry("old")
NEW = new_key_entry("new")
CONTEXT = "privacy.privateinfo.body:2f1c3a56-0d5e-4a8e-9a39-5b6f0f2a1c11"
OTHER_ROW = "privacy.privateinfo.body:7d0e8f1a-3b2c-4d5e-8f90-a1b2c3d4e5f6"


def ring(*entries: str) -> KeyRing:
    return KeyRing.from_entries(list(entries))


def flip(token: str, position: int) -> str:
    """The token with one bit of its payload changed."""
    prefix, key_id, payload = token.split(":")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[position] ^= 0x01
    return f"{prefix}:{key_id}:{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"


def test_text_round_trips_and_the_token_does_not_contain_it() -> None:
    keys = ring(NEW)
    token = keys.encrypt("My IBAN is DE89 3704 0044", context=CONTEXT)

    assert token.startswith("enc1:new:")
    assert "IBAN" not in token
    assert keys.decrypt_text(token, context=CONTEXT) == "My IBAN is DE89 3704 0044"
    assert keys.decrypt(token, context=CONTEXT) == b"My IBAN is DE89 3704 0044"


def test_the_same_value_encrypts_differently_each_time() -> None:
    keys = ring(NEW)
    assert keys.encrypt("same", context=CONTEXT) != keys.encrypt("same", context=CONTEXT)


def test_a_value_from_another_row_does_not_decrypt() -> None:
    keys = ring(NEW)
    token = keys.encrypt("private", context=CONTEXT)

    with pytest.raises(DecryptionError, match="another row or field"):
        keys.decrypt(token, context=OTHER_ROW)


def test_a_value_from_another_field_of_the_row_does_not_decrypt() -> None:
    keys = ring(NEW)
    token = keys.encrypt("private", context=CONTEXT)
    other_field = CONTEXT.replace(".body:", ".notes:")

    with pytest.raises(DecryptionError):
        keys.decrypt(token, context=other_field)


@pytest.mark.parametrize("position", [0, 11, 12, 20, -1])  # nonce, ciphertext, tag
def test_tampered_ciphertext_raises(position: int) -> None:
    keys = ring(NEW)
    token = keys.encrypt("private value", context=CONTEXT)

    with pytest.raises(DecryptionError, match="does not authenticate"):
        keys.decrypt(flip(token, position), context=CONTEXT)


def test_a_token_relabelled_with_another_key_id_raises() -> None:
    keys = ring(NEW, OLD)
    token = keys.encrypt("private", context=CONTEXT)

    with pytest.raises(DecryptionError):
        keys.decrypt(token.replace("enc1:new:", "enc1:old:"), context=CONTEXT)


@pytest.mark.parametrize(
    "token",
    ["private value", "", "enc1:new:", "enc1:new:AAAA", "enc1:n w:AAAA", "enc2:new:" + "A" * 40],
)
def test_what_is_not_a_token_raises_and_is_never_returned(token: str) -> None:
    with pytest.raises(DecryptionError):
        ring(NEW).decrypt(token, context=CONTEXT)


def test_a_wrong_key_with_the_same_id_raises() -> None:
    token = ring(NEW).encrypt("private", context=CONTEXT)
    impostor = new_key_entry("new")

    with pytest.raises(DecryptionError, match="does not authenticate with key 'new'"):
        ring(impostor).decrypt(token, context=CONTEXT)


def test_a_removed_key_raises_naming_it() -> None:
    token = ring(OLD).encrypt("private", context=CONTEXT)

    with pytest.raises(DecryptionError, match="key 'old', which is not in PRIVATE_INFO_KEYS"):
        ring(NEW).decrypt(token, context=CONTEXT)


def test_old_keys_still_decrypt_after_a_new_key_is_put_first() -> None:
    old_token = ring(OLD).encrypt("written last year", context=CONTEXT)
    keys = ring(NEW, OLD)

    assert keys.decrypt_text(old_token, context=CONTEXT) == "written last year"
    assert keys.encrypt("written today", context=CONTEXT).startswith("enc1:new:")
    assert not keys.is_current(old_token)
    rotated = keys.reencrypt(old_token, context=CONTEXT)
    assert keys.is_current(rotated)
    assert ring(NEW).decrypt_text(rotated, context=CONTEXT) == "written last year"


def test_file_blobs_round_trip_and_are_bound_to_their_context() -> None:
    keys = ring(NEW)
    data = b"%PDF-1.7 scanned passport" + os.urandom(1000)
    blob = keys.encrypt_bytes(data, context=CONTEXT)

    assert blob.startswith(b"ENC1\x03new")
    assert b"passport" not in blob
    assert keys.decrypt_bytes(blob, context=CONTEXT) == data
    with pytest.raises(DecryptionError):
        keys.decrypt_bytes(blob, context=OTHER_ROW)
    tampered = bytearray(blob)
    tampered[40] ^= 0x80
    with pytest.raises(DecryptionError):
        keys.decrypt_bytes(bytes(tampered), context=CONTEXT)
    with pytest.raises(DecryptionError):
        keys.decrypt_bytes(data, context=CONTEXT)  # a file that was never encrypted


def test_a_text_token_and_a_file_blob_are_not_interchangeable() -> None:
    keys = ring(NEW)
    token = keys.encrypt(b"value", context=CONTEXT)
    _prefix, key_id, payload = token.split(":")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    as_blob = b"ENC1" + bytes([len(key_id)]) + key_id.encode() + raw

    with pytest.raises(DecryptionError):
        keys.decrypt_bytes(as_blob, context=CONTEXT)


def test_the_ring_never_shows_its_keys() -> None:
    keys = ring(NEW, OLD)
    secret = NEW.split(":")[1]

    assert repr(keys) == "KeyRing(key_ids=('new', 'old'))"
    assert secret not in repr(keys) and secret not in str(vars(keys))


def test_the_configured_ring_follows_the_setting(settings) -> None:
    settings.PRIVATE_INFO_KEYS = [OLD]
    token = crypto.encrypt("x", context=CONTEXT)
    settings.PRIVATE_INFO_KEYS = f"{NEW},{OLD}"  # the environment's form works too

    assert crypto.get_keyring().key_ids == ("new", "old")
    assert crypto.decrypt_text(token, context=CONTEXT) == "x"
    assert crypto.encrypt("x", context=CONTEXT).startswith("enc1:new:")


def test_rotate_file_moves_a_file_to_the_newest_key(settings, tmp_path: Path) -> None:
    path = tmp_path / "passport.pdf"
    settings.PRIVATE_INFO_KEYS = [OLD]
    crypto.write_encrypted_file(path, b"scan", context=CONTEXT)
    settings.PRIVATE_INFO_KEYS = [NEW, OLD]
    before = path.read_bytes()

    assert crypto.rotate_file(path, context=CONTEXT, dry_run=True) is True
    assert path.read_bytes() == before
    assert crypto.rotate_file(path, context=CONTEXT) is True
    assert crypto.rotate_file(path, context=CONTEXT) is False  # already on the newest key

    settings.PRIVATE_INFO_KEYS = [NEW]
    assert crypto.read_encrypted_file(path, context=CONTEXT) == b"scan"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["passport.pdf"]  # no temporary left


def test_rotate_file_leaves_a_file_that_does_not_decrypt(settings, tmp_path: Path) -> None:
    path = tmp_path / "scan"
    settings.PRIVATE_INFO_KEYS = [OLD]
    crypto.write_encrypted_file(path, b"scan", context=CONTEXT)
    before = path.read_bytes()
    settings.PRIVATE_INFO_KEYS = [NEW, OLD]

    with pytest.raises(DecryptionError):
        crypto.rotate_file(path, context=OTHER_ROW)
    assert path.read_bytes() == before


# --- keyring_setup -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], "no key"),
        (["nokey"], "must be '<key id>:<base64 key>'"),
        (["bad id:" + NEW.split(":")[1]], "must be '<key id>:<base64 key>'"),
        (["short:" + base64.b64encode(b"x" * 16).decode()], "32 random bytes"),
        (["junk:!!!not base64!!!"], "32 random bytes"),
        ([NEW, NEW], "twice"),
    ],
)
def test_malformed_keys_are_refused_without_showing_them(entries: list[str], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message) as caught:
        parse_key_entries(entries)
    assert NEW.split(":")[1] not in str(caught.value)


def test_keys_in_either_base64_alphabet_are_accepted() -> None:
    key = bytes(range(251, 256)) * 6 + b"\xfb\xff"  # has "+" and "/" in standard base64
    standard = base64.b64encode(key).decode()

    assert "+" in standard or "/" in standard
    assert parse_key_entries([f"k:{standard}"]) == [("k", key)]
    assert parse_key_entries([f"k:{base64.urlsafe_b64encode(key).decode().rstrip('=')}"]) == [
        ("k", key)
    ]


def test_the_local_key_file_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "private-info.keys"

    first = local_key_entries(path)
    again = local_key_entries(path)

    assert len(first) == 1 and first == again
    assert len(parse_key_entries(first)[0][1]) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["private-info.keys"]


def test_a_new_key_line_on_top_of_the_key_file_becomes_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "private-info.keys"
    (old,) = local_key_entries(path)
    path.write_text(f"{NEW}\n{path.read_text()}")

    assert local_key_entries(path) == [NEW, old]


def _import_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"PRIVATE_INFO_KEYS", "DJANGO_ENV"}}
    return subprocess.run(
        [sys.executable, "-c", "import marketplace.settings as s; print(s.PRIVATE_INFO_KEYS)"],
        env={**base, **env},
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )


def test_production_refuses_to_start_without_keys(tmp_path: Path) -> None:
    result = _import_settings(
        {
            "DJANGO_ENV": "production",
            "SECRET_KEY": "s" * 50,
            "ALLOWED_HOSTS": "example.com",
            "STRIPE_SECRET_KEY": "sk_test_x",
            "STRIPE_WEBHOOK_SECRET": "whsec_x",
            "EXPERTLINE_VAR_DIR": str(tmp_path),
        }
    )

    assert result.returncode != 0
    assert "PRIVATE_INFO_KEYS must be set" in result.stderr
    assert not (tmp_path / "private-info.keys").exists()


def test_the_environment_variable_gives_the_keys_newest_first(tmp_path: Path) -> None:
    result = _import_settings(
        {"PRIVATE_INFO_KEYS": f" {NEW} , {OLD} ", "EXPERTLINE_VAR_DIR": str(tmp_path)}
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr([NEW, OLD])
    assert not (tmp_path / "private-info.keys").exists()


def test_without_the_variable_development_makes_a_local_key_file(tmp_path: Path) -> None:
    first = _import_settings({"EXPERTLINE_VAR_DIR": str(tmp_path)})
    second = _import_settings({"EXPERTLINE_VAR_DIR": str(tmp_path)})

    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert (tmp_path / "private-info.keys").exists()
