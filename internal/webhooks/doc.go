// Package webhooks sends the gateway's webhooks to orgs and checks the ones providers send
// to the gateway.
//
// # Outgoing
//
// An org may register one webhook (aiproxy.OrgWebhook): a URL and the event types it wants
// (aiproxy.WebhookEvents). When one of its jobs finishes, the store adds a delivery
// (aiproxy.WebhookDelivery) to its outbox; a Deliverer on every replica claims the due
// deliveries (a lease, so that one replica at a time holds a delivery) and POSTs each to
// the org's URL, signed as Standard Webhooks (https://www.standardwebhooks.com) require:
//
//	webhook-id:        the delivery's id ("msg_…"), the same on every attempt
//	webhook-timestamp: the attempt's time, in Unix seconds
//	webhook-signature: "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body))
//
// where key is the base64-decoded part of the org's secret after "whsec_" (NewSecret
// makes one). The body is rendered once, at the first attempt, and kept with the delivery:
// a receiver sees the same id and the same body on every retry and should use the id to
// ignore duplicates. Any 2xx answer delivers; anything else (a 3xx too: redirects are
// never followed) is a failed attempt, retried after 5 s, 30 s, 2 min, 10 min, 1 h and
// then every 3 h, each ±10%, for 24 hours after the event (NextAttempt); then the
// delivery fails. A delivery also fails at once when the org no longer has a webhook or
// the webhook no longer subscribes to its event type.
//
// A receiver checks a request with Verify (or any Standard Webhooks library): recompute
// the signature over the raw body, compare in constant time, and refuse a timestamp more
// than 5 minutes away from its own clock.
//
// # Where webhooks may go
//
// An org chooses the URL, so the gateway must not become a way into its own network.
// CheckURL refuses, when a webhook is set and again before every attempt, a URL that is
// not https, carries credentials or a fragment, or names a loopback, private, link-local
// (cloud metadata at 169.254.169.254 included), unspecified, multicast or carrier-grade
// NAT address, or localhost or metadata.google.internal. A hostname can resolve to
// anything, and to something else at each lookup, so the client NewClient builds checks
// again the address it actually dials (a net.Dialer Control function): this is what
// defeats DNS rebinding. It uses no proxy and never follows a redirect. Development
// setups pass allowPrivate to lift all of this (and to allow plain http).
//
// # Incoming
//
// Providers tell the gateway about their jobs with their own signatures:
// VerifyElevenLabs checks the ElevenLabs-Signature header (t=…,v0=…, an HMAC over the
// timestamp and the body), VerifyHeyGen the hex HMAC of the body that HeyGen sends. Both
// are pure functions returning sentinel errors (ErrNoSignature, ErrBadSignature,
// ErrBadTimestamp, ErrStale, ErrBadSecret) that the receiver maps to its 401 answers.
package webhooks
