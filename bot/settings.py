"""One settings object, read from the environment and `.env`; passed explicitly, never global."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from typing import Annotated, Literal, get_args

from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
Backend = Literal["onnx-int8", "onnx-fp32", "torch"]
BACKENDS: tuple[str, ...] = get_args(Backend)
# what the bot needs (manifest.yml's bot scopes); the OAuth install asks for these unless SLACK_SCOPES says otherwise
DEFAULT_BOT_SCOPES = ("channels:history", "groups:history", "channels:read", "groups:read", "users:read", "chat:write",
                      "im:write", "commands", "files:read", "files:write", "users:read.email", "users.profile:read")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Engine
    coach_playbook: Path = Field(
        PROJECT_ROOT / "prompts" / "playbook.yaml",
        description="the playbook saved as version 1 on first start; later versions live in the database")
    coach_model_dir: Path = Field(
        PROJECT_ROOT / "models" / "current",
        description="model version served: a version folder, or `models/current`, which stands for the version "
                    "that the file `models/CURRENT` names (looked up in models/ and the model store)")
    coach_model_store: Path = Field(
        Path.home() / ".local" / "share" / "recovery-coach" / "models",
        description="where `coach train` writes new versions (outside git); `coach model list/use` read it too")
    coach_cache_dir: Path = Field(
        Path.home() / ".cache" / "recovery-coach",
        description="derived files: the converted base encoder, ONNX graphs, embedding caches")
    coach_unsure_threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="below this confidence a label is 'unsure'; unset: the served version's")
    coach_abusive_threshold: float | None = Field(
        None, ge=0.0, le=1.0,
        description="confidence 'abusive' needs before the boundary card; unset: the version's, picked on the OOD suite")
    coach_inference_threads: int = Field(2, ge=1, description="threads per model call (onnxruntime or torch)")
    coach_backend: Backend = Field(
        "onnx-int8", description="serving path: onnxruntime (no torch import) or the torch reference"
    )

    # Slack
    slack_bot_token: SecretStr | None = Field(
        None, description="bot token `xoxb-…` of the one workspace (single-workspace mode)")
    slack_signing_secret: SecretStr | None = Field(None, description="verifies requests in HTTP mode")
    slack_app_token: SecretStr | None = Field(None, description="app-level token `xapp-…` (Socket Mode)")
    slack_api_url: str = Field(
        "https://slack.com/api/", description="Web API base URL (tests and the sandbox point it at the fake)")
    coach_admins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="user IDs who may change the playbook")
    coach_supervisors: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="user IDs who approve any compensation, get alerts, see `/recover` plans and stats")
    coach_agents: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="only these user IDs get cards and nudges; empty: every internal human")
    coach_leads: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="user IDs who approve lead-level compensation and see `/recover` plans and stats")
    coach_customers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="user IDs always treated as customers (besides Slack Connect and guests)"
    )
    coach_coach_channel: str | None = Field(
        None, description="private channel ID where a copy of each card (without buttons) is threaded per incident")
    coach_alert_mode: Literal["dm", "ephemeral"] = Field(
        "dm", description="supervisor alerts by `dm`, or `ephemeral` (in the thread when the supervisor is in the "
                          "channel, else DM)")
    coach_card_mode: Literal["thread", "every_message"] = Field(
        "thread", description="`thread`: one card per thread per agent, for the agents engaged in it (else the "
                              "channel's on-duty agents, else all), replaced as the thread moves, none for a message "
                              "with nothing to fix; `every_message`: a new card per message to every agent (the old way)")
    coach_value_profile_field: str | None = Field(
        None, pattern=r"^X[A-Za-z0-9]{2,30}$",
        description="id of a Slack custom profile field (Xf…) holding the customer's lifetime value, read with "
                    "users.profile.get when the customers table has no row; unset: not read")
    coach_playbook_check_seconds: float = Field(5.0, ge=0, description="how often a worker looks for a new playbook")
    coach_inference_workers: int = Field(
        2, ge=1, description="threads classifying messages (separate from the request threads)")
    coach_inference_queue: int = Field(64, ge=1, description="customer messages waiting for inference at most")
    coach_log_level: str = Field(
        "INFO", description="logs are JSON lines; customer text, tokens and secrets never appear")

    # Multi-workspace install: OAuth (bot/slack/oauth.py); with these and no SLACK_BOT_TOKEN, `coach serve`
    # serves /slack/install and /slack/oauth_redirect and keeps one bot token per installed workspace
    slack_client_id: str | None = Field(None, description="the app's Client ID (Basic Information); with "
                                        "SLACK_CLIENT_SECRET and no SLACK_BOT_TOKEN: multi-workspace mode")
    slack_client_secret: SecretStr | None = Field(None, description="the app's Client Secret (OAuth install)")
    slack_scopes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_BOT_SCOPES),
        description="bot scopes requested at install, comma-separated (the manifest's)")
    slack_redirect_uri: str | None = Field(
        None, description="public URL of /slack/oauth_redirect (as in the manifest); unset: the one set on the app")
    coach_token_key: SecretStr | None = Field(
        None, description="Fernet key(s) encrypting installed workspaces' tokens in the database, comma-separated, "
                          "newest first (older ones still decrypt: rotation); `coach config token-key` makes one; "
                          "required in multi-workspace mode")

    # HTTP server: `coach serve` under gunicorn (bot/slack/gunicorn_app.py)
    coach_http_workers: int = Field(
        2, ge=1, le=64, description="worker processes of `coach serve` (each its own Bolt app, model and pools); "
                                    "about one per core; `--workers` overrides it")
    coach_http_threads: int = Field(
        8, ge=1, le=256, description="request threads per worker (requests are acked at once; the work runs on "
                                     "the inference pool)")
    coach_metrics_token: SecretStr | None = Field(
        None, description="when set, GET /metrics needs `Authorization: Bearer <token>`; unset: open, so keep the "
                          "port private (the default bind is 127.0.0.1)")

    # Delivery: the durable inbox (bot/storage/inbox.py) and idempotent interactions
    coach_inbox_spool: Path | None = Field(
        None, description="append-only file for events that arrive while the database is down (fsync'd, replayed "
                          "when it is back); unset: next to a SQLite database, else var/inbox-spool.jsonl")
    coach_delivery_give_up_seconds: float = Field(
        900.0, gt=0, description="a message or card is retried (backoff) this long after Slack sent it, then given "
                                 "up with its event id in the log")
    coach_retry_base_seconds: float = Field(1.0, gt=0, description="first retry delay; doubles per attempt")
    coach_retry_max_seconds: float = Field(60.0, gt=0, description="longest delay between two attempts")
    coach_inbox_poll_seconds: float = Field(1.0, gt=0, description="how often a worker looks for due inbox rows")
    coach_inbox_lease_seconds: float = Field(
        300.0, gt=0, description="a claimed row is another worker's after this (its worker died); longer than "
                                 "the slowest message takes")
    coach_inbox_keep_days: float = Field(7.0, ge=0, description="finished rows (no text) kept to recognise retries")
    coach_replay_window_seconds: float = Field(
        300.0, gt=0, description="a button or command counts once per user, action and message within this "
                                 "(Slack's signature window)")

    # Storage
    coach_database_url: str = Field(
        f"sqlite:///{PROJECT_ROOT / 'var' / 'coach.sqlite'}",
        description="SQLite file, or `postgresql+psycopg://…` for workers on several machines")
    coach_text_retention_days: int = Field(
        30, ge=0, description="days redacted customer text is kept (then blanked); 0: no text stored")
    coach_thread_state_days: float = Field(
        30.0, gt=0, description="days a thread's engaged agents and current cards are kept after its last "
                                "activity (then deleted; on-duty lists are kept)")
    coach_pseudonym_key: SecretStr | None = Field(
        None, description="secret for customer pseudonyms; unset: a random key kept in the database")

    @field_validator("coach_admins", "coach_supervisors", "coach_agents", "coach_leads", "coach_customers",
                     "slack_scopes", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value
