"""Settings. Every value comes from the environment with a default documented in the README.

With no configuration the app runs for development: SQLite, tasks executed in-process.
`GDSI_ENV=production` turns on the production checks: a real SECRET_KEY is required.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
import xstatic.pkg.bootstrap
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from gdsi.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

GDSI_ENV = env_str("GDSI_ENV", "development")
if GDSI_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"GDSI_ENV must be development or production, not {GDSI_ENV!r}")
PRODUCTION = GDSI_ENV == "production"

_DEVELOPMENT_SECRET_KEY = "development-only-secret-key-never-use-in-production"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", "" if PRODUCTION else _DEVELOPMENT_SECRET_KEY)
if PRODUCTION and (len(SECRET_KEY) < 50 or SECRET_KEY == _DEVELOPMENT_SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least 50 characters in production "
        '(for example: python -c "import secrets; print(secrets.token_urlsafe(64))")'
    )

DEBUG = env_bool("DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crispy_forms",
    "crispy_bootstrap5",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "casereports",
    "exports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "casereports.middleware.RequestIdMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "casereports.i18n.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "casereports.accounts.middleware.TwoFactorRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "gdsi.urls"
WSGI_APPLICATION = "gdsi.wsgi.application"

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
                "casereports.context_processors.navigation",
                "casereports.i18n.context.languages",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# Every page ships in these languages; a language is chosen by ?lang=, kept in the session (no
# language cookie), else taken from the browser (casereports.i18n.middleware).
LANGUAGES = [
    ("en", "English"),
    ("es", "Español"),
    ("pt-br", "Português (Brasil)"),
    ("fr", "Français"),
    ("de", "Deutsch"),
    ("it", "Italiano"),
    ("ar", "العربية"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Bootstrap's CSS and JS come from the XStatic-Bootstrap package, served by the app (no CDN).
STATICFILES_DIRS = [("bootstrap", xstatic.pkg.bootstrap.BASE_DIR)]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
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

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "cases:list"
LOGOUT_REDIRECT_URL = "login"

# Login lockout (django-axes): 5 failures for one username from one IP lock that pair out for
# 15 minutes. Axes' logs carry no username, IP or user agent (the audit trail records logins).
AUTHENTICATION_BACKENDS = [
    "casereports.accounts.backends.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "casereports.accounts.views.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
AXES_CLIENT_STR_CALLABLE = "casereports.accounts.lockout.client_description"
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "user_agent"]
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = True  # administrators can lift a lockout (or: manage.py axes_reset_username)

# Two-factor authentication (django-otp): TOTP apps, plus recovery codes as static tokens.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "GDSI case reports")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Content-Security-Policy (django-csp): everything from the app itself, no inline script or
# style. img-src also allows data: because Bootstrap's CSS draws check marks, select arrows and
# close buttons as data: SVG images (images cannot run script).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# Celery: a real broker when REDIS_URL is set, otherwise tasks run in-process.
REDIS_URL = env_str("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
# The queue the app's tasks go to (several deployments, or a benchmark, can share one Redis).
CELERY_TASK_DEFAULT_QUEUE = env_str("GDSI_CELERY_QUEUE", "celery")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Task modules beside the apps' tasks.py, and beat's look for due scheduled exports (hourly).
CELERY_IMPORTS = [
    "exports.delivery",
    "exports.schedule",
    "casereports.selfreport.tasks",
    "casereports.imports.tasks",
]
CELERY_BEAT_SCHEDULE = {
    "exports: run scheduled exports": {
        "task": "exports.run_scheduled_exports",
        "schedule": float(env_int("GDSI_SCHEDULE_CHECK_SECONDS", 3600)),
    },
}
# Celery beat runs the export sweeper (exports.tasks.sweep_stale_exports) this often.
GDSI_EXPORT_SWEEP_SECONDS = env_int("GDSI_EXPORT_SWEEP_SECONDS", 60)
# Redis hands out again a task whose worker died unacknowledged after this long. An export
# longer than this is handed to a second worker too, which finds it claimed and does nothing.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("GDSI_BROKER_VISIBILITY_TIMEOUT", 3600)
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Token first: its WWW-Authenticate header makes unauthenticated requests 401, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "casereports.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "EXCEPTION_HANDLER": "casereports.api.errors.api_exception_handler",
    # Every list answers 50 a page: {"count", "next", "previous", "results"}.
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "GDSI case reports API",
    "DESCRIPTION": "Cases and the data dictionary. Authenticate with `Authorization: Token <key>`. "
    "Every refusal has the same body: `code`, `message`, `errors` (field -> messages) and "
    "`warnings` (field -> soft-range warning).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",  # served by the app, no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set: a case's status, an export job's status, a report source.
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "casereports.models.CaseStatus",
        "ExportStatusEnum": "exports.models.JobStatus",
        "ReportSourceEnum": "casereports.models.REPORT_SOURCES",
        "ImportStatusEnum": "casereports.imports.models.ImportStatus",
        "ImportChannelEnum": "casereports.imports.models.RowImport.CHANNELS",
        "QueryStatusEnum": "casereports.quality.models.QueryStatus",
        "ResponseCategoryEnum": "casereports.quality.models.ResponseCategory",
        "QueryStepKindEnum": "casereports.quality.models.QueryStep.Kind",
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# The data dictionary the platform ships; `make run` loads it.
GDSI_CORE_DICTIONARY = BASE_DIR / "casereports" / "data" / "core_dataset_v1.csv"
GDSI_HEALTH_TIMEOUT_SECONDS = env_int("GDSI_HEALTH_TIMEOUT_SECONDS", 2)

# Exports: the key behind record pseudonyms and date shifts (stable across exports, so keep it;
# whoever has it can link pseudonyms to record ids), where files go, how long a link works.
_DEVELOPMENT_EXPORT_KEY = "development-only-export-key-never-use-in-production"  # noqa: S105
GDSI_EXPORT_KEY = env_str("GDSI_EXPORT_KEY", "" if PRODUCTION else _DEVELOPMENT_EXPORT_KEY)
if PRODUCTION and (len(GDSI_EXPORT_KEY) < 32 or GDSI_EXPORT_KEY == _DEVELOPMENT_EXPORT_KEY):
    raise ImproperlyConfigured("GDSI_EXPORT_KEY must be set to at least 32 random characters")
GDSI_EXPORT_DIR = Path(env_str("GDSI_EXPORT_DIR", str(MEDIA_ROOT / "exports")))
GDSI_DOWNLOAD_LINK_SECONDS = env_int("GDSI_DOWNLOAD_LINK_SECONDS", 3600)
GDSI_EXPORT_STALE_SECONDS = env_int("GDSI_EXPORT_STALE_SECONDS", 120)
# Row imports: the largest file a registry may upload, and how long an import's worker may be
# silent before the sweeper (every GDSI_IMPORT_SWEEP_SECONDS) hands the job to another.
GDSI_IMPORT_MAX_BYTES = env_int("GDSI_IMPORT_MAX_BYTES", 1024 * 1024 * 1024)
GDSI_IMPORT_STALE_SECONDS = env_int("GDSI_IMPORT_STALE_SECONDS", 120)
CELERY_BEAT_SCHEDULE["imports: re-send imports whose worker went silent"] = {
    "task": "casereports.sweep_imports",
    "schedule": float(env_int("GDSI_IMPORT_SWEEP_SECONDS", 60)),
}
# Federated count tables: the largest result zip a registry may upload, and the publication
# feed's default small-cell threshold (non-zero cells below it are suppressed).
GDSI_FEDERATED_UPLOAD_MAX_BYTES = env_int("GDSI_FEDERATED_UPLOAD_MAX_BYTES", 20 * 1024 * 1024)
GDSI_PUBLICATION_THRESHOLD = env_int("GDSI_PUBLICATION_THRESHOLD", 5)

# Cache for rate limits (shared by every web node through Redis when REDIS_URL is set).
_SHARED_CACHE = (
    {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
)
CACHES = {
    "default": _SHARED_CACHE,
    "ratelimit": {**_SHARED_CACHE, "KEY_PREFIX": env_str("GDSI_RATELIMIT_PREFIX", "gdsi-rl")},
}
RATELIMIT_USE_CACHE = "ratelimit"

# Patient self-report (casereports.selfreport).
GDSI_TEXT_LAYERS_DIR = Path(
    env_str("GDSI_TEXT_LAYERS_DIR", str(BASE_DIR / "casereports" / "data" / "text_layers"))
)
GDSI_PATIENT_DRAFT_DAYS = env_int("GDSI_PATIENT_DRAFT_DAYS", 30)
GDSI_PATIENT_MIN_FILL_SECONDS = env_int("GDSI_PATIENT_MIN_FILL_SECONDS", 3)
GDSI_DUPLICATE_WINDOW_DAYS = env_int("GDSI_DUPLICATE_WINDOW_DAYS", 180)
# A TrueType font covering every shipped language for the patients' PDF (DejaVu Sans if empty).
GDSI_PDF_FONT = env_str("GDSI_PDF_FONT", "")
# Requests a minute per address (a whole clinic shares one) and for everyone together.
GDSI_PATIENT_RATE_LIMITS = {
    "start": (env_int("GDSI_RATE_START_PER_ADDRESS", 60), env_int("GDSI_RATE_START_TOTAL", 6000)),
    "save": (env_int("GDSI_RATE_SAVE_PER_ADDRESS", 600), env_int("GDSI_RATE_SAVE_TOTAL", 60000)),
    "submit": (
        env_int("GDSI_RATE_SUBMIT_PER_ADDRESS", 60),
        env_int("GDSI_RATE_SUBMIT_TOTAL", 6000),
    ),
    "code": (env_int("GDSI_RATE_CODE_PER_ADDRESS", 10), env_int("GDSI_RATE_CODE_TOTAL", 600)),
}
# Behind a reverse proxy, the number of proxies whose X-Forwarded-For entries are trusted
# (0: the connection's own address).
GDSI_TRUSTED_PROXIES = env_int("GDSI_TRUSTED_PROXIES", 0)
CELERY_BEAT_SCHEDULE["selfreport: delete expired drafts"] = {
    "task": "casereports.purge_expired_patient_drafts",
    "schedule": float(env_int("GDSI_PATIENT_PURGE_SECONDS", 3600)),
}

SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
CSRF_USE_SESSIONS = True  # no cookie beyond the session (the patient pages promise it)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
