import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skip, client, firstVoiceId } from '../testing/env.mjs';

test('abort: an already aborted signal rejects with AbortError, without a request', { skip }, async () => {
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(client().invoke('heygen', 'list-avatars', {}, { signal: ac.signal }), { name: 'AbortError' });
});

test('abort: a signal aborted while the answer streams ends the read with AbortError', { skip }, async () => {
  const c = client();
  const voiceId = await firstVoiceId(c);
  const ac = new AbortController();
  const stream = await c.stream('elevenlabs', 'tts-stream', {
    path_params: { voice_id: voiceId }, body: { text: 'A long answer to cut short. '.repeat(40) },
  }, { signal: ac.signal });
  const reader = stream.getReader();
  const first = await reader.read();
  assert.ok(!first.done && first.value.length > 0);
  ac.abort();
  await assert.rejects(async () => { for (;;) { const { done } = await reader.read(); if (done) break; } }, { name: 'AbortError' });
});

test('abort: a signal aborted during an upload rejects with AbortError', { skip }, async () => {
  const c = client();
  const ac = new AbortController();
  const big = new Uint8Array(4 * 1024 * 1024);
  const p = c.invoke('elevenlabs', 'speech-to-text', { body: { model_id: 'scribe_v1' }, files: { file: { data: big, contentType: 'audio/mpeg' } } }, {
    signal: ac.signal,
    onUploadProgress: ({ loaded }) => { if (loaded > 256 * 1024) ac.abort(); },
  });
  await assert.rejects(p, { name: 'AbortError' });
});

test('abort: a custom reason still rejects as AbortError, and AbortSignal.timeout as TimeoutError', { skip }, async () => {
  const c = client();
  const ac = new AbortController();
  ac.abort('user left');
  await assert.rejects(c.listServices({ signal: ac.signal }), (e) => e.name === 'AbortError' && e.cause === 'user left');
  await assert.rejects(c.listServices({ signal: AbortSignal.abort() }), { name: 'AbortError' });
  // A wait held by the gateway, cut by a timeout (waitForJob is covered in jobs.test.mjs).
  const page = await c.listJobs({ limit: 1 });
  if (page.results.length) {
    const t0 = Date.now();
    await c.getJob(page.results[0].id, { wait: 1, signal: AbortSignal.timeout(5000) });
    assert.ok(Date.now() - t0 < 5000);
  }
});
