"""manage.py rotate_private_info_keys: every row and file onto the newest key."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction

from privacy import crypto
from privacy.keyring_setup import new_key_entry
from privacy.management.commands import rotate_private_info_keys as rotation
from tests.privacy_testapp.models import Contact, Note

OLD = new_key_entry("old")
NEW = new_key_entry("new")
ROWS = 10_000


def rotate(**options: object) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("rotate_private_info_keys", stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def key_ids(table: str, column: str) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT split_part({column}, ':', 2), count(*) FROM {table} "
            f"WHERE {column} IS NOT NULL GROUP BY 1"
        )
        return dict(cursor.fetchall())


def make_notes(settings, count: int) -> None:
    settings.PRIVATE_INFO_KEYS = [OLD]
    Note.objects.bulk_create(
        [
            Note(title=str(i), body=f"secret {i}", details={"i": i} if i % 2 else None)
            for i in range(count)
        ],
        batch_size=2000,
    )
    settings.PRIVATE_INFO_KEYS = [NEW, OLD]


def assert_all_readable_with_the_new_key_alone(settings, count: int) -> None:
    settings.PRIVATE_INFO_KEYS = [NEW]
    notes = list(Note.objects.all())
    assert len(notes) == count
    for note in notes:
        i = int(note.title)
        assert note.body == f"secret {i}"
        assert note.details == ({"i": i} if i % 2 else None)


@pytest.mark.django_db
@pytest.mark.slow
def test_rotation_over_ten_thousand_rows_leaves_all_readable_with_the_new_key_alone(
    settings,
) -> None:
    make_notes(settings, ROWS)
    Contact.objects.bulk_create([Contact(phone=f"555-{i:04}") for i in range(700)])  # on NEW
    settings.PRIVATE_INFO_KEYS = [OLD]
    Contact.objects.bulk_create([Contact(phone=f"555-{i:04}") for i in range(700, 1000)])
    settings.PRIVATE_INFO_KEYS = [NEW, OLD]
    assert key_ids("privacy_testapp_note", "body") == {"old": ROWS}

    out, err = rotate(batch_size=500)

    assert key_ids("privacy_testapp_note", "body") == {"new": ROWS}
    assert key_ids("privacy_testapp_note", "details") == {"new": ROWS // 2}
    assert key_ids("privacy_testapp_contact", "phone") == {"new": 1000}
    assert f"{ROWS + 300:,}/{ROWS + 300:,}" in err  # the progress bar
    assert f"Re-encrypted {ROWS + 300:,} rows" in out
    assert "older keys can now be removed" in out
    assert_all_readable_with_the_new_key_alone(settings, ROWS)
    assert sorted(c.phone for c in Contact.objects.all()) == [f"555-{i:04}" for i in range(1000)]


@pytest.mark.django_db
def test_an_interrupted_rotation_resumes_where_it_stopped(settings, monkeypatch) -> None:
    make_notes(settings, 3000)
    real_batch = rotation.Command._rotate_batch
    batches = 0

    def interrupted_after_two_batches(self, *args, **kwargs):
        nonlocal batches
        batches += 1
        if batches == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the third batch
        return real_batch(self, *args, **kwargs)

    monkeypatch.setattr(rotation.Command, "_rotate_batch", interrupted_after_two_batches)
    with pytest.raises(KeyboardInterrupt):
        rotate(batch_size=500)
    assert key_ids("privacy_testapp_note", "body") == {"new": 1000, "old": 2000}

    monkeypatch.setattr(rotation.Command, "_rotate_batch", real_batch)
    out, _ = rotate(batch_size=500)

    assert "privacy_testapp.Note 2,000" in out  # only what was left
    assert "Re-encrypted 2,000 rows" in out
    assert key_ids("privacy_testapp_note", "body") == {"new": 3000}
    assert_all_readable_with_the_new_key_alone(settings, 3000)


@pytest.mark.django_db
def test_limit_stops_early_and_the_next_run_finishes(settings) -> None:
    make_notes(settings, 1200)

    out, _ = rotate(batch_size=500, limit=700)
    assert "Stopped at --limit: 500 rows still on older keys" in out
    assert key_ids("privacy_testapp_note", "body") == {"new": 700, "old": 500}

    out, _ = rotate()
    assert "Re-encrypted 500 rows" in out
    out, _ = rotate()
    assert "Re-encrypted 0 rows" in out  # safe to run again
    assert_all_readable_with_the_new_key_alone(settings, 1200)


@pytest.mark.django_db
def test_a_dry_run_counts_and_changes_nothing(settings) -> None:
    make_notes(settings, 300)

    out, _ = rotate(dry_run=True, batch_size=100)

    assert "Dry run: 300 rows and 0 files would be re-encrypted with key 'new'" in out
    assert key_ids("privacy_testapp_note", "body") == {"old": 300}


@pytest.mark.django_db
def test_a_value_that_does_not_decrypt_is_named_left_alone_and_fails_the_run(settings) -> None:
    make_notes(settings, 50)
    broken = Note.objects.get(title="7")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE privacy_testapp_note SET body = (SELECT body FROM privacy_testapp_note "
            "WHERE title = '8') WHERE id = %s",
            [broken.pk],
        )

    with pytest.raises(CommandError) as caught:
        rotate(batch_size=20)

    message = str(caught.value)
    assert f"privacy_testapp.Note pk={broken.pk} body" in message
    assert "keep the old keys" in message
    assert key_ids("privacy_testapp_note", "body") == {"new": 49, "old": 1}


@pytest.mark.django_db
def test_a_run_with_the_old_key_removed_fails_and_changes_nothing(settings) -> None:
    make_notes(settings, 10)
    settings.PRIVATE_INFO_KEYS = [NEW]

    with pytest.raises(CommandError, match="15 values do not decrypt") as caught:
        rotate()
    assert "encrypted with key 'old', which is not in PRIVATE_INFO_KEYS" in str(caught.value)
    assert "and 0 more" not in str(caught.value) and str(caught.value).count("\n") == 15
    assert key_ids("privacy_testapp_note", "body") == {"old": 10}


class FakeFiles:
    """Encrypted files on disk, as the attachments of the privacy app will be."""

    label = "test files"

    def __init__(self, root: Path) -> None:
        self.paths = sorted(root.iterdir())

    def count(self) -> int:
        return len(self.paths)

    def rotate(self, *, dry_run: bool) -> Iterator[bool]:
        for path in self.paths:
            yield crypto.rotate_file(path, context=f"test.file:{path.name}", dry_run=dry_run)


@pytest.fixture
def files(settings, tmp_path: Path) -> Iterator[Path]:
    settings.PRIVATE_INFO_KEYS = [OLD]
    for i in range(5):
        path = tmp_path / f"file-{i}"
        crypto.write_encrypted_file(path, f"scan {i}".encode(), context=f"test.file:{path.name}")
    settings.PRIVATE_INFO_KEYS = [NEW, OLD]
    crypto.register_file_rotator(FakeFiles(tmp_path))
    yield tmp_path
    crypto.unregister_file_rotator(FakeFiles.label)


@pytest.mark.django_db
def test_registered_files_are_re_encrypted_after_the_rows(settings, files: Path) -> None:
    make_notes(settings, 10)

    dry, _ = rotate(dry_run=True)
    assert "10 rows and 5 files would be re-encrypted" in dry
    out, err = rotate()

    assert "Re-encrypted 10 rows and 5 files" in out
    assert "test files [" in err and "5/5" in err
    settings.PRIVATE_INFO_KEYS = [NEW]
    for i in range(5):
        path = files / f"file-{i}"
        assert crypto.read_encrypted_file(path, context=f"test.file:{path.name}") == (
            f"scan {i}".encode()
        )


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_share_the_work_and_both_succeed(settings) -> None:
    make_notes(settings, 4000)
    results: list[str] = []

    def run() -> None:
        try:
            out, _ = rotate(batch_size=200)
            results.append(out)
        except Exception as exc:  # reported by the assertion below
            results.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all("older keys can now be removed" in r for r in results), results
    done = sum(int(r.split("Re-encrypted ")[1].split(" rows")[0].replace(",", "")) for r in results)
    assert done == 4000  # each row re-encrypted once, by one of them
    assert_all_readable_with_the_new_key_alone(settings, 4000)


@pytest.mark.django_db(transaction=True)
def test_a_row_locked_by_another_transaction_is_waited_for(settings) -> None:
    make_notes(settings, 100)
    locked = Note.objects.get(title="42")
    holding, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        with transaction.atomic():
            Note.objects.select_for_update().get(pk=locked.pk)
            holding.set()
            release.wait(timeout=30)
        connections.close_all()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    holding.wait(timeout=30)
    results: list[str] = []

    def run() -> None:
        try:
            results.append(rotate(batch_size=30)[0])
        finally:
            connections.close_all()

    runner = threading.Thread(target=run)
    runner.start()
    # The first pass skips the locked row; the second waits for it.
    deadline = time.monotonic() + 30
    while key_ids("privacy_testapp_note", "body") != {"new": 99, "old": 1} or not _waiting():
        assert time.monotonic() < deadline, "the run did not wait for the locked row"
        time.sleep(0.02)
    release.set()
    holder.join()
    runner.join()

    assert "older keys can now be removed" in results[0]
    assert key_ids("privacy_testapp_note", "body") == {"new": 100}


def _waiting() -> bool:
    """Whether a session of this database waits for a row lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0
