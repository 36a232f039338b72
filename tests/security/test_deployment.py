"""Item 16 of issue 11: defaults that must not reach production. The server refuses to start
with a shipped secret when it is reachable or production; the AMI account of the bridge has
only the rights it uses (checked against the real sandboxed Asterisk)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from callcenter.settings import Settings, deployment_problems
from ivr.ami.client import AmiClient
from ivr.pbx.sandbox import AsteriskSandbox
from tests.support import TEST_PORTS

HOTLINE = Path(sys.executable).with_name("hotline")


def serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("HOTLINE_AMI_SECRET", "HOTLINE_ENV")}
    environment.update({"HOTLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                        "HOTLINE_AMI_ENABLED": "true", "HOTLINE_KB_ENABLED": "false", **env})
    return subprocess.run([str(HOTLINE), "serve", "--no-migrate", *args], env=environment,
                          capture_output=True, text=True, timeout=300, check=False)


# a shipped secret is refused at any moment: today's only (four `hotline serve` processes)
@pytest.mark.clock_independent
@pytest.mark.parametrize(("args", "env"), [
    (["--host", "0.0.0.0"], {"HOTLINE_ENV": "production"}),
    (["--host", "0.0.0.0"], {}),
    (["--host", "192.0.2.1"], {}),
    (["--host", "127.0.0.1"], {"HOTLINE_ENV": "production"}),
])
def test_item16_serve_refuses_default_secrets(tmp_path: Path, args: list[str],
                                               env: dict[str, str]) -> None:
    result = serve(tmp_path, *args, **env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "HOTLINE_AMI_SECRET" in result.stderr
    assert "Uvicorn running" not in result.stderr


def test_item16_what_production_needs() -> None:
    default = Settings(ami_enabled=True)
    assert deployment_problems(default, "127.0.0.1") == []  # `make run`: loopback, development
    assert deployment_problems(default, "::1") == []
    assert any("HOTLINE_AMI_SECRET" in p for p in deployment_problems(default, "10.1.2.3"))
    # the Originate-only account (hold, supervisors' phones, the callback dialler) has a
    # secret of its own
    assert any("HOTLINE_AMI_DIAL_SECRET" in p for p in deployment_problems(default, "10.1.2.3"))
    own = Settings(ami_enabled=True, ami_secret="a-long-random-secret",
                   ami_dial_secret="another-long-random-secret", env="production")
    assert deployment_problems(own, "0.0.0.0") == []
    insecure = Settings(ami_enabled=True, ami_secret="a-long-random-secret", env="production",
                        session_cookie_secure=False)
    assert any("HOTLINE_SESSION_COOKIE_SECURE" in p
               for p in deployment_problems(insecure, "127.0.0.1"))
    no_ami = Settings(ami_enabled=False, env="production")
    assert deployment_problems(no_ami, "0.0.0.0") == []  # the secret guards nothing then


@pytest.mark.asterisk
async def test_item16_bridge_account_cannot_originate_or_run_commands(
        pbx: AsteriskSandbox) -> None:
    client = AmiClient("127.0.0.1", TEST_PORTS.ami, pbx.credentials.ami_user,
                       pbx.credentials.ami_secret, backoff_max=1.0)
    await client.start()
    try:
        await client.wait_ready(20)
        for action in ({"Action": "Originate", "Channel": "Local/12366@hotline",
                        "Application": "Wait", "Data": "1"},
                       {"Action": "Command", "Command": "core show version"}):
            response = await client.send_action(action, timeout=10)
            assert str(response.get("Response")) == "Error", response
            assert "Permission denied" in str(response.get("Message")), response
        # what the bridge uses still works
        for action in ({"Action": "CoreShowChannels"}, {"Action": "QueueStatus"}):
            listed = await client.send_action(action, as_list=True, timeout=10)
            assert str(listed[0].get("Response")) == "Success", (action, listed)
        reload = await client.send_action({"Action": "QueueReload", "Parameters": "yes"},
                                          timeout=10)
        assert str(reload.get("Response")) == "Success", reload
    finally:
        await client.close()


@pytest.mark.asterisk
async def test_the_dialler_account_can_only_originate_and_never_a_shell(
        pbx: AsteriskSandbox) -> None:
    client = AmiClient("127.0.0.1", TEST_PORTS.ami, pbx.credentials.dial_user,
                       pbx.credentials.dial_secret, backoff_max=1.0)
    await client.start()
    try:
        await client.wait_ready(20)   # logged in, FullyBooted read (system events)
        for action in ({"Action": "Originate", "Channel": "Local/12366@hotline",
                        "Application": "System", "Data": "touch /tmp/hotline-pwned"},
                       {"Action": "Command", "Command": "core show version"},
                       {"Action": "Redirect", "Channel": "PJSIP/agent1-00000001",
                        "Context": "hotline", "Exten": "12366", "Priority": "1"},
                       {"Action": "QueueAdd", "Queue": "consult",
                        "Interface": "PJSIP/agent1"}):
            response = await client.send_action(action, timeout=10)
            assert str(response.get("Response")) == "Error", (action, response)
            # System: "Originate Access Forbidden: app or data blacklisted" (no system class)
            assert any(why in str(response.get("Message"))
                       for why in ("Permission denied", "Forbidden")), (action, response)
    finally:
        await client.close()
