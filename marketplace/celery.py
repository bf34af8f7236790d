"""The Celery app. Periodic jobs are declared here, in one place (beat_schedule)."""

import os
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import schedule

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

app = Celery("expertline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class setting_interval(schedule):
    """Every `settings.<name>` seconds, read when beat asks, not at import: this module is
    imported (marketplace/__init__.py) while the settings module is still being imported."""

    def __init__(self, setting: str, relative: bool = False, nowfun: Any = None) -> None:
        self.setting = setting
        super().__init__(run_every=None, relative=relative, nowfun=nowfun)

    @property
    def run_every(self) -> timedelta:
        from django.conf import settings

        return timedelta(seconds=int(getattr(settings, self.setting)))

    @run_every.setter
    def run_every(self, value: object) -> None:
        pass  # always the setting's value

    def __reduce__(self) -> Any:  # beat's schedule file pickles its entries
        return self.__class__, (self.setting, self.relative, getattr(self, "nowfun", None))


# Every periodic job of the project, by name. Later issues add their sweeps here.
app.conf.beat_schedule = {
    # Credit experts for questions N days after pick-up with no rating or refund request.
    "questions-credit-sweep": {"task": "questions.credit_sweep", "schedule": 15 * 60},
    # Charge memberships whose period ended (or whose retry is due), each period once.
    "payments-membership-renewals": {"task": "payments.membership_renewals", "schedule": 10 * 60},
    # Private boxes and files of questions closed past the retention period are erased.
    "privacy-retention-sweep": {"task": "privacy.retention_sweep", "schedule": 60 * 60},
    # Premium offers left unanswered past their expiry expire (never while being paid).
    "premium-expiry-sweep": {"task": "premium.expiry_sweep", "schedule": 5 * 60},
    # Offers left `accepting` (a lost answer, a closed tab) are charged again, idempotently.
    "premium-accepting-recovery": {"task": "premium.accepting_recovery", "schedule": 5 * 60},
    # Calls whose people all vanished (no heartbeat) end at their last heartbeat.
    "premium-call-sweep": {"task": "premium.call_sweep", "schedule": 60},
    # Email members a few days before their renewal, once per period.
    "payments-membership-reminders": {"task": "payments.membership_reminders", "schedule": 60 * 60},
    # Pay every expert's available balance (credits past the refund hold), one batch a run.
    "payments-payout-run": {
        "task": "payments.payout_run",
        "schedule": setting_interval("EXPERTLINE_PAYOUT_SCHEDULE_SECONDS"),
    },
}
