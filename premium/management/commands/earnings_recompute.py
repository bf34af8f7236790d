"""manage.py earnings_recompute [--expert ID ...]: recompute experts' earnings from the raw
events through the same rule functions and report any difference from the ledger."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from premium.earnings_recompute import recompute_all


class Command(BaseCommand):
    help = "Recompute experts' earnings from raw events and report differences from the ledger."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--expert", type=int, action="append", help="only this expert (id)")
        parser.add_argument("--chunk", type=int, default=250, help="experts read at a time")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        totals = recompute_all(chunk=options["chunk"], expert_ids=options["expert"])
        for d in totals.differences:
            self.stdout.write(
                f"expert {d.expert_id} {d.key}: {d.what} recorded {d.recorded!r}, "
                f"recomputed {d.recomputed!r}"
            )
        summary = (
            f"{totals.experts} experts, {totals.credits} credits recomputed in "
            f"{time.monotonic() - started:.1f} s: {len(totals.differences)} difference(s)"
        )
        if totals.differences:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
