"""FAQ engine benchmark: accuracy, decline quality, latency, load time and memory.

Run `python benchmarks/kb_bench.py` (from the repository root, in the project's virtualenv).

- decisions (answer / confirm / decline, `KnowledgeBase.decide`) on the labelled sets of
  knowledge_base/eval/: the dev set faq_dev.jsonl with out_of_scope.jsonl (half A of the dev
  set was used for tuning, half B was not) and the frozen caller set frozen_v1.jsonl (never
  used for tuning), overall and by kind: answered right, wrong answers, served (answered
  right or confirmed with the right candidate), declined; out-of-scope answered / confirmed /
  declined;
- the figures of the suite's quality floor (knowledge_base/eval/quality_floor.yaml), computed
  by the same code (knowledge_base.evaluation), against the recorded floor;
- latency per query (p50 / p99) with the process pinned to one CPU core and the encoder on one
  thread, at the shipped size and at 10,000 entries (the shipped entries expanded with
  rule-based paraphrases), plus the cold load time with the index cache present and the RSS.

Every measurement of a base runs in a fresh worker process (`--worker`), so load time and RSS
are those of a process that does nothing else.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy / the encoder load OpenMP

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from knowledge_base import (  # noqa: E402
    DEFAULT_CACHE_DIR,
    DEFAULT_DATA_DIR,
    KnowledgeBase,
    SearchConfig,
    load_data,
)
from knowledge_base.embedding import ENCODER_KINDS, EncoderKind, make_embedder  # noqa: E402
from knowledge_base.evaluation import (  # noqa: E402
    CEILINGS,
    EVAL_SETS,
    QUALITY_FLOOR,
    Record,
    decision_table,
    expected_ids,
    load_floor,
    outcome,
    quality_figures,
)
from knowledge_base.text import RESOURCES_DIR, load_synonyms  # noqa: E402

BENCH_DIR = ROOT / "var" / "kb-bench"


def pin_to_one_core() -> int:
    core = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------ paraphrase expansion
PREFIXES = [
    "",
    "",
    "请问",
    "你好，我想问一下",
    "麻烦咨询一下，",
    "我想了解一下",
    "问一下，",
    "您好，",
    "我们公司想问问",
    "我是个体户，",
    "我是上班族，",
    "帮我查一下",
]
PLACES = ["", "", "", "在北京", "在上海", "在广东", "在我们这边", "在外地"]
SUFFIXES = ["", "？", "呢？", "啊", "，谢谢", "，麻烦告诉我一下", "，急用"]


def paraphrase(text: str, rng: random.Random, variants: dict[str, list[str]]) -> str:
    core = text.rstrip("？?。！!")
    for canonical, options in variants.items():
        if canonical in core and rng.random() < 0.5:
            core = core.replace(canonical, rng.choice(options), 1)
    return rng.choice(PREFIXES) + rng.choice(PLACES) + core + rng.choice(SUFFIXES)


def expand_data(source_dir: Path, target_dir: Path, size: int, seed: int = 12366) -> Path:
    """Write `size` entries: the shipped ones plus paraphrased copies (deterministic)."""
    entries = load_data(source_dir).entries
    mapping = load_synonyms(RESOURCES_DIR / "synonyms.txt")
    variants: dict[str, list[str]] = {}
    for variant, canonical in mapping.items():
        if variant != canonical and len(canonical) > 1:
            variants.setdefault(canonical, []).append(variant)
    rng = random.Random(seed)
    out: list[Record] = [e.to_dict() for e in entries]
    copy = 0
    while len(out) < size:
        for entry in entries:
            if len(out) >= size:
                break
            texts = [entry.question, *entry.similar]
            picks = [rng.choice(texts) for _ in range(3)]
            record = entry.to_dict()
            record["id"] = f"{entry.id}.p{copy:03d}"
            record["question"] = paraphrase(picks[0], rng, variants)
            record["similar"] = [paraphrase(t, rng, variants) for t in picks[1:]]
            out.append(record)
        copy += 1
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / "expanded.yaml"
    text = yaml.safe_dump(out, allow_unicode=True, sort_keys=False)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return target_dir


# ------------------------------------------------------------------ worker (one process per base)
def search_config(settings: list[str]) -> SearchConfig:
    """`SearchConfig` with `NAME=VALUE` overrides (numbers or strings), for experiments."""
    values: dict[str, Any] = {}
    for item in settings:
        name, _, text = item.partition("=")
        default = getattr(SearchConfig(), name)  # AttributeError: unknown setting
        values[name] = type(default)(text)
    return SearchConfig(**values)


def worker(
    data_dir: Path,
    cache_dir: Path,
    repeat: int,
    with_spec: bool,
    dense: bool,
    settings: list[str] | None = None,
    encoder: EncoderKind = "onnx",
) -> Record:
    core = pin_to_one_core()
    started = time.perf_counter()
    kb = KnowledgeBase.load(
        data_dir,
        cache_dir=cache_dir,
        spec_path="auto" if with_spec else None,
        embedder=make_embedder(encoder, threads=1, cache_dir=cache_dir) if dense else None,
        config=search_config(settings or []),
    )
    load_s = time.perf_counter() - started
    rss_loaded = rss_mib()
    rows = labelled_rows()
    timed = len(EVAL_SETS["dev"]())  # latency over the dev and out-of-scope questions
    times: list[list[float]] = [[] for _ in rows[:timed]]
    cpu: list[float] = []
    answers: list[Record] = []
    kb.search("预热")  # first call pays one-off allocations
    # Passes over all questions rather than consecutive repeats of one question, so that a
    # burst of load from other processes hits different questions in different passes.
    for _ in range(repeat):
        for index, row in enumerate(rows[:timed]):
            c0, t0 = time.thread_time(), time.perf_counter()
            kb.decide(row["q"], top=3)
            times[index].append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
    latencies = [t for per_query in times for t in per_query]
    per_query_min = [min(per_query) for per_query in times]
    for row in rows:  # the decisions (not timed) and the ranking without them
        decision = kb.decide(row["q"], top=3)
        answers.append({
            "q": row["q"],
            "decision": decision.kind.value,
            "results": [{"id": r.id, "score": r.score} for r in decision.results],
        })
    ranked = [[r.id for r in kb.rank(row["q"], top=3)] for row in rows]
    engine = kb._engine()
    skipped = 0
    for row in rows[:timed]:  # did the lexical channels make the encoder unnecessary?
        analysis = engine.analyze(row["q"])
        if dense and (analysis.words or analysis.grams):
            skipped += (
                engine.channel_scores(analysis, engine.effective_mask(kb.clock())).dense is None
            )
    return {
        "core": core,
        "entries": len(kb),
        "load_s": load_s,
        "rss_loaded_mib": rss_loaded,
        "rss_peak_mib": rss_mib(),
        "latency_ms": {
            "p50": percentile(latencies, 50) * 1000,
            "p99": percentile(latencies, 99) * 1000,
            "max": max(latencies) * 1000,
            "p50_min_of_runs": percentile(per_query_min, 50) * 1000,
            "p99_min_of_runs": percentile(per_query_min, 99) * 1000,
            "cpu_p50": percentile(cpu, 50) * 1000,
            "cpu_p99": percentile(cpu, 99) * 1000,
            "samples": len(latencies),
        },
        "answers": answers,
        "ranked": ranked,
        "encoder_skipped": skipped / timed,
        "loadavg": os.getloadavg(),
    }


def paired_worker(
    data_dir: Path,
    cache_dir: Path,
    repeat: int,
    settings: list[str],
    other: list[str],
    encoder: EncoderKind = "onnx",
) -> Record:
    """Two engines in one process on one core, each question searched by both back to back
    (order alternating by pass): a comparison that drifts in the core's speed do not bias."""
    pin_to_one_core()
    embedder = make_embedder(encoder, threads=1, cache_dir=cache_dir)
    engines = {
        name: KnowledgeBase.load(
            data_dir,
            cache_dir=cache_dir,
            spec_path=None,
            embedder=embedder,
            config=search_config(items),
        )
        for name, items in (("this", settings), ("other", settings + other))
    }
    rows = EVAL_SETS["dev"]()
    times: dict[str, list[list[float]]] = {name: [[] for _ in rows] for name in engines}
    for kb in engines.values():
        kb.search("预热")
    for run in range(repeat):
        order = list(engines.items()) if run % 2 == 0 else list(reversed(engines.items()))
        for index, row in enumerate(rows):
            for name, kb in order:
                t0 = time.perf_counter()
                kb.decide(row["q"], top=3)
                times[name][index].append(time.perf_counter() - t0)
    figures: Record = {"loadavg": os.getloadavg()}
    for name, per_query in times.items():
        samples = [t for values in per_query for t in values]
        fastest = [min(values) for values in per_query]
        figures[name] = {
            "p50": percentile(samples, 50) * 1000,
            "p99": percentile(samples, 99) * 1000,
            "p50_min_of_runs": percentile(fastest, 50) * 1000,
            "p99_min_of_runs": percentile(fastest, 99) * 1000,
        }
    return figures


