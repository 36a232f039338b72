"""The shipped Asterisk configuration (ivr/pbx/asterisk/) gives the bridge what it relies on."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from ivr.pbx.sandbox import CONFIG_DIR, AsteriskSandbox


def read_conf(name: str) -> configparser.RawConfigParser:
    """An Asterisk .conf file as the sandbox installs it (placeholders filled in), parsed
    (``key = value`` / ``key => value`` lines, ``;`` comments)."""
    parser = configparser.RawConfigParser(strict=False, delimiters=("=>", "="),
                                          inline_comment_prefixes=(";",),
                                          comment_prefixes=(";", "#"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    sandbox = AsteriskSandbox(Path("unused-state"), Path("unused-sounds"),
                              Path("unused-recordings"))
    parser.read_string(sandbox.rendered_config(name))
    return parser


def test_the_ami_user_reads_the_callers_keys() -> None:
    # type-ahead: every key arrives as a DTMFEnd event, of the "dtmf" class (ivr/agi.py)
    manager = read_conf("manager.conf")
    user = "hotline"  # the bridge's account (PbxCredentials.ami_user)
    assert user in manager.sections()
    read = {c.strip() for c in manager.get(user, "read").split(",")}
    assert "all" in read or "dtmf" in read, read


def test_queues_wait_to_the_hotlines_music() -> None:
    from callcenter.queues.services import MUSIC_CLASS
    from ivr.pbx.sandbox import MOH_DIR

    moh = read_conf("musiconhold.conf")
    for klass in (MUSIC_CLASS, "default"):
        assert moh.get(klass, "mode") == "files"
        assert moh.get(klass, "directory") == MOH_DIR
    assert read_conf("queues.conf").get("queue-tpl", "musicclass") == MUSIC_CLASS
    modules = (CONFIG_DIR / "modules.conf").read_text()
    assert "load => res_musiconhold.so" in modules
    # Queue() without option r: music on hold, not ringing, while the caller waits; with t:
    # the agent's transfer feature, which the consultative transfer uses
    dialplan = (CONFIG_DIR / "extensions.conf").read_text()
    callers, consult = dialplan.split("[hotline-consult]")[0], dialplan.split(
        "[hotline-consult]")[1].split("\n[")[0]
    options = re.findall(r"Queue\([^,]+,([^,]*),", callers)
    assert options, "no Queue() in the dialplan"
    assert all("r" not in o and "t" in o for o in options), options
    # the consultation's leg queues for the expert seat: the agent waiting hears it ring
    assert re.findall(r"Queue\([^,]+,([^,]*),", consult) == ["r"]


def test_pushed_queues_announce_with_music_and_minutes_and_seconds() -> None:
    from callcenter.queues.models import QueueConfig
    from callcenter.queues.services import MUSIC_CLASS, SOUND_CALLBACK_OFFER, asterisk_params

    params = dict(asterisk_params(QueueConfig(
        name="consult", title="综合咨询", skill="general", strategy="rrmemory",
        ring_timeout_s=15, announce_position=True, announce_frequency_s=30,
        callback_offer_after_s=120)))
    assert params["musicclass"] == MUSIC_CLASS
    assert (params["announce-position"], params["announce-holdtime"]) == ("yes", "yes")
    assert params["announce-round-seconds"] in ("5", "10", "15", "20", "30")  # app_queue's
    assert params["announce-frequency"] == "30"
    assert (params["periodic-announce"], params["periodic-announce-frequency"]) == (
        SOUND_CALLBACK_OFFER, "120")


def _sections(name: str) -> dict[str, tuple[list[str], list[str]]]:
    """pjsip.conf's sections by name (the first of a name): (templates, ``key = value``
    lines). configparser cannot read ``[name](tpl1,tpl2)`` headers."""
    sandbox = AsteriskSandbox(Path("unused-state"), Path("unused-sounds"),
                              Path("unused-recordings"))
    out: dict[str, tuple[list[str], list[str]]] = {}
    current: list[str] | None = None
    for raw in sandbox.rendered_config(name).splitlines():
        line = raw.split(";", 1)[0].strip()
        header = re.fullmatch(r"\[([^\]]+)\](?:\(([^)]*)\))?", line)
        if header:
            templates = [t.strip() for t in (header.group(2) or "").split(",") if t.strip()]
            current = [] if header.group(1) in out else out.setdefault(
                header.group(1), (templates, []))[1]
        elif line and current is not None:
            current.append(re.sub(r"\s*=\s*", "=", line))
    return out


def test_callers_who_send_no_media_are_hung_up_within_30_s() -> None:
    # a caller vanishing without a BYE (a mobile dropping out) must not wait in a queue for an
    # agent: Asterisk ends a channel with no RTP for rtp_timeout seconds
    sections = _sections("pjsip.conf")
    settings = dict(line.split("=", 1) for line in sections["caller-tpl"][1])
    assert 0 < int(settings["rtp_timeout"]) <= 25  # detected within 30 s
    assert int(settings["rtp_timeout_hold"]) >= int(settings["rtp_timeout"])
    for endpoint in ("caller", "softphone"):
        assert "caller-tpl" in sections[endpoint][0], endpoint


def test_an_agent_pool_adds_endpoints_on_one_port_and_the_rtp_range_follows_the_ports() -> None:
    from ivr.pbx.sandbox import AgentPool, PbxPorts

    ports = PbxPorts(ami=61038, sip=61060, rtp_start=62000, rtp_end=63599)
    sandbox = AsteriskSandbox(Path("unused-state"), Path("unused-sounds"),
                              Path("unused-recordings"), ports=ports,
                              agent_pool=AgentPool(count=3, port=61080))
    parser = configparser.RawConfigParser(strict=False, delimiters=("=>", "="),
                                          inline_comment_prefixes=(";",),
                                          comment_prefixes=(";", "#"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(sandbox.rendered_config("pjsip.conf"))
    # RawConfigParser merges an endpoint and its aor (same section name): both keys are there
    for name in ("agent4", "agent5", "agent6"):
        assert parser.get(name, "contact") == f"sip:{name}@127.0.0.1:61080"
        assert parser.get(name, "context") == "agents"
    assert "agent7" not in parser.sections()
    assert parser.get("agent3", "contact").endswith(f":{ports.agent(3)}")
    rtp = configparser.RawConfigParser()
    rtp.read_string(sandbox.rendered_config("rtp.conf"))
    assert (rtp.get("general", "rtpstart"), rtp.get("general", "rtpend")) == ("62000", "63599")
    assert ports.rtp_ports == 1600
    # no pool by default: the shipped endpoints only
    assert "agent4" not in read_conf("pjsip.conf").sections()
