"""The expert's earnings as CSV, for any period (`?from=YYYY-MM-DD&to=YYYY-MM-DD`, both
days included, in the expert's time zone; default: this month so far)."""

from __future__ import annotations

import csv
import datetime as dt
import zoneinfo
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.http import require_GET

from marketplace.models import User
from marketplace.money import MINOR_UNITS

from . import earnings


def _decimal(amount_minor: int, currency: str) -> str:
    digits = MINOR_UNITS.get(currency, 2)
    if digits == 0:
        return str(amount_minor)
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), 10**digits)
    return f"{sign}{major}.{minor:0{digits}d}"


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
@require_GET
def earnings_csv(request: HttpRequest) -> HttpResponseBase:
    user: User = request.user  # type: ignore[assignment]
    if not user.is_expert:
        raise Http404("Earnings are for experts.")
    zone = zoneinfo.ZoneInfo(user.timezone or "UTC")
    today = timezone.now().astimezone(zone).date()
    try:
        first = dt.date.fromisoformat(request.GET.get("from") or today.replace(day=1).isoformat())
        last = dt.date.fromisoformat(request.GET.get("to") or today.isoformat())
    except ValueError:
        return HttpResponseBadRequest("Give the period as from=YYYY-MM-DD&to=YYYY-MM-DD.")
    if last < first:
        return HttpResponseBadRequest("The period ends before it starts.")
    start = dt.datetime.combine(first, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(["date", "what", "kind", "rule", "protected", "amount", "currency"])
        for row in earnings.earnings_rows(expert=user, start=start, end=end):
            yield writer.writerow(
                [
                    row.at.astimezone(zone).isoformat(timespec="seconds"),
                    row.memo,
                    row.kind,
                    row.rule,
                    "yes" if row.protected else "",
                    _decimal(row.amount_minor, row.currency),
                    row.currency,
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="earnings-{first}-{last}.csv"'
    return response
