"""Prints the current TOTP code of the demo staff accounts (embedded demo only)."""

from __future__ import annotations

import time
from typing import Any

from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from marketplace.demo import DEMO_TOTP_SECRET


class Command(BaseCommand):
    help = "Print the current two-factor code for the demo staff logins."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("The demo TOTP secret is not used in production.")
        code = format_hotp_value(hotp_value(DEMO_TOTP_SECRET, int(time.time()) // 30))
        self.stdout.write(code)
