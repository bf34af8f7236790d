"""Model fields that keep private information encrypted in the database.

A model with encrypted fields has one ``CryptoIdField``, a random id made
when the instance is created, and each encrypted value is bound to it::

    from privacy.fields import CryptoIdField, EncryptedJSONField, EncryptedTextField

    class PrivateInfo(models.Model):
        crypto_id = CryptoIdField()
        body = EncryptedTextField()
        details = EncryptedJSONField(null=True, blank=True)

Why a column of its own rather than the primary key: the primary key does
not exist before the INSERT, and the value must be encrypted before it is
written (``bulk_create`` included), so binding to the primary key would mean
an INSERT with a placeholder and then an UPDATE. The crypto id is known from
``Model.__init__`` on, never changes, and is unique, so a value copied to
another row (or another encrypted field of the same row) does not decrypt.

Reading ``obj.body`` gives the plain text, decrypted on first read (a value
that does not decrypt raises ``privacy.crypto.DecryptionError``); assigning
sets the plain text, which ``save()`` / ``bulk_create()`` encrypt with the
newest key. Saving also moves a value still on an older key to the newest.

What does not work, by design, and fails loudly rather than storing plain text:

- Lookups: ``filter(body=...)``, ``body__contains`` and the like raise
  ``FieldError`` (each encryption differs, so the database cannot compare);
  only ``body__isnull`` works.
- ``QuerySet.update(body="...")`` and ``bulk_update()`` raise ``TypeError``:
  they do not see the row, so they cannot bind the value to it. Save each
  instance instead.
- ``unique`` and ``db_index``.

``values()`` / ``values_list()`` give ``Sealed`` objects, shown as
``<encrypted>``: read private values through model instances. ``dumpdata``
writes the ciphertext; ``loaddata`` refuses these fields (``TypeError``).
The model's ``repr()`` never includes the values (unless its ``__str__`` is
written to), nor does a pickled instance once loaded or saved, nor an error
report (DEBUG off) of a failure inside this module: its frames are
``sensitive_variables``. A caller's own variables are the caller's to guard.
Renaming the model or the field changes the context: pass
``purpose="<old app_label.model_name.field_name>"`` to keep reading the values.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from django import forms
from django.core import checks
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import signals
from django.db.models.lookups import IsNull, Lookup
from django.db.models.query_utils import DeferredAttribute
from django.views.decorators.debug import sensitive_variables

from privacy.crypto import DecryptionError, get_keyring

_ST = TypeVar("_ST")  # the type assigned
_GT = TypeVar("_GT")  # the type read

if TYPE_CHECKING:
    _Field = models.Field
else:

    class _Field(models.Field, Generic[_ST, _GT]):
        """Subscriptable at runtime, the way django-stubs types fields for mypy."""


class CryptoIdField(models.UUIDField):
    """The row's random id that its encrypted values are bound to (unique, never edited).

    Adding it to a table that already has rows needs a data migration that
    gives each row its own id (a column default would give them all the same).
    """

    description = "Random id that the row's encrypted values are bound to"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("default", uuid.uuid4)
        kwargs["unique"] = True
        kwargs["editable"] = False
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("unique", None)
        kwargs.pop("editable", None)
        if kwargs.get("default") is uuid.uuid4:
            del kwargs["default"]
        return name, path, args, kwargs


class Sealed:
    """A stored value: its ciphertext, and its plain value once opened.

    It never shows or pickles the plain value.
    """

    __slots__ = ("_encoded", "_value", "context", "token")

    def __init__(self, token: str, context: str | None = None) -> None:
        self.token = token
        # The context the token is bound to, when known (from the loaded row).
        self.context = context
        self._encoded: bytes | None = None
        self._value: Any = None

    def __repr__(self) -> str:
        return "<encrypted>"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (Sealed, (self.token, self.context))

    @property
    def is_open(self) -> bool:
        return self._encoded is not None

    @sensitive_variables()  # error reports show stars, not the plain value
    def open(self, field: EncryptedField, context: str) -> Any:
        """The plain value; ``DecryptionError`` if the token does not decrypt in ``context``."""
        if self._encoded is None:
            encoded = get_keyring().decrypt(self.token, context=context)
            try:
                self._value = field.decode(encoded)
            except ValueError:  # bad UTF-8 or JSON: authentic, yet not this field's kind
                raise DecryptionError(
                    f"value for {context!r} decrypts to something that is not {field.description}"
                ) from None
            self._encoded = encoded
            self.context = context
        return self._value

    def changed(self, field: EncryptedField) -> bool:
        """Whether the opened value was changed in place (a JSON dict, say)."""
        return self._encoded is not None and field.encode(self._value) != self._encoded

    @classmethod
    @sensitive_variables()
    def seal(cls, field: EncryptedField, value: Any, context: str) -> Sealed:
        encoded = field.encode(value)
        sealed = cls(get_keyring().encrypt(encoded, context=context), context)
        sealed._encoded = encoded
        sealed._value = value
        return sealed


class EncryptedAttribute(DeferredAttribute):
    """``obj.field`` reads the plain value (decrypted on first read) and sets plain values."""

    field: EncryptedField

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, Sealed):
            return value.open(self.field, value.context or self.field.context_for(instance))
        return value

    # A data descriptor, so that reads always come here rather than the instance dict.
    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class EncryptedField(_Field[_ST, _GT]):
    """Base of the encrypted fields: a text column holding ``privacy.crypto`` tokens."""

    descriptor_class = EncryptedAttribute
    allowed_lookups: ClassVar[dict[str, type[Lookup]]] = {"isnull": IsNull}

    def __init__(self, *args: Any, purpose: str | None = None, **kwargs: Any) -> None:
        # Part of every value's context; the default is "<app>.<model>.<field>".
        self.purpose = purpose
        self._row_id_cache: tuple[type[models.Model], CryptoIdField] | None = None
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.purpose is not None:
            kwargs["purpose"] = self.purpose
        return name, path, args, kwargs

    def get_internal_type(self) -> str:
        return "TextField"

    # --- what subclasses define ---

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError

    # --- binding to the row ---

    @property
    def context_purpose(self) -> str:
        return self.purpose or f"{self.model._meta.label_lower}.{self.name}"

    @property
    def row_id_field(self) -> CryptoIdField:
        if self._row_id_cache is None or self._row_id_cache[0] is not self.model:
            found = [f for f in self.model._meta.concrete_fields if isinstance(f, CryptoIdField)]
            if len(found) != 1:
                raise TypeError(f"{self.model._meta.label} needs exactly one CryptoIdField")
            self._row_id_cache = (self.model, found[0])
        return self._row_id_cache[1]

    def context_for_row_id(self, row_id: Any) -> str:
        if row_id is None:
            raise ValueError(
                f"{self.model._meta.label} has no {self.row_id_field.name}: cannot bind "
                f"{self.name} to the row"
            )
        return f"{self.context_purpose}:{uuid.UUID(str(row_id))}"

    def context_for(self, instance: models.Model) -> str:
        attname = self.row_id_field.attname
        if attname in instance.__dict__:
            row_id = instance.__dict__[attname]
        else:
            row_id = getattr(instance, attname)  # deferred: loads it
        return self.context_for_row_id(row_id)

    def contribute_to_class(self, cls: Any, name: str, private_only: bool = False) -> None:
        super().contribute_to_class(cls, name, private_only=private_only)
        if not cls._meta.abstract:
            signals.post_init.connect(self._bind_loaded, sender=cls)

    def _bind_loaded(self, instance: models.Model, **kwargs: Any) -> None:
        # Remember which row a loaded value belongs to, so that a copy saved as a
        # new row (pk=None, new crypto_id) is re-encrypted for the new row.
        raw = instance.__dict__.get(self.attname)
        if isinstance(raw, Sealed) and raw.context is None:
            row_id = instance.__dict__.get(self.row_id_field.attname)
            if row_id is not None:
                raw.context = self.context_for_row_id(row_id)

    @sensitive_variables()
    def seal(self, instance: models.Model) -> Sealed | None:
        """The instance's value as ciphertext bound to its row, on the newest key."""
        if self.attname not in instance.__dict__:
            instance.refresh_from_db(fields=[self.attname])
        raw = instance.__dict__[self.attname]
        if raw is None:
            return None
        context = self.context_for(instance)
        if isinstance(raw, Sealed):
            if raw.context is None:
                raw.open(self, context)  # of unknown origin: it must belong to this row
            source = raw.context or context
            if source == context and get_keyring().is_current(raw.token) and not raw.changed(self):
                return raw
            value = raw.open(self, source)
        else:
            value = raw
        sealed = Sealed.seal(self, value, context)
        instance.__dict__[self.attname] = sealed
        return sealed

    # --- Django's hooks ---

    def pre_save(self, model_instance: models.Model, add: bool) -> Sealed | None:
        return self.seal(model_instance)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Sealed | None:
        return None if value is None else Sealed(value)

    def get_prep_value(self, value: Any) -> Any:
        if value is None or isinstance(value, Sealed):
            return value
        raise TypeError(
            f"{self.model._meta.label}.{self.name} is encrypted when an instance is saved "
            "(save() or bulk_create()); QuerySet.update(), bulk_update() and lookups "
            "cannot bind a value to its row"
        )

    def get_db_prep_value(
        self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False
    ) -> Any:
        value = self.get_prep_value(value)
        return None if value is None else value.token

    def get_lookup(self, lookup_name: str) -> Any:
        return self.allowed_lookups.get(lookup_name)

    def get_transform(self, lookup_name: str) -> Any:
        return None

    def value_to_string(self, obj: models.Model) -> str:
        # Serialization (dumpdata) writes the ciphertext, never the plain value.
        sealed = self.seal(obj)
        return "" if sealed is None else sealed.token

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        if self.unique or getattr(self, "db_index", False) or self.primary_key:
            errors.append(
                checks.Error(
                    "An encrypted field cannot be unique, indexed or a primary key: "
                    "each encryption of a value differs.",
                    obj=self,
                    id="privacy.E001",
                )
            )
        found = [f for f in self.model._meta.concrete_fields if isinstance(f, CryptoIdField)]
        if len(found) != 1:
            errors.append(
                checks.Error(
                    f"{self.model._meta.label} has an encrypted field, so it needs exactly "
                    "one CryptoIdField to bind the values to the row.",
                    hint="Add `crypto_id = CryptoIdField()` (privacy.fields).",
                    obj=self,
                    id="privacy.E002",
                )
            )
        return errors


