"""The gateway's configuration and the commands when it does not run (no Kannel needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from callcenter.cli import command_line
from callcenter.sms.gateway import GatewayError, KannelGateway, SmsPorts


def gateway(tmp_path: Path, smsc_conf: Path | None = None) -> KannelGateway:
    return KannelGateway(tmp_path, SmsPorts(40000), app_url="http://127.0.0.1:8123/",
                         key="test-key-123", sendsms_password="send-pass-123",
                         smsc_conf=smsc_conf)


def test_the_configuration_is_loopback_and_ports_from_the_base(tmp_path: Path) -> None:
    conf = gateway(tmp_path).render_config()
    assert "admin-port = 40013" in conf
    assert "smsbox-port = 40014" in conf
    assert "port = 40015" in conf
    assert "sendsms-port = 40016" in conf
    assert conf.count("-interface = 127.0.0.1") == 3
    assert "smsc = fake" in conf
    assert 'get-url = "http://127.0.0.1:8123/api/v1/sms/kannel/mo?key=test-key-123&' in conf
    assert "concatenation = true" in conf
    assert "max-messages = 0" in conf  # smsbox sends nothing from our HTTP answer


def test_production_smsc_groups_replace_the_simulated_one(tmp_path: Path) -> None:
    groups = tmp_path / "operator.conf"
    groups.write_text("group = smsc\nsmsc = smpp\nsmsc-id = operator\n")
    gw = gateway(tmp_path, smsc_conf=groups)
    assert "smsc = smpp" in gw.render_config()
    assert "smsc = fake" not in gw.render_config()
    assert gw.names() == ("bearerbox", "smsbox")


def test_keys_that_cannot_go_into_a_url_are_refused(tmp_path: Path) -> None:
    with pytest.raises(GatewayError, match="GATEWAY_KEY"):
        KannelGateway(tmp_path, SmsPorts(), app_url="http://x", key="a b&c=d",
                      sendsms_password="send-pass-123")


def test_status_and_simulate_without_a_gateway(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_SMS_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("HOTLINE_SMS_PORT_BASE", "40000")
    from callcenter.settings import get_settings

    get_settings.cache_clear()
    try:
        runner = CliRunner()
        status = runner.invoke(command_line(), ["sms", "status"])
        assert status.exit_code == 3
        assert '"running": false' in status.output
        simulate = runner.invoke(command_line(), ["sms", "simulate", "--text", "TD"])
        assert simulate.exit_code == 1
        assert "hotline sms start" in simulate.output
        assert runner.invoke(command_line(), ["sms", "stop"]).output.strip() == "not running"
    finally:
        get_settings.cache_clear()
