"""`hotline kb ...` commands: search the FAQ base, validate it, export the live entries from
the database as data files and import data files into it.

``search`` and ``validate`` (and ``hotline prompts render``'s answers) read the knowledge base
the running system serves: the database's live entries (callcenter/kb/services.py), seeded from
``HOTLINE_KB_DATA_DIR`` when empty, as ``hotline serve`` does. ``--files`` (or, for
``validate``, a PATH) reads data files instead: the seed, or a file to check before
``hotline kb import``. A database without the knowledge-base tables (not migrated) is said on
stderr and the data files are read, as the server serves them then."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from callcenter.settings import clock_of, get_settings
from ivr.clock import local_date
from knowledge_base import (
    DEFAULT_CACHE_DIR,
    DEFAULT_DATA_DIR,
    MAX_TOP,
    DecisionKind,
    KnowledgeBaseError,
    Severity,
    default_spec_path,
    load_data,
)

if TYPE_CHECKING:
    from callcenter.kb.services import KbStore
    from callcenter.settings import Settings
    from knowledge_base.base import EntrySource

app = typer.Typer(help="FAQ knowledge base: search and validation.", no_args_is_help=True)

DECISION_LABELS = {
    DecisionKind.ANSWER: "直接答复",
    DecisionKind.CONFIRM: "请来电人确认",
    DecisionKind.DECLINE: "知识库无法答复，建议转人工",
}


def _today() -> Callable[[], date]:
    """Today in the hotline's time zone, by the process clock (entries' effective dates)."""
    settings = get_settings()
    return local_date(clock_of(settings), settings.timezone)

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir", envvar="HOTLINE_KB_DATA_DIR", help="Folder of the FAQ *.yaml data files."
    ),
]
CacheDir = Annotated[
    Path,
    typer.Option(
        "--cache-dir", envvar="HOTLINE_KB_CACHE_DIR", help="Where the built index is cached."
    ),
]
SpecOption = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        envvar="HOTLINE_KB_SPEC",
        help="FAQ spec (ids and key facts); default knowledge_base/eval/faq_spec.yaml.",
    ),
]
NoSpec = Annotated[bool, typer.Option("--no-spec", help="Do not check against the spec.")]
FromFiles = Annotated[bool, typer.Option(
    "--files", help="Read the data files (--data-dir / HOTLINE_KB_DATA_DIR) instead of the "
                    "database's live knowledge base.")]
NO_TABLES = ("数据库中没有知识库数据表或种子数据无效（请先运行 hotline migrate，见日志）："
             "读取数据文件")


def live_source(settings: Settings) -> EntrySource | None:
    """The live entries of the database the running system serves (seeded from the data files
    when empty); None, said on stderr, when the database has no knowledge-base tables or the
    seed does not validate (the data files are read then, as the server serves them)."""
    from callcenter.db import Database
    from callcenter.kb.services import live_store

    store = live_store(settings, Database(settings.database_url), clock_of(settings))
    if store is None:
        typer.echo(NO_TABLES, err=True)
        return None
    return store.live_items


def _spec(spec: Path | None, no_spec: bool) -> Path | None:
    if no_spec:
        return None
    return spec if spec is not None else default_spec_path()


@app.command()
def search(
    queries: Annotated[
        list[str] | None, typer.Argument(help="Questions (without --jsonl).", show_default=False)
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, max=MAX_TOP, help="Results per query.")] = 3,
    jsonl: Annotated[
        bool,
        typer.Option("--jsonl", help="Read one question per line on stdin, answer in JSON lines."),
    ] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    cache_dir: CacheDir = DEFAULT_CACHE_DIR,
    spec: SpecOption = None,
    no_spec: NoSpec = False,
    no_dense: Annotated[
        bool, typer.Option("--no-dense", help="Lexical search only (no embedding model).")
    ] = False,
    files: FromFiles = False,
) -> None:
    """Search the live FAQ base (the database's, as the running system serves it): per
    question the decision (answer, confirm or decline) and its results (the ranked entries on
    answer, the candidates on confirm, none on decline)."""
    from knowledge_base import KnowledgeBase  # the search engine: only for this command

    source = None if files else live_source(get_settings())
    try:
        kb = KnowledgeBase.load(
            data_dir,
            cache_dir=cache_dir,
            spec_path=_spec(spec, no_spec),
            embedder=None if no_dense else "auto",
            clock=_today(),
            source=source,
        )
    except KnowledgeBaseError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    if jsonl:
        for line in sys.stdin:
            query = line.rstrip("\r\n")
            record = kb.decide(query, top=top).to_dict()  # an empty line: decline, no results
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        return
    if not queries:
        typer.echo("请给出问题，或用 --jsonl 从标准输入逐行读取。", err=True)
        raise typer.Exit(2)
    for query in queries:
        decision = kb.decide(query, top=top)
        typer.echo(f"{query}  -> {decision.kind.value}（{DECISION_LABELS[decision.kind]}）")
        for rank, result in enumerate(decision.results, start=1):
            typer.echo(f"  {rank}. [{result.score:.3f}] {result.id}  {result.question}")


@app.command()
def validate(
    path: Annotated[
        Path | None,
        typer.Argument(help="A data folder or file to check (default: the live knowledge base "
                            "in the database).", show_default=False),
    ] = None,
    spec: SpecOption = None,
    no_spec: NoSpec = False,
    quiet_warnings: Annotated[
        bool, typer.Option("--no-warnings", help="Print errors only.")
    ] = False,
    files: FromFiles = False,
) -> None:
    """Check the live FAQ base in the database, or the data files of PATH (or with --files the
    seed, HOTLINE_KB_DATA_DIR); print every problem as file:id:field: message."""
    from knowledge_base.loader import check_entries

    today = _today()()
    source = None
    if path is None and not files:
        source = live_source(get_settings())
    if source is not None:
        result = check_entries(source(), _spec(spec, no_spec), today=today)
        origin = "database"
    else:
        target = path if path is not None else get_settings().kb_data_dir
        result = load_data(target, _spec(spec, no_spec), today=today)
        origin = f"{len(result.files)} file(s)"
    errors = [i for i in result.issues if i.severity is Severity.ERROR]
    warnings = [i for i in result.issues if i.severity is Severity.WARNING]
    for issue in result.issues:
        if issue.severity is Severity.ERROR or not quiet_warnings:
            typer.echo(str(issue))
    summary = (
        f"{origin}, {len(result.entries)} valid entr"
        f"{'y' if len(result.entries) == 1 else 'ies'}, "
        f"{len(errors)} error(s), {len(warnings)} warning(s)"
    )
    typer.echo(summary, err=True)
    if errors:
        raise typer.Exit(1)


def _store() -> KbStore:
    """The database's store, seeded from the data files when empty (as the server does)."""
    from callcenter.db import Database
    from callcenter.kb.services import live_store

    settings = get_settings()
    store = live_store(settings, Database(settings.database_url), clock_of(settings))
    if store is None:
        typer.echo("知识库数据表不存在或种子数据无效：请先运行 hotline migrate（见日志）", err=True)
        raise typer.Exit(2)
    return store


@app.command("export")
def export(
    target: Annotated[Path | None, typer.Argument(
        help="Folder to write the *.yaml files into (default: HOTLINE_KB_DATA_DIR).")] = None,
) -> None:
    """Write the live entries from the database as data files (the seed format); an entry
    unchanged since the seed is written exactly as the seed file had it."""
    folder = target if target is not None else get_settings().kb_data_dir
    written = _store().export_dir(folder)
    typer.echo(f"{len(written)} file(s) written to {folder}")


@app.command("import")
def import_(
    source: Annotated[Path | None, typer.Argument(
        help="Data folder or file to import (default: HOTLINE_KB_DATA_DIR).")] = None,
    retire_missing: Annotated[bool, typer.Option(
        "--retire-missing", help="Retire the live entries the files do not hold.")] = False,
    actor: Annotated[str, typer.Option(help="Who imports (the versions' author).")] = "import",
) -> None:
    """Import data files into the database: each entry that differs from the live one becomes
    a new published version. With HOTLINE_REDIS_URL every running process (API workers,
    bridges) reloads at once, as on a publication; without it a running server reloads at its
    next start or publication."""
    import asyncio

    from callcenter.kb.notifier import announce_import
    from callcenter.kb.services import KbInvalid

    settings = get_settings()
    folder = source if source is not None else settings.kb_data_dir
    try:
        changes = _store().import_files(folder, actor, retire_missing=retire_missing)
    except KbInvalid as exc:
        for error in exc.errors or ():
            typer.echo(f"{error['loc'][-1]}: {error['msg']}", err=True)
        typer.echo(exc.detail, err=True)
        raise typer.Exit(1) from exc
    changed = len(changes)
    typer.echo(f"{changed} entr{'y' if changed == 1 else 'ies'} changed")
    if not changes:
        return
    if settings.redis_url is None:
        typer.echo("HOTLINE_REDIS_URL 未设置：运行中的服务在下次启动或发布时重新加载知识库",
                   err=True)
        return
    try:
        heard = asyncio.run(announce_import(settings.redis_url, settings.redis_prefix,
                                            changes))
    except Exception as exc:  # the import stands; say that the processes did not hear it
        typer.echo(f"重新加载通知未发出（{exc}）：运行中的服务在下次启动或发布时重新加载",
                   err=True)
        raise typer.Exit(3) from exc
    typer.echo(f"reload sent to {heard} running process(es)")
