#!/usr/bin/env bash
# `make vosk-model`: download the Chinese Vosk model (vosk-model-small-cn-0.22, for grammar
# nodes) into var/models/ and check its SHA-256 before unpacking. Fails fast with a clear
# message when the site cannot be reached (no hang: connect and total time limits).
# The hash: pinned in scripts/models.sha256 or VOSK_CN_SHA256 when known; otherwise trust on
# first use: the first archive's hash is recorded in $DEST/models.sha256.local and every later
# archive (a re-download, another machine given that file) must match it.
# Then: HOTLINE_VOSK_MODEL_PATH=var/models/vosk-model-small-cn-0.22
set -euo pipefail

NAME=vosk-model-small-cn-0.22
URL="${VOSK_CN_URL:-https://alphacephei.com/vosk/models/$NAME.zip}"
DEST="${VOSK_MODELS_DIR:-var/models}"
# The archive's SHA-256, pinned in scripts/models.sha256 ("<sha256>  <file>") or given as
# VOSK_CN_SHA256 (alphacephei publishes none), else the one recorded on first fetch.
LOCAL_PINS="$DEST/models.sha256.local"
PINNED="${VOSK_CN_SHA256:-$(awk -v f="$NAME.zip" '$2 == f {print $1}' \
    "$(dirname "$0")/models.sha256" 2>/dev/null || true)}"
if [ -z "$PINNED" ] && [ -f "$LOCAL_PINS" ]; then
    PINNED="$(awk -v f="$NAME.zip" '$2 == f {print $1}' "$LOCAL_PINS")"
fi

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
    echo "$actual  $NAME.zip" >> "$LOCAL_PINS"
    echo "models: first fetch of $NAME.zip: SHA-256 $actual recorded in $LOCAL_PINS" \
         "(trust on first use; later fetches must match it; pin it in scripts/models.sha256" \
         "once verified out of band)" >&2
    PINNED="$actual"
fi
if [ "$actual" != "$PINNED" ]; then
    rm -f "$partial"
    echo "models: checksum mismatch for $NAME.zip: got $actual, pinned $PINNED" >&2
    exit 1
fi
mv "$partial" "$DEST/$NAME.zip"
python3 -m zipfile -e "$DEST/$NAME.zip" "$DEST/"
echo "models: ready: HOTLINE_VOSK_MODEL_PATH=$DEST/$NAME"
