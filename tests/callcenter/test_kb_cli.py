"""`hotline kb search`, `hotline kb validate` and `hotline prompts render` read the knowledge
base the running system serves: the database's live entries, seeded from the YAML when empty;
`--files` (or a PATH for validate) reads data files instead. Subprocesses on a SQLite file
(search, validate), the render in-process with its audio steps recorded."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from callcenter.db import Database
from callcenter.kb.models import KbEntry
from callcenter.kb.services import KbStore
from callcenter.migrate import upgrade
from callcenter.settings import get_settings
from knowledge_base import DEFAULT_DATA_DIR, default_spec_path
from tests.support import SUITE_CLOCK, sqlite_url

ENTRY = "iit.basic_deduction"
SEED_QUESTION = "个人所得税的基本减除费用（起征点）是多少？"
NEW_QUESTION = "居民个人工资薪金的起征点（基本减除费用）是每月多少？"
FILE = "iit_social_credit.yaml"


def hotline(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if k != "HOTLINE_REDIS_URL"},
           "HOTLINE_DATABASE_URL": url, "HOTLINE_CLOCK_START": SUITE_CLOCK().isoformat()}
    return subprocess.run([str(Path(sys.executable).with_name("hotline")), *args], env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=300,
                          check=False)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, Database]]:
    url = sqlite_url(tmp_path)
    upgrade(url)
    db = Database(url)
    yield url, db
    db.dispose()


def edited(tmp_path: Path) -> Path:
    """A data folder with the seed's file, one question changed (an import of it changes one
    entry)."""
    folder = tmp_path / "edited"
    folder.mkdir()
    text = (DEFAULT_DATA_DIR / FILE).read_text(encoding="utf-8")
    assert SEED_QUESTION in text
    (folder / FILE).write_text(text.replace(SEED_QUESTION, NEW_QUESTION, 1), encoding="utf-8")
    return folder


def test_search_reads_the_live_base_of_the_database(live: tuple[str, Database],
                                                    tmp_path: Path) -> None:
    url, db = live
    first = hotline(url, "kb", "search", "--no-dense", "个税起征点是多少")
    assert first.returncode == 0, first.stderr
    assert f"{ENTRY}  {SEED_QUESTION}" in first.stdout
    store = KbStore(db, SUITE_CLOCK, spec_path=default_spec_path())
    assert store.count() > 0  # the CLI seeded the empty database, as the server does
    assert store.import_dir(edited(tmp_path), "test") == 1
    after = hotline(url, "kb", "search", "--no-dense", "个税起征点是多少")
    assert after.returncode == 0, after.stderr
    assert f"{ENTRY}  {NEW_QUESTION}" in after.stdout
    files = hotline(url, "kb", "search", "--no-dense", "--files", "个税起征点是多少")
    assert f"{ENTRY}  {SEED_QUESTION}" in files.stdout


def test_validate_checks_the_database_or_the_files_it_is_given(
        live: tuple[str, Database], tmp_path: Path) -> None:
    url, db = live
    good = hotline(url, "kb", "validate", "--no-warnings")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "database, " in good.stderr
    assert " 0 error(s)" in good.stderr
    with db.transaction() as session:  # an entry broken in the database (not in the YAML)
        row = session.scalars(select(KbEntry).where(KbEntry.id == ENTRY)).one()
        row.fields = {**row.fields, "answer": ""}
    broken = hotline(url, "kb", "validate", "--no-warnings")
    assert broken.returncode == 1
    assert f"{FILE}:{ENTRY}:answer: is empty" in broken.stdout
    seed = hotline(url, "kb", "validate", "--no-warnings", "--files")
    assert seed.returncode == 0, seed.stdout
    assert "file(s)" in seed.stderr
    one = hotline(url, "kb", "validate", "--no-warnings", str(edited(tmp_path) / FILE))
    assert one.returncode == 0, one.stdout
    assert one.stderr.startswith("1 file(s)")


def test_an_import_without_redis_says_when_servers_reload(live: tuple[str, Database],
                                                         tmp_path: Path) -> None:
    url, _db = live
    env_free = hotline(url, "kb", "import", str(edited(tmp_path)))
    assert env_free.returncode == 0, env_free.stderr
    assert env_free.stdout.splitlines() == ["1 entry changed"]
    assert "HOTLINE_REDIS_URL 未设置" in env_free.stderr


def test_a_database_without_the_tables_is_said_and_the_files_are_read(tmp_path: Path) -> None:
    run = hotline(sqlite_url(tmp_path), "kb", "search", "--no-dense", "个税起征点是多少")
    assert run.returncode == 0, run.stderr
    assert "请先运行 hotline migrate" in run.stderr
    assert f"{ENTRY}  {SEED_QUESTION}" in run.stdout


def test_prompts_render_renders_the_live_answers(live: tuple[str, Database], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from callcenter import cli
    from ivr.prompts import answers, catalogue, music

    url, db = live
    KbStore(db, SUITE_CLOCK, spec_path=default_spec_path()).seed(DEFAULT_DATA_DIR)
    KbStore(db, SUITE_CLOCK, spec_path=default_spec_path()).import_dir(edited(tmp_path), "t")
    synced: list[str] = []

    class Report:
        rendered: tuple[str, ...] = ()
        unchanged: tuple[str, ...] = ()
        removed: tuple[str, ...] = ()

    def sync(self: object, texts: Iterable[str]) -> object:
        synced.extend(texts)
        return type("Sync", (), {"rendered": 0, "unchanged": 0, "removed": 0})()

    monkeypatch.setattr(catalogue, "render", lambda *a, **k: Report())
    monkeypatch.setattr(music, "render_music", lambda *a, **k: False)
    monkeypatch.setattr(answers.AnswerAudio, "sync", sync)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", url)
    monkeypatch.setenv("HOTLINE_SOUNDS_DIR", str(tmp_path / "sounds" / "zh"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli.app, ["prompts", "render"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert NEW_QUESTION in synced
    assert SEED_QUESTION not in synced
