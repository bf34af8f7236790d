"""privacy.fields: encrypted model fields bound to their row, against PostgreSQL."""

from __future__ import annotations

import io
import json
import pickle
import sys
import uuid

import pytest
from django import forms
from django.core import checks
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import connection, models, transaction
from django.test.utils import isolate_apps
from django.views.debug import ExceptionReporter

from privacy.crypto import DecryptionError
from privacy.fields import EncryptedTextField, Sealed
from privacy.keyring_setup import new_key_entry
from tests.privacy_testapp.models import Note

pytestmark = pytest.mark.django_db

OLD = new_key_entry("old")
NEW = new_key_entry("new")


@pytest.fixture(autouse=True)
def _keys(settings) -> None:
    settings.PRIVATE_INFO_KEYS = [NEW, OLD]


def stored(note: Note, column: str = "body") -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM privacy_testapp_note WHERE id = %s", [note.pk])
        return cursor.fetchone()[0]


def store(note: Note, value: str | None, column: str = "body") -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE privacy_testapp_note SET {column} = %s WHERE id = %s", [value, note.pk]
        )


def test_values_round_trip_through_the_database() -> None:
    note = Note.objects.create(body="my address is 1 Elm St", details={"iban": "DE89", "n": [1]})

    again = Note.objects.get(pk=note.pk)

    assert again.body == "my address is 1 Elm St"
    assert again.details == {"iban": "DE89", "n": [1]}
    assert again.extra is None


def test_the_row_in_the_database_holds_no_plain_text() -> None:
    note = Note.objects.create(
        title="visible title",
        body="my address is 1 Elm St",
        extra="phone 555-0101",
        details={"iban": "DE89370400440532013000"},
    )

    with connection.cursor() as cursor:
        cursor.execute("SELECT t::text FROM privacy_testapp_note t WHERE id = %s", [note.pk])
        (row,) = cursor.fetchone()

    assert "visible title" in row  # the check can see what is stored in the clear
    for private in ("1 Elm St", "555-0101", "DE89370400440532013000", "iban"):
        assert private not in row
    assert stored(note).startswith("enc1:new:")


def test_a_value_copied_to_another_row_does_not_decrypt() -> None:
    first = Note.objects.create(body="first's secret")
    second = Note.objects.create(body="second's secret")
    store(second, stored(first))

    with pytest.raises(DecryptionError):
        _ = Note.objects.get(pk=second.pk).body


def test_a_value_copied_to_another_field_of_the_row_does_not_decrypt() -> None:
    note = Note.objects.create(body="body text", extra="extra text")
    store(note, stored(note, "body"), "extra")

    with pytest.raises(DecryptionError):
        _ = Note.objects.get(pk=note.pk).extra


def test_a_tampered_column_raises_on_reading() -> None:
    note = Note.objects.create(body="private")
    token = stored(note)
    store(note, token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])

    with pytest.raises(DecryptionError):
        _ = Note.objects.get(pk=note.pk).body


def test_plain_text_in_the_column_raises_instead_of_being_shown() -> None:
    note = Note.objects.create(body="private")
    store(note, "written around the field")

    with pytest.raises(DecryptionError, match="not an encrypted token"):
        _ = Note.objects.get(pk=note.pk).body


def test_a_wrong_key_raises(settings) -> None:
    note = Note.objects.create(body="private")
    settings.PRIVATE_INFO_KEYS = [new_key_entry("new")]  # same id, other key

    with pytest.raises(DecryptionError, match="does not authenticate"):
        _ = Note.objects.get(pk=note.pk).body


def test_the_instance_never_shows_its_values() -> None:
    Note.objects.create(body="my address is 1 Elm St", details={"iban": "DE89"})
    note = Note.objects.get()
    _ = note.body, note.details  # opened

    shown = f"{note!r} {note} {note.__dict__!r}"
    assert "Elm" not in shown and "DE89" not in shown
    assert list(Note.objects.values_list("body", flat=True)) != ["my address is 1 Elm St"]
    assert repr(Note.objects.values("body").get()["body"]) == "<encrypted>"
    assert b"Elm" not in pickle.dumps(note)


def test_values_list_gives_sealed_values_that_do_not_serialize() -> None:
    Note.objects.create(body="private")
    (value,) = Note.objects.values_list("body", flat=True)

    assert isinstance(value, Sealed)
    with pytest.raises(TypeError):
        json.dumps(value)


def test_lookups_on_an_encrypted_field_are_refused_but_isnull_works() -> None:
    Note.objects.create(body="private", extra=None)

    with pytest.raises(FieldError):
        Note.objects.filter(body="private").exists()
    with pytest.raises(FieldError):
        Note.objects.filter(body__contains="priv").exists()
    assert Note.objects.filter(extra__isnull=True).count() == 1
    assert Note.objects.filter(body__isnull=False).count() == 1


