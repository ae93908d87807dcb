#!/usr/bin/env node
// The HeyGen documentation's "Complete Workflow Example", run under Node 20.
//
// The page's functions are imported unchanged from ./lib/heygen-docs.mjs; a
// fetch shim resolves their relative URLs against AIPROXY_URL. Then the page's
// "Usage" call runs with the org and key from the environment, and the
// finished video is downloaded and checked to be an MP4.
//
//   AIPROXY_URL=http://127.0.0.1:8080 AIPROXY_ORG=... AIPROXY_KEY=... node examples/heygen-workflow.mjs
//
// Optional: SCRIPT (the text spoken in the video), VERBOSE=1.
// Note: heygenWorkflow polls with the page's default interval (5000 ms), so a
// run takes at least one 5 s wait unless the video completes on the first check.

import { loadEnv, installFetchShim, downloadMp4, runMain, step, assert } from './lib/env.mjs';
import { heygenWorkflow } from './lib/heygen-docs.mjs';

async function main() {
  const env = loadEnv();
  installFetchShim(env);
  console.log(`HeyGen workflow against ${env.baseUrl} as org ${env.org}`);

  const script = process.env.SCRIPT || 'Hello! This is a demonstration of HeyGen video generation.';

  step(1, 'heygenWorkflow(org, apiKey, script) — the documentation page, unchanged');
  // The page's "Usage":
  //   heygenWorkflow('my-org', 'my-api-key', 'Hello! ...')
  //     .then(videoUrl => console.log('Final video URL:', videoUrl))
  //     .catch(error => console.error('Failed:', error));
  const videoUrl = await heygenWorkflow(env.org, env.apiKey, script);
  console.log('Final video URL:', videoUrl);
  assert(typeof videoUrl === 'string' && videoUrl, 'the workflow returned a video URL');

  step(2, 'download the video and check it is an MP4');
  const { bytes, contentType } = await downloadMp4(videoUrl);
  console.log(`Downloaded ${bytes.length} bytes (${contentType || 'no content type'}); bytes 4..8 = "ftyp": OK`);

  console.log('\nOK: HeyGen workflow completed');
}

runMain(import.meta.url, main);
