"""The `hotline` command line imports only the command group it is asked for
(callcenter/cli.py ``command_line``), and still lists and runs every command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from callcenter.cli import GROUPS, command_line

PROBE = ("import json, sys; from callcenter import cli; cli.command_line(sys.argv[1:]); "
         "print(json.dumps(sorted(m for m in sys.modules if m in cli.GROUPS.values() "
         "or m == 'callcenter.sms.services')))")


def imported_for(*argv: str) -> list[str]:
    """The group modules (and the SMS services) a fresh process imports for ``argv``."""
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], check=True,
                         capture_output=True, text=True).stdout
    return list(json.loads(out))


def test_a_command_imports_its_own_group_only() -> None:
    assert imported_for("kb", "search", "--no-dense", "个税起征点") == ["callcenter.kb.cli"]
    assert imported_for("--verbose", "users", "list") == ["callcenter.auth.cli"]
    # the demo group takes `demo seed` from the statistics' commands
    assert imported_for("demo", "seed") == ["callcenter.selfservice.cli",
                                            "callcenter.stats.cli"]
    assert imported_for("serve", "--port", "1") == []
    assert imported_for("pbx", "status") == []
    # help, nothing, or a name that is not a command: every group, for the full list
    everything = [*GROUPS.values(), "callcenter.sms.services"]
    for argv in (("--help",), (), ("smss", "status")):
        assert sorted(imported_for(*argv)) == sorted(everything), argv


def test_the_help_lists_every_group_and_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(command_line(["--help"]), ["--help"])
    assert result.exit_code == 0, result.output
    for name in [*GROUPS, "serve", "bridge", "migrate", "pbx", "prompts", "menu"]:
        assert f" {name} " in result.output, name
    # a group added once is not added again when asked for a second time
    count = len(command_line().registered_groups)
    assert len(command_line(["kb"]).registered_groups) == count
    assert count == len(GROUPS) + 3  # and pbx, prompts, menu
