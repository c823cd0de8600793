"""Settings for RetailOps, read from the environment.

With nothing set, RetailOps runs on a SQLite file and an embedded filesystem broker, so a newcomer
needs no server. DATABASE_URL and CELERY_BROKER_URL switch it to PostgreSQL and Redis.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("RETAILOPS_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DJANGO_DEBUG", default=False)


def _checkout_secret_key() -> str:
    """This development checkout's own random key, which `make install` writes to var/secret_key (never
    committed), so that manage.py commands, the benches and mypy run with DEBUG off on a developer's machine."""
    try:
        return (VAR_DIR / "secret_key").read_text().strip()
    except OSError:
        return ""


DEV_SECRET_KEY = "dev-only-insecure-key-change-me-" + "x" * 32
# A production deployment names its key (every machine must share it); only a development checkout reads its file.
SECRET_KEY = (
    os.environ.get("DJANGO_SECRET_KEY")
    or ("" if env_bool("RETAILOPS_PRODUCTION") else _checkout_secret_key())
    or DEV_SECRET_KEY
)
if not DEBUG and (SECRET_KEY == DEV_SECRET_KEY or SECRET_KEY.startswith("dev-only")):
    # Fail closed: the development key is public, so anyone could sign sessions with it.
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set and DEBUG is off: RetailOps refuses to run on the public development key. "
        "Set DJANGO_SECRET_KEY to a long random value (python -c 'import secrets; print(secrets.token_hex(32))'), "
        "or set DJANGO_DEBUG=1 on a development machine."
    )
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

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
    "django_filters",
    "django_htmx",
    "django_celery_beat",
    "axes",  # login lockout (both login forms); its admin lets an owner unlock a user
    "inventory",
    "customers",
    "sales",
    "forecasting",
    "reports",
    "demo",
    # Last, so that its post_migrate hook sees the permissions of every app above.
    "retailops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a locked-out login into the "too many failed sign-ins" page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "retailops.urls"
