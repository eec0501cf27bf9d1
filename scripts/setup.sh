#!/usr/bin/env bash
# Sets CASSIA up on a Debian 12 machine with Python >= 3.10, then runs the main job on the
# bundled example. Safe to re-run: every step is skipped when what it makes is already there.
#
#   1. System packages (R, Seurat, reticulate, testthat, rmarkdown, pandoc, ...) from Debian,
#      installed with apt-get (through sudo when not root) only when dpkg says they are missing.
#   2. The project virtualenv .venv/ with the engine installed editable with its extras
#      (pip runs only when pyproject.toml or the Python version changed since the last run).
#   3. The R package CASSIA, installed only when the installed copy differs from the source
#      (see scripts/install_r_package.sh for where it goes).
#   4. The pipeline on inst/extdata/pbmc_small_markers.csv into runs/example (offline
#      annotator when no API key is set), and where its report is.
#
# Environment: CASSIA_SETUP_PYTHON=/path/to/python3 chooses the interpreter for .venv (default: python3.11,
# else python3 on PATH). CASSIA_SKIP_EXAMPLE=1 skips step 4.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
START=$SECONDS
log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- Python to build .venv with
PYTHON="${CASSIA_SETUP_PYTHON:-$(command -v python3.11 || command -v python3 || true)}"
[[ -n "$PYTHON" ]] || die "no python3 found; install Python 3.10 or newer (Debian: apt-get install python3)"
PY_VERSION="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
  die "$PYTHON is Python $PY_VERSION; CASSIA needs 3.10 or newer (set CASSIA_SETUP_PYTHON=/path/to/python3.11)"

# ---------------------------------------------------------------- 1. system packages
APT_PACKAGES=(
  r-base-core r-base-dev r-cran-reticulate r-cran-seurat r-cran-seuratobject r-cran-testthat
  r-cran-rmarkdown r-cran-knitr r-cran-jsonlite r-cran-processx r-bioc-limma pandoc qpdf
)
# Debian's own Python needs its venv module, headers (rpy2 builds against them) and the shared
# libpython that reticulate embeds; other interpreters (pyenv, python.org) ship all three.
if [[ "$(readlink -f "$PYTHON")" == /usr/bin/* ]]; then
  APT_PACKAGES+=("python${PY_VERSION}-venv" "python${PY_VERSION}-dev" "libpython${PY_VERSION}")
fi
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
    SUDO="sudo"
  fi
  log "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "system packages present"
fi

# ---------------------------------------------------------------- 2. virtualenv and engine
VENV="$ROOT/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV with $PYTHON (Python $PY_VERSION)"
  "$PYTHON" -m venv "$VENV"
fi
# pip is a no-op when neither the dependencies nor the interpreter changed: compare a stamp.
STAMP="$VENV/.cassia-setup-stamp"
want_stamp="$(cat pyproject.toml <("$VENV/bin/python" -VV) | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want_stamp" && -x "$VENV/bin/cassia" ]] &&
   "$VENV/bin/python" -c 'import cassia, rpy2' 2>/dev/null; then
  log "engine installed in .venv (pyproject.toml unchanged)"
else
  # The engine's distribution is cassia-annotate. A distribution called "cassia" (an older
  # checkout's name for it, or PyPI's unrelated CASSIA) would claim the same import name: remove it.
  if "$VENV/bin/python" -m pip show --disable-pip-version-check cassia >/dev/null 2>&1; then
    log "removing the distribution 'cassia' from .venv (this engine is 'cassia-annotate')"
    "$VENV/bin/python" -m pip uninstall --disable-pip-version-check -y cassia >/dev/null
  fi
  log "installing the engine into .venv: pip install -e '.[test,seurat,scanpy]'"
  pip_log="$(mktemp -t cassia-pip.XXXXXX)"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -e ".[test,seurat,scanpy]" >"$pip_log" 2>&1 || {
    tail -n 40 "$pip_log" >&2
    die "pip install failed (full log: $pip_log)"
  }
  rm -f "$pip_log"
  echo "$want_stamp" >"$STAMP"
fi

# ---------------------------------------------------------------- 3. R package
bash "$ROOT/scripts/install_r_package.sh"

# ---------------------------------------------------------------- 4. the main job on the example
if [[ "${CASSIA_SKIP_EXAMPLE:-0}" != 1 ]]; then
  OUT="runs/example"
  resume=()
  [[ -f "$OUT/results.jsonl" ]] && resume=(--resume)
  log "running the pipeline on the bundled example (inst/extdata/pbmc_small_markers.csv)"
  "$VENV/bin/cassia" pipeline --input inst/extdata/pbmc_small_markers.csv --tissue "peripheral blood" \
    --species human --out "$OUT" "${resume[@]}"
  [[ -f "$OUT/report.html" ]] || die "the example run finished without $OUT/report.html"
  log "summary: $ROOT/$OUT/summary.csv"
  log "report:  $ROOT/$OUT/report.html"
fi
log "done in $((SECONDS - START)) s"
