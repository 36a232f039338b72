"""`make vosk-model` (scripts/models.sh): fails fast and clearly offline, checks the checksum
(pinned, or recorded on first fetch and checked on every fetch after)."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import zipfile
from pathlib import Path

from callcenter.settings import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "models.sh"


def run(env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **env}, check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_site_fails_with_a_clear_message(tmp_path: Path) -> None:
    result = run({"VOSK_CN_URL": f"http://127.0.0.1:{free_port()}/model.zip",
                  "VOSK_MODELS_DIR": str(tmp_path), "VOSK_CN_SHA256": "0" * 64})
    assert result.returncode == 1
    assert "download of" in result.stderr
    assert "failed" in result.stderr
    assert not list(tmp_path.iterdir())  # no partial file left behind


def test_archive_with_the_wrong_checksum_is_refused(tmp_path: Path) -> None:
    (tmp_path / "vosk-model-small-cn-0.22.zip").write_bytes(b"not the model")
    result = run({"VOSK_MODELS_DIR": str(tmp_path), "VOSK_CN_SHA256": "0" * 64})
    assert result.returncode == 1
    actual = hashlib.sha256(b"not the model").hexdigest()
    assert f"checksum mismatch for vosk-model-small-cn-0.22.zip: got {actual}" in result.stderr
    assert not (tmp_path / "vosk-model-small-cn-0.22").exists()


def model_zip(path: Path, marker: str) -> bytes:
    """A zip shaped like the Vosk model archive (its folder with am/ inside)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("vosk-model-small-cn-0.22/am/final.mdl", marker)
        archive.writestr("vosk-model-small-cn-0.22/conf/model.conf", "")
    return path.read_bytes()


def test_unpinned_archive_is_trusted_on_first_fetch_and_checked_after(tmp_path: Path) -> None:
    name = "vosk-model-small-cn-0.22"
    first = model_zip(tmp_path / f"{name}.zip", "first")
    result = run({"VOSK_MODELS_DIR": str(tmp_path), "VOSK_CN_SHA256": ""})
    assert result.returncode == 0, result.stderr
    digest = hashlib.sha256(first).hexdigest()
    assert f"SHA-256 {digest} recorded" in result.stderr
    pins = tmp_path / "models.sha256.local"
    assert pins.read_text() == f"{digest}  {name}.zip\n"
    assert (tmp_path / name / "am" / "final.mdl").read_text() == "first"
    assert "ready" in result.stdout

    # the model is there: nothing to do
    again = run({"VOSK_MODELS_DIR": str(tmp_path), "VOSK_CN_SHA256": ""})
    assert again.returncode == 0
    assert "already there" in again.stdout

    # fetched again (the folder lost): an archive with other bytes is refused by the record
    shutil.rmtree(tmp_path / name)
    other = model_zip(tmp_path / f"{name}.zip", "tampered")
    refused = run({"VOSK_MODELS_DIR": str(tmp_path), "VOSK_CN_SHA256": ""})
    assert refused.returncode == 1
    assert (f"checksum mismatch for {name}.zip: got {hashlib.sha256(other).hexdigest()}, "
            f"pinned {digest}") in refused.stderr
    assert not (tmp_path / name).exists()
    assert pins.read_text() == f"{digest}  {name}.zip\n"  # the record is not rewritten

    # the same bytes as the first time pass
    (tmp_path / f"{name}.zip").write_bytes(first)
    assert run({"VOSK_MODELS_DIR": str(tmp_path), "VOSK_CN_SHA256": ""}).returncode == 0
    assert (tmp_path / name / "am" / "final.mdl").read_text() == "first"