class EncryptedTextField(EncryptedField[_ST, _GT]):
    """Text, stored encrypted; reads and writes ``str``."""

    description = "Text, stored encrypted"
    _pyi_private_set_type: str
    _pyi_private_get_type: str

    def encode(self, value: Any) -> bytes:
        return self.to_python(value).encode()

    def decode(self, data: bytes) -> str:
        return data.decode()

    def to_python(self, value: Any) -> Any:
        return value if value is None or isinstance(value, str) else str(value)

    def formfield(self, **kwargs: Any) -> Any:  # type: ignore[override]
        defaults: dict[str, Any] = {"form_class": forms.CharField}
        if self.choices is None:
            defaults["widget"] = forms.Textarea
        return super().formfield(**{**defaults, **kwargs})


class EncryptedJSONField(EncryptedField[_ST, _GT]):
    """A JSON value, stored encrypted; ``None`` is SQL NULL (a JSON ``null`` is not kept)."""

    description = "A JSON value, stored encrypted"
    empty_strings_allowed = False
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def __init__(
        self,
        *args: Any,
        encoder: type[json.JSONEncoder] | None = None,
        decoder: type[json.JSONDecoder] | None = None,
        **kwargs: Any,
    ) -> None:
        self.encoder = encoder
        self.decoder = decoder
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.encoder is not None:
            kwargs["encoder"] = self.encoder
        if self.decoder is not None:
            kwargs["decoder"] = self.decoder
        return name, path, args, kwargs

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, cls=self.encoder, separators=(",", ":")).encode()

    def decode(self, data: bytes) -> Any:
        return json.loads(data, cls=self.decoder)

    def formfield(self, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().formfield(
            **{
                "form_class": forms.JSONField,
                "encoder": self.encoder,
                "decoder": self.decoder,
                **kwargs,
            }
        )
