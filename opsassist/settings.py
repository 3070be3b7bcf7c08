"""OpsAssist settings: every value comes from the environment (see .env.example for the full list)."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
import dj_email_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from opsassist.lib.env import (
    env_bool,
    env_float,
    env_floats,
    env_int,
    env_list,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("OPSASSIST_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in var/."""
    key = env_secret("SECRET_KEY")
    if key:
        return key
    path = VAR_DIR / "secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
# ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS derive from OPSASSIST_URL: see "Web security" at the end.

SERVICE_NAME = env_str("SERVICE_NAME", "opsassist")
ENVIRONMENT = env_str("ENVIRONMENT", "development")
APP_VERSION = env_str("APP_VERSION", "1.0.0")
OPSASSIST_PORT = env_int("OPSASSIST_PORT", env_int("SERVICE_PORT", 8000))

# Without REDIS_URL everything (web, websocket, worker, beat) runs in one process: see README "Modes".
REDIS_URL = env_str("REDIS_URL")
EMBEDDED = not REDIS_URL

INSTALLED_APPS = [
    "django_prometheus",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "corsheaders",
    "csp",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "opsassist",
    "incidents",
    "monitoring",
    "oncall",
    "remediation",
]

MIDDLEWARE = [
    "opsassist.lib.probes.ProbesAnyHostMiddleware",  # first: liveness/readiness whatever the Host (pod IP)
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "opsassist.lib.nul.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "opsassist.timezones.ViewerTimeZoneMiddleware",  # pages in the viewer's zone (the API stays UTC)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "opsassist.lib.middleware.SyncPrometheusAfterMiddleware",  # last: keeps the chain sync (one hop)
]

ROOT_URLCONF = "opsassist.urls"
WSGI_APPLICATION = "opsassist.wsgi.application"
ASGI_APPLICATION = "opsassist.asgi.application"

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
                "opsassist.context_processors.product",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'opsassist.sqlite3'}")
_db = dj_database_url.parse(DATABASE_URL)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so two writers
    # queue on busy_timeout instead of failing with "database is locked" on lock upgrade.
    _db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # psycopg 3's pool, managed by Django (CONN_MAX_AGE must stay 0 with a pool).
    _db["CONN_MAX_AGE"] = 0
    # CONN_HEALTH_CHECKS: with a pool, Django has it check each connection on checkout, so one broken by a
    # database restart is replaced before use instead of failing a request.
    _db["CONN_HEALTH_CHECKS"] = True
    _db["OPTIONS"] = {
        "pool": {
            "min_size": env_int("DB_POOL_MIN", 1),
            "max_size": env_int("DB_POOL_MAX", 10),
            # While the database is down a request waits this long for a connection, then answers 503.
            "timeout": env_float("DB_POOL_TIMEOUT", 3.0),
        },
        "connect_timeout": env_int("DB_CONNECT_TIMEOUT", 5),
        # Monitors of this same server leave OpsAssist's own connections out of their idle counts.
        "application_name": "opsassist",
    }
else:
    raise ImproperlyConfigured("DATABASE_URL must be a sqlite:// or postgres:// URL")
if env_str("OPSASSIST_TEST_DB_NAME"):
    _db["TEST"] = {"NAME": env_str("OPSASSIST_TEST_DB_NAME")}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- i18n, static ---------------------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the app folders, so no collectstatic step is needed to run.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Cache: shared by every process through Redis in service mode (rate limits), memory otherwise ---

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "opsassist",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
THROTTLE_CACHE = "default"
# POST /api/v1/events on the event loop with group commit when the database is PostgreSQL (incidents.fastingest).
FAST_INGEST = env_bool("OPSASSIST_FAST_INGEST", True)
# Events per integration key (or per user) on the ingestion endpoints: "<n>/<second|minute|hour>"; empty = off.
INGEST_RATE_LIMIT = env_str("INGEST_RATE_LIMIT", "60000/min")

# --- CORS -----------------------------------------------------------------------------------------

CORS_ALLOWED_ORIGINS = env_list("CORS_ORIGINS", "http://localhost:8080,http://localhost:3000")

