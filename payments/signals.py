"""Upward events of the payments app: the apps to its right subscribe in AppConfig.ready.

Each is sent inside the transaction that recorded the fact; receivers that do
external work defer it with transaction.on_commit.
"""

from django.dispatch import Signal

# payment=Payment
payment_succeeded = Signal()
payment_failed = Signal()
# refund=Refund, payment=Payment
refund_requested = Signal()
refund_denied = Signal()
refund_succeeded = Signal()
# dispute=Dispute, payment=Payment (won=bool for closed)
dispute_opened = Signal()
dispute_closed = Signal()
# payment=Payment -> receivers return {"title": str, "data": JSON-able} for dispute evidence
dispute_evidence_requested = Signal()
