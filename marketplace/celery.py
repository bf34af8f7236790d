"""The Celery app. Periodic jobs are declared here, in one place (beat_schedule)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

app = Celery("expertline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every periodic job of the project, by name. Later issues add their sweeps here.
app.conf.beat_schedule = {
    # Credit experts for questions N days after pick-up with no rating or refund request.
    "questions-credit-sweep": {"task": "questions.credit_sweep", "schedule": 15 * 60},
    # Charge memberships whose period ended (or whose retry is due), each period once.
    "payments-membership-renewals": {"task": "payments.membership_renewals", "schedule": 10 * 60},
    # Email members a few days before their renewal, once per period.
    "payments-membership-reminders": {"task": "payments.membership_reminders", "schedule": 60 * 60},
}
