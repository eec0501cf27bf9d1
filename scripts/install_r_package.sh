#!/usr/bin/env bash
# Installs the R package CASSIA from this checkout, only when the installed copy differs from
# the source. Used by setup.sh and test.sh; safe to run by itself.
#
# Where: the first library in R's .libPaths() that is writable (the site library when run as
# root), else the per-user library R_LIBS_USER (created; R finds it without extra settings).
# How "differs" is decided: a SHA-256 over the files R CMD INSTALL reads (DESCRIPTION,
# NAMESPACE, R/, man/, inst/) is stored in the installed package as CASSIA_SOURCE_HASH.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

source_hash() {
  find DESCRIPTION NAMESPACE LICENSE R man inst -type f -print0 | LC_ALL=C sort -z |
    xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

want="$(source_hash)"
installed_dir="$(Rscript -e 'cat(system.file(package = "CASSIA"))' 2>/dev/null || true)"
if [[ -n "$installed_dir" && -f "$installed_dir/CASSIA_SOURCE_HASH" ]] &&
   [[ "$(cat "$installed_dir/CASSIA_SOURCE_HASH")" == "$want" ]]; then
  echo "[r-package] CASSIA is installed and current ($installed_dir)"
  exit 0
fi

lib="$(Rscript -e '
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
echo "[r-package] installed CASSIA $(Rscript -e 'cat(as.character(packageVersion("CASSIA")))') into $lib"
