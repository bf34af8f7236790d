"""Proves the ledger balances: every transaction sums to zero, every cached balance is its sum."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from payments import ledger
from payments.models import LedgerAccount, LedgerTransaction


class Command(BaseCommand):
    help = "Check that the ledger balances (exit 1 with the problems if it does not)."

    def handle(self, *args: Any, **options: Any) -> None:
        problems = ledger.check()
        for p in problems:
            self.stderr.write(f"{p.what}: {p.detail}")
        if problems:
            raise CommandError(f"ledger_check: {len(problems)} problem(s)")
        self.stdout.write(
            self.style.SUCCESS(
                f"ledger_check: {LedgerTransaction.objects.count()} transactions over "
                f"{LedgerAccount.objects.count()} accounts balance."
            )
        )
