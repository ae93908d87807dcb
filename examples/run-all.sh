#!/usr/bin/env bash
# Run every example against the configured proxy, one after another; exit
# non-zero if any fails (all are run, then the failures are listed).
#
#   export AIPROXY_URL=http://127.0.0.1:8080 AIPROXY_ORG=... AIPROXY_KEY=...
#   bash examples/run-all.sh
#
# With AIPROXY_OPERATOR_KEY (an operator key; the demo prints one) it also runs
# shared-account.mjs, which makes orgs of its own; without it, that example is skipped.
# webhook-receiver.mjs needs AIPROXY_KEY to be an admin key (the demo's is) and a gateway
# that accepts http://127.0.0.1 webhook URLs (--webhook-allow-private, on in the demo).
#
# Optional: POLL_INTERVAL_MS (default 1000, passed to the examples),
# EXAMPLE_TIMEOUT (seconds per example, default 600), NODE (default node).
# Output files (speech.mp3 ...) go to a temporary directory that is removed.
set -euo pipefail

: "${AIPROXY_URL:?set AIPROXY_URL (e.g. http://127.0.0.1:8080)}"
: "${AIPROXY_ORG:?set AIPROXY_ORG}"
: "${AIPROXY_KEY:?set AIPROXY_KEY}"
export AIPROXY_URL AIPROXY_ORG AIPROXY_KEY
AIPROXY_OPERATOR_KEY="${AIPROXY_OPERATOR_KEY:-}"
export POLL_INTERVAL_MS="${POLL_INTERVAL_MS:-1000}"
EXAMPLE_TIMEOUT="${EXAMPLE_TIMEOUT:-600}"
NODE="${NODE:-node}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

command -v "$NODE" >/dev/null || { echo "FAILED: $NODE not found (Node 20+ is needed)" >&2; exit 1; }
major="$("$NODE" -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] || { echo "FAILED: Node 20+ is needed, found $("$NODE" --version)" >&2; exit 1; }

TIMEOUT=()
if command -v timeout >/dev/null; then TIMEOUT=(timeout "$EXAMPLE_TIMEOUT"); fi

failed=()
run() {
  local name="$1"; shift
  echo
  echo "################ $name"
  local start=$SECONDS rc=0
  (cd "$work" && "${TIMEOUT[@]}" "$@") || rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "---------------- PASS $name ($((SECONDS - start)) s)"
  else
    [ "$rc" -eq 124 ] && echo "(timed out after ${EXAMPLE_TIMEOUT} s)" >&2
    echo "---------------- FAIL $name (exit $rc, $((SECONDS - start)) s)"
    failed+=("$name")
  fi
}

echo "Examples against $AIPROXY_URL (org $AIPROXY_ORG), POLL_INTERVAL_MS=$POLL_INTERVAL_MS"
run heygen-workflow "$NODE" "$here/heygen-workflow.mjs"
run heygen-v3-workflow "$NODE" "$here/heygen-v3-workflow.mjs"
run heygen-wait     "$NODE" "$here/heygen-wait.mjs"
run webhook-receiver "$NODE" "$here/webhook-receiver.mjs"
run heygen-template "$NODE" "$here/heygen-template.mjs"
run elevenlabs-tts  "$NODE" "$here/elevenlabs-tts.mjs" "$work/speech.mp3"
run dynamic-client  "$NODE" "$here/dynamic-client.mjs"
run curl.sh         env OUT="$work/speech-curl.mp3" bash "$here/curl.sh"
if [ -n "$AIPROXY_OPERATOR_KEY" ]; then
  run shared-account env AIPROXY_OPERATOR_KEY="$AIPROXY_OPERATOR_KEY" "$NODE" "$here/shared-account.mjs"
else
  echo
  echo "################ shared-account"
  echo "---------------- SKIP shared-account (set AIPROXY_OPERATOR_KEY, an operator key, to run it)"
fi

echo
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${#failed[@]} example(s): ${failed[*]}" >&2
  exit 1
fi
echo "OK: all examples passed"
