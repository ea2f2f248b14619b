# Shared helpers for xcompat's scripts. Sourced, never run.
set -euo pipefail
XCOMPAT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
XCOMPAT_STATE="${XCOMPAT_STATE:-$XCOMPAT_ROOT/.xcompat}"
XCOMPAT_VENV="$XCOMPAT_ROOT/.venv"
XCOMPAT_BUILD="${XCOMPAT_BUILD:-$XCOMPAT_ROOT/build}"
export XCOMPAT_ROOT XCOMPAT_STATE

CURRENT_STEP="(start)"
STEP_STARTED=$SECONDS
# Each step prints its name, and the previous step's duration.
step() {
  if [[ "$CURRENT_STEP" != "(start)" ]]; then info "($CURRENT_STEP: $((SECONDS - STEP_STARTED)) s)"; fi
  CURRENT_STEP="$1"; STEP_STARTED=$SECONDS
  printf '\033[1m==> %s\033[0m\n' "$1" >&2
}
end_steps() { info "($CURRENT_STEP: $((SECONDS - STEP_STARTED)) s)"; CURRENT_STEP="(start)"; }
info() { printf '    %s\n' "$*" >&2; }
on_error() { printf '\033[31mxcompat: step failed: %s (exit %s)\033[0m\n' "$CURRENT_STEP" "$1" >&2; }
trap 'on_error $?' ERR
