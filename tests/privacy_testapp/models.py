"""Models for the tests of privacy.fields and rotate_private_info_keys only."""

import uuid
from typing import ClassVar

from django.db import models

from privacy.fields import CryptoIdField, EncryptedJSONField, EncryptedTextField


class Note(models.Model):
    crypto_id = CryptoIdField()
    title = models.CharField(max_length=50, blank=True)  # not private: stored as is
    body = EncryptedTextField()
    extra = EncryptedTextField(null=True, blank=True)
    details = EncryptedJSONField(null=True, blank=True)

    # Declared for mypy, whose settings do not install this test-only app.
    objects: ClassVar[models.Manager["Note"]] = models.Manager()

    def __str__(self) -> str:
        return self.title or f"Note {self.pk}"


class Contact(models.Model):
    """A UUID primary key, to walk a table that is not ordered by an integer."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    crypto_id = CryptoIdField()
    phone = EncryptedTextField()

    objects: ClassVar[models.Manager["Contact"]] = models.Manager()
