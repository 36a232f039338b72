"""Mandarin speech input: Whisper base (ivr/asr) on the committed utterances of
tests/data/speech/zh (benchmarks/speech_data.py; 8 kHz telephone audio).

For each configuration it reports the character error rate of the free transcripts
(``ivr.asr.metrics``), the intent accuracy (a menu phrase named: the grammar path with pinyin
matching; a question: the FAQ entry the knowledge base picks from the transcript, top 1), the
real-time factor (recognition time / audio time, one utterance at a time, as a call does) and
the process's memory (peak RSS) before and after the model is loaded and used.

    .venv/bin/python benchmarks/speech_bench.py [--default-only]
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callcenter.settings import PROJECT_ROOT, Settings
from ivr.asr.metrics import cer
from ivr.asr.whisper import DOMAIN_PROMPT, WhisperRecognizer, read_wav

DATA = PROJECT_ROOT / "tests" / "data" / "speech" / "zh"
CONFIGS: dict[str, dict[str, Any]] = {
    "default: beam 2, domain prompt": {"beam_size": 2, "prompt": DOMAIN_PROMPT},
    "beam 1 (greedy), domain prompt": {"beam_size": 1, "prompt": DOMAIN_PROMPT},
    "beam 2, no prompt": {"beam_size": 2, "prompt": ""},
}


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--default-only", action="store_true",
                        help="the default configuration only (a quicker run)")
    args = parser.parse_args()
    configs = dict(list(CONFIGS.items())[:1]) if args.default_only else CONFIGS
    items: list[dict[str, Any]] = yaml.safe_load((DATA / "manifest.yaml").read_text("utf-8"))
    phrases = sorted({i["intent"] for i in items if i["kind"] == "phrase"})
    audio_s = {i["file"]: read_wav(str(DATA / i["file"])).size / 16000 for i in items}
    model_dir = Settings().whisper_model_dir
    before = rss_mib()
    started = time.perf_counter()
    base = WhisperRecognizer(model_dir)
    _ = base.model
    load_s = time.perf_counter() - started
    on_disk = sum(p.stat().st_size for p in model_dir.iterdir() if p.is_file()) / 2**20
    print(f"{len(items)} utterances ({sum(audio_s.values()):.0f} s; "
          f"{sum(i['kind'] == 'phrase' for i in items)} menu phrases, "
          f"{sum(i['kind'] == 'question' for i in items)} questions); model {on_disk:.0f} MiB "
          f"on disk, loaded in {load_s:.2f} s", flush=True)
    results = []
    for name, config in configs.items():
        asr = WhisperRecognizer(model_dir, beam_size=config["beam_size"],
                                prompt=config["prompt"])
        free: dict[str, str] = {}
        phrase_hits = 0
        busy = 0.0
        for item in items:
            path = str(DATA / item["file"])
            t0 = time.perf_counter()
            free[item["file"]] = asr.recognize(path).text
            busy += time.perf_counter() - t0
            if item["kind"] == "phrase":
                heard = asr.recognize(path, phrases)
                phrase_hits += heard.text == item["intent"]
        pairs = [(i["text"], free[i["file"]]) for i in items]
        results.append((name, config, free, phrase_hits, busy, pairs))
        print(f"{name}: CER {cer(pairs):.1%}, RTF {busy / sum(audio_s.values()):.2f}",
              flush=True)
    asr_rss = rss_mib()

    from knowledge_base import KnowledgeBase

    kb = KnowledgeBase.load(PROJECT_ROOT / "knowledge_base" / "data",
                            cache_dir=PROJECT_ROOT / "var" / "kb-cache")
    questions = [i for i in items if i["kind"] == "question"]
    print()
    print("| configuration | CER all | CER questions | menu phrases right | FAQ right "
          "(top 1) | RTF |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, _config, free, phrase_hits, busy, pairs in results:
        faq_hits = sum(bool(hits := kb.search(free[q["file"]], 1)) and hits[0].id == q["intent"]
                       for q in questions)
        q_pairs = [(q["text"], free[q["file"]]) for q in questions]
        n_phrases = len(items) - len(questions)
        print(f"| {name} | {cer(pairs):.1%} | {cer(q_pairs):.1%} | {phrase_hits}/{n_phrases} "
              f"| {faq_hits}/{len(questions)} | {busy / sum(audio_s.values()):.2f} |")
    print()
    print(f"peak RSS: {before:.0f} MiB before the model, {asr_rss:.0f} MiB after loading and "
          f"running it (+{asr_rss - before:.0f} MiB)")
    print()
    name, _, free, _, _, _ = results[0]
    print(f"transcripts ({name}):")
    for item in items:
        print(f"  {item['text']} -> {free[item['file']]}")


if __name__ == "__main__":
    main()
