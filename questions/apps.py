from typing import Any

from django.apps import AppConfig


class QuestionsConfig(AppConfig):
    name = "questions"

    def ready(self) -> None:
        from payments import signals as payment_signals

        from . import intake, panels, services

        # The bot conversation shows on the question page to the customer, staff and the
        # expert who accepted (issue 7).
        panels.register("bot_conversation", intake.bot_conversation_panel, order=5)

        def paid(sender: Any, payment: Any, **_: Any) -> Any:
            return services.question_payment_complete(payment=payment)

        def refunded(sender: Any, refund: Any, payment: Any, **_: Any) -> None:
            services.question_refunded(payment=payment, refund=refund)

        def denied(sender: Any, refund: Any, payment: Any, **_: Any) -> None:
            services.question_refund_denied(payment=payment, refund=refund)

        def evidence(sender: Any, payment: Any, **_: Any) -> dict[str, Any] | None:
            return services.question_dispute_evidence(payment=payment)

        payment_signals.payment_succeeded.connect(paid, weak=False, dispatch_uid="q-paid")
        payment_signals.refund_succeeded.connect(refunded, weak=False, dispatch_uid="q-refunded")
        payment_signals.refund_denied.connect(denied, weak=False, dispatch_uid="q-refund-denied")
        payment_signals.dispute_evidence_requested.connect(
            evidence, weak=False, dispatch_uid="q-evidence"
        )
