#!/usr/bin/env bash
# The proxy with bash + curl: discovery, HeyGen list-avatars / list-voices,
# generate-video (test: true), polling video-status until completed, and
# ElevenLabs TTS saved to speech.mp3.
#
#   AIPROXY_URL=http://127.0.0.1:8080 AIPROXY_ORG=... AIPROXY_KEY=... bash examples/curl.sh
#
# Optional: OUT (default speech.mp3), POLL_INTERVAL_MS (default 1000),
# POLL_MAX_ATTEMPTS (default 60). jq is used when installed, else node.
set -euo pipefail

die() { echo "FAILED: $*" >&2; exit 1; }

: "${AIPROXY_URL:?set AIPROXY_URL (e.g. http://127.0.0.1:8080): start the demo with 'go run ./cmd/aiproxy demo' and copy its AIPROXY_* lines}"
: "${AIPROXY_ORG:?set AIPROXY_ORG (the org slug printed by the demo)}"
: "${AIPROXY_KEY:?set AIPROXY_KEY (the API key printed by the demo)}"
command -v curl >/dev/null || die "curl is not installed"

BASE="${AIPROXY_URL%/}"
API="$BASE/api/ai-proxy/orgs/$AIPROXY_ORG"
OUT="${OUT:-speech.mp3}"
POLL_INTERVAL_MS="${POLL_INTERVAL_MS:-1000}"
POLL_MAX_ATTEMPTS="${POLL_MAX_ATTEMPTS:-60}"
SLEEP="$(awk -v ms="$POLL_INTERVAL_MS" 'BEGIN { printf "%.3f", ms / 1000 }')"

# curl -fsS makes any HTTP error fail the script; with --fail-with-body
# (curl >= 7.76) the proxy's {"detail"|"error": ...} is shown too.
if curl --help all 2>/dev/null | grep -q -- '--fail-with-body'; then
  CURL=(curl --fail-with-body -sS --max-time 120)
else
  CURL=(curl -fsS --max-time 120)
fi
AUTH=(-H "Authorization: Api-Key $AIPROXY_KEY")

# fetch_to FILE CURL-ARGS...: run curl into FILE; on failure show the
# server's answer (the proxy's {"detail"|"error": ...}) and fail.
fetch_to() {
  local file="$1"; shift
  if ! "${CURL[@]}" -o "$file" "$@"; then
    [ -s "$file" ] && echo "server answered: $(head -c 2000 "$file")" >&2
    return 1
  fi
}

tmp_body="$(mktemp)"; tmp_video="$(mktemp)"
trap 'rm -f "$tmp_body" "$tmp_video"' EXIT

# get PATH: a discovery GET, the JSON on stdout.
get() { fetch_to "$tmp_body" "${AUTH[@]}" "$API$1" || die "GET $API$1"; cat "$tmp_body"; }

# invoke SERVICE ACTION ENVELOPE-JSON: POST the envelope, the JSON answer on stdout.
invoke() {
  fetch_to "$tmp_body" "${AUTH[@]}" -H 'Content-Type: application/json' \
    -X POST --data-binary "$3" "$API/services/$1/$2/" || die "POST $1/$2"
  cat "$tmp_body"
}

# jget FILTER: read JSON on stdin, print the value at a simple path such as
# .data.avatars[0].avatar_id (raw strings; empty when absent).
if command -v jq >/dev/null; then
  jget() { jq -r "$1 // empty"; }
else
  command -v node >/dev/null || die "need jq or node to read JSON"
  jget() {
    node -e '
      let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
        let v = JSON.parse(s);
        for (const m of process.argv[1].matchAll(/\.([A-Za-z_][\w-]*)|\[(\d+)\]/g)) v = v == null ? v : v[m[1] ?? Number(m[2])];
        if (v != null) console.log(typeof v === "object" ? JSON.stringify(v) : v);
      });' "$1"
  }
fi
# jcount FILTER: length of the array at a path.
jcount() { if command -v jq >/dev/null; then jq -r "$1 | length"; else jget "$1" | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>console.log(s.trim()?JSON.parse(s).length:0))'; fi; }

