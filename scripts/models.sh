#!/usr/bin/env bash
# `make models`: download the production Chinese Vosk model (vosk-model-small-cn-0.22) into
# var/models/ and check it against the pinned SHA-256 before unpacking. Fails fast with a clear
# message when the site cannot be reached (no hang: connect and total time limits).
# Then: HOTLINE_VOSK_MODEL_PATH=var/models/vosk-model-small-cn-0.22
set -euo pipefail

NAME=vosk-model-small-cn-0.22
URL="${VOSK_CN_URL:-https://alphacephei.com/vosk/models/$NAME.zip}"
DEST="${VOSK_MODELS_DIR:-var/models}"
# The archive's SHA-256, pinned in scripts/models.sha256 ("<sha256>  <file>") or given as
# VOSK_CN_SHA256; taken from a download verified out of band (alphacephei publishes none).
PINNED="${VOSK_CN_SHA256:-$(awk -v f="$NAME.zip" '$2 == f {print $1}' \
    "$(dirname "$0")/models.sha256" 2>/dev/null || true)}"

if [ -d "$DEST/$NAME/am" ]; then
    echo "models: $DEST/$NAME is already there"
    exit 0
fi
command -v curl >/dev/null || { echo "models: curl is not installed" >&2; exit 2; }
mkdir -p "$DEST"
partial="$DEST/$NAME.zip.partial"
if [ -f "$DEST/$NAME.zip" ]; then
    mv "$DEST/$NAME.zip" "$partial"   # fetched by hand: checked like a download
else
    echo "models: downloading $URL"
    if ! curl -fL --connect-timeout 10 --max-time 600 --retry 0 -o "$partial" "$URL"; then
        rm -f "$partial"
        echo "models: download of $URL failed (no network access to alphacephei.com?)." \
             "Fetch $NAME.zip elsewhere, put it in $DEST/ and run again." >&2
        exit 1
    fi
fi
actual="$(sha256sum "$partial" | cut -d' ' -f1)"
if [ -z "$PINNED" ]; then
    echo "models: $NAME.zip has SHA-256 $actual but none is pinned: verify it out of band," \
         "then put '$actual  $NAME.zip' in scripts/models.sha256 (or set VOSK_CN_SHA256)" >&2
    mv "$partial" "$DEST/$NAME.zip"
    exit 2
fi
if [ "$actual" != "$PINNED" ]; then
    rm -f "$partial"
    echo "models: checksum mismatch for $NAME.zip: got $actual, pinned $PINNED" >&2
    exit 1
fi
mv "$partial" "$DEST/$NAME.zip"
python3 -m zipfile -e "$DEST/$NAME.zip" "$DEST/"
echo "models: ready: HOTLINE_VOSK_MODEL_PATH=$DEST/$NAME"
