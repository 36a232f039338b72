"""`make models` (scripts/models.sh): fails fast and clearly offline, checks the checksum."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
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


def test_unpinned_archive_is_not_unpacked(tmp_path: Path) -> None:
    (tmp_path / "vosk-model-small-cn-0.22.zip").write_bytes(b"x")
    result = run({"VOSK_MODELS_DIR": str(tmp_path), "VOSK_CN_SHA256": ""})
    assert result.returncode == 2
    assert "none is pinned" in result.stderr
    assert not (tmp_path / "vosk-model-small-cn-0.22").exists()
