"""The one settings module, configured from the environment (django-environ).

Unset variables fall back to an embedded default that needs no server: an SQLite file,
the in-memory channel layer and Celery's filesystem broker. See ../shared/CONTRACT.md.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("CSMS_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

SECRET_KEY = env.str("SECRET_KEY", default="insecure-development-key-change-me-in-production")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    "django_celery_beat",
    "core",
    "accounts",
    "stations",
    "transactions",
    "reservations",
    "billing",
    "notifications",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "dashboard.middleware.OperatorTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "csms.urls"
ASGI_APPLICATION = "csms.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    if env.bool("DATABASE_POOL", default=True):
        # Under ASGI every request runs its sync part on a thread of its own, so a persistent
        # connection is never reused and each API call would open one (5-8 ms): a pool instead.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=4),
            "max_size": env.int("DATABASE_POOL_MAX", default=40),
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        }
        # Django's backend, but the pool's health check skips connections used moments ago
        # (one round trip less per request and per database call: core/dbpool.py).
        DATABASES["default"]["ENGINE"] = "core.postgresql"
    else:
        DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        # Parameters bound on the server, and statements run twice on a connection prepared
        # there (psycopg): the hot paths repeat a few dozen statements, which PostgreSQL then
        # neither parses nor plans again (saturation benchmark: 890-920 vs 720-740 msg/s).
        # Off behind a PgBouncer in transaction mode without max_prepared_statements.
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=2)
else:
    # Daphne, the ORM's worker threads and Celery share the file: wait for the lock.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DATABASE_IS_POSTGRES = DATABASES["default"]["ENGINE"] in ("django.db.backends.postgresql", "core.postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# --- Channels -------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "core.layers.RedisChannelLayer",  # channels-redis, slimmer receive buffers
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # channels-redis blocks up to 5 s on BRPOP; redis-py 8 would otherwise
                        # time the idle read out and drop the consumer.
                        "socket_timeout": env.float("REDIS_SOCKET_TIMEOUT", default=15.0),
                        "socket_connect_timeout": 5,
                        "max_connections": env.int("REDIS_MAX_CONNECTIONS", default=2000),
                    }
                ],
                "capacity": 1000,
                "expiry": 60,
                "group_expiry": 86400,
                "prefix": env.str("CSMS_CHANNEL_PREFIX", default="csms"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "data_folder_processed": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = "UTC"
from celery.schedules import crontab  # noqa: E402

# django-celery-beat's DatabaseScheduler, except that the entries below are only the defaults
# installed when missing: operators edit them in the admin (Periodic tasks) and keep their edits.
CELERY_BEAT_SCHEDULER = "core.beat:DefaultsOnlyDatabaseScheduler"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "stations: mark silent stations offline": {
        "task": "stations.tasks.station_mark_offline_stale", "schedule": 30.0},
    "stations: flag chargers stuck in Faulted": {
        "task": "stations.tasks.station_flag_faulted", "schedule": 60.0},
    "reservations: expire due reservations": {
        "task": "reservations.tasks.reservation_expire_due", "schedule": 30.0},
    "transactions: end of charge, thresholds, idle fee": {
        "task": "transactions.tasks.transaction_watch", "schedule": 60.0},
    "transactions: flag silent sessions, infer stopped": {
        "task": "transactions.tasks.transaction_flag_stale", "schedule": 300.0},
    "commands: time out unanswered commands": {
        "task": "core.tasks.command_expire_timed_out", "schedule": 30.0},
    "logs: purge old OCPP messages and refused attempts": {
        "task": "core.tasks.message_log_purge", "schedule": 3600.0},
    "notifications: reservations expiring and expired": {
        "task": "notifications.tasks.reservation_notify_due", "schedule": 60.0},
    "notifications: retry unsent e-mails": {
        "task": "notifications.tasks.notification_email_retry", "schedule": 300.0},
    "notifications: daily summary for admins": {
        "task": "notifications.tasks.daily_summary_send", "schedule": crontab(minute=0, hour=6)},
    "billing: running cost of time-priced sessions, limits": {
        "task": "billing.tasks.session_costs_refresh", "schedule": 60.0},
    "billing: release guest card holds whose session never started": {
        "task": "billing.tasks.payment_release_unused", "schedule": 300.0},
}
# Jobs and notifications (minutes unless named otherwise).
CSMS_TRANSACTION_SILENT_MINUTES = env.int("CSMS_TRANSACTION_SILENT_MINUTES", default=60)
CSMS_TRANSACTION_INFER_STOP_MINUTES = env.int("CSMS_TRANSACTION_INFER_STOP_MINUTES", default=24 * 60)
CSMS_FAULTED_FLAG_MINUTES = env.int("CSMS_FAULTED_FLAG_MINUTES", default=30)
CSMS_RESERVATION_WARN_MINUTES = env.int("CSMS_RESERVATION_WARN_MINUTES", default=5)
CSMS_LOW_BALANCE_THRESHOLD = Decimal(env.str("CSMS_LOW_BALANCE_THRESHOLD", default="5.00"))
CSMS_NOTIFY_SOC_THRESHOLDS = env.list("CSMS_NOTIFY_SOC_THRESHOLDS", cast=int, default=[80, 100])
CSMS_NOTIFY_ENERGY_SHARE_THRESHOLDS = env.list("CSMS_NOTIFY_ENERGY_SHARE_THRESHOLDS", cast=int, default=[50, 100])
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.exception_handlers.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SIMPLE_JWT = {
    "USER_ID_FIELD": "id",
    "UPDATE_LAST_LOGIN": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CSMS API",
    "DESCRIPTION": "Charging Station Management System: drivers, stations, charging, billing.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "StationStatusEnum": "stations.models.StationStatus",
        "ConnectorStatusEnum": "stations.models.ConnectorStatus",
        "IdTagStatusEnum": "accounts.models.IdTagStatus",
        "ReservationStatusEnum": "reservations.models.ReservationStatus",
        "NotificationKindEnum": "notifications.models.NotificationKind",
    },
}

# --- i18n, time -----------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français"), ("de", "Deutsch"), ("it", "Italiano")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True  # stored in UTC
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Rome")  # shown in pages

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="csms@localhost")

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "ocpp": {"level": env.str("OCPP_LOG_LEVEL", default="WARNING")},
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
    },
}

# --- The CSMS itself ------------------------------------------------------------------------
# accept: unknown ids are registered and accepted; pending: registered, BootNotification
# answered Pending until an operator accepts; reject: handshake refused.
CSMS_UNKNOWN_CHARGE_POINTS = env.str("CSMS_UNKNOWN_CHARGE_POINTS", default="pending")
CSMS_OCPP_MAX_MESSAGE_BYTES = env.int("CSMS_OCPP_MAX_MESSAGE_BYTES", default=131072)
CSMS_CALL_TIMEOUT = env.float("CSMS_CALL_TIMEOUT", default=30.0)
# Database threads ("lanes") of the OCPP endpoint's group committer in each server process.
# Each database round trip gives up the GIL and takes it back: on the 2-core machine, two lanes
# beat four (saturation benchmark: 690-810 vs 440-620 msg/s), and with batches of up to 256 items
# they keep up with a fleet of 5,000 as four do. More suit a distant database.
CSMS_OCPP_DB_LANES = env.int("CSMS_OCPP_DB_LANES", default=2)
CSMS_CALL_ACK_TIMEOUT = env.float("CSMS_CALL_ACK_TIMEOUT", default=1.0)
CSMS_DEFAULT_HEARTBEAT_INTERVAL = env.int("CSMS_DEFAULT_HEARTBEAT_INTERVAL", default=60)
CSMS_CURRENCY = env.str("CSMS_CURRENCY", default="EUR")
CSMS_INITIAL_BALANCE = Decimal(env.str("CSMS_INITIAL_BALANCE", default="10.00"))
CSMS_RESERVATION_MINUTES = env.int("CSMS_RESERVATION_MINUTES", default=15)
# Drivers start and reserve only with at least this balance (admins are exempt).
CSMS_MIN_BALANCE_TO_CHARGE = Decimal(env.str("CSMS_MIN_BALANCE_TO_CHARGE", default="0.01"))
CSMS_LOGIN_MAX_ATTEMPTS = env.int("CSMS_LOGIN_MAX_ATTEMPTS", default=3)
CSMS_LOGIN_LOCKOUT_MINUTES = env.int("CSMS_LOGIN_LOCKOUT_MINUTES", default=5)
CSMS_PASSWORD_RESET_HOURS = env.int("CSMS_PASSWORD_RESET_HOURS", default=24)
CSMS_MESSAGE_LOG_RETENTION_DAYS = env.int("CSMS_MESSAGE_LOG_RETENTION_DAYS", default=30)
CSMS_MESSAGE_LOG_MAX_PER_STATION = env.int("CSMS_MESSAGE_LOG_MAX_PER_STATION", default=5000)
CSMS_MAP_TILE_URL = env.str("CSMS_MAP_TILE_URL", default="")
CSMS_PUBLIC_URL = env.str("CSMS_PUBLIC_URL", default="http://127.0.0.1:8000")
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Where Stripe's API is (empty: Stripe's own); tests point it at a local fake Stripe.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
# Billing limits: stop a session remotely once its running cost reaches the driver's balance;
# a maximum energy per session for stations that set none (0: no limit).
CSMS_STOP_AT_BALANCE = env.bool("CSMS_STOP_AT_BALANCE", default=True)
CSMS_MAX_ENERGY_PER_SESSION_WH = env.int("CSMS_MAX_ENERGY_PER_SESSION_WH", default=0)
# Guest charging by QR code: the card hold authorised before the start (the session's maximum cost).
CSMS_GUEST_HOLD_AMOUNT = Decimal(env.str("CSMS_GUEST_HOLD_AMOUNT", default="30.00"))
CSMS_GUEST_ID_TAG_MINUTES = env.int("CSMS_GUEST_ID_TAG_MINUTES", default=30)
CSMS_TOPUP_MIN_AMOUNT = Decimal(env.str("CSMS_TOPUP_MIN_AMOUNT", default="5.00"))
CSMS_TOPUP_MAX_AMOUNT = Decimal(env.str("CSMS_TOPUP_MAX_AMOUNT", default="500.00"))
