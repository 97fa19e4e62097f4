"""Settings, read once from the environment (and an optional `.env`) and passed in."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.adapters.service_urls import DEFAULT_TEAMS_SERVICE_URLS, ServiceUrlAllowlist
from bot.errors import ConfigurationError, InvalidIdentityError
from bot.memory.crypto import KEYGEN_HINT, FieldCipher, build_cipher
from bot.types import Identity

log = logging.getLogger(__name__)


def _default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "switchboard"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default_factory=_default_data_dir, alias="SWITCHBOARD_DATA_DIR")
    database_url: str | None = Field(default=None, alias="SWITCHBOARD_DATABASE_URL")
    policy_file: Path | None = Field(default=None, alias="SWITCHBOARD_POLICY_FILE")
    offline: bool | None = Field(default=None, alias="SWITCHBOARD_OFFLINE")  # None: auto
    # comma-separated qualified identities, platform:tenant:user (see `admin_identities`)
    admins: str = Field(default="", alias="SWITCHBOARD_ADMINS")
    # Slack workspace admins and owners (users.info is_admin / is_owner) are Switchboard admins too
    slack_workspace_admins: bool = Field(default=False, alias="SWITCHBOARD_SLACK_WORKSPACE_ADMINS")
    tenant: str = Field(default="default", alias="SWITCHBOARD_TENANT")

    max_message_chars: int = Field(default=16_000, alias="SWITCHBOARD_MAX_MESSAGE_CHARS")
    history_turns: int = Field(default=20, alias="SWITCHBOARD_HISTORY_TURNS")
    llm_retries: int = Field(default=2, alias="SWITCHBOARD_LLM_RETRIES")
    retry_base_s: float = Field(default=0.5, alias="SWITCHBOARD_RETRY_BASE_S")
    privacy_timeout_s: float = Field(default=2.0, alias="SWITCHBOARD_PRIVACY_TIMEOUT_S")
    spacy_models: str = Field(default="", alias="SWITCHBOARD_SPACY_MODELS")  # "de=/models/de_core_news_lg,…"
    cache_enabled: bool = Field(default=True, alias="SWITCHBOARD_CACHE")
    cache_ttl_s: float = Field(default=86_400.0, alias="SWITCHBOARD_CACHE_TTL_S")
    pseudonym_ttl_s: float = Field(default=86_400.0, alias="SWITCHBOARD_PSEUDONYM_TTL_S")
    log_level: str = Field(default="WARNING", alias="SWITCHBOARD_LOG_LEVEL")
    # serve, after SIGTERM: how long answers in progress may take (below Kubernetes' default 30 s)
    shutdown_grace_s: float = Field(default=25.0, ge=0, alias="SWITCHBOARD_SHUTDOWN_GRACE_S")
    # an accepted message whose lease ran out (its replica died) is resumed by another pass (bot.recovery);
    # the replica answering renews it every third of the lease, so an answer may take longer than the lease
    recovery_lease_s: float = Field(default=180.0, ge=1, alias="SWITCHBOARD_RECOVERY_LEASE_S")
    recovery_interval_s: float = Field(default=30.0, gt=0, alias="SWITCHBOARD_RECOVERY_INTERVAL_S")
    recovery_max_age_s: float = Field(default=600.0, ge=0, alias="SWITCHBOARD_RECOVERY_MAX_AGE_S")

    slack_bot_token: str | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_base_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_BASE_URL")

    teams_app_id: str = Field(default="", validation_alias=AliasChoices("TEAMS_APP_ID", "MicrosoftAppId"))
    teams_app_password: str = Field(
        default="", validation_alias=AliasChoices("TEAMS_APP_PASSWORD", "MicrosoftAppPassword"),
    )
    teams_app_tenant_id: str = Field(
        default="", validation_alias=AliasChoices("TEAMS_APP_TENANT_ID", "MicrosoftAppTenantId"),
    )
    teams_app_type: str = Field(
        default="MultiTenant", validation_alias=AliasChoices("TEAMS_APP_TYPE", "MicrosoftAppType"),
    )
    # development only: accept unauthenticated Bot Framework activities ("true"; "force" also on a
    # non-loopback address)
    teams_anonymous: str = Field(default="false", alias="SWITCHBOARD_TEAMS_ANONYMOUS")
    # comma-separated https prefixes the Teams adapter may send to (an activity's serviceUrl must be under
    # one); Microsoft's public-cloud Teams hosts by default, loopback added in the anonymous mode only
    teams_service_urls: str = Field(default=",".join(DEFAULT_TEAMS_SERVICE_URLS),
                                    alias="SWITCHBOARD_TEAMS_SERVICE_URLS")
    # `serve`: GET /metrics wants `Authorization: Bearer <this>` when set (the port also faces the platforms)
    metrics_token: str = Field(default="", alias="SWITCHBOARD_METRICS_TOKEN")
    # development (default) or production: production refuses to serve without an encryption key
    env: str = Field(default="development", alias="SWITCHBOARD_ENV")
    # Fernet keys for content at rest, comma-separated, the current one first (`switchboard keygen`)
    encryption_key: SecretStr = Field(default=SecretStr(""), alias="SWITCHBOARD_ENCRYPTION_KEY")
    # conversation content older than this is deleted (`switchboard purge`; every purge interval in `serve`)
    retention_days: float = Field(default=90.0, gt=0, alias="SWITCHBOARD_RETENTION_DAYS")
    purge_interval_s: float = Field(default=3600.0, gt=0, alias="SWITCHBOARD_PURGE_INTERVAL_S")
    # `serve`: the read-only admin dashboard at /admin, off unless a token or an SSO header is set (README,
    # *Admin dashboard*); the SSO header is trusted only behind a proxy that sets it and strips it from clients
    admin_token: str = Field(default="", alias="SWITCHBOARD_ADMIN_TOKEN")
    admin_sso_header: str = Field(default="", alias="SWITCHBOARD_ADMIN_SSO_HEADER")
    admin_users: str = Field(default="", alias="SWITCHBOARD_ADMIN_USERS")  # comma-separated, what the header holds
    # removed settings: named, so a deployment that still sets one hears of it instead of being ignored
    removed_llm_timeout: str | None = Field(default=None, alias="SWITCHBOARD_LLM_TIMEOUT_S")

    @field_validator("admins")
    @classmethod
    def _qualified_admins(cls, value: str) -> str:
        _parse_admins(value)  # a bare or malformed entry stops the start, naming the entry
        return value

    @field_validator("env")
    @classmethod
    def _known_env(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ENVIRONMENTS:
            raise ValueError(f"SWITCHBOARD_ENV must be {' or '.join(ENVIRONMENTS)}")
        return value

    @field_validator("admin_token")
    @classmethod
    def _long_admin_token(cls, value: str) -> str:
        if value and len(value.strip()) < MIN_ADMIN_TOKEN_CHARS:
            raise ValueError(f"SWITCHBOARD_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_CHARS} characters; make one "
                             "with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
        return value.strip()

    @field_validator("admin_sso_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        value = value.strip()
        if value and (not _HEADER_NAME.fullmatch(value) or value.lower() in ("authorization", "cookie")):
            raise ValueError(f"SWITCHBOARD_ADMIN_SSO_HEADER must be an HTTP header name such as X-Forwarded-Email, "
                             f"not {value!r}")
        return value

    @model_validator(mode="after")
    def _sso_with_users(self) -> Settings:
        if bool(self.admin_sso_header) != bool(self.admin_user_set):
            raise ValueError("SWITCHBOARD_ADMIN_SSO_HEADER and SWITCHBOARD_ADMIN_USERS go together: the header names "
                             "who the proxy signed in, the list says who may see /admin")
        return self

    @property
    def admin_user_set(self) -> frozenset[str]:
        """Who may see /admin when the SSO header names them (compared case-insensitively)."""
        return frozenset(u.strip().lower() for u in self.admin_users.split(",") if u.strip())

    @property
    def admin_dashboard_on(self) -> bool:
        return bool(self.admin_token or self.admin_sso_header)

    @model_validator(mode="after")
    def _no_removed_settings(self) -> Settings:
        if self.removed_llm_timeout is not None:
            raise ValueError("SWITCHBOARD_LLM_TIMEOUT_S was removed: provider deadlines are policy now "
                             "(`policy deadline connect|first-token|stall|total SECONDS`, `policy help`)")
        return self

    @property
    def teams_mode(self) -> str:
        """"auth" (app id and password set), "anonymous" (the development switch) or "off"."""
        if self.teams_app_id and self.teams_app_password:
            return "auth"
        if self.teams_anonymous.strip().lower() in ("true", "1", "yes", "force"):
            return "anonymous"
        return "off"

    def check_teams_bind(self, host: str) -> None:
        """Refuse anonymous Teams on an address others can reach, unless forced; a half-configured
        app (id without password or the reverse) is an error, not a silent anonymous door; so is a
        malformed SWITCHBOARD_TEAMS_SERVICE_URLS (before the models load, not at the first message)."""
        if bool(self.teams_app_id) != bool(self.teams_app_password):
            raise ConfigurationError("Teams needs both MicrosoftAppId and MicrosoftAppPassword (or neither).")
        if self.teams_mode != "off":
            self.teams_service_url_allowlist()
        if self.teams_mode != "anonymous" or self.teams_anonymous.strip().lower() == "force":
            return
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConfigurationError(
                f"SWITCHBOARD_TEAMS_ANONYMOUS accepts unauthenticated Teams requests: refused on {host}. "
                "Set MicrosoftAppId and MicrosoftAppPassword, bind to 127.0.0.1, or set "
                "SWITCHBOARD_TEAMS_ANONYMOUS=force.")

    def teams_service_url_allowlist(self) -> ServiceUrlAllowlist:
        """Where the Teams adapter may send; loopback only in the anonymous development mode."""
        return ServiceUrlAllowlist.from_setting(self.teams_service_urls, loopback=self.teams_mode == "anonymous")

    @property
    def production(self) -> bool:
        return self.env == "production"

    def cipher(self) -> FieldCipher | None:
        """The content cipher from SWITCHBOARD_ENCRYPTION_KEY; None without a key."""
        return build_cipher(self.encryption_key.get_secret_value())

    def check_encryption(self) -> None:
        """`serve`: production refuses to start without a key (saying how to make one); development warns."""
        if self.cipher() is not None:
            return
        if self.production:
            raise ConfigurationError(f"SWITCHBOARD_ENV=production needs SWITCHBOARD_ENCRYPTION_KEY: {KEYGEN_HINT}")
        log.warning("SWITCHBOARD_ENCRYPTION_KEY is not set: conversations are stored in plain text "
                    "(development); %s", KEYGEN_HINT)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'switchboard.db'}"

    @property
    def spacy_model_paths(self) -> dict[str, str]:
        """Extra spaCy NER models per language for production, e.g. {"de": "/models/de_core_news_lg"}."""
        from privacy.ner import model_paths

        return model_paths(self.spacy_models)

    @property
    def admin_identities(self) -> frozenset[Identity]:
        """Who is a Switchboard admin on Slack and Teams: exactly these (platform, tenant, user) triples.

        A bare user id is refused when the settings are read (not ignored): before identities were
        qualified it granted admin on every platform and workspace, and a deployment that still sets one
        must hear so at start rather than silently keep — or silently lose — an admin.
        """
        return _parse_admins(self.admins)


ADMIN_PLATFORMS = ("slack", "teams")
ENVIRONMENTS = ("development", "production")
MIN_ADMIN_TOKEN_CHARS = 16
_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


def _parse_admins(value: str) -> frozenset[Identity]:
    found = set()
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        try:
            identity = Identity.parse(entry)
        except InvalidIdentityError as exc:
            raise ValueError(f"SWITCHBOARD_ADMINS: {exc}; a bare user id no longer grants admin anywhere") from None
        if identity.platform not in ADMIN_PLATFORMS:
            raise ValueError(f"SWITCHBOARD_ADMINS: {entry!r} names platform {identity.platform!r}; admins are "
                             f"{' or '.join(ADMIN_PLATFORMS)} identities (the CLI on the server is always admin)")
        found.add(identity)
    return frozenset(found)


def provider_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Snapshot of the environment variables provider credentials are read from."""
    return dict(os.environ if environ is None else environ)