# --- REST API -------------------------------------------------------------------------------------

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "incidents.auth.IntegrationKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["opsassist.lib.permissions.ModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "opsassist.lib.pagination.HeaderLimitOffsetPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "opsassist.lib.exceptions.exception_handler",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["opsassist.lib.nul.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if env_bool("OPSASSIST_BROWSABLE_API", False):
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "OpsAssist API",
    "DESCRIPTION": "Incident management: events and alerts in, one incident per failing thing, on-call, "
    "AI triage and verified remediation.",
    "VERSION": APP_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # "role" names both a person's role and a calendar attendee's: give the person's its own schema name.
    "ENUM_NAME_OVERRIDES": {"PersonRoleEnum": "opsassist.people.ROLES"},
}

# --- Celery ---------------------------------------------------------------------------------------

CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
# The in-memory transport polls; a short interval keeps embedded task latency low.
# Redis: a task a dead worker held is redelivered after visibility_timeout, so it is as short as allowed:
# longer than the longest countdown (a notification retry, 300 s) plus the hard time limit (checked below).
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 180)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 15
CELERY_LONGEST_COUNTDOWN_SECONDS = 300
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 600)
if CELERY_TASK_TIME_LIMIT < 30:
    raise ImproperlyConfigured("CELERY_TASK_TIME_LIMIT must be at least 30 seconds.")
if CELERY_VISIBILITY_TIMEOUT <= CELERY_LONGEST_COUNTDOWN_SECONDS + CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"CELERY_VISIBILITY_TIMEOUT must exceed {CELERY_LONGEST_COUNTDOWN_SECONDS + CELERY_TASK_TIME_LIMIT} s "
        "(the longest countdown plus CELERY_TASK_TIME_LIMIT), or running tasks are delivered twice."
    )
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"polling_interval": 0.05} if EMBEDDED else {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 4)

# --- Channels -------------------------------------------------------------------------------------

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "opsassist:channels"},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Product settings (seed 004's table and the contract) -----------------------------------------

HTTP_CLIENT_TIMEOUT = env_float("HTTP_CLIENT_TIMEOUT", 10.0)
HEALTH_MEMORY_THRESHOLD = env_float("HEALTH_MEMORY_THRESHOLD", 90.0)
HEALTH_DISK_THRESHOLD = env_float("HEALTH_DISK_THRESHOLD", 90.0)
MTTA_BUCKETS = env_floats("MTTA_BUCKETS", "30,60,120,300,600,1800,3600")
MTTR_BUCKETS = env_floats("MTTR_BUCKETS", "300,600,1800,3600,7200,14400,28800")
# /api/v1/incidents/analytics over the default window is recomputed at most this often (seconds; 0 = always).
ANALYTICS_CACHE_SECONDS = env_float("ANALYTICS_CACHE_SECONDS", 10.0)
# The periodic analytics rollup catch-up works at most this long per 10 s tick (seconds).
ROLLUP_TICK_SECONDS = env_float("ROLLUP_TICK_SECONDS", 1.0)
CORRELATION_THRESHOLD = env_int("CORRELATION_THRESHOLD", 5)
CORRELATION_WINDOW_SECONDS = env_int("CORRELATION_WINDOW_SECONDS", 300)
CORRELATION_INTERVAL_SECONDS = env_float("CORRELATION_INTERVAL_SECONDS", 1.0)
ESCALATION_TIMEOUT_MINUTES = env_int("ESCALATION_TIMEOUT_MINUTES", 5)
HEARTBEAT_TIMEOUT_SECONDS = env_int("HEARTBEAT_TIMEOUT_SECONDS", 180)
ANTHROPIC_API_KEY = env_secret("ANTHROPIC_API_KEY")
ANTHROPIC_MODEL = env_str("ANTHROPIC_MODEL", "claude-sonnet-5-5")
ANTHROPIC_TIMEOUT_SECONDS = env_float("ANTHROPIC_TIMEOUT_SECONDS", 30.0)
ANTHROPIC_MAX_RETRIES = env_int("ANTHROPIC_MAX_RETRIES", 2)
# After an approved action: fresh checks every REMEDIATION_VERIFY_INTERVAL s for up to this long.
REMEDIATION_VERIFY_SECONDS = env_float("REMEDIATION_VERIFY_SECONDS", 30.0)
REMEDIATION_VERIFY_INTERVAL = env_float("REMEDIATION_VERIFY_INTERVAL", 2.0)
OPSASSIST_SIMULATION = env_bool("OPSASSIST_SIMULATION", False)
OPSASSIST_ADMIN_USER = env_str("OPSASSIST_ADMIN_USER", "admin")
OPSASSIST_ADMIN_PASSWORD = env_secret("OPSASSIST_ADMIN_PASSWORD")

# --- Logging: one JSON object a line ----------------------------------------------------------------

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = env_str("LOG_FORMAT", "json")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "celery": {"level": "WARNING" if LOG_LEVEL == "INFO" else LOG_LEVEL},
    },
}

