"""All settings, read from the environment in this one module.

Every variable has a safe local default, so a fresh checkout runs with SQLite and no Redis.
`.env.example` lists them all. Helpers fail loudly on malformed values instead of guessing.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false)")


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from exc
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be >= {minimum}")
    return value


def env_float(name: str, default: float, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from exc
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be >= {minimum}")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}")
    return value


DATA_DIR = Path(env_str("GATEWAY_DATA_DIR", str(BASE_DIR / "var")))


def _local_secret_key() -> str:
    """A per-checkout secret kept in the data directory, so local runs need no set-up."""
    path = DATA_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    # Written whole under a name of its own, then linked into place: processes starting at once on a fresh
    # checkout (the server and a worker, parallel test runners) all end up with the one key that won.
    draft = DATA_DIR / f".secret_key.{os.getpid()}"
    draft.write_text(key)
    draft.chmod(0o600)
    try:
        os.link(draft, path)
    except FileExistsError:
        key = path.read_text().strip()
    finally:
        draft.unlink()
    return key


# --- Deployment: "local" (the default: a checkout runs as is) or "production" (refuses unsafe settings;
# `manage.py check --deploy` is clean with the variables in deploy/production.env).
GATEWAY_ENV = env_choice("GATEWAY_ENV", "local", ("local", "production"))
PRODUCTION = GATEWAY_ENV == "production"

DEBUG = env_bool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when GATEWAY_ENV=production.")
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when GATEWAY_ENV=production (the same value in every process), e.g. "
            "the output of: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = _local_secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver")
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when GATEWAY_ENV=production, e.g. gateway.example.com")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "console.apps.GatewayAdminConfig",  # Django's admin with the gateway's site (grouped navigation, pages)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_celery_beat",
    "simple_history",
    "core",
    "routing",
    "prompts",
    "usage",
    "stored_responses",
    "apikeys",
    "research",
    "admin_login",
    "context",
    "console.apps.ConsoleConfig",
    "mcp_bridge",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "admin_login.middleware.AdminLoginLimitMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",  # who made an edit, for the history pages
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "proxy.fronts.middleware.OpenAIErrorPagesMiddleware",
]

ROOT_URLCONF = "gateway_project.urls"
ASGI_APPLICATION = "gateway_project.asgi.application"
WSGI_APPLICATION = None

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

# --- Database: SQLite at DB_PATH by default; DATABASE_URL switches (e.g. to PostgreSQL).
DB_PATH = Path(env_str("DB_PATH", str(DATA_DIR / "usage.db"))).expanduser()
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DB_PATH.parent.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DB_PATH,
            # WAL lets the admin read while usage batches are written; the timeout rides out short locks.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # Keep connections open: closing the last one to a WAL database checkpoints and deletes the
            # WAL, and the next write recreates it. The snapshot pollers' close_old_connections() did that
            # several times a second (measured: ~15% of the throughput at 10 concurrent requests).
            "CONN_MAX_AGE": None,
            # A file (not in-memory) so the test suite's gateway process shares it; per-process name so
            # concurrent test runs on one checkout don't collide.
            "TEST": {"NAME": env_str("TEST_DB_PATH", str(DATA_DIR / f"test-{os.getpid()}.db"))},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis (optional): cache, channel layer and Celery broker.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL or "cache+memory://")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Declared here; django_celery_beat's DatabaseScheduler copies them into its tables when beat starts.
CELERY_BEAT_SCHEDULE = {
    "usage-retention": {"task": "usage.delete_expired_rows", "schedule": 24 * 3600.0},  # a no-op unless set
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles"))).expanduser()
# Locally the ASGI app serves the admin's static files itself, so one process is a complete install. In
# production `manage.py collectstatic` fills STATIC_ROOT (scripts/up does it) and the proxy serves it.
SERVE_STATIC = env_bool("SERVE_STATIC", not PRODUCTION)

# --- HTTPS. Behind a TLS-terminating proxy, trust its X-Forwarded-Proto (and X-Forwarded-For, for the
# admin login limit). The chat fast path never reaches Django: the proxy redirects and sets HSTS for it.
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^health$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", PRODUCTION)
SESSION_COOKIE_HTTPONLY = True

# --- Admin login: failed attempts per client IP and username within the window, then 429 until it ends.
# Counted in the cache: with REDIS_URL, shared by every process.
ADMIN_LOGIN_ATTEMPTS = env_int("ADMIN_LOGIN_ATTEMPTS", 10, minimum=1)
ADMIN_LOGIN_WINDOW_SECONDS = env_int("ADMIN_LOGIN_WINDOW_SECONDS", 300, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}, "httpx": {"level": "WARNING"}},
}

# --- Gateway behaviour.
PORT = env_int("PORT", 8090, minimum=1)
# On SIGTERM a process stops accepting connections and gives open requests and streams this long to
# finish (core.draining; uvicorn: --timeout-graceful-shutdown), then flushes usage rows and exits.
GATEWAY_SHUTDOWN_GRACE_SECONDS = env_int("GATEWAY_SHUTDOWN_GRACE_SECONDS", 20, minimum=0)
ACTIVE_PROFILE = env_str("ACTIVE_PROFILE", "personal")
# Monthly token quota of the provider named 'nanogpt' (when its row sets none; 0: none). Other providers: admin.
NANOGPT_MONTHLY_QUOTA = env_int("NANOGPT_MONTHLY_QUOTA", 60000, minimum=0)
# A quota'd provider reserves the prompt's tokens plus max_tokens, or this many when the request sets none.
GATEWAY_QUOTA_DEFAULT_COMPLETION_TOKENS = env_int("GATEWAY_QUOTA_DEFAULT_COMPLETION_TOKENS", 4096, minimum=1)

GATEWAY_MAX_BODY_BYTES = env_int("GATEWAY_MAX_BODY_BYTES", 20 * 1024 * 1024, minimum=1024)
GATEWAY_MAX_MESSAGES = env_int("GATEWAY_MAX_MESSAGES", 5000, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = GATEWAY_MAX_BODY_BYTES

# Upstream HTTP: connect timeout for every provider; each provider row sets its own read timeout.
UPSTREAM_CONNECT_TIMEOUT = env_float("UPSTREAM_CONNECT_TIMEOUT", 5.0, minimum=0.01)
UPSTREAM_MAX_CONNECTIONS = env_int("UPSTREAM_MAX_CONNECTIONS", 200, minimum=1)
UPSTREAM_MAX_KEEPALIVE = env_int("UPSTREAM_MAX_KEEPALIVE", 100, minimum=0)

# Circuit breaking: after this many consecutive failures a provider is skipped for the cool-down.
CIRCUIT_FAILURE_THRESHOLD = env_int("CIRCUIT_FAILURE_THRESHOLD", 5, minimum=1)
CIRCUIT_COOLDOWN_SECONDS = env_float("CIRCUIT_COOLDOWN_SECONDS", 30.0, minimum=0.0)

# Retries of the same candidate on a transient failure (connection lost or timeout before the answer, 408, 409,
# 429, 5xx, 529), with exponential backoff and jitter from the base delay; an upstream's Retry-After is honoured up
# to the max wait (a longer one moves on to the next candidate). The deadline bounds the whole wait for the first
# byte of the answer, tries, pauses and fallbacks included (504 past it).
GATEWAY_RETRIES = env_int("GATEWAY_RETRIES", 2, minimum=0)
GATEWAY_RETRY_BASE_DELAY_SECONDS = env_float("GATEWAY_RETRY_BASE_DELAY_SECONDS", 0.25, minimum=0.0)
GATEWAY_RETRY_MAX_WAIT_SECONDS = env_float("GATEWAY_RETRY_MAX_WAIT_SECONDS", 10.0, minimum=0.0)
GATEWAY_REQUEST_DEADLINE_SECONDS = env_float("GATEWAY_REQUEST_DEADLINE_SECONDS", 600.0, minimum=0.01)

# How often each process checks whether another process (or the admin) changed the routing config.
ROUTING_REFRESH_SECONDS = env_float("ROUTING_REFRESH_SECONDS", 1.0, minimum=0.01)

# Threads for the gateway's own DB reads (snapshot builds, /status, per-request reads); writes have their own.
GATEWAY_DB_READ_THREADS = env_int("GATEWAY_DB_READ_THREADS", 2, minimum=1)

# How long a thread may hold the GIL before the event loop gets it back (Python's default: 5 ms).
GIL_SWITCH_INTERVAL_SECONDS = env_float("GIL_SWITCH_INTERVAL_SECONDS", 0.0005, minimum=0.0001)

# Usage rows are buffered and written in batches off the response path.
USAGE_FLUSH_INTERVAL = env_float("USAGE_FLUSH_INTERVAL", 0.25, minimum=0.01)
# POST /v1/responses: how long a stored response can be continued with previous_response_id (OpenAI keeps 30 days);
# 0: the gateway stores no conversation at all (previous_response_id is then refused).
RESPONSES_STORE_DAYS = env_int("RESPONSES_STORE_DAYS", 30, minimum=0)
USAGE_BATCH_SIZE = env_int("USAGE_BATCH_SIZE", 200, minimum=1)
# Each usage event and conversation exchange is journaled here before it is buffered, so what a killed process
# had not written is replayed ("off": none).
_usage_journal = env_str("USAGE_JOURNAL_DIR")
USAGE_JOURNAL_DIR = None if _usage_journal == "off" else Path(_usage_journal or DATA_DIR / "journal").expanduser()
# Committed usage rows are pushed to the staff dashboards' live feed (a Channels WebSocket).
USAGE_LIVE_FEED = env_bool("USAGE_LIVE_FEED", True)
# Raw usage rows older than this many days are deleted daily in batches (0: keep forever); roll-ups stay.
USAGE_RETENTION_DAYS = env_int("USAGE_RETENTION_DAYS", 0, minimum=0)
# A bearer token for /metrics (besides an admin key or a staff session); empty: no such token.
METRICS_TOKEN = env_str("METRICS_TOKEN")
# A non-streamed answer larger than this is refused rather than held in memory.
UPSTREAM_MAX_RESPONSE_BYTES = env_int("UPSTREAM_MAX_RESPONSE_BYTES", 64 * 1024 * 1024, minimum=1024)

# --- Gateway keys, rate limits and budgets.
# Keys are required unless this is on; then requests from loopback clients only may come without one.
GATEWAY_ALLOW_ANONYMOUS = env_bool("GATEWAY_ALLOW_ANONYMOUS", False)
if GATEWAY_ALLOW_ANONYMOUS and PRODUCTION:
    raise ImproperlyConfigured("GATEWAY_ALLOW_ANONYMOUS=true is a local single-user mode, not for production.")
# How often each process checks for key edits (revocations) made elsewhere.
KEYS_REFRESH_SECONDS = env_float("KEYS_REFRESH_SECONDS", 0.5, minimum=0.01)
# Log chat request/response bodies (logger "gateway.bodies"), secrets redacted. For debugging only.
GATEWAY_LOG_BODIES = env_bool("GATEWAY_LOG_BODIES", False)
# One line per request on stdout from the HTTP server (scripts/run, scripts/up); the usage rows have them all.
GATEWAY_ACCESS_LOG = env_bool("GATEWAY_ACCESS_LOG", False)
# Modules whose `register(pipeline, outcomes)` adds steps and outcome subscribers at start (proxy.pipeline).
GATEWAY_PLUGINS = env_list("GATEWAY_PLUGINS", "")

# Vertex AI (kind "vertex"): service-account key file, project (default: the key file's project_id), region.
VERTEX_CREDENTIALS_FILE = env_str("VERTEX_CREDENTIALS_FILE") or env_str("GOOGLE_APPLICATION_CREDENTIALS")
VERTEX_PROJECT_ID = env_str("VERTEX_PROJECT_ID")
VERTEX_LOCATION = env_str("VERTEX_LOCATION", "us-central1")

# --- Conversation context (context/): stored conversations, history, similar past interactions.
# Defaults for profiles without a context policy row (admin: Conversation context → Context policies).
CONTEXT_STORE = env_bool("CONTEXT_STORE", True)  # save conversations sent with a conversation_id
CONTEXT_HISTORY = env_bool("CONTEXT_HISTORY", True)  # prepend them when a request sends only its latest turn(s)
CONTEXT_SIMILAR = env_bool("CONTEXT_SIMILAR", True)  # add similar past interactions as a context block
# Profiles whose default leaves similar interactions out (work history is not mixed into the block).
CONTEXT_SIMILAR_OFF_PROFILES = env_list("CONTEXT_SIMILAR_OFF_PROFILES", "work")
# Whose interactions may be added: key_profile (same key and profile), key (any profile), profile (any key).
CONTEXT_SIMILAR_SCOPE = env_choice("CONTEXT_SIMILAR_SCOPE", "key_profile", ("key_profile", "key", "profile"))
CONTEXT_SIMILAR_TOP_K = env_int("CONTEXT_SIMILAR_TOP_K", 3, minimum=1)
CONTEXT_SIMILAR_MIN_SCORE = env_float("CONTEXT_SIMILAR_MIN_SCORE", 0.3, minimum=0.0)
# A search ranks at most about this many matching interactions (its cost grows with them).
CONTEXT_SIMILAR_MAX_MATCHES = env_int("CONTEXT_SIMILAR_MAX_MATCHES", 300, minimum=1)
CONTEXT_HISTORY_MAX_MESSAGES = env_int("CONTEXT_HISTORY_MAX_MESSAGES", 1000, minimum=1)  # newest read per request
# Stored history kept in memory per process (conversations up to CONTEXT_HISTORY_MAX_MESSAGES), checked against
# the conversation row on every request; bytes of message JSON, least recently used conversations leave first.
CONTEXT_HISTORY_CACHE_BYTES = env_int("CONTEXT_HISTORY_CACHE_BYTES", 64 * 1024 * 1024, minimum=0)
# Output room assumed when a request names no max_tokens (history budget and the window check).
CONTEXT_DEFAULT_OUTPUT_TOKENS = env_int("CONTEXT_DEFAULT_OUTPUT_TOKENS", 4096, minimum=1)
# When no candidate's window holds the prompt plus the client's max_tokens (Claude Code asks for 128000), the
# limit is lowered to what the window leaves, if at least this much; else the candidate is skipped.
CONTEXT_MIN_OUTPUT_TOKENS = env_int("CONTEXT_MIN_OUTPUT_TOKENS", 1024, minimum=1)
# The window history is fitted to for a model whose context window is unknown (0); such a model is never skipped.
CONTEXT_UNKNOWN_WINDOW_TOKENS = env_int("CONTEXT_UNKNOWN_WINDOW_TOKENS", 32768, minimum=1024)
# Share of a window left free when fitting history (other tokenizers than o200k count differently).
CONTEXT_BUDGET_MARGIN = env_float("CONTEXT_BUDGET_MARGIN", 0.05, minimum=0.0)
# Exchanges are saved off the response path, in batches.
CONTEXT_SAVE_FLUSH_INTERVAL = env_float("CONTEXT_SAVE_FLUSH_INTERVAL", 0.1, minimum=0.01)
CONTEXT_SAVE_BATCH_SIZE = env_int("CONTEXT_SAVE_BATCH_SIZE", 100, minimum=1)
# They are saved by a child process (context/writer_process.py), at this nice increment (0-19): its CPU stays
# off the process serving requests. Off: the gateway's writer thread saves them itself.
CONTEXT_WRITER_PROCESS = env_bool("CONTEXT_WRITER_PROCESS", True)
CONTEXT_WRITER_NICE = env_int("CONTEXT_WRITER_NICE", 10, minimum=0)
if CONTEXT_WRITER_NICE > 19:
    raise ImproperlyConfigured(f"CONTEXT_WRITER_NICE={CONTEXT_WRITER_NICE} must be <= 19")
# Conversations not updated for this many days are deleted by `manage.py purge_conversations` and its
# daily task (`purge_conversations --schedule` creates it); 0 keeps them.
CONVERSATION_RETENTION_DAYS = env_int("CONVERSATION_RETENTION_DAYS", 0, minimum=0)

# --- Role detection (prompts/): the role an agent loop was routed by is kept per conversation (its
# conversation_id, else one of these session headers) while it sends tool results; in memory, per process.
ROLE_STICKY_SESSION_HEADERS = [name.lower() for name in env_list(
    "ROLE_STICKY_SESSION_HEADERS", "x-claude-code-session-id,session-id"
)]
ROLE_STICKY_TTL_SECONDS = env_float("ROLE_STICKY_TTL_SECONDS", 3600.0, minimum=1.0)
ROLE_STICKY_MAX_CONVERSATIONS = env_int("ROLE_STICKY_MAX_CONVERSATIONS", 10000, minimum=1)

# --- Monthly research (research/): public benchmarks and catalogues → role scores → rankings.
# Each source row's URL can be overridden by RESEARCH_<NAME>_URL (and a further document's, such as
# LiveBench's categories, by RESEARCH_<NAME>_<DOCUMENT>_URL), read when a run starts.
# One fetch may take this long in all (connect, redirects on the same host, body) and be this large.
RESEARCH_FETCH_TIMEOUT_SECONDS = env_float("RESEARCH_FETCH_TIMEOUT_SECONDS", 30.0, minimum=0.1)
RESEARCH_MAX_RESPONSE_BYTES = env_int("RESEARCH_MAX_RESPONSE_BYTES", 32 * 1024 * 1024, minimum=1024)
# Whose cost weighting scores the rankings (a profile of config/research_weights.yaml).
RESEARCH_PROFILE = env_str("RESEARCH_PROFILE", ACTIVE_PROFILE)
# A ranked model is overtaken only by one scoring more than this much higher (scores are 0..1).
RESEARCH_MARGIN = env_float("RESEARCH_MARGIN", 0.05, minimum=0.0)
# Research fills a role's ranking up to this many entries (it never shortens a longer hand-made one).
RESEARCH_MAX_ENTRIES = env_int("RESEARCH_MAX_ENTRIES", 5, minimum=1)
# Also read each configured provider's own model list (prices, context windows, models to add disabled).
RESEARCH_PROVIDER_CATALOGUES = env_bool("RESEARCH_PROVIDER_CATALOGUES", True)
# A run that has shown no progress for this long (its process died) no longer blocks a new one.
RESEARCH_STALE_SECONDS = env_int("RESEARCH_STALE_SECONDS", 1800, minimum=60)
# Without a broker, the gateway process runs research's django-celery-beat tasks itself (research/scheduler.py).
RESEARCH_EMBEDDED_SCHEDULER = env_bool("RESEARCH_EMBEDDED_SCHEDULER", CELERY_TASK_ALWAYS_EAGER)
RESEARCH_SCHEDULER_POLL_SECONDS = env_float("RESEARCH_SCHEDULER_POLL_SECONDS", 30.0, minimum=0.05)

# --- MCP (mcp_bridge/): MCP servers called for context before routing, and `manage.py mcp_server`.
# Characters of one server's answer kept in the context block (the rest is cut, marked as cut).
MCP_RESULT_MAX_CHARS = env_int("MCP_RESULT_MAX_CHARS", 4000, minimum=100)
# Seconds a server's answer to the same arguments is reused (an agent loop asks the same task again each turn);
# 0 asks every time.
MCP_RESULT_CACHE_SECONDS = env_float("MCP_RESULT_CACHE_SECONDS", 30.0, minimum=0.0)
# Seconds a server gets to start and answer `initialize` (in the background: requests meanwhile go without it,
# each after at most its own timeout). Generous: a Django- or Node-based server can take 10 s on a busy machine.
MCP_CONNECT_TIMEOUT_SECONDS = env_float("MCP_CONNECT_TIMEOUT_SECONDS", 30.0, minimum=0.1)
# After a server fails (exits, refuses to start, drops the connection): first wait before restarting it,
# doubled after each further failure up to the maximum.
MCP_RESTART_BACKOFF_SECONDS = env_float("MCP_RESTART_BACKOFF_SECONDS", 1.0, minimum=0.0)
MCP_RESTART_BACKOFF_MAX_SECONDS = env_float("MCP_RESTART_BACKOFF_MAX_SECONDS", 60.0, minimum=0.0)

# Optional LLM-based rewriting (prompts/llm_rewrite.py): a configured model's public id restates the user's new
# task for the detected role, added beside the template strategy. Empty: off (the default).
PROMPT_REWRITE_MODEL = env_str("PROMPT_REWRITE_MODEL")
PROMPT_REWRITE_TIMEOUT_MS = env_float("PROMPT_REWRITE_TIMEOUT_MS", 800.0, minimum=10.0)
PROMPT_REWRITE_CACHE_SIZE = env_int("PROMPT_REWRITE_CACHE_SIZE", 1000, minimum=1)
