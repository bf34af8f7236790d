"""Settings: the one module that reads the environment.

Embedded defaults need no server and no account (SQLite in WAL mode, a
filesystem Celery broker, a file cache, email to the console and a file).
Each integration switches on when its variable is set:

    DATABASE_URL       postgres://user@host:5432/name  (else SQLite)
    CELERY_BROKER_URL  redis://host:6379/0             (else filesystem://)
    REDIS_URL          redis://host:6379/1  cache and sessions (else a file cache)
    EMAIL_HOST ...     SMTP                            (else console + file)
    STRIPE_SECRET_KEY  the Stripe gateway              (else the local gateway)

DJANGO_ENV=production refuses to start without SECRET_KEY and ALLOWED_HOSTS
and turns on secure cookies and headers (`manage.py check --deploy` passes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("EXPERTLINE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value else default


def mandatory(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production")
    return value


PRODUCTION = env("DJANGO_ENV") == "production"
TESTING = env_bool("EXPERTLINE_TESTING")

if PRODUCTION:
    SECRET_KEY = mandatory("SECRET_KEY")
    ALLOWED_HOSTS = [h.strip() for h in mandatory("ALLOWED_HOSTS").split(",") if h.strip()]
    DEBUG = False
else:
    SECRET_KEY = env("SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production")
    ALLOWED_HOSTS = [
        h.strip() for h in env("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
    ]
    DEBUG = env_bool("DEBUG", False)

CSRF_TRUSTED_ORIGINS = [o for o in env("CSRF_TRUSTED_ORIGINS").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",  # its system checks catch a malformed policy
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.headless",
    "marketplace",
    "payments",
    "questions",
    "privacy",
    "premium",
]

MIDDLEWARE = [
    "marketplace.middleware.TaskBatchMiddleware",  # a request's Celery sends: one message
    "django.middleware.security.SecurityMiddleware",
    "questions.middleware.PollFastPathMiddleware",  # unchanged polls: before sessions load
    "premium.call_fastpath.CallSignalFastPathMiddleware",  # call signalling by token, likewise
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "marketplace.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "marketplace.middleware.StaffTwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "marketplace.middleware.DomainErrorMiddleware",
]

ROOT_URLCONF = "marketplace.urls"
WSGI_APPLICATION = "marketplace.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    # Persistent connections: CONN_MAX_AGE=0 made a 20-row page 2.7x slower (FACTS.md).
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
        )
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
        "DB_PREPARED_STATEMENTS", True
    ):
        # The hot reads sent through marketplace.prepared are planned once per connection;
        # psycopg prepares nothing else on its own after 2**31 - 1 runs, i.e. never.
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 2**31 - 1
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "db.sqlite3"),
            "OPTIONS": {
                # WAL lets the web server and the worker read while one writes;
                # IMMEDIATE takes the write lock up front instead of failing on upgrade.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "marketplace.User"

# --- Cache and sessions ----------------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES: dict[str, Any] = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    # A file cache is shared by the web server and the worker processes.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --- Celery ----------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://localhost/")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _celery_dir = VAR_DIR / "celery"
    for _sub in ("out", "processed", "control"):
        (_celery_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "out"),
        "data_folder_out": str(_celery_dir / "out"),
        "data_folder_processed": str(_celery_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_celery_dir / "control"),
    }
else:
    # Redis redelivers a task not acknowledged within this many seconds; it must
    # be longer than any task's time limit or a late-acked task runs twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Email -----------------------------------------------------------------
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Expertline <no-reply@expertline.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_HOST = env("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = "marketplace.mail.ConsoleAndFileBackend"
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))

# --- Accounts (django-allauth) -------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_SIGNUP_FORM_CLASS = "marketplace.forms.SignupProfileForm"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Expertline] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key"}
# The accounts API (sign up, verify email, log in, reset password) for API clients:
# /_allauth/{browser,app}/v1/..., its OpenAPI spec at /_allauth/openapi.html.
HEADLESS_ONLY = False
HEADLESS_SERVE_SPECIFICATION = True
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Expertline"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
# Staff must have two-factor authentication before the admin opens for them.
EXPERTLINE_STAFF_MFA_REQUIRED = env_bool("EXPERTLINE_STAFF_MFA_REQUIRED", True)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- REST API --------------------------------------------------------------
REST_FRAMEWORK = {
    # Session first: an anonymous API caller gets 403, like the pages' 404/403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "marketplace.authentication.TokenAuthentication",  # DRF's, its lookup compiled
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "marketplace.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Expertline API",
    "DESCRIPTION": "Every operation of the Expertline pages, through the same services.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set in the schema.
    "ENUM_NAME_OVERRIDES": {
        "ServiceKindEnum": "premium.models.ServiceKind",
        "OfferKindEnum": "premium.models.OfferKind",
        "ChannelEnum": "questions.models.Channel",
    },
}

# --- I18N / time -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"  # stored and evaluated in UTC; shown in each user's zone
USE_I18N = True
USE_TZ = True

# --- Static ------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_ROOT = VAR_DIR / "media"

# --- Security ----------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the page script reads it for fetch() posts
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Payments ------------------------------------------------------------------
# STRIPE_SECRET_KEY set -> the Stripe gateway (STRIPE_API_BASE points it at
# localstripe in tests); otherwise the embedded local gateway.
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY")
STRIPE_API_BASE = env("STRIPE_API_BASE")
PAYMENTS_GATEWAY = "stripe" if STRIPE_SECRET_KEY else "local"
# Signs webhook events (Stripe's endpoint secret; the local gateway signs with it too).
STRIPE_WEBHOOK_SECRET = env(
    "STRIPE_WEBHOOK_SECRET", "" if PRODUCTION else "whsec_local_development"
)
if PRODUCTION and PAYMENTS_GATEWAY == "local":
    raise ImproperlyConfigured(
        "Production refuses the local payment gateway: set STRIPE_SECRET_KEY "
        "(and STRIPE_WEBHOOK_SECRET, STRIPE_PUBLISHABLE_KEY)."
    )
if PRODUCTION and not STRIPE_WEBHOOK_SECRET:
    raise ImproperlyConfigured("STRIPE_WEBHOOK_SECRET must be set when DJANGO_ENV=production")
# --- Content Security Policy (django-csp) ---------------------------------------
# Everything from our own origin, no inline script, no plugins, never framed. Stripe's
# script, frames and API are allowed only when the Stripe gateway is configured. Our
# pages carry no inline <script> or style attribute (data reaches scripts through data-
# attributes); emails are not web pages and keep their inline styles.
_STRIPE_JS = ["https://js.stripe.com"] if STRIPE_SECRET_KEY else []
_STRIPE_FRAMES = ["https://js.stripe.com", "https://hooks.stripe.com"] if STRIPE_SECRET_KEY else []
_STRIPE_API = ["https://api.stripe.com"] if STRIPE_SECRET_KEY else []
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", *_STRIPE_JS],
        "connect-src": ["'self'", *_STRIPE_API],
        # data: images: allauth draws the TOTP set-up QR code as an inline SVG image.
        "img-src": ["'self'", "data:"],
        "frame-src": ["'self'", *_STRIPE_FRAMES],
        "object-src": ["'none'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    },
    # The API reference pages (allauth's loads its viewer from a CDN; Swagger UI styles and
    # starts itself inline) show a public specification and hold no user data.
    "EXCLUDE_URL_PREFIXES": ["/_allauth/openapi.html", "/api/docs/"],
}

# Where the local gateway POSTs its signed webhook events ("" = do not send).
LOCAL_GATEWAY_WEBHOOK_URL = env("LOCAL_GATEWAY_WEBHOOK_URL", "")
# Days after a payment during which its customer may ask for a refund.
EXPERTLINE_REFUND_WINDOW_DAYS = env_int("EXPERTLINE_REFUND_WINDOW_DAYS", 30)
# Refunds up to this amount (minor units) are approved automatically; 0 = never.
EXPERTLINE_REFUND_AUTO_APPROVE_MAX_MINOR = env_int("EXPERTLINE_REFUND_AUTO_APPROVE_MAX_MINOR", 0)
# Refunds above this amount (minor units) need a second approver from Finance.
EXPERTLINE_REFUND_SECOND_APPROVAL_OVER_MINOR = env_int(
    "EXPERTLINE_REFUND_SECOND_APPROVAL_OVER_MINOR", 10_000
)
# Card saves one customer may attempt per hour before getting 429.
EXPERTLINE_CARD_SAVES_PER_HOUR = env_int("EXPERTLINE_CARD_SAVES_PER_HOUR", 10)
# Memberships: days before a renewal that the reminder is emailed; after a failed
# renewal, retry after each of these many hours, then lapse.
EXPERTLINE_MEMBERSHIP_REMINDER_DAYS = env_int("EXPERTLINE_MEMBERSHIP_REMINDER_DAYS", 3)
EXPERTLINE_MEMBERSHIP_RETRY_HOURS = [
    int(h) for h in env("EXPERTLINE_MEMBERSHIP_RETRY_HOURS", "24,72,120").split(",") if h.strip()
]
# Premium offers one expert may send per hour before getting 429.
EXPERTLINE_OFFERS_PER_HOUR = env_int("EXPERTLINE_OFFERS_PER_HOUR", 20)
# A premium offer left unanswered this many hours expires.
EXPERTLINE_OFFER_EXPIRY_HOURS = env_int("EXPERTLINE_OFFER_EXPIRY_HOURS", 48)
# Days without a rating or refund request after which a question is credited.
EXPERTLINE_AUTO_CREDIT_DAYS = env_int("EXPERTLINE_AUTO_CREDIT_DAYS", 7)
# Payouts: how often the payout job runs (seconds); days a credit is held (the refund
# hold window) before it can be paid out; the smallest available balance paid (minor units).
EXPERTLINE_PAYOUT_SCHEDULE_SECONDS = env_int("EXPERTLINE_PAYOUT_SCHEDULE_SECONDS", 24 * 60 * 60)
EXPERTLINE_PAYOUT_HOLD_DAYS = env_int("EXPERTLINE_PAYOUT_HOLD_DAYS", 14)
EXPERTLINE_PAYOUT_MINIMUM_MINOR = env_int("EXPERTLINE_PAYOUT_MINIMUM_MINOR", 2000)
# Earnings (premium.earnings): hours after a call's end to file its fulfilment report
# (later: not payable); minutes both parties must have been connected for the call log to
# verify a report by itself; the first day (UTC, ISO date) of Expert Earnings Protection.
EXPERTLINE_FULFILMENT_REPORT_HOURS = env_int("EXPERTLINE_FULFILMENT_REPORT_HOURS", 36)
EXPERTLINE_CALL_VERIFY_MINUTES = env_int("EXPERTLINE_CALL_VERIFY_MINUTES", 5)
EXPERTLINE_PROTECTION_START_DATE = env("EXPERTLINE_PROTECTION_START_DATE", "2022-09-01")

# --- Privacy -------------------------------------------------------------------
# Keys of the encrypted private information: "<key id>:<32 bytes base64>" entries,
# comma-separated, newest first (new values use the first; all still decrypt).
# Their own secret, never derived from SECRET_KEY. Unset outside production: a
# key file made on first run (VAR_DIR/private-info.keys, mode 0600). A new entry:
# `python -m privacy.keyring_setup`; then `manage.py rotate_private_info_keys`.
from privacy import keyring_setup  # noqa: E402  (no Django imports: safe in settings)

PRIVATE_INFO_KEYS = keyring_setup.split_key_entries(env("PRIVATE_INFO_KEYS"))
if not PRIVATE_INFO_KEYS:
    if PRODUCTION:
        raise ImproperlyConfigured("PRIVATE_INFO_KEYS must be set when DJANGO_ENV=production")
    PRIVATE_INFO_KEYS = keyring_setup.local_key_entries(VAR_DIR / "private-info.keys")
keyring_setup.parse_key_entries(PRIVATE_INFO_KEYS)  # a malformed key stops the start

# --- Private information (privacy app) -------------------------------------------
PRIVATE_FILES_DIR = Path(env("PRIVATE_FILES_DIR", str(VAR_DIR / "private")))
# Days after a question is closed before its private box and files are erased.
EXPERTLINE_PRIVATE_RETENTION_DAYS = env_int("EXPERTLINE_PRIVATE_RETENTION_DAYS", 90)
# Days a redacted message's original is kept (encrypted) for audits, then erased.
EXPERTLINE_REDACTION_AUDIT_DAYS = env_int("EXPERTLINE_REDACTION_AUDIT_DAYS", 30)
EXPERTLINE_PRIVATE_UPLOAD_MAX_BYTES = env_int(
    "EXPERTLINE_PRIVATE_UPLOAD_MAX_BYTES", 10 * 1024 * 1024
)
EXPERTLINE_PRIVATE_UPLOADS_PER_HOUR = env_int("EXPERTLINE_PRIVATE_UPLOADS_PER_HOUR", 30)
EXPERTLINE_PRIVATE_WRITES_PER_MINUTE = env_int("EXPERTLINE_PRIVATE_WRITES_PER_MINUTE", 20)
EXPERTLINE_FLAGS_PER_HOUR = env_int("EXPERTLINE_FLAGS_PER_HOUR", 30)

# --- Expertline ----------------------------------------------------------------
SITE_NAME = "Expertline"
# The address used in links of emails (no trailing slash).
EXPERTLINE_SITE_URL = env("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# A message body longer than this is refused (characters).
EXPERTLINE_MESSAGE_MAX_CHARS = env_int("EXPERTLINE_MESSAGE_MAX_CHARS", 5000)
# Messages one user may post per minute before getting 429.
EXPERTLINE_MESSAGE_RATE_PER_MINUTE = env_int("EXPERTLINE_MESSAGE_RATE_PER_MINUTE", 30)
# Someone who polled a page within this many seconds is "on the page": no email.
EXPERTLINE_PRESENCE_SECONDS = env_int("EXPERTLINE_PRESENCE_SECONDS", 20)
# How often the question page polls for new messages (milliseconds).
EXPERTLINE_POLL_INTERVAL_MS = env_int("EXPERTLINE_POLL_INTERVAL_MS", 1500)
# In-browser calls: the WebRTC ICE servers (STUN/TURN, e.g. coturn) as a JSON list of
# RTCIceServer objects ([] = direct connections only, enough on one machine); a call whose
# people all stopped polling for this many seconds is closed by the sweep.
try:
    EXPERTLINE_ICE_SERVERS = json.loads(env("EXPERTLINE_ICE_SERVERS", "[]"))
except ValueError as exc:
    raise ImproperlyConfigured(f"EXPERTLINE_ICE_SERVERS is not a JSON list: {exc}") from exc
if not isinstance(EXPERTLINE_ICE_SERVERS, list):
    raise ImproperlyConfigured("EXPERTLINE_ICE_SERVERS must be a JSON list of RTCIceServer objects")
EXPERTLINE_CALL_HEARTBEAT_TIMEOUT_SECONDS = env_int("EXPERTLINE_CALL_HEARTBEAT_TIMEOUT_SECONDS", 30)
EXPERTLINE_PAGE_SIZE = 20
# Benchmarks only: exposes the "floor" page the benchmark compares against.
EXPERTLINE_BENCHMARK_VIEWS = env_bool("EXPERTLINE_BENCHMARK_VIEWS", False)

if TESTING:
    # Tasks run in-process, after commit, so tests see their effects; one test
    # proves a real worker (see tests/marketplace/test_celery_worker.py).
    CELERY_TASK_ALWAYS_EAGER = True
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    EXPERTLINE_STAFF_MFA_REQUIRED = True
