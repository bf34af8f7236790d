from typing import Any

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        from . import memberships, signals

        def paid(sender: Any, payment: Any, **_: Any) -> None:
            memberships.on_payment_succeeded(payment)

        def refunded(sender: Any, payment: Any, **_: Any) -> None:
            memberships.on_refund_succeeded(payment)

        signals.payment_succeeded.connect(paid, weak=False, dispatch_uid="membership-paid")
        signals.refund_succeeded.connect(refunded, weak=False, dispatch_uid="membership-refunded")
