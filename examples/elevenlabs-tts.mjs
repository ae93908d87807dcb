#!/usr/bin/env node
// ElevenLabs text-to-speech through the proxy:
//   discover the service -> list-voices -> tts (saved as MP3) -> tts-stream (chunks as they arrive).
//
//   AIPROXY_URL=... AIPROXY_ORG=... AIPROXY_KEY=... node examples/elevenlabs-tts.mjs [out.mp3]
//
// The output file is the first argument, else OUT, else speech.mp3.
// Optional: TEXT, VOICE_ID (instead of the first voice), MODEL_ID, VERBOSE=1.

import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  loadEnv, installFetchShim, getJSON, invokeJSON, invokeRaw, looksLikeMp3, hex, runMain, step, assert,
} from './lib/env.mjs';

async function main() {
  const env = loadEnv();
  installFetchShim(env);
  const out = resolve(process.argv[2] || process.env.OUT || 'speech.mp3');
  const text = process.env.TEXT || 'Hello! This speech was generated through the AI proxy.';
  const modelId = process.env.MODEL_ID || 'eleven_multilingual_v2';
  console.log(`ElevenLabs TTS against ${env.baseUrl} as org ${env.org}`);

  step(1, 'discover the service: GET /services/elevenlabs/');
  const service = await getJSON(env, '/services/elevenlabs/');
  assert(service.slug === 'elevenlabs', `service slug is "elevenlabs" (got ${JSON.stringify(service.slug)})`);
  assert(Array.isArray(service.endpoints), 'the service lists its endpoints');
  const bySlug = new Map(service.endpoints.map((e) => [e.slug, e]));
  console.log(`${service.display_name}: ${service.endpoints.length} endpoint(s), streaming ${service.supports_streaming}`);
  for (const slug of ['list-voices', 'tts', 'tts-stream']) {
    const e = bySlug.get(slug);
    assert(e, `the service offers "${slug}"`);
    console.log(`  ${slug.padEnd(12)} ${e.http_method.padEnd(6)} ${e.path_template}  (${e.request_mode} -> ${e.response_mode})`);
  }

  step(2, 'list-voices');
  const { voices } = await invokeJSON(env, 'elevenlabs', 'list-voices', {});
  assert(Array.isArray(voices), 'list-voices returns {"voices": [...]}');
  console.log(`${voices.length} voice(s):`, voices.slice(0, 10).map((v) => `${v.name} [${v.voice_id}]`));
  const voiceId = process.env.VOICE_ID || voices[0]?.voice_id;
  assert(voiceId, 'there is at least one voice with a voice_id');
  console.log('Using voice', voiceId);

  const envelope = { path_params: { voice_id: voiceId }, body: { text, model_id: modelId } };

  step(3, `tts -> ${out}`);
  const t0 = performance.now();
  const res = await invokeRaw(env, 'elevenlabs', 'tts', envelope);
  const contentType = res.headers.get('content-type') || '';
  assert(contentType.startsWith('audio/mpeg'), `tts answers audio/mpeg (got ${JSON.stringify(contentType)})`);
  const audio = new Uint8Array(await res.arrayBuffer());
  assert(audio.length > 0, 'the audio is not empty');
  assert(looksLikeMp3(audio), `the audio starts with an MP3 frame sync or ID3 (first bytes: ${hex(audio)})`);
  await writeFile(out, audio);
  console.log(`Saved ${audio.length} bytes of ${contentType} to ${out} in ${(performance.now() - t0).toFixed(0)} ms (first bytes ${hex(audio, 4)}: MP3 OK)`);

  step(4, 'tts-stream: read response.body chunk by chunk');
  const s0 = performance.now();
  const sres = await invokeRaw(env, 'elevenlabs', 'tts-stream', envelope);
  console.log(`Headers after ${(performance.now() - s0).toFixed(0)} ms: ${sres.status} ${sres.headers.get('content-type') || ''}` +
    (sres.headers.get('transfer-encoding') ? ` (transfer-encoding: ${sres.headers.get('transfer-encoding')})` : ''));
  assert(sres.body, 'the stream response has a body');
  let chunks = 0;
  let total = 0;
  let head = new Uint8Array(0); // the first few bytes, possibly across chunks
  for await (const chunk of sres.body) {
    chunks += 1;
    total += chunk.length;
    if (head.length < 4) head = Buffer.concat([head, chunk.subarray(0, 4 - head.length)]);
    if (chunks === 1) {
      console.log(`First chunk after ${(performance.now() - s0).toFixed(0)} ms (${chunk.length} bytes)`);
    }
  }
  assert(chunks > 0 && total > 0, 'the stream delivered audio');
  assert(looksLikeMp3(head), `the stream starts with an MP3 frame sync or ID3 (first bytes: ${hex(head)})`);
  console.log(`Stream done: ${chunks} chunk(s), ${total} bytes in ${(performance.now() - s0).toFixed(0)} ms`);

  console.log('\nOK: ElevenLabs TTS completed');
}

runMain(import.meta.url, main);
