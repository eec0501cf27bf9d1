#!/usr/bin/env bash
# Installs the R package CASSIA from this checkout, only when the installed copy differs from
# the source. Used by setup.sh and test.sh; safe to run by itself.
#
# Where: the first library in R's .libPaths() that is writable (the site library when run as
# root), else the per-user library R_LIBS_USER (created; R finds it without extra settings).
# CASSIA_R_LIBRARY=/path installs into that library instead (e.g. a private one for development);
# CASSIA_ENGINE_PYTHON=/path/to/python records another engine interpreter than .venv's.
# How "differs" is decided: a SHA-256 over the files R CMD INSTALL reads (DESCRIPTION,
# NAMESPACE, R/, man/, inst/) is stored in the installed package as CASSIA_SOURCE_HASH.
# Where the engine is: the installed package gets engine.dcf naming this checkout's .venv Python
# and this checkout as the engine's source, so library(CASSIA) finds the engine from any folder
# and cassia_install_engine() installs this engine (never the unrelated PyPI "cassia").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

source_hash() {
  find DESCRIPTION NAMESPACE LICENSE R man inst -type f -print0 | LC_ALL=C sort -z |
    xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

record_engine() {  # record_engine PACKAGE_DIR
  printf "Python: %s\nSource: %s\n" "${CASSIA_ENGINE_PYTHON:-$ROOT/.venv/bin/python}" "$ROOT" >"$1/engine.dcf"
}

want="$(source_hash)"
if [[ -n "${CASSIA_R_LIBRARY:-}" ]]; then
  mkdir -p "$CASSIA_R_LIBRARY"
  lib="$(cd "$CASSIA_R_LIBRARY" && pwd)"
  installed_dir=""
  [[ -d "$lib/CASSIA" ]] && installed_dir="$lib/CASSIA"
else
  installed_dir="$(Rscript -e 'cat(system.file(package = "CASSIA"))' 2>/dev/null || true)"
  lib=""
fi
if [[ -n "$installed_dir" && -f "$installed_dir/CASSIA_SOURCE_HASH" ]] &&
   [[ "$(cat "$installed_dir/CASSIA_SOURCE_HASH")" == "$want" ]]; then
  record_engine "$installed_dir"
  echo "[r-package] CASSIA is installed and current ($installed_dir)"
  exit 0
fi

[[ -n "$lib" ]] || lib="$(Rscript -e '
  writable <- Filter(function(p) file.access(p, 2) == 0, .libPaths())
  if (length(writable)) cat(writable[[1]]) else {
    user <- Sys.getenv("R_LIBS_USER"); dir.create(user, recursive = TRUE, showWarnings = FALSE); cat(user)
  }')"
echo "[r-package] installing CASSIA into $lib"
log="$(mktemp -t cassia-r-install.XXXXXX)"
R CMD INSTALL --no-multiarch --library="$lib" . >"$log" 2>&1 || {
  tail -n 40 "$log" >&2
  echo "[r-package] R CMD INSTALL failed (log above)" >&2
  exit 1
}
rm -f "$log"
echo "$want" >"$lib/CASSIA/CASSIA_SOURCE_HASH"
record_engine "$lib/CASSIA"
echo "[r-package] installed CASSIA $(R_LIBS="$lib" Rscript -e 'cat(as.character(packageVersion("CASSIA")))') into $lib"
