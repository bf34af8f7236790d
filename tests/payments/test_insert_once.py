"""payments.models.insert_once with a child row: a payment and its first event are written
together or not at all, in one statement on PostgreSQL and one by one in the embedded mode."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from payments.models import Payment, PaymentEvent, insert_once
from tests.factories import make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["postgresql", "one by one"])
def mode(request, monkeypatch):
    if request.param == "one by one":  # as SQLite (make run) does it
        monkeypatch.setattr(connection, "vendor", "sqlite")
    return request.param


def _payment(user, reference: str = "test-1") -> Payment:
    return Payment(
        user=user, reference=reference, description="A test", amount_minor=700, gateway="local"
    )


def _data_statements(ctx: CaptureQueriesContext) -> int:
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")
    return sum(1 for q in ctx.captured_queries if q["sql"].split()[0] not in control)


def test_the_payment_and_its_first_event_are_inserted_together(mode):
    user = make_customer()
    payment, event = _payment(user), PaymentEvent(to_status="pending", source="charge")
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        assert insert_once(payment, unique_field=None, child=(event, "payment"))
    assert _data_statements(ctx) == (1 if mode == "postgresql" else 2)
    assert payment.pk is not None and event.payment_id == payment.pk
    stored = PaymentEvent.objects.get(payment=payment)
    assert (stored.from_status, stored.to_status, stored.source) == ("", "pending", "charge")
    assert stored.created_at == event.created_at


def test_a_live_payment_of_the_reference_keeps_both_from_being_inserted(mode):
    user = make_customer()
    first = _payment(user)
    assert insert_once(
        first, unique_field=None, child=(PaymentEvent(to_status="pending"), "payment")
    )
    second, event = _payment(user), PaymentEvent(to_status="pending", source="retry")
    assert not insert_once(second, unique_field=None, child=(event, "payment"))
    assert second.pk is None
    assert Payment.objects.filter(reference="test-1").count() == 1
    assert list(PaymentEvent.objects.values_list("payment_id", flat=True)) == [first.pk]


def test_a_child_key_that_does_not_point_at_the_row_is_refused():
    user = make_customer()
    with pytest.raises(ValueError, match="not a foreign key"):
        insert_once(_payment(user), unique_field=None, child=(PaymentEvent(), "source"))
    assert not Payment.objects.exists()
