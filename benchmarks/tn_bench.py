"""Spoken-text normalisation: each candidate against the table of record
(``tests/unit/speakable_cases.py``): cases passed per category, load time, time per case,
memory taken by loading.

Candidates: ``hotline`` (``ivr.prompts.spoken.speakable``, our rules), ``wetext`` (the
WeTextProcessing runtime), ``wetextprocessing`` (WeTextProcessing with pynini) and ``nemo``
(nemo-text-processing's Chinese grammars). A candidate whose package is not installed is
reported as such: none of the libraries is a project dependency (they cannot share a process
with Vosk, docs/decisions/0004-text-normalisation.md); they were measured in virtual
environments of their own:

    PYTHONPATH=. other-venv/bin/python benchmarks/tn_bench.py --candidates wetextprocessing

Prints figures; asserts nothing about time (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.speakable_cases import CASES

Normalize = Callable[[str], str]


def _hotline() -> Normalize:
    from ivr.prompts.spoken import speakable

    return speakable


def _wetext() -> Normalize:
    from wetext import Normalizer

    normalizer = Normalizer(lang="zh", operator="tn")
    return lambda text: str(normalizer.normalize(text))


def _wetextprocessing() -> Normalize:
    from tn.chinese.normalizer import Normalizer

    # its wheel ships FSTs built with full_to_half=True (Chinese punctuation turned ASCII), and
    # a cached FST is loaded whatever the options: build ours, as we would use it, once
    cache = tempfile.mkdtemp(prefix="wetn-zh-")
    normalizer = Normalizer(cache_dir=cache, full_to_half=False)
    return lambda text: str(normalizer.normalize(text))


def _nemo() -> Normalize:
    from nemo_text_processing.text_normalization.normalize import Normalizer

    cache = tempfile.mkdtemp(prefix="nemo-zh-")  # grammars are compiled on the first load
    normalizer = Normalizer(input_case="cased", lang="zh", cache_dir=cache)
    return lambda text: str(normalizer.normalize(text))


CANDIDATES: dict[str, tuple[str, Callable[[], Normalize]]] = {
    "hotline": ("ivr", _hotline),
    "wetext": ("wetext", _wetext),
    "wetextprocessing": ("tn", _wetextprocessing),
    "nemo": ("nemo_text_processing", _nemo),
}


def measure(name: str, show_failures: bool) -> None:
    module, load = CANDIDATES[name]
    if importlib.util.find_spec(module) is None:
        print(f"{name}: not installed ({module})")
        return
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    normalize = load()
    load_s = time.perf_counter() - start
    rss_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    failures: list[str] = []
    start = time.perf_counter()
    for category, written, spoken in CASES:
        total[category] += 1
        try:
            got = normalize(written)
        except Exception as exc:  # a candidate that fails on a case fails that case
            got = f"<{type(exc).__name__}: {exc}>"
        if got == spoken:
            passed[category] += 1
        else:
            failures.append(f"  {category}: {written!r} -> {got!r} (want {spoken!r})")
    per_case_ms = (time.perf_counter() - start) / len(CASES) * 1000
    print(f"{name}: {sum(passed.values())}/{len(CASES)} cases passed; load {load_s:.2f} s "
          f"(+{rss_mb:.0f} MB resident); {per_case_ms:.2f} ms per case")
    print("  " + ", ".join(f"{c} {passed[c]}/{n}" for c, n in total.items()))
    if show_failures:
        print("\n".join(failures))


def vosk_after(name: str) -> None:
    """Whether Vosk can still be imported in a process that has loaded the candidate (a TN
    library on OpenFst makes ``import vosk`` hang: both embed OpenFst)."""
    module, _ = CANDIDATES[name]
    if importlib.util.find_spec(module) is None or importlib.util.find_spec("vosk") is None:
        print(f"{name}: import vosk afterwards: not measured ({module} or vosk not installed)")
        return
    try:
        done = subprocess.run([sys.executable, __file__, "--candidates", name, "--load-then-vosk"],
                              capture_output=True, text=True, timeout=60, check=False)
        verdict = "ok" if done.returncode == 0 and "vosk imported" in done.stdout else (
            f"failed (exit {done.returncode})")
    except subprocess.TimeoutExpired:
        verdict = "hangs (killed after 60 s)"
    print(f"{name}: import vosk afterwards: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", default=",".join(CANDIDATES),
                        help=f"comma-separated, of {', '.join(CANDIDATES)}")
    parser.add_argument("--show-failures", action="store_true")
    parser.add_argument("--vosk", action="store_true",
                        help="also check that Vosk can be imported after the candidate is loaded")
    parser.add_argument("--load-then-vosk", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the libraries log every FST they load
    names = [n.strip() for n in args.candidates.split(",") if n.strip()]
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        parser.error(f"unknown candidate(s) {', '.join(unknown)}; known: {', '.join(CANDIDATES)}")
    if args.load_then_vosk:  # the child of vosk_after()
        CANDIDATES[names[0]][1]()("请拨打12366")
        import vosk  # noqa: F401

        print("vosk imported")
        return
    if len(names) == 1:
        measure(names[0], args.show_failures)
    else:
        for name in names:  # each in a process of its own: load time and memory are its own
            extra = ["--show-failures"] if args.show_failures else []
            subprocess.run([sys.executable, __file__, "--candidates", name, *extra], check=True)
    if args.vosk:
        for name in names:
            vosk_after(name)


if __name__ == "__main__":
    main()