# Queues: checks and notifications get their own so a slow target or a slow webhook never delays
# correlation. Every worker consumes all of them unless started with -Q.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_WORKER_QUEUES = ["celery", "checks", "notifications"]

# Management commands `manage.py up` runs after bootstrap (apps add demo data, demo monitors, ...).
OPSASSIST_UP_HOOKS: list[str] = ["register_demo_monitors"]
CELERY_TASK_ROUTES = {"monitoring.run_check": {"queue": "checks"}, "oncall.deliver": {"queue": "notifications"}}

# Email: Django's SMTP backend once EMAIL_URL (smtp://user:pass@host:587/?tls=1) or EMAIL_HOST is set.
# Without either, email channels record their notifications as skipped ("email not configured"), and
# Django's own mail goes to the console.
EMAIL_URL = env_secret("EMAIL_URL")
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 10.0)
if EMAIL_URL:
    try:
        _email = dj_email_url.parse(EMAIL_URL)
    except ValueError as exc:  # a port that is not a number
        raise ImproperlyConfigured(f"EMAIL_URL: {exc}") from None
    if _email.get("EMAIL_BACKEND") != "django.core.mail.backends.smtp.EmailBackend" or not _email["EMAIL_HOST"]:
        raise ImproperlyConfigured("EMAIL_URL must be smtp://[user:password@]host[:port][/?tls=1|ssl=1]")
    EMAIL_HOST, EMAIL_PORT = _email["EMAIL_HOST"], _email["EMAIL_PORT"] or 25
    EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_USER"], _email["EMAIL_HOST_PASSWORD"]
    EMAIL_USE_TLS, EMAIL_USE_SSL = _email["EMAIL_USE_TLS"], _email["EMAIL_USE_SSL"]
    EMAIL_TIMEOUT = _email["EMAIL_TIMEOUT"] or EMAIL_TIMEOUT
