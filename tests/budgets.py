"""The statement budget of a request that charges a card at the local gateway: ours and the
gateway's counted apart (the gateway stands in for Stripe's servers), and the worker's tasks
it enqueued. Used by the paid post's and the accept's budget tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments.gateway.local import statements_counted

# The local gateway's own statements for one charge (create and confirm the intent).
LOCAL_GATEWAY_QUERIES_PER_CHARGE = 6


@dataclass
class ChargeStatements:
    ours: int = 0
    gateway: int = 0
    sql: str = ""  # every statement, for the failure message
    enqueued: list[str] = field(default_factory=list)


@contextmanager
def charge_statements(tasks_enqueued: list[str]) -> Iterator[ChargeStatements]:
    """Count what runs inside (a request that charges once); read the result after."""
    before = len(tasks_enqueued)
    result = ChargeStatements()
    with CaptureQueriesContext(connection) as captured, statements_counted() as gateway:
        yield result
    result.enqueued = tasks_enqueued[before:]
    result.gateway = gateway.statements
    result.ours = len(captured) - gateway.statements
    result.sql = "\n".join(q["sql"][:200] for q in captured.captured_queries)


def assert_one_charge_within(result: ChargeStatements, ours_budget: int) -> None:
    assert result.ours <= ours_budget, f"{result.ours} statements of ours:\n{result.sql}"
    # The card is charged at the gateway: an intent created, then confirmed; its
    # payment_intent.succeeded webhook goes out by the worker, after the answer.
    assert 0 < result.gateway <= LOCAL_GATEWAY_QUERIES_PER_CHARGE, result.sql
    assert "payments.local_gateway_send_webhook" in result.enqueued
