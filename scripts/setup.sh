#!/usr/bin/env bash
# Idempotent, non-interactive set-up of a fresh Debian (bookworm) machine for
# voicecast development, tests and CI:
#   - Debian packages: ffmpeg, rubberband-cli, espeak-ng, sox (audio tools) and
#     redis-server, postgresql (real servers for the integration tests) and
#     asterisk-core-sounds-{en,fr,it,ru,es}-g722 (real speakers, 16 kHz, for the
#     voice-cloning evaluation bench/eval_clone.py and its test), with the English
#     prompts' transcripts (asterisk-core-sounds-en: the --timeline asr test); chromium and
#     chromium-driver (a real headless browser for the web page's test);
#   - .venv with the project installed editable with its dev extras.
# Re-runs are fast: apt is skipped when every package is installed, pip when
# pyproject.toml has not changed since the last successful install.
#
# Environment knobs:
#   PYTHON=python3.11        interpreter used to create .venv (default python3)
#   VOICECAST_SKIP_APT=1     do not touch system packages
#   VOICECAST_FORCE_PIP=1    reinstall Python packages even if nothing changed
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
TORCH_VERSION="2.13.0"

log() { printf '[setup] %s\n' "$*" >&2; }

# --------------------------------------------------------------------- apt
APT_PACKAGES=(ffmpeg rubberband-cli espeak-ng sox redis-server postgresql
    asterisk-core-sounds-en-g722 asterisk-core-sounds-fr-g722 asterisk-core-sounds-it-g722
    asterisk-core-sounds-ru-g722 asterisk-core-sounds-es-g722
    asterisk-core-sounds-en  # the English prompts' transcripts (the --timeline asr bench and test)
    g++  # pyworld (whispered emotion) builds from source
    chromium chromium-driver)  # the web page's test (tests/e2e/test_web_page.py) runs a real headless browser

apt_missing() {
    local pkg status
    for pkg in "$@"; do
        status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
        [[ "$status" == "install ok installed" ]] || printf '%s\n' "$pkg"
    done
}

apt_install() {
    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo -n)
        else
            log "not root and no sudo: install these Debian packages yourself: $*"
            return 1
        fi
    fi
    log "apt-get install $*"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    # Keep the output of a failing install visible; hide the happy-path chatter.
    local out
    if ! out="$("${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" 2>&1)"; then
        printf '%s\n' "$out" >&2
        return 1
    fi
}

if [[ "${VOICECAST_SKIP_APT:-0}" != "1" ]]; then
    if ! command -v dpkg-query >/dev/null 2>&1; then
        log "no dpkg: not a Debian system; install ${APT_PACKAGES[*]} by other means"
    else
        mapfile -t missing < <(apt_missing "${APT_PACKAGES[@]}")
        # tests/servers.py validates docker-compose.yml with `docker compose config`;
        # where the docker client has no compose plugin, Debian's docker-compose (v1,
        # client only, no engine with --no-install-recommends) does the same check.
        if command -v docker >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1 \
            && ! command -v docker-compose >/dev/null 2>&1; then
            missing+=(docker-compose)
        fi
        if ((${#missing[@]})); then
            apt_install "${missing[@]}"
        fi
        # Debian's postgresql package starts a system cluster on 5432 through its
        # init scripts when a service manager is there; the tests never use it (they
        # run their own cluster on a free port), so leaving it be is harmless.
        if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
            log "postgresql installed but no /usr/lib/postgresql/*/bin/initdb found"
            exit 1
        fi
    fi
fi

# --------------------------------------------------------------------- venv
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    log "$PYTHON is missing or older than 3.11; set PYTHON=/path/to/python3.11"
    exit 1
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV"
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
        # Debian's system python ships venv/ensurepip separately.
        rm -rf "$VENV"
        apt_install python3-venv
        "$PYTHON" -m venv "$VENV"
    fi
fi

PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
STAMP="$VENV/.voicecast-setup"
# What decides whether the install is current: the dependencies and this script.
WANT="$(cat pyproject.toml "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"

pip_quiet() {
    local out
    if ! out="$("${PIP[@]}" install -q "$@" 2>&1)"; then
        printf '%s\n' "$out" >&2
        log "pip install $* failed"
        return 1
    fi
}

if [[ "${VOICECAST_FORCE_PIP:-0}" == "1" || ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]] \
    || ! "$VENV/bin/python" -c 'from importlib.metadata import version as v; v("voicecast"); v("torch")' \
        >/dev/null 2>&1; then
    log "installing Python packages into $VENV"
    # resemblyzer/webrtcvad and pyworld import pkg_resources: setuptools<81.
    pip_quiet "setuptools<81" wheel
    # torch first and pinned: resemblyzer asks for plain `torch`, which would
    # otherwise pull the newest build with GBs of CUDA packages. On these
    # machines this version resolves to a local CPU wheel.
    if ! "$VENV/bin/python" -c "from importlib.metadata import version; import sys
sys.exit(not version('torch').startswith('$TORCH_VERSION'))" >/dev/null 2>&1; then
        pip_quiet "torch==$TORCH_VERSION"
    fi
    pip_quiet -e ".[dev]"
    printf '%s\n' "$WANT" >"$STAMP"
else
    log "Python packages up to date"
fi

log "done: $("$VENV/bin/python" --version), torch $("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("torch"))')"