EMAIL_CONFIGURED = bool(EMAIL_HOST)
_mail_backend = "smtp" if EMAIL_CONFIGURED else "console"
EMAIL_BACKEND = env_str("EMAIL_BACKEND", f"django.core.mail.backends.{_mail_backend}.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "opsassist@localhost")

# Outbound connections: where monitors, webhooks and other notification targets may connect. Entries are
# CIDRs or host names (a name covers its sub-domains). Loopback stays allowed; add 127.0.0.0/8 and ::1/128
# to OUTBOUND_DENY to refuse it. OUTBOUND_ALLOW, when set, lists the only CIDRs allowed.
OUTBOUND_DENY = env_list(
    "OUTBOUND_DENY",
    "169.254.0.0/16,fe80::/10,fd00:ec2::254/128,0.0.0.0/8,::/128,100.100.100.200/32,"
    "metadata.google.internal,metadata.goog,metadata,instance-data,instance-data.ec2.internal,"
    "metadata.azure.com,metadata.tencentyun.com",
)
from opsassist.lib.env import env_cidrs  # noqa: E402 - kept with the block it serves

OUTBOUND_ALLOW = env_cidrs("OUTBOUND_ALLOW", "")
# Push, chat and SMS (apprise) ignore HTTP_PROXY/HTTPS_PROXY, like every other outbound client: through a
# proxy the outbound policy sees only the proxy. True sends them through the environment's proxy instead.
APPRISE_USE_ENV_PROXY = env_bool("APPRISE_USE_ENV_PROXY", False)
# Outbound URLs (credentials, query tokens, webhook paths) are redacted in the HTTP clients' logs.
LOGGING.setdefault("filters", {})["redact_urls"] = {"()": "opsassist.lib.redact.RedactUrlsFilter"}
for _logger in ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy"):
    LOGGING["loggers"].setdefault(_logger, {}).setdefault("filters", []).append("redact_urls")
# --- Health, heartbeats and the Claude gateway ---------------------------------------------------
# Worker and beat write a heartbeat this often; /health fails (503) when one is older than the max age.
HEALTH_HEARTBEAT_INTERVAL_SECONDS = env_float("HEALTH_HEARTBEAT_INTERVAL_SECONDS", 5.0)
HEALTH_HEARTBEAT_MAX_AGE_SECONDS = env_float("HEALTH_HEARTBEAT_MAX_AGE_SECONDS", 30.0)
# A gateway or self-hosted proxy speaking the Anthropic Messages API (empty: the SDK's default).
ANTHROPIC_BASE_URL = env_str("ANTHROPIC_BASE_URL").rstrip("/")
if ANTHROPIC_BASE_URL and not ANTHROPIC_BASE_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured("ANTHROPIC_BASE_URL must be an http:// or https:// URL")
# Buckets (seconds) of oncall_notification_latency_seconds, queued → sent.
NOTIFICATION_LATENCY_BUCKETS = env_floats("NOTIFICATION_LATENCY_BUCKETS", "1,5,15,30,60,300,900")
# --- Web security: public URL, hosts and origins, cookies, TLS, CSP, login throttling ----------------

from opsassist.lib.publicurl import parse_public_url  # noqa: E402

# The public base URL: allowed hosts, CSRF and WebSocket origins and every absolute link come from it.
# OPSASSIST_BASE_URL is its deprecated name, still read when OPSASSIST_URL is unset.
_DEFAULT_URL = f"http://127.0.0.1:{OPSASSIST_PORT}"
OPSASSIST_URL = parse_public_url(env_str("OPSASSIST_URL") or env_str("OPSASSIST_BASE_URL") or _DEFAULT_URL)
OPSASSIST_BASE_URL = OPSASSIST_URL  # deprecated alias for code written before OPSASSIST_URL
# The default URL also answers as localhost on the same port (the README opens http://localhost:8000).
PUBLIC_ORIGINS = [OPSASSIST_URL]
if OPSASSIST_URL == _DEFAULT_URL:
    PUBLIC_ORIGINS.append(f"http://localhost:{OPSASSIST_PORT}")
# Loopback names are always accepted as Host: probes and the host agent call 127.0.0.1, and a loopback Host
# can point nothing at an attacker (links never come from the Host header anyway).
ALLOWED_HOSTS = [
    *dict.fromkeys([urlsplit(origin).hostname for origin in PUBLIC_ORIGINS] + ["127.0.0.1", "localhost", "[::1]"]),
    *env_list("ALLOWED_HOSTS", ""),
]
CSRF_TRUSTED_ORIGINS = [*PUBLIC_ORIGINS, *env_list("CSRF_TRUSTED_ORIGINS", "")]
# Browsers' WebSocket Origin must be one of these (opsassist.wsauth.PublicOriginValidator).
WEBSOCKET_ALLOWED_ORIGINS = [*PUBLIC_ORIGINS, *env_list("WEBSOCKET_ALLOWED_ORIGINS", "")]

_HTTPS = OPSASSIST_URL.startswith("https://")
# True only when every request reaches OpsAssist through a reverse proxy that sets X-Forwarded-For and
# X-Forwarded-Proto itself (overwriting what clients sent): then the client IP and scheme come from them.
OPSASSIST_BEHIND_PROXY = env_bool("OPSASSIST_BEHIND_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if OPSASSIST_BEHIND_PROXY else None
SESSION_COOKIE_SECURE = _HTTPS
CSRF_COOKIE_SECURE = _HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if _HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Off by default: OpsAssist does not terminate TLS; the proxy in front of it redirects http to https.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^health"]

# Content-Security-Policy: no inline script or style (the pages' code is in static/), no framing, no plugins.
# A template that really needs inline code gives it nonce="{{ request.csp_nonce }}".
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        # Live updates: 'self' does not cover ws:/wss: in every browser.
        "connect-src": [SELF, *(re.sub(r"^http", "ws", origin) for origin in PUBLIC_ORIGINS)],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Login throttling (django-axes): LOGIN_FAILURE_LIMIT failed logins for one username from one IP address
# lock that pair out for LOGIN_LOCKOUT_MINUTES. Only the login forms (/accounts/login/, /admin/login/)
# count: API tokens and integration keys are not passwords and are never locked out.
AUTHENTICATION_BACKENDS = [
    "opsassist.lib.loginguard.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("LOGIN_THROTTLE_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_ALLOWED_CORS_ORIGINS = OPSASSIST_URL
# The client address is the connection's (REMOTE_ADDR); behind a proxy, `manage.py serve` takes it from
# X-Forwarded-For sent by the proxies in FORWARDED_ALLOW_IPS (OPSASSIST_BEHIND_PROXY=True only).
AXES_CLIENT_IP_CALLABLE = "opsassist.lib.loginguard.client_ip"
# Monitoring drills: the most a failure drill may write to a target, whatever limit the target has.
DRILL_MAX_BYTES = env_int("DRILL_MAX_BYTES", 256 * 1024 * 1024)
if DRILL_MAX_BYTES < 0:
    raise ImproperlyConfigured("DRILL_MAX_BYTES must not be negative")
# --- Remediation: operator-configured commands, approval rules, deadlines of work in flight ---------
from remediation.commands import load_commands  # noqa: E402  (stdlib-only: validates the shape at start-up)

# Action name → argv list (no shell), optionally per monitor: see docs/ai-and-remediation.md.
REMEDIATION_COMMANDS = load_commands(env_str("REMEDIATION_COMMANDS"), env_str("REMEDIATION_COMMANDS_FILE"))
# A restart command is killed after this long; it must finish inside the task's soft time limit.
REMEDIATION_COMMAND_TIMEOUT_SECONDS = env_int("REMEDIATION_COMMAND_TIMEOUT_SECONDS", 120)
if not 1 <= REMEDIATION_COMMAND_TIMEOUT_SECONDS < CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"REMEDIATION_COMMAND_TIMEOUT_SECONDS must be between 1 and {CELERY_TASK_SOFT_TIME_LIMIT - 1}."
    )
# Each verification attempt is scheduled with this countdown: it must stay within what the broker holds.
if not 0 < REMEDIATION_VERIFY_INTERVAL <= CELERY_LONGEST_COUNTDOWN_SECONDS:
    raise ImproperlyConfigured(f"REMEDIATION_VERIFY_INTERVAL must be between 0 and {CELERY_LONGEST_COUNTDOWN_SECONDS}.")
# 1: whoever proposed a run cannot approve it.
REMEDIATION_TWO_PERSON = env_bool("REMEDIATION_TWO_PERSON", False)
# A proposal nobody decided expires after this long, so a new one is accepted.
REMEDIATION_PROPOSAL_TTL_SECONDS = env_int("REMEDIATION_PROPOSAL_TTL_SECONDS", 3600)
# Notifications still pending or sending this long after their last attempt was queued are re-queued
# (or failed after the last attempt) by the reaper.
NOTIFICATION_STUCK_SECONDS = env_int("NOTIFICATION_STUCK_SECONDS", 600)
# --- Correlation passes ---------------------------------------------------------------------------
# A pass looks back to where the last one left off (minus window and grace), at most this far, so a
# pass that runs late still opens the bursts that crossed the threshold meanwhile.
CORRELATION_LOOKBACK_SECONDS = env_int("CORRELATION_LOOKBACK_SECONDS", 3600)
# Time bound of each statement of a pass (PostgreSQL statement_timeout); a pass that hits it is rolled
# back and logged, and the next one tries again. Also the lease's expiry (x2) where there is no PostgreSQL.
CORRELATION_TIMEOUT_SECONDS = env_float("CORRELATION_TIMEOUT_SECONDS", 10.0)
CELERY_WORKER_QUEUES = [*CELERY_WORKER_QUEUES, "correlation", "alerts"]
CELERY_TASK_ROUTES = {**CELERY_TASK_ROUTES, "incidents.correlate_events": {"queue": "correlation"},
                      # Alertmanager's queued alerts: never behind the analyses an alert storm queues.
                      "incidents.process_alert_inbox": {"queue": "alerts"}}  # fmt: skip

# On-call calendars (iCal schedules, Grafana OnCall import): a calendar URL is fetched again every
# CALENDAR_REFRESH_MINUTES, at most CALENDAR_MAX_BYTES, and expanded CALENDAR_HORIZON_DAYS ahead into at
# most CALENDAR_MAX_EVENTS shifts per calendar.
CALENDAR_REFRESH_MINUTES = env_int("CALENDAR_REFRESH_MINUTES", 15)
CALENDAR_MAX_BYTES = env_int("CALENDAR_MAX_BYTES", 2 * 1024 * 1024)
CALENDAR_MAX_EVENTS = env_int("CALENDAR_MAX_EVENTS", 5000)
CALENDAR_HORIZON_DAYS = env_int("CALENDAR_HORIZON_DAYS", 60)
CALENDAR_FETCH_TIMEOUT_SECONDS = env_int("CALENDAR_FETCH_TIMEOUT_SECONDS", 15)
if not 5 <= CALENDAR_REFRESH_MINUTES <= 1440:
    raise ImproperlyConfigured("CALENDAR_REFRESH_MINUTES must be between 5 and 1440")
# --- Paging: action links and Slack ------------------------------------------------------------------
# How long a notification's acknowledge / resolve / snooze link works (each works once).
ACTION_LINK_TTL_SECONDS = env_int("ACTION_LINK_TTL_SECONDS", 86400)
if ACTION_LINK_TTL_SECONDS <= 0:
    raise ImproperlyConfigured("ACTION_LINK_TTL_SECONDS must be positive")
# The Slack app: its bot token posts and updates messages, its signing secret proves button clicks.
SLACK_BOT_TOKEN = env_secret("SLACK_BOT_TOKEN")
SLACK_SIGNING_SECRET = env_secret("SLACK_SIGNING_SECRET")
# Slack's Web API base (a stand-in for tests or a proxy); it passes the outbound policy like any target.
SLACK_API_URL = env_str("SLACK_API_URL", "https://slack.com/api/").rstrip("/") + "/"
if not SLACK_API_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(f"SLACK_API_URL must be an http(s) URL, got {SLACK_API_URL!r}")

# --- Paging: reaching a person ---------------------------------------------------------------------
# The team paged for incidents of services no team owns (by name); empty: the active admins are paged.
ONCALL_FALLBACK_TEAM = env_str("ONCALL_FALLBACK_TEAM", "")

# --- Paging noise: flapping, storms, silences, check-ins ------------------------------------------
# A thing that goes failing → recovered FLAP_THRESHOLD times within FLAP_WINDOW_SECONDS keeps one
# incident marked flapping; it resolves after FLAP_STABLE_SECONDS of continuous health.
FLAP_THRESHOLD = env_int("FLAP_THRESHOLD", 3)
FLAP_WINDOW_SECONDS = env_int("FLAP_WINDOW_SECONDS", 900)
FLAP_STABLE_SECONDS = env_int("FLAP_STABLE_SECONDS", 300)
# More than STORM_THRESHOLD incidents opened within STORM_WINDOW_SECONDS: one major incident (service
# STORM_SERVICE) is paged for the group and the others hang under it, unpaged.
STORM_THRESHOLD = env_int("STORM_THRESHOLD", 10)
STORM_WINDOW_SECONDS = env_int("STORM_WINDOW_SECONDS", 60)
STORM_SERVICE = env_str("STORM_SERVICE", "alert-storm")
# The longest maintenance window or silence anyone may schedule, in days.
NOISE_MAX_DAYS = env_int("NOISE_MAX_DAYS", 31)
for _name in ("FLAP_THRESHOLD", "FLAP_WINDOW_SECONDS", "FLAP_STABLE_SECONDS", "STORM_THRESHOLD",
              "STORM_WINDOW_SECONDS", "NOISE_MAX_DAYS"):  # fmt: skip
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1")
