"""Re-encrypt every encrypted value and file with the newest key of PRIVATE_INFO_KEYS.

To rotate: put a new key first in ``PRIVATE_INFO_KEYS`` (keep the old ones
after it), deploy, run this command, and remove the old keys once it reports
that nothing is left on them.

It finds every ``privacy.fields.EncryptedField`` of every installed model and
walks each table in primary-key order, in batches. A batch is one transaction
that locks its rows (``SELECT ... FOR UPDATE SKIP LOCKED``), re-encrypts the
values not on the newest key, and writes them back with one UPDATE. Rows
already on the newest key are never selected, so an interrupted run resumes
where it stopped and two runs at once share the work. Rows that another
transaction held are taken in a second pass that waits for their locks. Then
it runs the file rotators registered with ``privacy.crypto.register_file_rotator``.

A value that does not decrypt is left as it is and named at the end (model,
primary key, field), and the command fails, so the old keys are not removed
while something still needs them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import models, transaction
from django.db.models import Case, F, Q, TextField, Value, When
from django.db.models.functions import Cast

from privacy.crypto import TOKEN_PREFIX, DecryptionError, KeyRing, file_rotators, get_keyring
from privacy.fields import EncryptedField, Sealed


@dataclass
class Target:
    """One model's encrypted columns."""

    model: type[models.Model]
    fields: list[EncryptedField]

    @property
    def label(self) -> str:
        return self.model._meta.label

    def stale(self, ring: KeyRing) -> models.QuerySet[Any]:
        """Rows with a value on a key other than the newest."""
        prefix = f"{TOKEN_PREFIX}:{ring.current_key_id}:"
        aliases = {
            f"_enc_{f.attname}": Cast(f.attname, output_field=TextField()) for f in self.fields
        }
        condition = Q()
        for alias in aliases:
            condition |= Q(**{f"{alias}__isnull": False}) & ~Q(**{f"{alias}__startswith": prefix})
        return self.model._base_manager.alias(**aliases).filter(condition)


def encrypted_targets() -> list[Target]:
    targets = []
    for model in apps.get_models():
        if model._meta.proxy:
            continue
        # Local fields only: a field inherited from a parent table is the parent's.
        found = [f for f in model._meta.local_concrete_fields if isinstance(f, EncryptedField)]
        if found:
            targets.append(Target(model, found))
    return targets


class Progress:
    """A text progress bar: done / total, percent, rate. Redrawn in place on a terminal,
    else a line every few seconds (for logs)."""

    def __init__(
        self, out: OutputWrapper | None, *, label: str, total: int, unit: str = "rows"
    ) -> None:
        self.out, self.label, self.total, self.unit = out, label, total, unit
        self.done = 0
        self.started = self.shown = time.monotonic()
        self.tty = bool(out and out.isatty())

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.shown >= (0.1 if self.tty else 5.0):
            self.shown = now
            self._show()

    def close(self) -> None:
        if self.total or self.done:
            self._show(final=True)

    def _show(self, final: bool = False) -> None:
        if self.out is None:
            return
        total = max(self.total, self.done)
        share = self.done / total if total else 1.0
        bar = "#" * int(share * 30)
        rate = self.done / max(time.monotonic() - self.started, 1e-6)
        line = (
            f"{self.label} [{bar:<30}] {self.done:,}/{total:,} {share:4.0%} "
            f"{rate:,.0f} {self.unit}/s"
        )
        if self.tty:
            self.out.write("\r" + line, ending="\n" if final else "", style_func=_plain)
            self.out.flush()
        else:
            self.out.write(line, style_func=_plain)


def _plain(text: str) -> str:
    return text


