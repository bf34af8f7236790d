"""The test settings: marketplace.settings with the test environment's defaults.

`make test` exports the real addresses (it starts PostgreSQL and Redis where
they do not answer); these defaults match the services on a developer machine.
"""

import os
import tempfile

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/expertline")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("EXPERTLINE_VAR_DIR", tempfile.mkdtemp(prefix="expertline-test-"))
os.environ["EXPERTLINE_TESTING"] = "1"
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
os.environ.pop("DJANGO_ENV", None)
os.environ.pop("STRIPE_SECRET_KEY", None)

from marketplace.settings import *  # noqa: F403

# Several runs may share one PostgreSQL server (a developer's run beside CI's).
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("EXPERTLINE_TEST_DB", "test_expertline")}  # noqa: F405

# Each run keeps its cache keys under its own prefix, and clears only those
# (tests/conftest.py), so runs beside each other on one Redis do not interfere.
CACHES["default"]["KEY_PREFIX"] = f"t{os.getpid()}"  # noqa: F405

# Models that exercise privacy.fields and the key rotation command (tests only).
INSTALLED_APPS = [*INSTALLED_APPS, "tests.privacy_testapp"]  # noqa: F405
