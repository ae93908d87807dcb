import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skip, client } from '../testing/env.mjs';

async function generateVideo(c) {
  const { data: { avatars } } = await c.invoke('heygen', 'list-avatars');
  const { data: { voices } } = await c.invoke('heygen', 'list-voices');
  const res = await c.invoke('heygen', 'generate-video', {
    body: {
      test: true,
      video_inputs: [{
        character: { type: 'avatar', avatar_id: avatars[0].avatar_id, avatar_style: 'normal' },
        voice: { type: 'text', input_text: 'Hello from the JavaScript client.', voice_id: voices[0].voice_id },
      }],
      dimension: { width: 1280, height: 720 },
    },
  });
  assert.ok(res?.data?.video_id, JSON.stringify(res));
  return res.data.video_id;
}

test('waitForJob by the provider id (a HeyGen video_id), with progress', { skip, timeout: 600_000 }, async () => {
  const c = client();
  const videoId = await generateVideo(c);
  const seen = [];
  const job = await c.waitForJob(videoId, { service: 'heygen', waitSeconds: 30, onProgress: (j) => seen.push(j.status) });
  assert.equal(job.upstream_job_id, videoId);
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.ok(job.result?.video_url, JSON.stringify(job.result));
  assert.ok(seen.length >= 1 && seen.at(-1) === 'completed', `progress: ${seen}`);
  // By the gateway's job id: a terminal job is answered at once.
  const again = await c.waitForJob(job.id);
  assert.equal(again.id, job.id);
  assert.equal(again.status, 'completed');
  const found = await c.findJob(videoId, { service: 'heygen' });
  assert.equal(found?.id, job.id);
});

test('waitForJob: an abort signal ends the wait with AbortError', { skip, timeout: 120_000 }, async () => {
  const c = client();
  const videoId = await generateVideo(c);
  const job = await c.findJob(videoId, { service: 'heygen' });
  assert.ok(job);
  const ac = new AbortController();
  const t0 = Date.now();
  setTimeout(() => ac.abort(), 50);
  const p = c.waitForJob(job.id, { signal: ac.signal, waitSeconds: 120 });
  await assert.rejects(p, { name: 'AbortError' });
  assert.ok(Date.now() - t0 < 10_000, 'the abort ended the wait at once');
});

test('waitForJob: an unknown provider id is an error', { skip }, async () => {
  await assert.rejects(client().waitForJob('no-such-video-id', { service: 'heygen' }), /no job of org/);
});
