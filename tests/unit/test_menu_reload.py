"""The running menu: a broken file is refused at start (file, line, field), and a failed
reload keeps the menu that was running."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.runtime import MenuHolder
from callcenter.settings import PROJECT_ROOT, Settings
from ivr.menu.loader import MenuError

GOOD = (PROJECT_ROOT / "ivr" / "menus" / "12366.yaml").read_text(encoding="utf-8")


def test_broken_menu_is_refused_at_start(tmp_path: Path) -> None:
    path = tmp_path / "menu.yaml"
    path.write_text(GOOD.replace("    fallback: goodbye_no_input\n\n  # -- 1 tax",
                                 "    fallback: nowhere\n\n  # -- 1 tax", 1), encoding="utf-8")
    with pytest.raises(MenuError) as error:
        MenuHolder(Settings(menu_file=path))
    problem = error.value.problems[0]
    assert problem.file == str(path)
    assert problem.field == "nodes.main.fallback"
    assert path.read_text(encoding="utf-8").splitlines()[problem.line - 1].strip() \
        == "fallback: nowhere"


def test_failed_reload_keeps_the_running_menu(tmp_path: Path) -> None:
    path = tmp_path / "menu.yaml"
    path.write_text(GOOD, encoding="utf-8")
    holder = MenuHolder(Settings(menu_file=path))
    running = holder()
    path.write_text(GOOD.replace("type: survey", "type: poll", 1), encoding="utf-8")
    with pytest.raises(MenuError, match="type"):
        holder.reload()
    assert holder() is running
    path.write_text(GOOD.replace("prompt: main_menu", "prompt: consult_menu", 1),
                    encoding="utf-8")
    assert holder.reload() is holder()
    assert holder() is not running
