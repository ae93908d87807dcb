// The demo the tests run against: AIPROXY_URL, AIPROXY_ORG, AIPROXY_KEY (the lines
// `aiproxy demo` prints). Without them the tests that need a gateway are skipped.
import { AiproxyClient } from '../src/index.js';

const missing = ['AIPROXY_URL', 'AIPROXY_ORG', 'AIPROXY_KEY'].filter((n) => !process.env[n]);

/** A skip reason for node:test, or false when a gateway is configured. */
export const skip = missing.length
  ? `needs a running gateway: set ${missing.join(', ')} (start one with: go run ./cmd/aiproxy demo, then paste the AIPROXY_* lines it prints)`
  : false;

if (skip) console.log(`# SKIP: @aiproxy/client tests against a gateway: ${skip}`);

/** A client of the configured org with its key. */
export function client(extra = {}) {
  return new AiproxyClient({
    baseUrl: process.env.AIPROXY_URL,
    org: process.env.AIPROXY_ORG,
    apiKey: process.env.AIPROXY_KEY,
    ...extra,
  });
}

/** True when the bytes start like an MP3: "ID3" or an MPEG frame sync. */
export function looksLikeMp3(bytes) {
  if (bytes.length >= 3 && bytes[0] === 0x49 && bytes[1] === 0x44 && bytes[2] === 0x33) return true;
  return bytes.length >= 2 && bytes[0] === 0xff && (bytes[1] & 0xe0) === 0xe0;
}

/** The first voice of the org's ElevenLabs account. */
export async function firstVoiceId(c) {
  const { voices } = await c.invoke('elevenlabs', 'list-voices');
  return voices[0].voice_id;
}
