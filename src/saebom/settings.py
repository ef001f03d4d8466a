"""Saebom's one settings module, configured only by environment variables.

A value that cannot be used stops the process with a message naming the variable
(:class:`saebom.config.ConfigError`), rather than running with a guess.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.utils.translation import gettext_lazy as _

from saebom.config import (
    ConfigError,
    data_dir,
    env_bool,
    env_int,
    env_list,
    env_secret,
    env_str,
    secret_key_path,
)
from saebom.core.crypto import load_keyring, require_private

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = data_dir()

DEBUG = env_bool("SAEBOM_DEBUG", False)
TESTING = env_bool("SAEBOM_TESTING", False)


def _secret_key() -> str:
    key = env_secret("SAEBOM_SECRET_KEY")
    if key is None:
        path = secret_key_path(DATA_DIR)
        if not path.exists():
            raise ConfigError(
                f"no secret key: set SAEBOM_SECRET_KEY(_FILE) or run `saebom init` ({path})"
            )
        require_private(path)
        key = path.read_text(encoding="utf-8").strip()
    if len(key) < 32:
        raise ConfigError("SAEBOM_SECRET_KEY must be at least 32 characters")
    return key


SECRET_KEY = _secret_key()
SAEBOM_FIELD_KEYRING = load_keyring(DATA_DIR)

ALLOWED_HOSTS = env_list("SAEBOM_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("SAEBOM_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "saebom.web",  # first, so its templates override allauth's
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "axes",
    "csp",
    "django_htmx",
    "template_partials",
    "simple_history",
    "django_tasks",
    "django_tasks_db",
    "saebom.core",
    "saebom.accounts",
    "saebom.registry",
    "saebom.stats",
    "saebom.support",
    "saebom.testimony",
    "saebom.api",
    "saebom.demo",
]
if TESTING:
    INSTALLED_APPS.append("tests.sample_app")  # a model with every kind of encrypted field

MIDDLEWARE = [
    "saebom.core.context.RequestMetaMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "saebom.accounts.middleware.RequireMFAMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "saebom.web.errors.DomainErrorMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "saebom.urls"
WSGI_APPLICATION = "saebom.wsgi.application"

TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "saebom.web.context_processors.saebom",
            ],
        },
    }
]

# --- database -------------------------------------------------------------------------------
_default_sqlite = f"sqlite:///{DATA_DIR / 'saebom.sqlite3'}"
try:
    _database = dj_database_url.parse(env_str("DATABASE_URL", _default_sqlite), conn_max_age=60)
except ValueError as exc:
    raise ConfigError(f"DATABASE_URL is not a database URL Saebom understands: {exc}") from None
if _database["ENGINE"] == "django.db.backends.sqlite3":
    _database["CONN_MAX_AGE"] = 0
    _database["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            "PRAGMA busy_timeout=20000; PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;"
        ),
    }
elif _database["ENGINE"] == "django.db.backends.postgresql":
    # Saebom's queries are short and many; JIT compilation (PostgreSQL 11+) costs more than it
    # saves on them: 17-28 ms on a caseload page that takes 50 (benchmarks/caseload.py).
    _database.setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
else:
    raise ConfigError(
        f"DATABASE_URL: only sqlite:// and postgres:// are supported, not {_database['ENGINE']}"
    )
if TESTING and _database["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: tests read its bytes (and its WAL) to prove identifiers are encrypted.
    _database["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- accounts, authentication ---------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "account_login"

ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_ADAPTER = "saebom.accounts.adapters.AccountAdapter"
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
# django-axes locks out password guessing per account and IP; allauth's limit also covers TOTP and
# recovery codes, which axes does not see: 5 wrong codes per account in 15 minutes.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/900s/key"}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Saebom"
MFA_ADAPTER = "saebom.accounts.adapters.MFAAdapter"

AXES_FAILURE_LIMIT = env_int("SAEBOM_LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = env_int("SAEBOM_LOGIN_COOLOFF_MINUTES", 30, minimum=1) / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "web/locked_out.html"
AXES_USERNAME_CALLABLE = "saebom.accounts.lockout.attempted_username"
AXES_VERBOSE = False
BEHIND_PROXY = env_bool("SAEBOM_BEHIND_PROXY", False)
AXES_CLIENT_IP_CALLABLE = "saebom.core.context.client_ip"
AXES_ENABLE_ACCESS_FAILURE_LOG = False

SESSION_COOKIE_AGE = env_int("SAEBOM_SESSION_IDLE_MINUTES", 30, minimum=1, maximum=24 * 60) * 60
SESSION_SAVE_EVERY_REQUEST = True  # the age counts from the last request: an idle timeout
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# --- transport and headers --------------------------------------------------------------------
SECURE_COOKIES = env_bool("SAEBOM_SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
LANGUAGE_COOKIE_SECURE = SECURE_COOKIES
LANGUAGE_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SAEBOM_SSL_REDIRECT", not DEBUG and SECURE_COOKIES)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SAEBOM_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# --- i18n, static -----------------------------------------------------------------------------
LANGUAGE_CODE = env_str("SAEBOM_LANGUAGE", "ko")
LANGUAGES = [("ko", _("Korean")), ("en", _("English"))]
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ConfigError(f"SAEBOM_LANGUAGE={LANGUAGE_CODE!r} must be one of ko, en")
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env_str("SAEBOM_TIME_ZONE", "Asia/Seoul")
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING

# Shared by every worker process: login and TOTP rate limits, used-code replay protection.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "saebom_cache",
    }
}

# --- background tasks -------------------------------------------------------------------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# --- logging: never the values of fields, never request bodies ----------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("SAEBOM_LOG_LEVEL", "WARNING")},
}

SAEBOM_STATS_MIN_CELL = env_int("SAEBOM_STATS_MIN_CELL", 5, minimum=3, maximum=100)
SAEBOM_PUBLIC_STATS = env_bool("SAEBOM_PUBLIC_STATS", False)
SAEBOM_API_TOKEN_DAYS = env_int("SAEBOM_API_TOKEN_DAYS", 90, minimum=1, maximum=366)
# Largest evidence file accepted (testimony.services.evidence_upload), in MiB.
# Uploads are kept in memory, never in a clear temporary file (core/uploads.py).
FILE_UPLOAD_HANDLERS = ["saebom.core.uploads.BoundedMemoryUploadHandler"]
SAEBOM_EVIDENCE_MAX_MB = env_int("SAEBOM_EVIDENCE_MAX_MB", 50, minimum=1, maximum=4096)
# Where the encrypted evidence files live (core.blobs); a separate volume is fine.
SAEBOM_EVIDENCE_DIR = Path(env_str("SAEBOM_EVIDENCE_DIR", str(DATA_DIR / "evidence"))).resolve()
