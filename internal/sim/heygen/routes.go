package heygen

// routes registers every route the simulator serves, by resource; docs/simulators.md §3
// lists them. Two documented slugs whose upstream paths do not exist, GET /v1/asset/{asset_id}
// and POST /v2/video/talking_photo, are deliberately not served (404).
//
// pathOnly maps a route path that, without its method, would conflict with another (the
// method-less patterns Handles matches) to a broader pattern standing for it there:
// /v3/avatars/{group_id}/consent and /v3/avatars/looks/{look_id} both match
// /v3/avatars/looks/consent.
var pathOnly = map[string]string{
	"/v3/avatars/{group_id}/consent": "/v3/avatars/{group_id}/{action}",
}

func (s *Server) routes() {
	const bill = true

	// Videos (videos.go).
	s.handle("POST /v2/video/generate", styleV2, bill, s.v2GenerateVideo)
	s.handle("GET /v1/video_status.get", styleV1, false, s.v1VideoStatus)
	s.handle("GET /v1/video.list", styleV1, false, s.v1ListVideos)
	s.handle("DELETE /v1/video.delete", styleV1, false, s.v1DeleteVideo)
	s.handle("POST /v3/videos", styleV3, bill, s.v3CreateVideo)
	s.handle("GET /v3/videos", styleV3, false, s.v3ListVideos)
	s.handle("GET /v3/videos/{video_id}", styleV3, false, s.v3GetVideo)
	s.handle("DELETE /v3/videos/{video_id}", styleV3, false, s.v3DeleteVideo)
	// Batches and bulk statuses (batches.go).
	s.handle("POST /v3/videos/batches", styleV3, bill, s.v3CreateVideoBatch)
	s.handle("GET /v3/videos/statuses", styleV3, false, s.v3VideoStatuses)

	// Templates (templates.go).
	s.handle("GET /v2/templates", styleV2, false, s.v2ListTemplates)
	s.handle("GET /v2/template/{template_id}", styleV2, false, s.v2GetTemplate)
	s.handle("POST /v2/template/{template_id}/generate", styleV2, bill, s.v2GenerateTemplate)
	s.handle("GET /v3/templates", styleV3, false, s.v3ListTemplates)
	s.handle("GET /v3/templates/{template_id}", styleV3, false, s.v3GetTemplate)
	s.handle("POST /v3/templates/{template_id}", styleV3, bill, s.v3GenerateTemplate)

	// Avatars, photo avatars and talking photos (avatars.go).
	s.handle("GET /v2/avatars", styleV2, false, s.v2ListAvatars)
	s.handle("GET /v2/avatar/{avatar_id}/details", styleV2, false, s.v2AvatarDetails)
	s.handle("POST /v2/photo_avatar/avatar_group/create", styleV2, bill, s.v2CreatePhotoAvatar)
	s.handle("GET /v2/photo_avatar/{photo_avatar_id}", styleV2, false, s.v2PhotoAvatar)
	s.handle("POST /v2/photo_avatar/train", styleV2, bill, s.v2TrainPhotoAvatar)                         // photo_train.go
	s.handle("GET /v2/photo_avatar/train/status/{group_id}", styleV2, false, s.v2PhotoAvatarTrainStatus) // photo_train.go
	s.handle("GET /v1/talking_photo.list", styleV1, false, s.v1ListTalkingPhotos)
	s.handle("GET /v3/avatars", styleV3, false, s.v3ListGroups)
	s.handle("POST /v3/avatars", styleV3, bill, s.v3CreateAvatar)
	s.handle("GET /v3/avatars/looks", styleV3, false, s.v3ListLooks)
	s.handle("GET /v3/avatars/looks/{look_id}", styleV3, false, s.v3GetLook)
	s.handle("GET /v3/avatars/{group_id}", styleV3, false, s.v3GetGroup)
	// Consent, renames and deletes (manage.go).
	s.handle("DELETE /v3/avatars/{group_id}", styleV3, false, s.v3DeleteGroup)
	s.handle("POST /v3/avatars/{group_id}/consent", styleV3, false, s.v3GroupConsent)
	s.handle("PATCH /v3/avatars/looks/{look_id}", styleV3, false, s.v3UpdateLook)
	s.handle("DELETE /v3/avatars/looks/{look_id}", styleV3, false, s.v3DeleteLook)

	// Voices and speech (voices.go).
	s.handle("GET /v2/voices", styleV2, false, s.v2ListVoices)
	s.handle("GET /v3/voices", styleV3, false, s.v3ListVoices)
	s.handle("GET /v3/voices/{voice_id}", styleV3, false, s.v3GetVoice)
	s.handle("POST /v3/voices/speech", styleV3, bill, s.v3Speech)
	// Voice design, clones and their deletion (voiceclones.go).
	s.handle("POST /v3/voices", styleV3, false, s.v3DesignVoice)
	s.handle("POST /v3/voices/clone", styleV3, false, s.v3CloneVoice)
	s.handle("DELETE /v3/voices/{voice_id}", styleV3, false, s.v3DeleteVoice)

	// Video Agent (agents.go) and lipsync (lipsync.go).
	s.handle("POST /v3/video-agents", styleV3, bill, s.v3CreateAgentSession)
	s.handle("GET /v3/video-agents/styles", styleV3, false, s.v3AgentStyles)
	s.handle("GET /v3/video-agents/{session_id}", styleV3, false, s.v3GetAgentSession)
	s.handle("POST /v3/video-agents/{session_id}/stop", styleV3, false, s.v3StopAgentSession)
	s.handle("POST /v3/lipsyncs", styleV3, bill, s.v3CreateLipsync)
	s.handle("GET /v3/lipsyncs/{lipsync_id}", styleV3, false, s.v3GetLipsync)

	// Assets (assets.go). POST /v1/asset is the upload host's (upload.heygen.com).
	s.handle("POST /v1/asset", styleV1, false, s.v1UploadAsset)
	s.handle("GET /v1/asset/list", styleV1, false, s.v1ListAssets)
	s.handle("POST /v3/assets", styleV3, false, s.v3UploadAsset)
	s.handle("GET /v3/assets/{asset_id}", styleV3, false, s.v3GetAsset)
	s.handle("DELETE /v3/assets/{asset_id}", styleV3, false, s.v3DeleteAsset)
	// Direct uploads (uploads.go): the presigned storage URL takes a PUT without any key.
	s.handle("POST /v3/assets/direct-uploads", styleV3, false, s.v3CreateDirectUpload)
	s.handle("POST /v3/assets/{asset_id}/complete", styleV3, false, s.v3CompleteUpload)
	s.handle("PUT "+mediaPrefix+"uploads/{asset_id}", styleMedia, false, s.putDirectUpload)

	// Video translation (translations.go).
	s.handle("POST /v2/video_translate", styleV2, bill, s.v2Translate)
	s.handle("GET /v2/video_translate/{video_translate_id}", styleV2, false, s.v2TranslationStatus)
	s.handle("POST /v3/video-translations", styleV3, bill, s.v3CreateTranslation)
	s.handle("GET /v3/video-translations/{video_translation_id}", styleV3, false, s.v3GetTranslation)
	// The list and delete (manage.go).
	s.handle("GET /v3/video-translations", styleV3, false, s.v3ListTranslations)
	s.handle("DELETE /v3/video-translations/{video_translation_id}", styleV3, false, s.v3DeleteTranslation)
	s.handle("GET /v2/video_translate/target_languages", styleV2, false, s.translationLanguages(okV2))
	s.handle("GET /v3/video-translations/languages", styleV3, false, s.translationLanguages(okV3))

	// Webhooks (webhooks.go).
	s.handle("POST /v1/webhook/endpoint.add", styleV1, false, s.v1AddWebhook)
	s.handle("GET /v1/webhook/endpoint.list", styleV1, false, s.v1ListWebhooks)
	s.handle("DELETE /v1/webhook/endpoint.delete", styleV1, false, s.v1DeleteWebhook)
	s.handle("GET /v1/webhook/webhook.list", styleV1, false, s.v1WebhookEvents)
	s.handle("POST /v3/webhooks/endpoints", styleV3, false, s.v3CreateWebhook)
	s.handle("GET /v3/webhooks/endpoints", styleV3, false, s.v3ListWebhooks)
	s.handle("DELETE /v3/webhooks/endpoints/{endpoint_id}", styleV3, false, s.v3DeleteWebhook)
	s.handle("POST /v3/webhooks/endpoints/{endpoint_id}/rotate-secret", styleV3, false, s.v3RotateSecret)
	s.handle("GET /v3/webhooks/event-types", styleV3, false, s.v3EventTypes)
	// The update and the event history (manage.go).
	s.handle("PATCH /v3/webhooks/endpoints/{endpoint_id}", styleV3, false, s.v3UpdateWebhook)
	s.handle("GET /v3/webhooks/events", styleV3, false, s.v3WebhookEvents)

	// Audio catalog (sounds.go).
	s.handle("GET /v3/audio/sounds", styleV3, false, s.v3SearchSounds)

	// User and quota (user.go).
	s.handle("GET /v2/user/remaining_quota", styleV2, false, s.v2RemainingQuota)
	s.handle("GET /v3/users/me", styleV3, false, s.v3Me)

	// Downloads (media.go): no key, like upstream's presigned file links.
	s.handle("GET "+mediaPrefix+"{kind}/{file}", styleMedia, false, s.serveMedia)
}