WSGI_APPLICATION = "retailops.wsgi.application"

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
                "retailops.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'retailops.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web process and the worker share the file without "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The cash-flow page's covering index (INCLUDE columns) is a PostgreSQL feature; on SQLite it is a plain
    # index, which is all the embedded default needs — not a warning on every manage.py command.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username + address before the password is checked.
    "retailops.logins.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("RETAILOPS_TIME_ZONE", "Europe/London")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("RETAILOPS_MANIFEST_STATIC")
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Every multipart body: a file stops at RETAILOPS["MAX_UPLOAD_BYTES"] (retailops/uploads.py), then memory / disk.
FILE_UPLOAD_HANDLERS = [
    "retailops.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# --- security (secure cookies and headers whenever DEBUG is off) -------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # HTMX reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Fail closed: with DEBUG off the session and CSRF cookies only travel over HTTPS, unless a deployment that
# really serves plain HTTP (a laptop, the test suite's live servers) says so with RETAILOPS_ALLOW_HTTP=1.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG and not env_bool("RETAILOPS_ALLOW_HTTP")
if not DEBUG and env_bool("RETAILOPS_HTTPS", default=env_bool("RETAILOPS_PRODUCTION")):
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True  # an HTTPS deployment: RETAILOPS_ALLOW_HTTP cannot undo it
    SECURE_SSL_REDIRECT = env_bool("RETAILOPS_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = int(os.environ.get("RETAILOPS_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_CACHE_URL"],
            # a dead or frozen Redis costs a request at most ~2 s (as the broker's publishes), never a hang
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
        if os.environ.get("REDIS_CACHE_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- login rate limit ---------------------------------------------------------------------------
# django-axes, on both login forms (/accounts/login/ and /admin/login/). Failures are kept in the database, so
# every web process counts the same ones; a lock is per username AND client address, so an attacker cannot lock
# an owner out from elsewhere, and one office behind a proxy does not share one counter.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = int(os.environ.get("RETAILOPS_LOGIN_ATTEMPTS", "10"))
# How long a lock lasts (the cool-off); an owner can lift it sooner in the admin (Axes → Access attempts).
AXES_COOLOFF_TIME = timedelta(seconds=int(os.environ.get("RETAILOPS_LOGIN_WINDOW_SECONDS", "900")))
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "retailops.logins.lockout_response"
AXES_CLIENT_IP_CALLABLE = "retailops.logins.client_ip"
# How many reverse proxies in front of RetailOps append to X-Forwarded-For: 0 (default) trusts none and uses
# the connection's address; 1 takes the address the proxy appended (the last hop), 2 the one before it, …
RETAILOPS_TRUSTED_PROXY_COUNT = int(os.environ.get("RETAILOPS_TRUSTED_PROXY_COUNT", "0"))

# --- monitoring (/metrics; /healthz/ is open) ----------------------------------------------------------------------
# /metrics answers a scraper that sends "Authorization: Bearer <RETAILOPS_METRICS_TOKEN>" (when set), or one calling
# from an address on RETAILOPS_METRICS_ALLOW (comma-separated; default this machine); 404 to anyone else.
RETAILOPS_METRICS_TOKEN = os.environ.get("RETAILOPS_METRICS_TOKEN", "")
RETAILOPS_METRICS_ALLOW = [
    a.strip() for a in os.environ.get("RETAILOPS_METRICS_ALLOW", "127.0.0.1").split(",") if a.strip()
]

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so an anonymous API call gets 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["retailops.permissions.StrictModelPermissions"],
    # Filters and paging answer an empty or nonsense value with 400 naming the parameter (retailops/filtersets.py).
    "DEFAULT_FILTER_BACKENDS": ["retailops.filtersets.ApiFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "retailops.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "retailops.schema.AutoSchema",  # documents the error answers (retailops/schema.py)
    "EXCEPTION_HANDLER": "retailops.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "RetailOps API",
    "DESCRIPTION": "POS ingestion, stock counts, stock levels, forecasts and reorder suggestions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # No CDN: Swagger UI's files come from the drf-spectacular-sidecar package through staticfiles.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery -------------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
BROKER_SOCKET_TIMEOUT = float(os.environ.get("RETAILOPS_BROKER_TIMEOUT_SECONDS", "2"))
if not CELERY_BROKER_URL:
    # The embedded broker: kombu's filesystem transport, shared by web, worker and beat on one machine.
    _broker_dir = VAR_DIR / "broker"
    for sub in ("in", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A message taken by a worker that then died (acks_late) goes back on the queue after this long.
        "visibility_timeout": int(os.environ.get("RETAILOPS_BROKER_VISIBILITY_SECONDS", "3600")),
        # A publish tries to connect once: the outbox relay is the retry (a request never waits on a dead broker).
        "max_retries": 0,
    }
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        CELERY_BROKER_TRANSPORT_OPTIONS |= {
            # A dead or frozen (kill -STOP) Redis costs a publish at most ~2 s, never a hung request.
            "socket_connect_timeout": BROKER_SOCKET_TIMEOUT,
            "socket_timeout": BROKER_SOCKET_TIMEOUT,
            # No resend on a timeout: redis-py would wait a second socket_timeout (and kombu could not batch).
            "retry_on_timeout": False,
            "socket_keepalive": True,
            # Idle connections are checked (PING) after this long; the worker's BRPOP connection too (kombu 5.7).
            "health_check_interval": 10,
        }
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again (tasks are idempotent)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER")
CELERY_TASK_EAGER_PROPAGATES = True
# The worker never gives up on the broker: it reconnects forever, with back-off (2, 4, 6 … s, at most 30 s), at
# start-up too, and resumes on its own when the broker is back (issue 17).
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CHANNEL_ERROR_RETRY = True  # e.g. "LOADING" from a Redis that is restarting
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_SOCKET_TIMEOUT
# A task running when the connection drops finishes (tasks are idempotent); its lost ack means a later
# redelivery that finds the work done. (Celery 6 will default to cancelling it.)
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Publishes outside the outbox (beat, a task queuing another) retry once, at once; the outbox relay does the rest.
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# Two queues: interactive work (imports, previews, single-store forecast chunks, e-mails, the relay, sweeps,
# suggestions) is never stuck behind heavy work (chain-wide forecast chunks, customer-model training), which has
# its own worker (Procfile: worker_heavy). Chunk tasks are routed by their caller (enqueue(..., queue="heavy")).
CELERY_TASK_DEFAULT_QUEUE = "interactive"
CELERY_TASK_ROUTES = {"customers.train_customer_models*": {"queue": "heavy"}}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# --- e-mail ---------------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "retailops@localhost")

# --- RetailOps business settings ------------------------------------------------------------------
RETAILOPS: dict = {  # mixed values: typed as a plain dict for mypy
    "CURRENCY": os.environ.get("RETAILOPS_CURRENCY", "GBP"),
    "CURRENCY_SYMBOL": os.environ.get("RETAILOPS_CURRENCY_SYMBOL", "£"),
    # Loyalty: points earned per whole currency unit spent (before the tier multiplier), the cash value
    # of one point, and how long earned points live.
    "POINTS_PER_UNIT": int(os.environ.get("RETAILOPS_POINTS_PER_UNIT", "1")),
    "POINT_VALUE": os.environ.get("RETAILOPS_POINT_VALUE", "0.01"),
    "POINTS_EXPIRY_DAYS": int(os.environ.get("RETAILOPS_POINTS_EXPIRY_DAYS", "365")),
    # Stock counts: a line whose variance passes either threshold goes back for a blind recount.
    "COUNT_RECOUNT_UNITS": int(os.environ.get("RETAILOPS_COUNT_RECOUNT_UNITS", "5")),
    "COUNT_RECOUNT_VALUE": os.environ.get("RETAILOPS_COUNT_RECOUNT_VALUE", "50.00"),
    "WATCH_FOLDER": os.environ.get("RETAILOPS_WATCH_FOLDER", ""),
    "MAX_UPLOAD_BYTES": int(os.environ.get("RETAILOPS_MAX_UPLOAD_BYTES", str(100 * 1024 * 1024))),
    # What a compressed upload (gzip, an XLSX's zip) may unpack to; blank: four times MAX_UPLOAD_BYTES.
    "MAX_UNPACKED_BYTES": int(os.environ.get("RETAILOPS_MAX_UNPACKED_BYTES") or 0) or None,
    # Returns: the most a return naming no original receipt may refund (per receipt), and the earliest
    # sale date of a store whose opening date is not set (ISO date).
    "NO_RECEIPT_REFUND_LIMIT": os.environ.get("RETAILOPS_NO_RECEIPT_REFUND_LIMIT", "50.00"),
    "EARLIEST_SALE_DATE": os.environ.get("RETAILOPS_EARLIEST_SALE_DATE", "2000-01-01"),
    # Where the e-mails' links point (the morning digest's "Open the reorder page").
    "SITE_URL": os.environ.get("RETAILOPS_SITE_URL", "http://127.0.0.1:8000"),
    # Background work: a worker computing a forecast chunk or a training run renews its lease every third
    # of this; a lease this old means its worker stopped, and the sweeper hands the work to another.
    "LEASE_SECONDS": int(os.environ.get("RETAILOPS_LEASE_SECONDS", "60")),
    # Forecast runs one user (or API token) may have waiting or running at once (nightly runs: no limit).
    "MAX_QUEUED_RUNS": int(os.environ.get("RETAILOPS_MAX_QUEUED_RUNS", "3")),
    # django-axes writes a row per login (who, when, from where): kept this many days, then pruned by the workers.
    "LOGIN_LOG_DAYS": int(os.environ.get("RETAILOPS_LOGIN_LOG_DAYS", "90")),
}

# When true, tests that need PostgreSQL, Redis or a browser fail instead of skipping (CI sets it).
REQUIRE_SERVICES = env_bool("REQUIRE_SERVICES") or env_bool("CI")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # A 403 is an expected answer (a role asking for what it may not see): one line, no traceback. 500s unchanged.
    "filters": {"forbidden_one_line": {"()": "retailops.log_filters.ForbiddenOneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("RETAILOPS_LOG_LEVEL", "WARNING")},
    "loggers": {
        "retailops": {"level": "INFO"},
        "django.request": {"filters": ["forbidden_one_line"]},
    },
}