def test_update_and_bulk_update_with_plain_text_are_refused_and_write_nothing() -> None:
    note = Note.objects.create(body="private")
    before = stored(note)

    # (Each in a savepoint: Django marks the surrounding transaction as failed.)
    with (
        pytest.raises(TypeError, match="encrypted when an instance is saved"),
        transaction.atomic(),
    ):
        Note.objects.update(body="plain")
    note.body = "plain"
    with pytest.raises(TypeError), transaction.atomic():
        Note.objects.bulk_update([note], ["body"])
    assert stored(note) == before


def test_bulk_create_encrypts_each_row_for_itself() -> None:
    Note.objects.bulk_create([Note(title=str(i), body=f"secret {i}") for i in range(50)])

    notes = list(Note.objects.order_by("id"))
    assert [n.body for n in notes] == [f"secret {i}" for i in range(50)]
    assert len({stored(n) for n in notes}) == 50


def test_saving_an_unchanged_value_keeps_its_ciphertext_and_a_change_is_saved() -> None:
    note = Note.objects.create(body="v1", details={"a": 1})
    note = Note.objects.get(pk=note.pk)
    token = stored(note)
    _ = note.body

    note.title = "renamed"
    note.save()
    assert stored(note) == token

    note.body = "v2"
    details = note.details
    assert details is not None
    details["a"] = 2  # changed in place
    note.save()
    again = Note.objects.get(pk=note.pk)
    assert (again.body, again.details) == ("v2", {"a": 2})
    assert stored(note) != token


def test_saving_moves_a_value_from_an_older_key_to_the_newest(settings) -> None:
    settings.PRIVATE_INFO_KEYS = [OLD]
    Note.objects.create(body="private")
    settings.PRIVATE_INFO_KEYS = [NEW, OLD]
    note = Note.objects.get()

    note.save()

    assert stored(note).startswith("enc1:new:")
    settings.PRIVATE_INFO_KEYS = [NEW]
    assert Note.objects.get().body == "private"


def test_a_copy_saved_as_a_new_row_is_encrypted_for_the_new_row() -> None:
    original = Note.objects.create(body="private")
    copy = Note.objects.get(pk=original.pk)
    copy.pk = None
    copy._state.adding = True
    copy.crypto_id = uuid.uuid4()

    copy.save()

    assert copy.pk != original.pk
    assert Note.objects.get(pk=copy.pk).body == "private"
    assert Note.objects.get(pk=original.pk).body == "private"


def test_a_deferred_value_loads_and_decrypts() -> None:
    Note.objects.create(body="private")
    note = Note.objects.only("id").get()

    assert note.body == "private"


def test_dumpdata_writes_ciphertext() -> None:
    Note.objects.create(body="my address is 1 Elm St")
    out = io.StringIO()

    call_command("dumpdata", "privacy_testapp.note", stdout=out)

    assert "Elm" not in out.getvalue()
    assert '"body": "enc1:new:' in out.getvalue()


def test_a_model_form_edits_the_plain_text() -> None:
    class NoteForm(forms.ModelForm):
        class Meta:
            model = Note
            fields = ["body", "details"]

    note = Note.objects.create(body="before", details={"a": 1})
    form = NoteForm(instance=Note.objects.get(pk=note.pk))
    assert "before" in str(form["body"])

    form = NoteForm({"body": "after", "details": '{"a": 2}'}, instance=note)
    assert form.is_valid(), form.errors
    form.save()
    assert Note.objects.get(pk=note.pk).body == "after"
    assert Note.objects.get(pk=note.pk).details == {"a": 2}


@isolate_apps("tests.privacy_testapp")
def test_a_model_without_a_crypto_id_fails_the_system_check() -> None:
    class Loose(models.Model):
        body = EncryptedTextField(db_index=True)

        class Meta:
            app_label = "privacy_testapp"

    ids = {e.id for e in Loose.check() if isinstance(e, checks.Error)}
    assert {"privacy.E001", "privacy.E002"} <= ids


def test_an_error_report_shows_neither_the_value_nor_the_keys(settings) -> None:
    settings.DEBUG = False  # as in production: error reports hide sensitive variables
    # Joined at run time, so that the report's source excerpt of this test does not show it.
    note = Note(body="fine", details={"iban": "-".join(["DE89", "3704"]), "when": object()})

    try:
        with transaction.atomic():
            note.save()  # the object() does not serialize to JSON
    except TypeError:
        report = ExceptionReporter(None, *sys.exc_info()).get_traceback_html()
    else:
        pytest.fail("save() should have failed")

    assert "Local vars" in report
    assert "DE89-3704" not in report
    assert "PRIVATE_INFO_KEYS" in report
    assert NEW.split(":")[1] not in report and OLD.split(":")[1] not in report


def test_loaddata_refuses_encrypted_fields_rather_than_store_them_wrong(tmp_path) -> None:
    Note.objects.create(body="private")
    fixture = tmp_path / "notes.json"
    call_command("dumpdata", "privacy_testapp.note", output=str(fixture))
    Note.objects.all().delete()

    with (
        pytest.raises(TypeError, match="encrypted when an instance is saved"),
        transaction.atomic(),
    ):
        call_command("loaddata", str(fixture), verbosity=0)
    assert not Note.objects.exists()
