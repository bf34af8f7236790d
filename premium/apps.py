from typing import Any

from django.apps import AppConfig


class PremiumConfig(AppConfig):
    name = "premium"

    def ready(self) -> None:
        from payments import signals as payment_signals
        from questions import panels
        from questions import signals as question_signals

        from . import phone, services
        from .panel import panel_keys, premium_panel

        panels.register("premium", premium_panel, order=10, keys=panel_keys)
        from .call_panel import call_panel

        panels.register("calls", call_panel, order=12)  # in-browser calls, screen shares

        def paid(sender: Any, payment: Any, **_: Any) -> Any:
            offer = services.on_payment_succeeded(payment)
            if offer is not None:
                # The phone-first flow (issue 7): a paid phone-call request is posted.
                phone.on_offer_paid(offer)
            return offer

        def failed(sender: Any, payment: Any, **_: Any) -> None:
            services.on_payment_failed(payment)

        def refunded(sender: Any, payment: Any, **_: Any) -> None:
            services.on_refund_succeeded(payment)

        def message(sender: Any, message: Any, question: Any, **_: Any) -> None:
            if message.author_id == question.customer_id:
                services.schedule_due_notification(question=question)

        payment_signals.payment_succeeded.connect(paid, weak=False, dispatch_uid="offer-paid")
        payment_signals.payment_failed.connect(failed, weak=False, dispatch_uid="offer-failed")
        payment_signals.refund_succeeded.connect(
            refunded, weak=False, dispatch_uid="offer-refunded"
        )
        question_signals.message_posted.connect(message, weak=False, dispatch_uid="offer-due")

        # The phone-first flow (issue 7): book and pay phone-call requests as auto offers.
        from questions import intake, rollout_report

        intake.register_phone_booker(phone.phone_request_book)
        rollout_report.register_offer_references(phone.offer_references)

        def picked_up(sender: Any, question: Any, expert: Any, **_: Any) -> None:
            phone.on_picked_up(question=question, expert=expert)

        question_signals.question_picked_up.connect(
            picked_up, weak=False, dispatch_uid="phone-request-picked-up"
        )

        # Earnings (issue 8): boosts for accepted auto phone calls and for first answers.
        from . import earnings

        def boost_on_pick_up(sender: Any, question: Any, expert: Any, **_: Any) -> None:
            earnings.on_picked_up(question=question, expert=expert)

        def boost_on_answer(sender: Any, message: Any, question: Any, **_: Any) -> None:
            earnings.on_message_posted(message=message, question=question)

        question_signals.question_picked_up.connect(
            boost_on_pick_up, weak=False, dispatch_uid="earnings-auto-call-boost"
        )
        question_signals.message_posted.connect(
            boost_on_answer, weak=False, dispatch_uid="earnings-answers-boost"
        )

        # One evidence file for a refund or dispute: the offers, reports and call logs.
        def evidence(sender: Any, payment: Any, **_: Any) -> dict[str, Any] | None:
            return earnings.payment_evidence(payment=payment)

        payment_signals.dispute_evidence_requested.connect(
            evidence, weak=False, dispatch_uid="premium-evidence"
        )
