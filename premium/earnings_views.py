"""The expert's earnings as CSV, for any period (`?from=YYYY-MM-DD&to=YYYY-MM-DD`, both
days included, in the expert's time zone; default: this month so far), and the monthly
statement as a PDF (fpdf2: pure Python, no system libraries)."""

from __future__ import annotations

import csv
import datetime as dt
import zoneinfo
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
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


@login_required
@require_GET
def earnings_statement_pdf(request: HttpRequest, year: int, month: int) -> HttpResponseBase:
    """The signed-in expert's statement of one month; there is no way to name anyone else's."""
    user: User = request.user  # type: ignore[assignment]
    if not user.is_expert or not 1 <= month <= 12 or not 2000 <= year <= 9999:
        raise Http404("No such statement.")
    statement = earnings.statement_get(expert=user, month=dt.date(year, month, 1))
    response = HttpResponse(statement_pdf(statement), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="statement-{year}-{month:02d}.pdf"'
    return response


def _text(value: object) -> str:
    """The PDF's core font speaks Latin-1; anything else prints as "?"."""
    return str(value).replace("\u2014", "-").encode("latin-1", "replace").decode("latin-1")


def statement_pdf(statement: earnings.Statement, *, compress: bool = True) -> bytes:
    from fpdf import FPDF

    zone = zoneinfo.ZoneInfo(statement.zone)
    cur = statement.currency

    def money(amount: int) -> str:
        return f"{_decimal(amount, cur)} {cur}"

    pdf = FPDF(format="A4")
    pdf.set_compression(compress)
    pdf.set_title(f"Earnings statement {statement.month:%B %Y}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(
        0,
        9,
        _text(f"Expertline earnings statement: {statement.month:%B %Y}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", "", 10)
    name = statement.expert.display_name or statement.expert.email
    pdf.cell(
        0,
        6,
        _text(f"{name} ({statement.expert.email}), times in {statement.zone}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)

    def total(label: str, amount: int) -> None:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(120, 6, _text(label))
        pdf.cell(0, 6, money(amount), align="R", new_x="LMARGIN", new_y="NEXT")

    def rows(title: str, lines: list[earnings.StatementLine], extra: object) -> None:
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(0, 7, _text(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 8)
        if not lines:
            pdf.cell(0, 5, "None this month.", new_x="LMARGIN", new_y="NEXT")
        for line in lines:
            when = line.at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            pdf.cell(28, 5, when)
            pdf.cell(120, 5, _text(line.memo)[:90])
            pdf.cell(0, 5, money(line.amount_minor), align="R", new_x="LMARGIN", new_y="NEXT")
            detail = extra(line)  # type: ignore[operator]
            if detail:
                pdf.set_x(pdf.l_margin + 28)
                pdf.multi_cell(0, 4, _text(detail), new_x="LMARGIN", new_y="NEXT")

    total("Opening balance", statement.opening_minor)
    rows("Credits", statement.credits, lambda line: line.rule)
    total("Credits this month", statement.credits_minor)
    rows(
        "Refunds and reversals",
        statement.reversals,
        lambda line: f"Carried by {line.carried_by}. {line.rule}",
    )
    total("Reversals this month", statement.reversals_minor)

    def payout_detail(line: earnings.StatementLine) -> str:
        p = line.payout_line
        if p is None:
            return ""
        return (
            f"Line #{p.pk} of batch {p.batch_id}: {p.get_status_display()}, "
            f"{money(p.amount_minor)} to {p.destination}, transfer {p.transfer_id or '-'}"
        )

    rows("Payouts", statement.payouts, payout_detail)
    total("Payouts this month", statement.payouts_minor)
    pdf.ln(2)
    total("Closing balance", statement.closing_minor)
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, "Payout levels and boosts used", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    if not statement.levels:
        pdf.cell(
            0,
            5,
            "No credit this month used a payout level (fixed values only).",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    for used in statement.levels:
        boosts = "; boosts " + ", ".join(used.boosts) if used.boosts else "; no boosts"
        pdf.multi_cell(
            0,
            5,
            _text(
                f"{used.level_bp / 100:g}% (base {used.base_bp / 100:g}%{boosts}): "
                f"{used.credits} credit{'s' if used.credits != 1 else ''}"
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    return bytes(pdf.output())
