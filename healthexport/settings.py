"""Settings for healthexport. The environment is read here and nowhere else.

Every variable may also be given as ``NAME_FILE`` pointing at a file holding the value
(Docker and Kubernetes secrets). See ``.env.example`` for the full list; a ``.env`` file in the
project root fills in what the environment leaves unset (``healthexport/dotenv.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp import constants as csp

from healthexport.dotenv import read_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

read_dotenv()
env = environ.FileAwareEnv()


def _config_error(message: str) -> None:
    """Stop start-up with one readable line instead of a traceback."""
    raise SystemExit(f"healthexport: configuration error: {message}")


DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        _config_error("SECRET_KEY is required (or SECRET_KEY_FILE), unless DEBUG=1.")
    SECRET_KEY = "insecure-debug-only-key"  # noqa: S105  (reachable only with DEBUG=1)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
# The base URL phones reach this server at (https://health.example.org): every URL the admin shows
# for the app is built from it, never from the address the admin happens to be browsed at.
PUBLIC_URL = env.str("PUBLIC_URL", default="").rstrip("/")
# Client IPs are taken from X-Forwarded-For only when the direct peer is one of these proxies.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

INSTALLED_APPS = [
    "accounts.apps.AdminConfig",  # django.contrib.admin, its login throttled
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "django_prometheus",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "healthexport.apps.HealthexportConfig",
    "accounts",
    "audit",
    "metrics",
    "ingest",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Outermost of ours: it reads what is left of the body once any answer is made.
    "healthexport.middleware.DrainUnreadBodyMiddleware",
    "healthexport.middleware.RequestIdMiddleware",
    "healthexport.middleware.AccessLogMiddleware",
    "healthexport.middleware.ApiNoStoreMiddleware",
    "healthexport.middleware.NulInUrlMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before CSRF, whose process_view reads the admin's POST bodies.
    "healthexport.middleware.BodySizeLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Tells audit receivers of model signals whose request (and signed-in user) made a change.
    "audit.middleware.AuditRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Writes the RateLimit-* headers decided by the API-key throttle, on 2xx and 429 alike.
    "accounts.ratelimit.RateLimitHeadersMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "healthexport.urls"
WSGI_APPLICATION = "healthexport.wsgi.application"

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
    },
]

# --- Database ------------------------------------------------------------------------------
# No DATABASE_URL: the embedded SpatiaLite file, so a newcomer gets a working server at once.
# postgres:// and postgresql:// are read as PostGIS, which the workout routes need.
DATABASE_ENGINES = {
    "django.contrib.gis.db.backends.postgis": "django_prometheus.db.backends.postgis",
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgis",
    "django.contrib.gis.db.backends.spatialite": "django_prometheus.db.backends.spatialite",
}
DATABASE_URL = env.str("DATABASE_URL", default="")
if DATABASE_URL:
    try:
        _database = env.db_url_config(DATABASE_URL)
    except Exception as exc:  # django-environ raises several types for a malformed URL
        _config_error(f"DATABASE_URL is not a valid database URL ({exc}).")
    if _database.get("ENGINE") not in DATABASE_ENGINES:
        _config_error("DATABASE_URL must start with postgis:// (or postgres://) or spatialite://.")
    _database["ENGINE"] = DATABASE_ENGINES[_database["ENGINE"]]
else:
    VAR_DIR.mkdir(exist_ok=True)
    _database = {
        "ENGINE": "django_prometheus.db.backends.spatialite",
        "NAME": str(VAR_DIR / "healthexport.sqlite3"),
    }
IS_POSTGRES = _database["ENGINE"].endswith("postgis")
if IS_POSTGRES:
    # Persistent connections: reconnecting per request costs ~7x throughput (docs/performance.md).
    _database.update(CONN_MAX_AGE=env.int("DATABASE_CONN_MAX_AGE", default=300), CONN_HEALTH_CHECKS=True)
    _database.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # Statements sent with psycopg's own cursor (ingest's hot lookups, binary fetches) are
    # prepared once per connection when asked, or from their 5th run: their plan over every
    # partition is made once, not each time. The ORM's client-side binding is unchanged.
    _database["OPTIONS"].setdefault("prepare_threshold", 5)
else:
    # WAL lets readers work during an ingest; IMMEDIATE avoids "database is locked" upgrades.
    _database["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DATABASES = {"default": _database}
# PostgreSQL: the role owning the tables, for migrate and maintenance commands only; DATABASE_URL's
# role then owns nothing and gets only the privileges it needs (healthexport.lib.roles).
DATABASE_OWNER = DATABASE_APP_ROLE = None
DATABASE_OWNER_URL = env.str("DATABASE_OWNER_URL", default="")
if DATABASE_OWNER_URL and DATABASE_OWNER_URL != DATABASE_URL:
    if not IS_POSTGRES:
        _config_error("DATABASE_OWNER_URL needs a PostgreSQL DATABASE_URL.")
    try:
        _owner = env.db_url_config(DATABASE_OWNER_URL)
    except Exception as exc:
        _config_error(f"DATABASE_OWNER_URL is not a valid database URL ({exc}).")
    if any(_owner.get(part) != _database.get(part) for part in ("HOST", "PORT", "NAME")):
        _config_error("DATABASE_OWNER_URL must name the same database as DATABASE_URL; only the role differs.")
    if _owner["USER"] != _database["USER"]:
        DATABASE_OWNER = {"USER": _owner["USER"], "PASSWORD": _owner["PASSWORD"]}
        DATABASE_APP_ROLE = _database["USER"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Debian 12 ships GDAL 3.6. We never parse spatial references from input (routes are built
# from numbers with SRID 4326), which is what GDAL 3.9's blocking protects against.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

# --- Cache -----------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="hx"),
            "OPTIONS": {
                # Fail fast: a slow Redis must not stall every request.
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
                # More threads than pooled connections wait for one instead of erroring (which would
                # let a burst through the rate limiter, as it fails open).
                "CONNECTION_POOL_CLASS": "redis.BlockingConnectionPool",
                "CONNECTION_POOL_KWARGS": {"max_connections": 100, "timeout": 0.5},
            },
        }
    }
else:
    # No Redis: a table in the database, which every gunicorn worker shares (a local-memory cache
    # would count rate limits and failed authentications per worker). `manage.py createcachetable`
    # makes it (scripts/run.sh runs it). Past MAX_ENTRIES, expired entries and then a third of the rest go.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "healthexport_cache",
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="hx"),
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }

AUTH_USER_MODEL = "accounts.User"
# The owner's pages (ingest/web/): anonymous visitors are sent to /login, and back after signing in.
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/"
# A set-password link staff create for an owner (accounts.password_links) expires after a day.
PASSWORD_RESET_TIMEOUT = 24 * 3600
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve the admin's static files from the app directories when collectstatic has not run.
WHITENOISE_USE_FINDERS = True

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
# Only once every client reaches the host over HTTPS: browsers remember it (0 = off).
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)

# Nothing loads from another host. Scripts: our static files, and inline ones only with the
# request's nonce (the admin's key-created page). Styles may be inline: the admin sets style
# attributes and Redoc (/v1/docs) injects its styles at run time; Redoc's search runs in a worker
# it builds from a blob: URL, and its icons are data: URLs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF, csp.NONCE],
        "style-src": [csp.SELF, csp.UNSAFE_INLINE],
        "img-src": [csp.SELF, "data:"],
        "font-src": [csp.SELF, "data:"],
        "worker-src": [csp.SELF, "blob:"],
        "connect-src": [csp.SELF],
        "object-src": [csp.NONE],
        "base-uri": [csp.SELF],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
    }
}

# Optional map tiles under workout routes, from a tile server the operator chooses, e.g.
# https://tile.openstreetmap.org/{z}/{x}/{y}.png ({s} for a subdomain). Empty (the default): routes
# are drawn on a plain background, and no request leaves the server.
MAP_TILE_URL = env.str("MAP_TILE_URL", default="")
if MAP_TILE_URL:
    _tiles = urlsplit(MAP_TILE_URL)
    if (
        _tiles.scheme not in ("http", "https")
        or not _tiles.netloc
        or not all(part in MAP_TILE_URL for part in ("{z}", "{x}", "{y}"))
    ):
        _config_error("MAP_TILE_URL must be an http(s) URL with {z}, {x} and {y} in it.")
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"].append(f"{_tiles.scheme}://{_tiles.netloc.replace('{s}', '*')}")

# --- API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "healthexport.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Runs after authentication: requests with an API key are counted, others are not.
    "DEFAULT_THROTTLE_CLASSES": ["accounts.ratelimit.ApiKeyRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# OpenAPI 3 at /v1/schema, Redoc at /v1/docs (public: they describe the API, hold no data).
SPECTACULAR_SETTINGS = {
    "TITLE": "healthexport: your Apple Health data API",
    "DESCRIPTION": "Send Health Auto Export data; read, export and delete your own. Authenticate with "
    "your API key (`Authorization: Bearer hx_…`). "
    'Every error answer is {"error": {"code", "message", "details"}} (the Error component).',
    # Redoc lists the groups in this order: the destructive endpoints come last.
    "TAGS": [
        {"name": "Sending data", "description": "What the Health Auto Export app posts."},
        {"name": "Reading your data", "description": "Scope `read`: metrics, workouts, exports, stats."},
        {"name": "Deleting your data", "description": "Scope `delete`: cannot be undone."},
    ],
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/v1",
    "SORT_OPERATIONS": "healthexport.openapi.destructive_last",
    "ENUM_NAME_OVERRIDES": {
        "IngestionStatusEnum": "ingest.models.Ingestion.Status",
        "IngestAnswerStatusEnum": ["processed", "partial", "duplicate"],
    },
    "PREPROCESSING_HOOKS": ["healthexport.openapi.only_v1"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "healthexport.openapi.add_errors"],
}

# --- Limits and policy (README "Configuration") -----------------------------------------
INGEST_MAX_BODY_BYTES = env.int("INGEST_MAX_BODY_BYTES", default=100 * 1024 * 1024)
# Every other body keeps Django's 2.5 MB (DATA_UPLOAD_MAX_MEMORY_SIZE), refused from Content-Length
# by BodySizeLimitMiddleware; the ingest view streams its body itself under INGEST_MAX_BODY_BYTES.
RATELIMIT_REQUESTS_PER_HOUR = env.int("RATELIMIT_REQUESTS_PER_HOUR", default=100)
RATELIMIT_BYTES_PER_HOUR = env.int("RATELIMIT_BYTES_PER_HOUR", default=10 * 1024 * 1024)
# Reads (GET) have their own per-key budget, so paging a year of raw samples leaves the uploads alone.
RATELIMIT_READ_REQUESTS_PER_HOUR = env.int("RATELIMIT_READ_REQUESTS_PER_HOUR", default=1000)
API_KEY_CACHE_SECONDS = env.int("API_KEY_CACHE_SECONDS", default=300)
# The key hash is part of the contract ($argon2id$v=19$m=19456,t=2,p=1$...): not configurable by environment.
# Hashes with other parameters are upgraded on their next successful verification.
API_KEY_ARGON2 = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}
# Failed API-key authentications per client IP before 429 (`count/period`, counted by accounts.ratelimit).
AUTH_FAILURES_PER_IP = "20/m"
# Failed sign-ins (admin login) per username and per client IP before the login form refuses to
# check passwords until the window ends (django-ratelimit rates: 10 per 15 minutes, ...).
LOGIN_FAILURES_PER_USERNAME = "10/15m"
LOGIN_FAILURES_PER_IP = "30/15m"
# For django-ratelimit's core functions (the login throttle): they count in the default cache,
# atomically on Redis but not on the database cache. Its app is not installed, so its system
# checks do not run.
RATELIMIT_USE_CACHE = "default"
RATELIMIT_FAIL_OPEN = True
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=2190)
# Raw bodies of finished exports are dropped after this many days (the rows stay): purge_raw_bodies.
RAW_BODY_RETENTION_DAYS = env.int("RAW_BODY_RETENTION_DAYS", default=90)
# An export still "received" this long after it arrived lost its worker (a request lives at most
# gunicorn's timeout): mark_stale_ingestions and reprocess mark it failed. Default: twice that timeout.
INGEST_STALE_AFTER_SECONDS = env.int("INGEST_STALE_AFTER_SECONDS", default=2 * env.int("GUNICORN_TIMEOUT", default=300))

# --- Apple Health imports (README "Apple Health import") -----------------------------------
# Uploads are streamed to files here, never held in memory, and deleted once imported.
IMPORT_DIR = Path(env.str("IMPORT_DIR", default=str(VAR_DIR / "imports")))
IMPORT_MAX_BODY_BYTES = env.int("IMPORT_MAX_BODY_BYTES", default=4 * 1024**3)
# What an archive may inflate to in all (a zip bomb stops here, not at the end of the disk or memory).
IMPORT_MAX_UNCOMPRESSED_BYTES = env.int("IMPORT_MAX_UNCOMPRESSED_BYTES", default=64 * 1024**3)
IMPORTS_PER_DAY = env.int("IMPORTS_PER_DAY", default=5)
# A running import whose worker has not reported for this long is taken over by another worker.
IMPORT_STALE_AFTER_SECONDS = env.int("IMPORT_STALE_AFTER_SECONDS", default=120)
IMPORT_MAX_ATTEMPTS = env.int("IMPORT_MAX_ATTEMPTS", default=3)
IMPORT_RETRY_SECONDS = env.int("IMPORT_RETRY_SECONDS", default=30)
# Top-level XML elements per committed chunk (a route point or heartbeat counts as one): bounds memory, and
# what a retry may have to redo.
IMPORT_CHUNK_ELEMENTS = env.int("IMPORT_CHUNK_ELEMENTS", default=20_000)
# ECG voltage samples committed together (an ECG has 15,000-200,000): bounds memory, whatever the number of ECGs.
IMPORT_ECG_BATCH_SAMPLES = env.int("IMPORT_ECG_BATCH_SAMPLES", default=500_000)
# The task queue: a table in our own database, worked by `manage.py db_worker` (scripts/run.sh).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# --- Metrics ---------------------------------------------------------------------------------
# Set: /metrics is served on this port only (by gunicorn's master, see deploy/gunicorn.conf.py),
# not on the public one. The gunicorn config reads the variable itself: it runs before Django.
METRICS_PORT = env.int("METRICS_PORT", default=None)
# Without METRICS_PORT, /metrics on the app port answers loopback clients, and anyone sending
# "Authorization: Bearer <METRICS_TOKEN>" when it is set.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Logging ---------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_context": {"()": "healthexport.lib.logging.RequestContextFilter"},
        "redact": {"()": "healthexport.lib.logging.RedactingFilter"},
    },
    "formatters": {
        "json": {"()": "healthexport.lib.logging.JsonFormatter"},
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(user_id)s %(key_prefix)s] %(message)s"
        },
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": sys.stdout,
            "filters": ["request_context", "redact"],
            "formatter": "plain" if DEBUG else "json",
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own console handler would print a second, unredacted copy with DEBUG=1.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        # 4xx warnings repeat the access log line; 5xx tracebacks (ERROR) stay.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        # An ERROR with a traceback per bad Host; healthexport.errors logs one WARNING line instead.
        "django.security.DisallowedHost": {"level": "CRITICAL"},
    },
}
