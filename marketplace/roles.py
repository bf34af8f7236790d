"""Staff roles as groups with their own permissions, kept in step after every migrate."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

CUSTOMER_CARE = "Customer Care"
FINANCE = "Finance"

# app_label.codename; later issues add theirs (refunds, flags, payouts...).
ROLE_PERMISSIONS: dict[str, list[str]] = {
    CUSTOMER_CARE: [
        "marketplace.view_user",
        "marketplace.view_customerprofile",
        "marketplace.view_expertprofile",
        "marketplace.view_category",
        "marketplace.view_notification",
        "marketplace.view_supportrequest",
        "marketplace.change_supportrequest",
        "questions.view_question",
        "questions.view_message",
        "questions.view_questionevent",
        "payments.view_payment",
        "payments.view_card",
        "payments.view_refund",
        "payments.change_refund",
        "payments.view_dispute",
        "payments.view_membership",
        "payments.view_membershipplan",
        # Payouts, to answer experts' questions: read-only.
        "payments.view_payoutaccount",
        "payments.view_payoutbatch",
        "payments.view_payoutline",
        "payments.view_payouthold",
        # Premium: offers, "cannot complete" reports, fulfilment verification.
        "premium.view_offer",
        "premium.view_offerevent",
        "premium.view_servicetemplate",
        "premium.view_fulfilmentreport",
        "premium.change_fulfilmentreport",
        "premium.view_fulfilmentverification",
        "premium.change_fulfilmentverification",
        "premium.view_creditrecord",
        # Privacy: the flag queue; private information only with a logged reason.
        "privacy.view_flag",
        "privacy.change_flag",
        "privacy.view_privatebox",
        "privacy.view_privateattachment",
        "privacy.view_accesslog",
    ],
    FINANCE: [
        "marketplace.view_user",
        "marketplace.view_expertprofile",
        "marketplace.change_expertprofile",
        "marketplace.view_category",
        "questions.view_question",
        "payments.view_payment",
        "payments.view_refund",
        "payments.change_refund",
        "payments.approve_large_refund",
        "payments.view_dispute",
        "payments.view_ledgertransaction",
        "payments.view_ledgeraccount",
        "payments.view_webhookevent",
        # Payouts: see accounts, batches and lines (changed only by the job); hold an
        # expert's payouts with a reason (add) and release them with a note (change).
        "payments.view_payoutaccount",
        "payments.view_payoutbatch",
        "payments.view_payoutline",
        "payments.view_payouthold",
        "payments.add_payouthold",
        "payments.change_payouthold",
        # Earnings: boost rules and grants, protected refunds (issue 8).
        "marketplace.view_payoutboost",
        "marketplace.view_payoutboostrule",
        "marketplace.add_payoutboostrule",
        "marketplace.change_payoutboostrule",
        "premium.view_fulfilmentverification",
        "premium.view_creditrecord",
    ],
}


def ensure_staff_groups(**_: Any) -> None:
    for name, perms in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=name)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".")
            perm = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm:
                wanted.append(perm)
        group.permissions.set(wanted)
