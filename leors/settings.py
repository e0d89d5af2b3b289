"""LEORS settings: one module, driven by environment variables (STYLE.md rule 8).

Defaults give a working local demo on a fresh machine (SQLite, a file-system Celery broker,
console e-mail). Production changes values only: DEBUG off, SECRET_KEY, DATABASE_URL (PostgreSQL),
CELERY_BROKER_URL and CACHE_URL (Redis), ALLOWED_HOSTS, e-mail. See README.md.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path

import dj_database_url
import holidays

from leors.env import ImproperlyConfiguredEnv, env_bool, env_int, env_int_list, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("LEORS_VAR_DIR", str(BASE_DIR / "var")))

# Deny by default: a deployment that forgets DEBUG gets production behaviour (and must set a key).
# bin/demo and the test suite set DEBUG=true themselves.
DEBUG = env_bool("DEBUG", False)
if DEBUG:
    # Only ever used for the local demo and tests; a deployment without DEBUG must set its own.
    SECRET_KEY = env_str("SECRET_KEY", "demo-only-insecure-key-never-use-in-production-0123456789")
else:
    SECRET_KEY = env_str("SECRET_KEY")
    if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("demo-only"):
        raise ImproperlyConfiguredEnv("SECRET_KEY must be a random value of at least 50 characters.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
LEORS_SITE_URL = env_str("LEORS_SITE_URL", "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "guardian",
    "django_countries",
    "django_htmx",
    "leors.core",
    "leors.access",
    "cases",
]

# CSP outermost, so every response gets it (static files too); no-store around everything that can
# see the user and the session; session timeouts after messages (they leave a message for the
# sign-in page) and before anything renders a page.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "leors.core.middleware.PersonalDataNoStoreMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "leors.core.middleware.SecondFactorRequiredMiddleware",
    "leors.core.middleware.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "leors.core.middleware.SessionTimeoutMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "leors.urls"
WSGI_APPLICATION = "leors.wsgi.application"
ASGI_APPLICATION = "leors.asgi.application"

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
                "leors.core.context_processors.leors",
            ],
        },
    },
    # The officer portal's case pages (jinja_templates/cases/) and the layout's parts every page shares (jinja_templates/layout/):
    # why, in leors/core/jinja.py. Second, so that a name Django's engine has is never looked up here.
    {
        "BACKEND": "leors.core.jinja.Jinja2",
        "NAME": "jinja2",
        "DIRS": [BASE_DIR / "jinja_templates"],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "leors.core.jinja.environment",  # the notices are its globals
            "context_processors": [
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
# Form and widget templates: Jinja2 where Django ships them for it (leors/core/renderers.py).
FORM_RENDERER = "leors.core.renderers.FormRenderer"

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'leors.sqlite3'}")
# Each worker keeps its connection between requests (DB_CONN_MAX_AGE seconds), checked before its first
# use in a request, so a restarted PostgreSQL costs one failed check, not an error page. Opening a
# connection per request tripled the p95 under load (benchmarks, P4); 0 opens one per request.
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0),
                                                  conn_health_checks=True)}
except Exception as error:  # dj-database-url raises several types; all mean the same to an operator
    raise ImproperlyConfiguredEnv(f"DATABASE_URL could not be parsed: {error}") from None
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's web, worker and beat share one SQLite file: wait for the write lock instead of
    # failing, take it at the start of each transaction, and let readers run beside the writer.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DB_PREPARED_STATEMENTS", True):
    # PostgreSQL binds the parameters itself, and a query run a fifth time on a connection is kept
    # prepared: what every page asks again (the session, the user, the permission texts, the case)
    # is planned once per connection instead of on every request (the case page's twelve queries:
    # 9 to 5 ms in PostgreSQL; benchmarks, P1). Off behind a pooler that cannot keep a session's
    # prepared statements (PgBouncer in transaction mode before 1.21).
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits, one-time-code replay protection) -----------------------------------
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL.startswith("redis"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL in ("", "file"):
    # File cache so that the web process, worker and beat of the demo share rate-limit counters.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
elif CACHE_URL == "locmem":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfiguredEnv(f"CACHE_URL={CACHE_URL!r}: use redis://..., file or locmem.")

# --- Authentication -------------------------------------------------------------------------
AUTH_USER_MODEL = "access.User"
AUTHENTICATION_BACKENDS = [
    "leors.access.backends.AuthenticationBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = env_list(
    "PASSWORD_HASHERS",
    ["django.contrib.auth.hashers.PBKDF2PasswordHasher"],
)
if not DEBUG and any("MD5" in hasher or "Unsalted" in hasher for hasher in PASSWORD_HASHERS):
    raise ImproperlyConfiguredEnv("PASSWORD_HASHERS: fast hashers are for tests only, never with DEBUG off.")
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "portal:home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

ACCOUNT_ADAPTER = "leors.access.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "none"  # LEORS verifies the official e-mail itself, in the application
ACCOUNT_PREVENT_ENUMERATION = True  # password reset never reveals whether an account exists
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False  # a reset never signs in, so it cannot skip the second factor
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
# Cool-off, not lockout: failed sign-ins are throttled per client address for minutes. There is
# deliberately no per-account limit: anyone could use it to keep a named officer out, and the
# second factor already makes a guessed password useless on its own.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env_str("LEORS_LOGIN_FAILED_RATE", "10/m/ip,30/h/ip"),
    "reset_password": "20/m/ip,5/5m/key",
    "reset_password_from_key": "20/m/ip",
}
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[LEORS] "

# The official e-mail is verified by LEORS itself (application flow) before an account is activated.
MFA_ALLOW_UNVERIFIED_EMAIL = True
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = env_str("LEORS_TOTP_ISSUER", "LEORS")
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG
MFA_PASSKEY_LOGIN_ENABLED = False
# Security keys are required of staff wherever the browser can offer them (production default).
LEORS_STAFF_REQUIRE_WEBAUTHN = env_bool("LEORS_STAFF_REQUIRE_WEBAUTHN", not DEBUG)

# Proxies in front of LEORS that append to X-Forwarded-For (0: clients connect directly).
LEORS_TRUSTED_PROXY_COUNT = env_int("LEORS_TRUSTED_PROXY_COUNT", 0, minimum=0)
ALLAUTH_TRUSTED_PROXY_COUNT = LEORS_TRUSTED_PROXY_COUNT
RATELIMIT_IP_META_KEY = "leors.core.audit.client_ip"

# --- Sessions and cookies -------------------------------------------------------------------
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=300)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# R12: a signed-in session ends after this long without a request, and this long after sign-in
# whatever the activity (leors.core.middleware.SessionTimeoutMiddleware).
LEORS_SESSION_IDLE_MINUTES = env_int("LEORS_SESSION_IDLE_MINUTES", 30, minimum=1)
LEORS_SESSION_ABSOLUTE_HOURS = env_int("LEORS_SESSION_ABSOLUTE_HOURS", 12, minimum=1)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "leors.core.error_pages.csrf_failure"  # JSON under /api/, templates/403_csrf.html elsewhere
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", True) else None

# --- Security headers -----------------------------------------------------------------------
# No inline script or style anywhere: LEORS templates use static/leors.js and leors.css, allauth's
# MFA pages load their own static scripts (their inline blocks are JSON data, which CSP does not
# run) and show the enrolment QR code as a data: image; the Django admin uses static files only.
# django-csp rather than a middleware of our own: it is the ecosystem's maintained answer and lets a
# view relax or tighten the policy with a decorator should one ever need to.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    },
}

# --- Time -----------------------------------------------------------------------------------
USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = True
LANGUAGE_CODE = "en"
LEORS_BUSINESS_CALENDAR = env_str("LEORS_BUSINESS_CALENDAR", "SC")
# The operator's working day: business days are counted on dates in this zone (Seychelles by default,
# matching the default calendar), whatever zone a viewer or a server is in.
LEORS_BUSINESS_TIME_ZONE = env_str("LEORS_BUSINESS_TIME_ZONE", "Indian/Mahe")
try:
    zoneinfo.ZoneInfo(LEORS_BUSINESS_TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfiguredEnv(f"LEORS_BUSINESS_TIME_ZONE={LEORS_BUSINESS_TIME_ZONE!r} is not a time zone.") from None
if LEORS_BUSINESS_CALENDAR not in holidays.list_supported_countries():
    raise ImproperlyConfiguredEnv(
        f"LEORS_BUSINESS_CALENDAR={LEORS_BUSINESS_CALENDAR!r} is not a country code known to `holidays`."
    )

# --- Policy numbers (read through leors.policy, never as literals elsewhere) -----------------
LEORS_ACCESS_REVIEW_DUE_SOON_BUSINESS_DAYS = env_int("LEORS_ACCESS_REVIEW_DUE_SOON_BUSINESS_DAYS", 15, minimum=1)
LEORS_ACCESS_REVIEW_DUE_BUSINESS_DAYS = env_int("LEORS_ACCESS_REVIEW_DUE_BUSINESS_DAYS", 20, minimum=1)
LEORS_ACCESS_VALIDITY_DAYS = env_int("LEORS_ACCESS_VALIDITY_DAYS", 365, minimum=1)
LEORS_EMAIL_VERIFICATION_HOURS = env_int("LEORS_EMAIL_VERIFICATION_HOURS", 48, minimum=1)
LEORS_PRESERVATION_DAYS = env_int("LEORS_PRESERVATION_DAYS", 60, minimum=1)
LEORS_PRESERVATION_EXTENSION_DAYS = env_int("LEORS_PRESERVATION_EXTENSION_DAYS", 60, minimum=1)
LEORS_PRESERVATION_REMINDER_DAYS = env_int_list("LEORS_PRESERVATION_REMINDER_DAYS", [14, 7, 1])
LEORS_FREEZE_MAX_DAYS = env_int("LEORS_FREEZE_MAX_DAYS", 30, minimum=1)
LEORS_FREEZE_REMINDER_DAYS = env_int_list("LEORS_FREEZE_REMINDER_DAYS", [5, 1])
LEORS_UPLOAD_MAX_BYTES = env_int("LEORS_UPLOAD_MAX_BYTES", 20 * 1024 * 1024, minimum=1024)
LEORS_UPLOAD_MAX_FILES = env_int("LEORS_UPLOAD_MAX_FILES", 10, minimum=1)
# A DOCX (a zip archive) whose members declare more than this once unpacked is refused: what a word
# processor writes unpacks to a few times its size (images barely compress), a "zip bomb" to thousands.
LEORS_DOCX_MAX_UNPACKED_BYTES = env_int("LEORS_DOCX_MAX_UNPACKED_BYTES", 5 * LEORS_UPLOAD_MAX_BYTES, minimum=1024)
LEORS_PRODUCTION_AVAILABLE_DAYS = env_int("LEORS_PRODUCTION_AVAILABLE_DAYS", 30, minimum=1)
# R12: how long /verify/ confirms the reference and code of a message LEORS sent.
LEORS_VERIFICATION_CODE_DAYS = env_int("LEORS_VERIFICATION_CODE_DAYS", 90, minimum=1)
LEORS_LANGUAGE_MIN_LETTERS = env_int("LEORS_LANGUAGE_MIN_LETTERS", 40, minimum=1)
LEORS_LANGUAGE_MIN_CONFIDENCE = env_int("LEORS_LANGUAGE_MIN_CONFIDENCE_PERCENT", 50, minimum=0) / 100
LEORS_SWEEP_INTERVAL_SECONDS = env_int("LEORS_SWEEP_INTERVAL_SECONDS", 60, minimum=1)
# Clocks a sweep claims and changes in one transaction (the audit chain's lock is held for one batch).
# At most 10,000: a batch's ids and e-mail keys are bound parameters (up to two per clock in one
# statement: the officer's and the reviewer's e-mail), and PostgreSQL takes at most 65,535.
LEORS_SWEEP_BATCH_SIZE = env_int("LEORS_SWEEP_BATCH_SIZE", 500, minimum=1, maximum=10_000)
# Worker processes that lift a backlog of due freezes together (more than one batch due, e.g. after
# downtime); give the worker at least this --concurrency.
LEORS_SWEEP_WORKERS = env_int("LEORS_SWEEP_WORKERS", 2, minimum=1)
LEORS_DIGEST_HOUR_UTC = env_int("LEORS_DIGEST_HOUR_UTC", 6, minimum=0)
LEORS_FEED_PAGE_SIZE = env_int("LEORS_FEED_PAGE_SIZE", 100, minimum=1)
# The exchange platform's endpoint for signed webhooks (empty: no webhooks are queued).
LEORS_EXCHANGE_WEBHOOK_URL = env_str("LEORS_EXCHANGE_WEBHOOK_URL", "-")
LEORS_EXCHANGE_WEBHOOK_URL = "" if LEORS_EXCHANGE_WEBHOOK_URL == "-" else LEORS_EXCHANGE_WEBHOOK_URL
LEORS_EXCHANGE_WEBHOOK_SECRET = env_str("LEORS_EXCHANGE_WEBHOOK_SECRET", "-")
LEORS_EXCHANGE_WEBHOOK_SECRET = "" if LEORS_EXCHANGE_WEBHOOK_SECRET == "-" else LEORS_EXCHANGE_WEBHOOK_SECRET  # noqa: S105
if LEORS_EXCHANGE_WEBHOOK_URL and len(LEORS_EXCHANGE_WEBHOOK_SECRET) < 32:
    raise ImproperlyConfiguredEnv("LEORS_EXCHANGE_WEBHOOK_SECRET must be at least 32 characters when a webhook URL is set.")
LEORS_WEBHOOK_TIMEOUT_SECONDS = env_int("LEORS_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
LEORS_WEBHOOK_REPLAY_WINDOW_SECONDS = env_int("LEORS_WEBHOOK_REPLAY_WINDOW_SECONDS", 300, minimum=1)
LEORS_OUTBOX_MAX_ATTEMPTS = env_int("LEORS_OUTBOX_MAX_ATTEMPTS", 8, minimum=1)  # e-mails; webhooks never give up
LEORS_OUTBOX_MAX_RETRY_DELAY_MINUTES = env_int("LEORS_OUTBOX_MAX_RETRY_DELAY_MINUTES", 60, minimum=1)
# /healthz/clocks answers 503 (for monitoring, not for a load balancer) when the clocks sweep has not finished for
# this long (the worker or beat is down: no freeze is lifted at the exchange, no reminder goes out), or when a message of
# the outbox has waited this long (the exchange refuses its webhooks, or the mail relay is down).
LEORS_HEALTH_SWEEP_LATE_MINUTES = env_int("LEORS_HEALTH_SWEEP_LATE_MINUTES", 5, minimum=1)
LEORS_HEALTH_OUTBOX_LATE_MINUTES = env_int("LEORS_HEALTH_OUTBOX_LATE_MINUTES", 15, minimum=1)

# --- Files ----------------------------------------------------------------------------------
# Private documents live outside the web root and are served only by permission-checked views.
LEORS_PRIVATE_MEDIA_ROOT = Path(env_str("LEORS_PRIVATE_MEDIA_ROOT", str(VAR_DIR / "private")))
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_PERMISSIONS = 0o600
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # collectstatic fills it in production
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(LEORS_PRIVATE_MEDIA_ROOT)}},
    "private": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(LEORS_PRIVATE_MEDIA_ROOT)}},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "-")
EMAIL_HOST_USER = "" if EMAIL_HOST_USER == "-" else EMAIL_HOST_USER
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "-")
EMAIL_HOST_PASSWORD = "" if EMAIL_HOST_PASSWORD == "-" else EMAIL_HOST_PASSWORD  # noqa: S105
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "LEORS <no-reply@leors.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded demo broker: messages are files in var/celery, shared by web, worker and beat.
    _broker_dir = VAR_DIR / "celery"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# guardian: direct foreign-key permission tables only; no anonymous user row.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False
GUARDIAN_RENDER_403 = False

# --- Antivirus ------------------------------------------------------------------------------
# Every upload is streamed to this clamd before anything is stored: "unix:///run/clamav/clamd.ctl"
# or "tcp://host:3310". Empty (the local demo's default): no scanning. Production points it at its
# own clamd, whose StreamMaxLength must exceed LEORS_UPLOAD_MAX_BYTES. Once set, an unreachable
# clamd means uploads are refused (fail closed), never stored unscanned.
from leors.core.antivirus import address_problem as _clamd_address_problem  # noqa: E402

LEORS_CLAMD = env_str("LEORS_CLAMD", "")
if LEORS_CLAMD and (_clamd_problem := _clamd_address_problem(LEORS_CLAMD)):
    raise ImproperlyConfiguredEnv(_clamd_problem)
LEORS_CLAMD_TIMEOUT = env_int("LEORS_CLAMD_TIMEOUT", 30, minimum=1)  # seconds, per connection step
