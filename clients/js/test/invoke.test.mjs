import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skip, client, looksLikeMp3, firstVoiceId } from '../testing/env.mjs';

test('invoke JSON: HeyGen list-avatars', { skip }, async () => {
  const c = client();
  const res = await c.invoke('heygen', 'list-avatars');
  assert.ok(Array.isArray(res?.data?.avatars) && res.data.avatars.length > 0, JSON.stringify(res).slice(0, 200));
  assert.ok(res.data.avatars[0].avatar_id);
});

test('invoke TTS: audio/mpeg as a Blob (by content type) and as an ArrayBuffer', { skip }, async () => {
  const c = client();
  const voiceId = await firstVoiceId(c);
  const envelope = { path_params: { voice_id: voiceId }, body: { text: 'Hello from the JavaScript client.', model_id: 'eleven_multilingual_v2' } };
  const blob = await c.invoke('elevenlabs', 'tts', envelope);
  assert.ok(blob instanceof Blob, 'a non-JSON, non-text answer is a Blob');
  assert.match(blob.type, /^audio\/mpeg/);
  const bytes = new Uint8Array(await blob.arrayBuffer());
  assert.ok(bytes.length > 1000 && looksLikeMp3(bytes), `MP3 of ${bytes.length} bytes`);
  const buf = await c.invoke('elevenlabs', 'tts', envelope, { as: 'arrayBuffer' });
  assert.ok(buf instanceof ArrayBuffer && buf.byteLength > 1000);
  assert.ok(looksLikeMp3(new Uint8Array(buf)));
  const res = await c.invoke('elevenlabs', 'tts', envelope, { as: 'response', idempotencyKey: `js-${Date.now()}-${Math.random()}` });
  assert.equal(res.status, 200);
  assert.ok(res.headers.get('x-request-id'));
  await res.arrayBuffer();
});

test('invoke with files: speech-to-text of TTS output (multipart envelope), with upload progress', { skip }, async () => {
  const c = client();
  const voiceId = await firstVoiceId(c);
  const text = 'The quick brown fox jumps over the lazy dog. '.repeat(8);
  const audio = await c.invoke('elevenlabs', 'tts', { path_params: { voice_id: voiceId }, body: { text } }, { as: 'blob' });
  assert.ok(audio.size > 16 * 1024, `audio of ${audio.size} bytes`);

  // A Blob as the file (its type is audio/mpeg).
  const plain = await c.invoke('elevenlabs', 'speech-to-text', { body: { model_id: 'scribe_v1' }, files: { file: audio } });
  assert.equal(typeof plain.text, 'string');
  assert.ok(plain.text.length > 0 && plain.transcription_id, JSON.stringify(plain).slice(0, 200));

  // Bytes with a filename and content type, and progress events as the body is sent.
  const events = [];
  const bytes = new Uint8Array(await audio.arrayBuffer());
  const res = await c.invoke('elevenlabs', 'speech-to-text', {
    body: { model_id: 'scribe_v1' },
    files: { file: { data: bytes, filename: 'speech.mp3', contentType: 'audio/mpeg' } },
  }, { onUploadProgress: (p) => events.push({ ...p }) });
  assert.ok(res.text.length > 0);
  assert.ok(events.length >= 3, `progress events: ${JSON.stringify(events)}`);
  const total = events[0].total;
  assert.ok(total > bytes.length, `total ${total} counts the whole multipart body (file ${bytes.length})`);
  for (let i = 1; i < events.length; i++) {
    assert.ok(events[i].loaded >= events[i - 1].loaded, 'loaded never goes back');
    assert.equal(events[i].total, total);
  }
  assert.equal(events[0].loaded, 0);
  assert.equal(events.at(-1).loaded, total, 'the last event is the whole body');
});

test('upload progress on a JSON envelope too', { skip }, async () => {
  const c = client();
  const events = [];
  const res = await c.invoke('heygen', 'list-avatars', {}, { onUploadProgress: (p) => events.push(p) });
  assert.ok(Array.isArray(res.data.avatars));
  assert.equal(events.at(-1).loaded, 2); // "{}"
});

test('streaming: tts-stream as a ReadableStream, chunks before the end', { skip }, async () => {
  const c = client();
  const voiceId = await firstVoiceId(c);
  const t0 = performance.now();
  const stream = await c.stream('elevenlabs', 'tts-stream', {
    path_params: { voice_id: voiceId },
    body: { text: 'This sentence is streamed to the client piece by piece, as the provider speaks it. '.repeat(3) },
  });
  assert.ok(stream instanceof ReadableStream);
  const reader = stream.getReader();
  const times = [];
  let total = 0;
  let head = null;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!head) head = value;
    times.push(performance.now() - t0);
    total += value.length;
  }
  const end = performance.now() - t0;
  assert.ok(times.length >= 2, `${times.length} chunk(s)`);
  assert.ok(times[0] < end, 'the first chunk came before the end of the stream');
  assert.ok(times[0] < times.at(-1), `chunks arrived over time: first at ${times[0].toFixed(1)} ms, last at ${times.at(-1).toFixed(1)} ms`);
  assert.ok(looksLikeMp3(head), 'the stream is MP3');
  assert.ok(total > 1000);
});
