#!/usr/bin/env node
// The HeyGen documentation's workflow with ONE wait call instead of a polling loop.
//
// The video is made exactly as the page's "Complete Workflow Example" makes it
// (list-avatars → list-voices → generate-video with test: true, first avatar and
// first voice; the page's own functions from ./lib/heygen-docs.mjs). Then, instead of
// calling video-status every few seconds, it asks the gateway to wait:
//
//   GET …/orgs/{org}/jobs/?service=heygen&limit=1   the job just created (newest first);
//                                                     its upstream_job_id is the video_id
//   GET …/orgs/{org}/jobs/{id}/?wait=120            answers as soon as the job is
//                                                     completed or failed (docs/jobs.md)
//
// and downloads the video from the job's `result.video_url`, checking it is an MP4.
// It counts the HTTP requests it made: about six in all (two lists, generate, find the
// job, one wait, the download) where polling makes one per interval.
//
//   AIPROXY_URL=http://127.0.0.1:8080 AIPROXY_ORG=... AIPROXY_KEY=... node examples/heygen-wait.mjs
//
// Optional: SCRIPT (the text spoken in the video), WAIT_SECONDS (0–300, default 120),
// WAIT_MAX_CALLS (default 5: how many wait calls before giving up), VERBOSE=1.

import {
  loadEnv, installFetchShim, downloadMp4, runMain, step, assert, die, getJSON,
} from './lib/env.mjs';
import { listAvatars, listVoices, generateVideo } from './lib/heygen-docs.mjs';

const TERMINAL = new Set(['completed', 'failed']);
const STATES = new Set(['queued', 'processing', 'completed', 'failed']);

