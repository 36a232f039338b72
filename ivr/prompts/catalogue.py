"""The prompt catalogue and its renderer (``hotline prompts render``).

Rendering is incremental: ``sounds/zh/manifest.json`` keeps a hash of each prompt's spoken text
(``spoken.speakable``) and voice; only prompts whose hash changed (or whose file is missing) are
synthesized again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from ivr.prompts.tts import DEFAULT_VOICE, fingerprint, silence, synthesize, tone

CATALOGUE = Path(__file__).with_name("catalogue.yaml")
# our ids, or Asterisk's own names of the sounds app_queue plays (queue-youarenext...)
PROMPT_ID = re.compile(r"^(?:[a-z0-9][a-z0-9_]*(/[a-z0-9_]+)*|queue(-[a-z]+)+[0-9]?)$")
SILENCE_ID = "silence_1s"
BEEP_ID = "beep"
FRAGMENT_PREFIX = "say/"  # read-back fragments: rendered without surrounding silence
# also played in a row by Asterisk itself: its SayNumber's digits and the queue announcements
TRIMMED_PREFIXES = (FRAGMENT_PREFIX, "digits/", "queue-")


class CatalogueError(ValueError):
    pass


def load_catalogue(path: Path = CATALOGUE) -> dict[str, str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise CatalogueError(f"{path}: expected a mapping of prompt id to text")
    prompts: dict[str, str] = {}
    for key, text in data.items():
        if not isinstance(key, str) or not PROMPT_ID.match(key):
            raise CatalogueError(f"{path}: prompt id {key!r} must match {PROMPT_ID.pattern}")
        if not isinstance(text, str) or not text.strip():
            raise CatalogueError(f"{path}: prompt {key!r} has no text")
        prompts[key] = text.strip()
    return prompts


def _fingerprint(text: str, voice: str = DEFAULT_VOICE) -> str:
    return fingerprint(text, voice)[:16]


@dataclass(frozen=True)
class RenderReport:
    rendered: list[str]
    unchanged: list[str]
    removed: list[str]


def render(prompts: Mapping[str, str], out_dir: Path, force: bool = False,
           voice: str = DEFAULT_VOICE) -> RenderReport:
    """Render the prompts into ``out_dir`` in ``voice`` (only what changed: the text or the
    voice)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "manifest.json"
    manifest: dict[str, str] = {}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
    rendered, unchanged = [], []
    for prompt_id, text in prompts.items():
        target = out_dir / f"{prompt_id}.wav"
        fingerprint = _fingerprint(text, voice)
        if not force and manifest.get(prompt_id) == fingerprint and target.exists():
            unchanged.append(prompt_id)
            continue
        synthesize(text, target, trim=prompt_id.startswith(TRIMMED_PREFIXES), voice=voice)
        manifest[prompt_id] = fingerprint
        rendered.append(prompt_id)
    silence_file = out_dir / f"{SILENCE_ID}.wav"
    if not silence_file.exists():
        silence(silence_file, 1000)
    beep_file = out_dir / f"{BEEP_ID}.wav"
    if not beep_file.exists():
        tone(beep_file)
    removed = [pid for pid in manifest if pid not in prompts]
    for prompt_id in removed:
        (out_dir / f"{prompt_id}.wav").unlink(missing_ok=True)
        del manifest[prompt_id]
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True)
                             + "\n")
    return RenderReport(rendered, unchanged, removed)