def run_worker(
    data_dir: Path,
    cache_dir: Path,
    repeat: int,
    with_spec: bool,
    dense: bool = True,
    settings: list[str] | None = None,
    encoder: EncoderKind = "onnx",
) -> Record:
    command = [
        sys.executable,
        __file__,
        "--worker",
        str(data_dir),
        "--cache-dir",
        str(cache_dir),
        "--repeat",
        str(repeat),
    ]
    command += ["--encoder", encoder]
    if with_spec:
        command.append("--with-spec")
    if not dense:
        command.append("--lexical")
    for item in settings or []:
        command += ["--set", item]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise SystemExit(f"worker failed for {data_dir}:\n{run.stderr}")
    result: Record = json.loads(run.stdout.splitlines()[-1])
    return result


def build_cache(
    data_dir: Path, cache_dir: Path, dense: bool = True, encoder: EncoderKind = "onnx"
) -> float:
    """Build (or find) the cached index, on every core: this is not what is measured."""
    embedder = (
        f"make_embedder({encoder!r}, threads=2, cache_dir=Path({str(cache_dir)!r}))"
        if dense
        else "None"
    )
    code = (
        "import sys, time; from pathlib import Path; from knowledge_base import KnowledgeBase;"
        "from knowledge_base.embedding import make_embedder;"
        "t = time.perf_counter();"
        f"KnowledgeBase.load({str(data_dir)!r}, cache_dir={str(cache_dir)!r}, spec_path=None,"
        f" embedder={embedder});"
        "print(time.perf_counter() - t)"
    )
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    if run.returncode != 0:
        raise SystemExit(f"index build failed for {data_dir}:\n{run.stderr}")
    return float(run.stdout.split()[-1])