@dataclass
class Run:
    ring: KeyRing
    batch_size: int
    dry_run: bool
    limit: int | None
    rows: int = 0  # rows re-encrypted (in a dry run: that would be)
    files: int = 0
    failures: dict[tuple[str, Any, str], str] = field(default_factory=dict)

    @property
    def limit_left(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.rows - self.files, 0)


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted value and file that is not on the newest key of "
        "PRIVATE_INFO_KEYS, in batches; resumable and safe to run twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Rows per transaction (default 500)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would change; change nothing."
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=None,
            help="Stop after re-encrypting this many rows and files; the next run resumes.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        ring = get_keyring()
        run = Run(ring, options["batch_size"], options["dry_run"], options["limit"])
        verbose = options["verbosity"] > 0
        bar_out = self.stderr if verbose else None
        targets = encrypted_targets()

        pending = {t.label: t.stale(ring).count() for t in targets}
        if verbose:
            self.stdout.write(
                f"Newest key: {ring.current_key_id!r}; rows with a value on an older key: "
                + (", ".join(f"{label} {n:,}" for label, n in pending.items()) or "none")
            )

        progress = Progress(bar_out, label="rows", total=sum(pending.values()))
        # First share the work with other runs (skip locked rows); then wait for the
        # rows that were locked, so that one run alone leaves nothing behind.
        for skip_locked in (True, False) if not run.dry_run else (True,):
            for target in targets:
                self._rotate_rows(target, run, progress, skip_locked=skip_locked)
        progress.close()

        for rotator in file_rotators():
            if run.limit_left == 0:
                break
            files = Progress(bar_out, label=rotator.label, total=rotator.count(), unit="files")
            try:
                for changed in rotator.rotate(dry_run=run.dry_run):
                    files.advance(1)
                    run.files += int(changed)
                    if run.limit_left == 0:
                        break
            except DecryptionError as exc:
                raise CommandError(f"{rotator.label}: {exc}") from exc
            finally:
                files.close()

        self._report(run, targets, verbose)

    def _rotate_rows(
        self, target: Target, run: Run, progress: Progress, *, skip_locked: bool
    ) -> None:
        last_pk: Any = None
        while run.limit_left != 0:
            size = run.batch_size if run.limit_left is None else min(run.batch_size, run.limit_left)
            with transaction.atomic():
                rows = self._lock_batch(target, run, last_pk, size, skip_locked=skip_locked)
                if not rows:
                    return
                last_pk = rows[-1][0]
                changed = self._rotate_batch(target, run, rows)
            run.rows += changed
            progress.advance(changed)

    def _lock_batch(
        self, target: Target, run: Run, after_pk: Any, size: int, *, skip_locked: bool
    ) -> list[tuple[Any, ...]]:
        rows = target.stale(run.ring).order_by("pk")
        if after_pk is not None:
            rows = rows.filter(pk__gt=after_pk)
        if not run.dry_run:
            rows = rows.select_for_update(skip_locked=skip_locked)
        row_id = target.fields[0].row_id_field.attname
        attnames = [f.attname for f in target.fields]
        return list(rows.values_list("pk", row_id, *attnames)[:size])

    def _rotate_batch(self, target: Target, run: Run, rows: list[tuple[Any, ...]]) -> int:
        """Re-encrypt one locked batch; the number of rows changed (or that would be)."""
        whens: dict[str, list[When]] = {f.attname: [] for f in target.fields}
        changed: set[Any] = set()
        for pk, row_id, *values in rows:
            for fld, sealed in zip(target.fields, values, strict=True):
                if not isinstance(sealed, Sealed):
                    continue
                try:
                    if run.ring.is_current(sealed.token):
                        continue
                    token = run.ring.reencrypt(sealed.token, context=fld.context_for_row_id(row_id))
                except DecryptionError as exc:
                    run.failures[(target.label, pk, fld.name)] = str(exc)
                    continue
                whens[fld.attname].append(When(pk=pk, then=Value(Sealed(token), output_field=fld)))
                changed.add(pk)
        if changed and not run.dry_run:
            by_field = {f.attname: f for f in target.fields}
            target.model._base_manager.filter(pk__in=changed).update(
                **{
                    attname: Case(*cases, default=F(attname), output_field=by_field[attname])
                    for attname, cases in whens.items()
                    if cases
                }
            )
        return len(changed)

    def _report(self, run: Run, targets: list[Target], verbose: bool) -> None:
        remaining = sum(t.stale(run.ring).count() for t in targets)
        key = run.ring.current_key_id
        if run.dry_run:
            if verbose:
                self.stdout.write(
                    f"Dry run: {run.rows:,} rows and {run.files:,} files would be re-encrypted "
                    f"with key {key!r}; nothing was changed."
                )
        elif verbose:
            self.stdout.write(
                f"Re-encrypted {run.rows:,} rows and {run.files:,} files with key {key!r}."
            )
        if run.failures:
            shown = "\n".join(
                f"  {label} pk={pk} {name}: {message}"
                for (label, pk, name), message in list(run.failures.items())[:20]
            )
            more = len(run.failures) - 20
            raise CommandError(
                f"{len(run.failures):,} values do not decrypt and were left as they are; "
                f"keep the old keys until they are repaired:\n{shown}"
                + (f"\n  ... and {more:,} more" if more > 0 else "")
            )
        if run.dry_run:
            return
        if run.limit is not None and run.limit_left == 0:
            if verbose:
                self.stdout.write(
                    f"Stopped at --limit: {remaining:,} rows still on older keys, and files "
                    "may be; run again to go on."
                )
            return
        if remaining:
            raise CommandError(
                f"{remaining:,} rows are still on older keys (written by something else "
                "during the run?); run the command again."
            )
        if verbose:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Every row and file is on key {key!r}: the older keys can now be "
                    "removed from PRIVATE_INFO_KEYS."
                )
            )
