"""Intelligibility of each voice: what a caller's ear (Whisper base) makes of our prompts.

Every prompt of ivr/prompts/catalogue.yaml (the read-back fragments under say/, single
syllables, left out) and a sample of the knowledge base's answers are rendered in each voice
(``ivr.prompts.tts.synthesize``: the same text normalisation and 8 kHz output as in service),
passed through the telephone channel (G.711 µ-law, ``ivr.audio.telephone``), and transcribed by
the Whisper model the IVR listens with (``ivr.asr.whisper``; no domain prompt here, so that no
voice is helped by it). The character error rate against the text (``ivr.asr.metrics``) is
reported per voice, for prompts and answers apart.

    .venv/bin/python benchmarks/voice_bench.py                  # the named voices
    .venv/bin/python benchmarks/voice_bench.py --sweep          # espeak-ng settings, prompts only
    .venv/bin/python benchmarks/voice_bench.py --answers 0      # prompts only
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callcenter.settings import PROJECT_ROOT
from ivr.asr.metrics import char_errors
from ivr.asr.whisper import WhisperRecognizer
from ivr.audio import resample, telephone
from ivr.prompts import tts
from ivr.prompts.catalogue import FRAGMENT_PREFIX, load_catalogue
from knowledge_base.loader import data_files

SWEEP: dict[str, tts.Voice] = {
    "cmn-latn-pinyin s170 p50 (default)": tts.EspeakVoice("cmn-latn-pinyin", 170, 50),
    "cmn s170 p50": tts.EspeakVoice("cmn", 170, 50),
    "cmn-latn-pinyin s130 p50": tts.EspeakVoice("cmn-latn-pinyin", 130, 50),
    "cmn-latn-pinyin s130 p35": tts.EspeakVoice("cmn-latn-pinyin", 130, 35),
    "cmn-latn-pinyin s130 p70": tts.EspeakVoice("cmn-latn-pinyin", 130, 70),
    "cmn-latn-pinyin s130 p50 g5": tts.EspeakVoice("cmn-latn-pinyin", 130, 50, 5),
}


def read_pcm(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0, rate


def measure(name: str, voice: tts.Voice, texts: dict[str, list[str]],
            asr: WhisperRecognizer, show: int) -> dict[str, tuple[float, int, float, float]]:
    """kind -> (CER, items, seconds of audio, render seconds) for ``voice``."""
    tts.VOICES["_bench"] = voice
    results: dict[str, tuple[float, int, float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, items in texts.items():
            edits = chars = 0
            audio_s = render_s = 0.0
            for n, text in enumerate(items):
                path = Path(tmp) / f"{kind}{n}.wav"
                started = time.perf_counter()
                tts.synthesize(text, path, voice="_bench")
                render_s += time.perf_counter() - started
                samples, rate = read_pcm(path)
                audio_s += samples.size / rate
                line = telephone(samples, rate).astype(np.float32) / 32768.0
                path.unlink()
                heard, _ = asr.transcribe(resample(line, 8000, 16000), prompt="",
                                          max_new_tokens=min(440, 2 * len(text) + 16))
                e, c = char_errors(text, heard)
                edits += e
                chars += c
                if n < show:
                    print(f"  [{name}] {text[:40]} -> {heard[:40]}", flush=True)
            results[kind] = (edits / max(1, chars), len(items), audio_s, render_s)
    del tts.VOICES["_bench"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voices", default=",".join(v for v in tts.VOICES),
                        help="named voices (ivr/prompts/tts.py VOICES)")
    parser.add_argument("--sweep", action="store_true",
                        help="espeak-ng settings instead of the named voices")
    parser.add_argument("--answers", type=int, default=20,
                        help="FAQ answers in the sample (every k-th of the knowledge base)")
    parser.add_argument("--show", type=int, default=2, help="transcripts shown per kind")
    parser.add_argument("--prompt-step", type=int, default=1,
                        help="every k-th prompt only (a quicker sweep)")
    args = parser.parse_args()

    prompts = [text for pid, text in load_catalogue().items()
               if not pid.startswith(FRAGMENT_PREFIX)][:: args.prompt_step]
    answers_all = [str(entry["answer"])
                   for path in data_files(PROJECT_ROOT / "knowledge_base" / "data")
                   for entry in yaml.safe_load(path.read_text(encoding="utf-8"))]
    step = max(1, len(answers_all) // args.answers) if args.answers else 0
    answers = answers_all[::step][: args.answers] if args.answers else []
    texts = {"prompts": prompts} if args.sweep or not answers else {"prompts": prompts,
                                                                   "answers": answers}
    voices: dict[str, tts.Voice] = (
        dict(SWEEP) if args.sweep
        else {name: tts.get_voice(name) for name in args.voices.split(",")})
    asr = WhisperRecognizer(PROJECT_ROOT / "var" / "models" / "whisper-base")
    print(f"{len(prompts)} prompts, {len(answers)} of {len(answers_all)} FAQ answers; "
          f"Whisper base, greedy/beam {asr.beam_size}, no prompt; 8 kHz G.711 u-law", flush=True)
    rows = []
    for name, voice in voices.items():
        started = time.perf_counter()
        results = measure(name, voice, texts, asr, args.show)
        rows.append((name, voice.key, results, time.perf_counter() - started))
        cells = ", ".join(f"{kind} CER {r[0]:.1%} ({r[1]})" for kind, r in results.items())
        print(f"{name}: {cells}", flush=True)
    print()
    kinds = list(texts)
    print("| voice | " + " | ".join(f"CER {k}" for k in kinds)
          + " | audio s | render s (RTF) | bench s |")
    print("| --- | " + " | ".join("---:" for _ in kinds) + " | ---: | ---: | ---: |")
    for name, key, results, wall in rows:
        audio = sum(r[2] for r in results.values())
        render = sum(r[3] for r in results.values())
        shown = key.replace("|", "/")  # a table cell
        print(f"| {name} (`{shown}`) | "
              + " | ".join(f"{results[k][0]:.1%}" for k in kinds)
              + f" | {audio:.0f} | {render:.1f} ({render / max(audio, 1e-9):.2f}) | {wall:.0f} |")


if __name__ == "__main__":
    main()