# ------------------------------------------------------------------ figures
def print_report(report: Record) -> None:
    shipped = report["shipped"]
    print(f"# FAQ engine benchmark ({report['when']}, engine on one core #{shipped['core']})")
    print("sets: " + ", ".join(f"{name} {n} questions" for name, n in report["set_n"].items()))
    print(f"\n## Decisions (shipped base, {shipped['entries']} entries served)")
    columns = ("answered", "wrong_answer", "confirmed", "confirm_missed", "declined", "served")
    print(f"{'slice':28s} {'n':>4s} " + " ".join(f"{c[:9]:>9s}" for c in columns))
    for set_name, table in report["decisions"].items():
        for key, fig in table.items():
            cells = " ".join(
                f"{fig[c]:9.3f}" if c in fig else f"{'-':>9s}" for c in columns
            )
            print(f"{set_name + ' ' + key:28s} {fig['n']:4d} {cells}")
    print("in: answered = answered right; confirmed = the right entry among the candidates;")
    print("out: answered = an answer to a question the base cannot answer")
    for item in report["oos_answered"]:
        print(f"  answered out-of-scope ({item['set']}): {item['q']} -> {item['id']}")
    quality = report["quality"]
    print(f"\n## Quality floor ({quality['floor_file']}, recorded {quality['measured_on']})")
    print(f"{'figure':20s} {'now':>7s} {'recorded':>9s} {'limit':>7s}")
    for set_name, figures in quality["figures"].items():
        for name, value in figures.items():
            if set_name not in quality["recorded"]:  # a set seen before: reported, not held
                print(f"{set_name + '.' + name:20s} {value:7.3f} {'(seen)':>9s}")
                continue
            kind = "<=" if name in CEILINGS else ">="
            recorded = quality["recorded"][set_name][name]
            limit = quality["limit"][set_name][name]
            print(f"{set_name + '.' + name:20s} {value:7.3f} {recorded:9.3f} {kind}{limit:5.3f}")
    for line in quality["shortfalls"]:
        print(f"  PAST ITS LIMIT: {line}")
    print("top1/top3: the ranking without the decision (KnowledgeBase.rank)")
    for line in quality["changed_files"]:
        print(f"  frozen file changed since the floor was recorded: {line}")
    print("\n## Latency, load, memory (one core, encoder on one thread)")
    header = (
        f"{'base':15s} {'entries':>7s} {'p50 ms':>7s} {'p99 ms':>7s} {'p50*':>6s} {'p99*':>6s}"
        f" {'cpu p99':>7s} {'load s':>7s} {'RSS MiB':>8s} {'loadavg':>8s}"
    )
    print(header)
    for name in ("shipped", "10k", "shipped-lexical", "10k-lexical"):
        fig = report.get(name)
        if not fig:
            continue
        lat = fig["latency_ms"]
        print(
            f"{name:15s} {fig['entries']:7d} {lat['p50']:7.1f} {lat['p99']:7.1f}"
            f" {lat['p50_min_of_runs']:6.1f} {lat['p99_min_of_runs']:6.1f} {lat['cpu_p99']:7.1f}"
            f" {fig['load_s']:7.2f} {fig['rss_peak_mib']:8.0f} {fig['loadavg'][0]:8.2f}"
        )
    print("p50/p99: all samples; p50*/p99*: fastest of the runs of each query (less scheduler")
    print("noise from other processes); cpu p99: CPU time of the searching thread, all samples")
    print("(time other processes held the core excluded); load: KnowledgeBase.load() with the")
    print("index cache present.")
    for name in ("shipped", "10k"):
        if name in report:
            share = report[name].get("encoder_skipped", 0.0)
            print(f"{name}: encoder skipped (lexically decisive) for {share:.1%} of the questions")
    if report.get("settings"):
        print("settings: " + " ".join(report["settings"]))
    for set_name, lex in report.get("lexical", {}).items():
        print(
            f"lexical-only engine (no embedder), shipped base, {set_name}: "
            + ", ".join(f"{name} {value:.3f}" for name, value in lex.items())
        )
    if "top1_10k" in report:
        print(
            f"top-1 of the dev set against the 10k base (paraphrase ids mapped back): "
            f"{report['top1_10k']:.3f}"
        )