function intFromEnv(name, fallback, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) die(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

/** Count every request made through the global fetch (proxy calls and the download). */
function installRequestCounter() {
  const inner = globalThis.fetch;
  const counter = { total: 0, byKind: new Map() };
  globalThis.fetch = async function countingFetch(input, init = {}) {
    counter.total++;
    const url = input instanceof Request ? input.url : String(input);
    const method = (init.method || (input instanceof Request ? input.method : 'GET')).toUpperCase();
    let kind;
    const m = url.match(/\/api\/ai-proxy\/orgs\/[^/]+\/(services\/[^/]+\/[^/?]+|jobs\/(?:\d+\/)?)/);
    if (!m) kind = `${method} (download)`;
    else if (m[1].startsWith('services/')) kind = `${method} ${m[1]}`;
    else if (/jobs\/\d+\//.test(m[1])) kind = `${method} jobs/{id}/${url.includes('wait=') ? '?wait=…' : ''}`;
    else kind = `${method} jobs/ (list)`;
    counter.byKind.set(kind, (counter.byKind.get(kind) || 0) + 1);
    return inner(input, init);
  };
  return counter;
}

function checkJobView(job, what) {
  assert(job && typeof job === 'object' && !Array.isArray(job), `${what} is a JSON object`);
  assert(Number.isInteger(job.id), `${what} has an integer id (got ${JSON.stringify(job.id)})`);
  assert(job.service === 'heygen', `${what} has service "heygen" (got ${JSON.stringify(job.service)})`);
  assert(STATES.has(job.status), `${what} has a status of queued|processing|completed|failed (got ${JSON.stringify(job.status)})`);
}

async function main() {
  const env = loadEnv();
  installFetchShim(env);
  const counter = installRequestCounter();
  const waitSeconds = intFromEnv('WAIT_SECONDS', 120, 0, 300);
  const maxWaitCalls = intFromEnv('WAIT_MAX_CALLS', 5, 1, 100);
  console.log(`HeyGen workflow with ?wait= against ${env.baseUrl} as org ${env.org}`);

  const org = env.org;
  const apiKey = env.apiKey;
  const script = process.env.SCRIPT || 'Hello! This is a demonstration of HeyGen video generation.';

  // Steps 1–4 of the page's heygenWorkflow, with the page's own functions (the same requests).
  step(1, 'list-avatars and list-voices (the page\'s listAvatars, listVoices)');
  const avatars = await listAvatars(org, apiKey);
  assert(Array.isArray(avatars) && avatars.length > 0, 'list-avatars returned at least one avatar');
  console.log('Available avatars:', avatars.map((a) => a.avatar_name));
  const voices = await listVoices(org, apiKey);
  assert(Array.isArray(voices) && voices.length > 0, 'list-voices returned at least one voice');
  console.log('Available voices:', voices.map((v) => v.name));
  const selectedAvatar = avatars[0];
  const selectedVoice = voices[0];
  assert(selectedAvatar?.avatar_id, 'the first avatar has an avatar_id');
  assert(selectedVoice?.voice_id, 'the first voice has a voice_id');

  step(2, 'generate-video (test: true; the page\'s generateVideo)');
  const videoId = await generateVideo(org, apiKey, selectedAvatar.avatar_id, selectedVoice.voice_id, script);
  assert(typeof videoId === 'string' && videoId, `generate-video returned data.video_id (got ${JSON.stringify(videoId)})`);
  console.log('Video generation started. Video ID:', videoId);

  step(3, 'find its job: GET …/jobs/?service=heygen&limit=1 (newest first)');
  const page = await getJSON(env, '/jobs/?service=heygen&limit=1');
  assert(Array.isArray(page?.results), `the jobs list has a results array (got ${JSON.stringify(page).slice(0, 200)})`);
  assert(page.results.length === 1, `the jobs list holds the new job (got ${page.results.length} jobs)`);
  let job = page.results[0];
  checkJobView(job, 'the newest heygen job');
  assert(job.upstream_job_id === videoId,
    `the newest heygen job is this video: upstream_job_id ${JSON.stringify(job.upstream_job_id)} = video_id ${JSON.stringify(videoId)} ` +
    '(another client of the org may have created a video meanwhile)');
  assert(job.action === 'generate-video', `the job was created by generate-video (got ${JSON.stringify(job.action)})`);
  console.log(`Job ${job.id}: action ${job.action}, upstream_job_id ${job.upstream_job_id}, status ${job.status}` +
    ` (provider_status ${JSON.stringify(job.provider_status)})`);

  step(4, `wait for it: GET …/jobs/${job.id}/?wait=${waitSeconds}`);
  // At least one wait call (it answers at once when the job is already terminal);
  // another only when an answer comes back not terminal (the wait ran out).
  let waitCalls = 0;
  do {
    if (waitCalls >= maxWaitCalls) {
      throw new Error(`job ${job.id} is still ${job.status} (provider_status ${JSON.stringify(job.provider_status)}) ` +
        `after ${waitCalls} wait call(s) of ${waitSeconds} s`);
    }
    waitCalls++;
    const started = Date.now();
    // The wait may take up to waitSeconds: give this request its own, longer timeout
    // (the shim's REQUEST_TIMEOUT_MS applies only to requests without a signal).
    const res = await fetch(`/api/ai-proxy/orgs/${encodeURIComponent(org)}/jobs/${job.id}/?wait=${waitSeconds}`, {
      headers: { Authorization: `Api-Key ${apiKey}`, Accept: 'application/json' },
      signal: AbortSignal.timeout((waitSeconds + 60) * 1000),
    });
    const text = await res.text();
    assert(res.ok, `GET …/jobs/${job.id}/?wait=${waitSeconds} answered 2xx (got HTTP ${res.status}: ${text.slice(0, 300)})`);
    let next;
    try { next = JSON.parse(text); } catch { throw new Error(`the wait answer is not JSON: ${text.slice(0, 200)}`); }
    checkJobView(next, 'the wait answer');
    assert(next.id === job.id, `the wait answer is job ${job.id} (got ${next.id})`);
    assert(next.upstream_job_id === videoId, `the wait answer is this video (upstream_job_id ${JSON.stringify(next.upstream_job_id)})`);
    job = next;
    console.log(`Wait ${waitCalls}: after ${((Date.now() - started) / 1000).toFixed(1)} s the job is ${job.status}` +
      ` (provider_status ${JSON.stringify(job.provider_status)})`);
  } while (!TERMINAL.has(job.status));

  console.log('Status:', job.status);
  if (job.status === 'failed') {
    throw new Error(`video ${videoId} failed: ${JSON.stringify(job.error)}`);
  }
  assert(job.result && typeof job.result === 'object', `a completed job has a result object (got ${JSON.stringify(job.result)})`);
  const videoUrl = job.result.video_url;
  assert(typeof videoUrl === 'string' && videoUrl, `the result has a video_url (result: ${JSON.stringify(job.result)})`);
  console.log('Video URL:', videoUrl);
  if (job.result.thumbnail_url) console.log('Thumbnail URL:', job.result.thumbnail_url);
  if (job.result.duration !== undefined) console.log('Duration:', job.result.duration, 's');

  step(5, 'download the video and check it is an MP4');
  const { bytes, contentType } = await downloadMp4(videoUrl);
  console.log(`Downloaded ${bytes.length} bytes (${contentType || 'no content type'}); bytes 4..8 = "ftyp": OK`);

  step(6, 'requests made');
  for (const [kind, n] of counter.byKind) console.log(`  ${String(n).padStart(2)} × ${kind}`);
  console.log(`HTTP requests: ${counter.total} (${counter.total - 1} to the proxy, ${waitCalls} of them wait call(s); ` +
    'polling video-status would add one request per poll interval)');
  const expected = 5 + waitCalls;
  assert(counter.total === expected, `made ${expected} HTTP requests (got ${counter.total})`);

  console.log('\nOK: HeyGen workflow with ?wait= completed');
}

runMain(import.meta.url, main);
