"""Settings for RetailOps, read from the environment.

With nothing set, RetailOps runs on a SQLite file and an embedded filesystem broker, so a newcomer
needs no server. DATABASE_URL and CELERY_BROKER_URL switch it to PostgreSQL and Redis.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("RETAILOPS_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DJANGO_DEBUG", default=False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "dev-only-insecure-key-change-me-" + "x" * 32
if not DEBUG and SECRET_KEY.startswith("dev-only") and env_bool("RETAILOPS_PRODUCTION"):
    raise RuntimeError("Set DJANGO_SECRET_KEY in production.")
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

# --- security (secure cookies and headers whenever DEBUG is off) -------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # HTMX reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG and env_bool("RETAILOPS_HTTPS", default=env_bool("RETAILOPS_PRODUCTION")):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("RETAILOPS_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = int(os.environ.get("RETAILOPS_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["REDIS_CACHE_URL"]}
        if os.environ.get("REDIS_CACHE_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- login rate limit ---------------------------------------------------------------------------
LOGIN_RATE_LIMIT_ATTEMPTS = int(os.environ.get("RETAILOPS_LOGIN_ATTEMPTS", "10"))
LOGIN_RATE_LIMIT_WINDOW = int(os.environ.get("RETAILOPS_LOGIN_WINDOW_SECONDS", "300"))

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so an anonymous API call gets 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["retailops.permissions.StrictModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
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
    # A message taken by a worker that then died (acks_late) goes back on the queue after this long.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("RETAILOPS_BROKER_VISIBILITY_SECONDS", "3600")),
    }
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again (tasks are idempotent)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = 3
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
    # Where the e-mails' links point (the morning digest's "Open the reorder page").
    "SITE_URL": os.environ.get("RETAILOPS_SITE_URL", "http://127.0.0.1:8000"),
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