echo "== 1. discovery: GET $API/services/"
services="$(get /services/)"
printf '%s\n' "${services:0:600}"
[ "$(echo "$services" | jcount '.')" -gt 0 ] || die "no services enabled for org $AIPROXY_ORG"
heygen="$(get /services/heygen/)"
echo "heygen endpoints: $(echo "$heygen" | jcount '.endpoints')"

echo "== 2. heygen list-avatars, list-voices"
avatars="$(invoke heygen list-avatars '{}')"
avatar_id="$(echo "$avatars" | jget '.data.avatars[0].avatar_id')"
[ -n "$avatar_id" ] || die "list-avatars returned no avatar: $avatars"
echo "$(echo "$avatars" | jcount '.data.avatars') avatar(s); using $avatar_id"
voices="$(invoke heygen list-voices '{}')"
voice_id="$(echo "$voices" | jget '.data.voices[0].voice_id')"
[ -n "$voice_id" ] || die "list-voices returned no voice: $voices"
echo "$(echo "$voices" | jcount '.data.voices') voice(s); using $voice_id"

echo "== 3. heygen generate-video (test: true)"
gen="$(invoke heygen generate-video "$(cat <<JSON
{"body": {"test": true,
  "video_inputs": [{"character": {"type": "avatar", "avatar_id": "$avatar_id", "avatar_style": "normal"},
                    "voice": {"type": "text", "input_text": "Hello from curl.", "voice_id": "$voice_id"}}],
  "dimension": {"width": 1280, "height": 720}}}
JSON
)")"
video_id="$(echo "$gen" | jget '.data.video_id')"
[ -n "$video_id" ] || die "generate-video returned no data.video_id: $gen"
echo "video_id: $video_id"

echo "== 4. poll video-status every ${POLL_INTERVAL_MS} ms"
video_url=""
for ((i = 1; i <= POLL_MAX_ATTEMPTS; i++)); do
  st="$(invoke heygen video-status "{\"query\": {\"video_id\": \"$video_id\"}}")"
  status="$(echo "$st" | jget '.data.status')"
  echo "check $i/$POLL_MAX_ATTEMPTS: $status"
  case "$status" in
    completed) video_url="$(echo "$st" | jget '.data.video_url')"; break ;;
    failed) die "video failed: $(echo "$st" | jget '.data.error')" ;;
  esac
  sleep "$SLEEP"
done
[ -n "$video_url" ] || die "video not completed after $POLL_MAX_ATTEMPTS checks"
echo "video_url: $video_url"
video_file="$tmp_video"
fetch_to "$video_file" "$video_url" || die "download $video_url"
[ "$(head -c 8 "$video_file" | tail -c 4)" = "ftyp" ] || die "the video is not an MP4 (no ftyp box)"
echo "video: $(wc -c <"$video_file" | tr -d ' ') bytes, MP4 ftyp OK"

echo "== 5. elevenlabs list-voices, tts -> $OUT"
el_voices="$(invoke elevenlabs list-voices '{}')"
el_voice="$(echo "$el_voices" | jget '.voices[0].voice_id')"
[ -n "$el_voice" ] || die "elevenlabs list-voices returned no voice: $el_voices"
echo "using voice $el_voice"
ctype="$(fetch_to "$OUT" "${AUTH[@]}" -H 'Content-Type: application/json' -X POST -w '%{content_type}' \
  --data-binary "{\"path_params\": {\"voice_id\": \"$el_voice\"}, \"body\": {\"text\": \"Hello from curl.\", \"model_id\": \"eleven_multilingual_v2\"}}" \
  "$API/services/elevenlabs/tts/")" || die "POST elevenlabs/tts"
case "$ctype" in audio/mpeg*) ;; *) die "tts answered '$ctype', not audio/mpeg" ;; esac
magic="$(head -c 3 "$OUT" | od -An -tx1 | tr -d ' \n')"
case "$magic" in 494433* | ff[e-f]*) ;; *) die "$OUT does not start like an MP3 (first bytes $magic)" ;; esac
echo "saved $(wc -c <"$OUT" | tr -d ' ') bytes of $ctype to $OUT (first bytes $magic: MP3 OK)"

echo
echo "OK: curl examples completed"
