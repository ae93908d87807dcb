// The frontend functions of the public HeyGen documentation page
// (docs "HeyGen Integration"), copied UNCHANGED from the page, only with
// `export` added in front of each declaration. They use relative URLs
// (`/api/ai-proxy/orgs/...`) as a browser page on the proxy's host would;
// under Node, install the shim in ./env.mjs (installFetchShim) first.
//
// The page shows pollVideoStatus twice: under "Video Status" and again as the
// "Helper function for polling" of the Complete Workflow Example. The two are
// identical except that the workflow's copy logs each check; an ES module
// cannot declare the same name twice, so this file keeps the workflow's copy
// (the one heygenWorkflow calls). The page's final "Usage" lines live in
// ../heygen-workflow.mjs with values from the environment.

// ---- from the page ----
export async function listTemplates(org, apiKey) {
  const response = await fetch(
    `/api/ai-proxy/orgs/${org}/services/heygen/list-templates/`,
    {
      method: 'POST',
      headers: {
        'Authorization': `Api-Key ${apiKey}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({})
    }
  );

  const data = await response.json();
  return data.data.templates;
}

// ---- from the page ----
export async function listAvatars(org, apiKey) {
  const response = await fetch(
    `/api/ai-proxy/orgs/${org}/services/heygen/list-avatars/`,
    {
      method: 'POST',
      headers: {
        'Authorization': `Api-Key ${apiKey}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({})
    }
  );

  const data = await response.json();
  return data.data.avatars;
}

// ---- from the page ----
export async function listVoices(org, apiKey) {
  const response = await fetch(
    `/api/ai-proxy/orgs/${org}/services/heygen/list-voices/`,
    {
      method: 'POST',
      headers: {
        'Authorization': `Api-Key ${apiKey}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({})
    }
  );

  const data = await response.json();
  return data.data.voices;
}

// ---- from the page ----
export async function generateVideo(org, apiKey, avatarId, voiceId, script) {
  const response = await fetch(
    `/api/ai-proxy/orgs/${org}/services/heygen/generate-video/`,
    {
      method: 'POST',
      headers: {
        'Authorization': `Api-Key ${apiKey}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({
        body: {
          test: true,
          video_inputs: [{
            character: {
              type: 'avatar',
              avatar_id: avatarId,
              avatar_style: 'normal'
            },
            voice: {
              type: 'text',
              input_text: script,
              voice_id: voiceId
            }
          }],
          dimension: { width: 1280, height: 720 }
        }
      })
    }
  );

  const result = await response.json();
  return result.data?.video_id;
}

// ---- from the page ----
export async function generateTemplateVideo(org, apiKey, templateId, script) {
  const response = await fetch(
    `/api/ai-proxy/orgs/${org}/services/heygen/generate-template-video/`,
    {
      method: 'POST',
      headers: {
        'Authorization': `Api-Key ${apiKey}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({
        path_params: { template_id: templateId },
        body: {
          test: true,
          caption: false,
          variables: {
            script: {
              name: 'script',
              type: 'text',
              properties: {
                content: script
              }
            }
          }
        }
      })
    }
  );

  const result = await response.json();
  return result.data?.video_id;
}

// ---- from the page: Complete Workflow Example ----
export async function heygenWorkflow(org, apiKey, script) {
  try {
    // Step 1: Get available avatars
    const avatarsResponse = await fetch(
      `/api/ai-proxy/orgs/${org}/services/heygen/list-avatars/`,
      {
        method: 'POST',
        headers: {
          'Authorization': `Api-Key ${apiKey}`,
          'Content-Type': 'application/json',
        },
        body: JSON.stringify({})
      }
    );
    const avatarsData = await avatarsResponse.json();
    const avatars = avatarsData.data.avatars;

    console.log('Available avatars:', avatars.map(a => a.avatar_name));

    // Step 2: Get available voices
    const voicesResponse = await fetch(
      `/api/ai-proxy/orgs/${org}/services/heygen/list-voices/`,
      {
        method: 'POST',
        headers: {
          'Authorization': `Api-Key ${apiKey}`,
          'Content-Type': 'application/json',
        },
        body: JSON.stringify({})
      }
    );
    const voicesData = await voicesResponse.json();
    const voices = voicesData.data.voices;

    console.log('Available voices:', voices.map(v => v.name));

    // Step 3: Select avatar and voice
    const selectedAvatar = avatars[0];
    const selectedVoice = voices[0];

    // Step 4: Start video generation
    const generateResponse = await fetch(
      `/api/ai-proxy/orgs/${org}/services/heygen/generate-video/`,
      {
        method: 'POST',
        headers: {
          'Authorization': `Api-Key ${apiKey}`,
          'Content-Type': 'application/json',
        },
        body: JSON.stringify({
          body: {
            test: true,
            video_inputs: [{
              character: {
                type: 'avatar',
                avatar_id: selectedAvatar.avatar_id,
                avatar_style: 'normal'
              },
              voice: {
                type: 'text',
                input_text: script,
                voice_id: selectedVoice.voice_id
              }
            }],
            dimension: { width: 1280, height: 720 }
          }
        })
      }
    );

    const generateResult = await generateResponse.json();
    const videoId = generateResult.data?.video_id;

    if (!videoId) {
      throw new Error('Failed to start video generation');
    }

    console.log('Video generation started. Video ID:', videoId);

    // Step 5: Poll for completion
    const videoUrl = await pollVideoStatus(org, apiKey, videoId);

    console.log('Video completed! URL:', videoUrl);
    return videoUrl;

  } catch (error) {
    console.error('Workflow failed:', error);
    throw error;
  }
}

// Helper function for polling
export async function pollVideoStatus(org, apiKey, videoId, maxAttempts = 60, interval = 5000) {
  for (let i = 0; i < maxAttempts; i++) {
    const response = await fetch(
      `/api/ai-proxy/orgs/${org}/services/heygen/video-status/`,
      {
        method: 'POST',
        headers: {
          'Authorization': `Api-Key ${apiKey}`,
          'Content-Type': 'application/json',
        },
        body: JSON.stringify({
          query: { video_id: videoId }
        })
      }
    );

    const result = await response.json();
    const status = result.data?.status;

    console.log(`Check ${i + 1}/${maxAttempts}: ${status}`);

    if (status === 'completed') {
      return result.data.video_url;
    } else if (status === 'failed') {
      throw new Error(result.data.error || 'Video generation failed');
    }

    await new Promise(resolve => setTimeout(resolve, interval));
  }

  throw new Error('Video generation timed out');
}