def timing(run: Record) -> Record:
    """A worker's figures without its per-question answers."""
    return {k: v for k, v in run.items() if k not in ("answers", "ranked")}


def labelled_rows() -> list[Record]:
    """Every labelled set, in `EVAL_SETS` order (the dev set first: its questions are timed)."""
    return [row for load in EVAL_SETS.values() for row in load()]


def per_set(run: Record) -> dict[str, tuple[list[Record], list[Record], list[list[str]]]]:
    """A worker's answers and rankings cut back into the labelled sets."""
    out = {}
    start = 0
    for name, load in EVAL_SETS.items():
        rows = load()
        end = start + len(rows)
        out[name] = (rows, run["answers"][start:end], run["ranked"][start:end])
        start = end
    return out


def quality_report(shipped: Record) -> Record:
    """The quality floor's figures from the shipped run's decisions, beside the recorded floor."""
    floor = load_floor(QUALITY_FLOOR)
    figures = {
        name: quality_figures(rows, answers, ranked)
        for name, (rows, answers, ranked) in per_set(shipped).items()
    }
    return {
        "floor_file": str(QUALITY_FLOOR.relative_to(ROOT)),
        "measured_on": floor.measured_on.isoformat(),
        "figures": {name: fig.as_dict() for name, fig in figures.items()},
        "recorded": {name: dict(values) for name, values in floor.figures.items()},
        "limit": {
            name: {key: floor.limit(name, key) for key in values}
            for name, values in floor.figures.items()
        },
        "shortfalls": [
            line
            for name, fig in figures.items()
            if name in floor.figures
            for line in floor.shortfalls(name, fig)
        ],
        "changed_files": floor.changed_files(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--with-spec", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--lexical", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--skip-lexical", action="store_true", help="no lexical-only runs")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument(
        "--encoder", choices=ENCODER_KINDS, default="onnx", help="engine of the dense channel"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each query")
    parser.add_argument("--size", type=int, default=10_000, help="entries of the large base")
    parser.add_argument("--skip-large", action="store_true", help="shipped base only")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--paired-with",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="only compare, on the large base, the engine against one with these settings too"
        " (both in one process, questions alternated), e.g. --paired-with dense_max_tokens=0",
    )
    parser.add_argument("--paired", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a SearchConfig setting (query-time ones), e.g. --set dense_max_tokens=16",
    )
    args = parser.parse_args()
    if args.worker is not None and args.paired:
        print(
            json.dumps(
                paired_worker(
                    args.worker,
                    args.cache_dir,
                    args.repeat,
                    args.set,
                    args.paired_with,
                    args.encoder,
                )
            )
        )
        return
    if args.paired_with:
        large_dir = expand_data(DEFAULT_DATA_DIR, BENCH_DIR / f"data-{args.size}", args.size)
        cache = BENCH_DIR / "cache"
        build_cache(large_dir, cache, encoder=args.encoder)
        command = [
            sys.executable,
            __file__,
            "--worker",
            str(large_dir),
            "--paired",
            "--cache-dir",
            str(cache),
            "--repeat",
            str(args.repeat),
            "--encoder",
            args.encoder,
        ]
        for item in args.set:
            command += ["--set", item]
        for item in args.paired_with:
            command += ["--paired-with", item]
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise SystemExit(f"paired worker failed:\n{run.stderr}")
        paired: Record = json.loads(run.stdout.splitlines()[-1])
        print(
            f"# paired comparison, {args.size} entries, one core, {args.repeat} passes"
            f" (load average {paired['loadavg'][0]:.2f})"
        )
        for name, label in (("this", "engine"), ("other", "with " + " ".join(args.paired_with))):
            fig = paired[name]
            print(
                f"{label}: p50 {fig['p50']:.1f} p99 {fig['p99']:.1f}"
                f" p50* {fig['p50_min_of_runs']:.1f} p99* {fig['p99_min_of_runs']:.1f} ms"
            )
        if args.json:
            args.json.write_text(json.dumps(paired, indent=2), encoding="utf-8")
        return
    if args.worker is not None:
        result = worker(
            args.worker,
            args.cache_dir,
            args.repeat,
            args.with_spec,
            not args.lexical,
            args.set,
            args.encoder,
        )
        print(json.dumps(result))
        return
    build_cache(DEFAULT_DATA_DIR, args.cache_dir, encoder=args.encoder)
    shipped = run_worker(
        DEFAULT_DATA_DIR,
        args.cache_dir,
        args.repeat,
        with_spec=True,
        settings=args.set,
        encoder=args.encoder,
    )
    sets = per_set(shipped)
    report: Record = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "settings": args.set,
        "set_n": {name: len(rows) for name, (rows, _, _) in sets.items()},
        "shipped": timing(shipped),
        "decisions": {
            name: decision_table(answers, rows, by_half=name == "dev")
            for name, (rows, answers, _) in sets.items()
        },
        "oos_answered": [
            {"set": name, "q": row["q"], "id": found["results"][0]["id"]}
            for name, (rows, answers, _) in sets.items()
            for row, found in zip(rows, answers, strict=True)
            if not expected_ids(row) and outcome(row, found) == "answered"
        ],
        "quality": quality_report(shipped),
    }
    if not args.skip_lexical:
        build_cache(DEFAULT_DATA_DIR, args.cache_dir, dense=False)
        lexical = run_worker(DEFAULT_DATA_DIR, args.cache_dir, args.repeat, True, dense=False)
        report["shipped-lexical"] = timing(lexical)
        report["lexical"] = {
            name: quality_figures(rows, answers, ranked).as_dict()
            for name, (rows, answers, ranked) in per_set(lexical).items()
        }
    if not args.skip_large:
        large_dir = expand_data(DEFAULT_DATA_DIR, BENCH_DIR / f"data-{args.size}", args.size)
        cache = BENCH_DIR / "cache"
        report["build_large_s"] = build_cache(large_dir, cache, encoder=args.encoder)
        large = run_worker(
            large_dir,
            cache,
            args.repeat,
            with_spec=False,
            settings=args.set,
            encoder=args.encoder,
        )
        report["10k"] = timing(large)
        rows, answers, ranked = per_set(large)["dev"]
        report["top1_10k"] = quality_figures(rows, answers, ranked).top1
        if not args.skip_lexical:
            build_cache(large_dir, cache, dense=False)
            large_lex = run_worker(large_dir, cache, args.repeat, False, dense=False)
            report["10k-lexical"] = timing(large_lex)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
