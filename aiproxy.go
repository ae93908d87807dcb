// Package aiproxy is the domain of the gateway: organizations, API keys, provider
// credentials and their policy, service settings, the audit trail, the error codes the rest
// of the program speaks, and the store interfaces that backends implement.
//
// Packages are arranged around it: catalog (the actions, as data), gateway (the upstream
// call), httpapi (the HTTP surface), secrets (sealing credentials), auth (keys), sqlite and
// postgres (stores), sim (provider simulators) and cmd/aiproxy, which wires them.
package aiproxy

import (
	"context"
	"time"
)

// Role is what an API key may do.
type Role string

const (
	// RoleAdmin may do everything on its org.
	RoleAdmin Role = "admin"
	// RoleMember may discover and invoke.
	RoleMember Role = "member"
	// RoleOperator is bound to no org and manages platform-wide settings.
	RoleOperator Role = "operator"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleMember || r == RoleOperator }

// Org is a tenant, identified in URLs by its slug.
type Org struct {
	ID          int64
	Slug        string
	Name        string
	CORSOrigins []string // origins allowed to call this org from a browser
	// RateLimitPerMinute caps the org's invokes; 0 means the deployment default applies
	// (itself 0, unlimited, unless the server is configured otherwise).
	RateLimitPerMinute int
	CreatedAt          time.Time
}

// APIKey is a credential a client presents to the gateway. Only its hash is stored.
type APIKey struct {
	ID         int64
	OrgID      int64  // 0 for operator keys
	Prefix     string // short visible identifier, unique
	Hash       string // hex SHA-256 of the whole key
	Name       string
	Role       Role
	Scopes     []string // "service:action" patterns; empty means every action
	ParentID   int64    // for browser tokens: the key that minted it
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// Active reports whether the key may be used at now.
func (k *APIKey) Active(now time.Time) bool {
	if k.RevokedAt != nil {
		return false
	}
	return k.ExpiresAt == nil || now.Before(*k.ExpiresAt)
}

// Source says whose provider key a credential is.
type Source string

const (
	// SourceTenant is the org's own provider key.
	SourceTenant Source = "tenant"
	// SourcePlatform is one provider key shared by every org.
	SourcePlatform Source = "platform"
)

// Valid reports whether s is a known source.
func (s Source) Valid() bool { return s == SourceTenant || s == SourcePlatform }

// Credential is a provider key, sealed. OrgID is 0 for platform credentials.
type Credential struct {
	Service     string // service slug
	Source      Source
	OrgID       int64
	Sealed      Sealed
	Fingerprint string // short hash of the plaintext, safe to show
	Last4       string // last four characters of the plaintext, safe to show
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Sealed is an envelope-encrypted secret: the plaintext is encrypted under its own data key
// (DEK), and the DEK is wrapped by the key-encryption key (KEK) named by KEKID.
type Sealed struct {
	KEKID      string
	WrappedDEK []byte
	Ciphertext []byte
}

// Policy decides which credential sources a service may use (contract §7).
type Policy struct {
	AllowTenantKey        bool   `json:"allow_tenant_key"`
	AllowPlatformKey      bool   `json:"allow_platform_key"`
	DefaultSource         Source `json:"default_source"`
	FallbackToPlatformKey bool   `json:"fallback_to_platform_key"`
}

// TenantOnly is the catalog default for the built-in services.
var TenantOnly = Policy{AllowTenantKey: true, DefaultSource: SourceTenant}

// ServiceSettings override a service's catalog defaults, globally (OrgID 0) or for one org.
// A nil field keeps the value of the level below (org → global → catalog).
type ServiceSettings struct {
	Service string
	OrgID   int64
	Enabled *bool
	Policy  *Policy
	// AccountActions, "allow" or "refuse", says whether actions that read or change the
	// whole provider account may be used with the platform's shared key (nil: refuse).
	AccountActions *string
	// RequireIdempotencyKey makes billable actions without an Idempotency-Key a 400.
	RequireIdempotencyKey *bool
	UpdatedAt             time.Time
}

// Job is an object an org created upstream through the gateway — a video, a dubbing, a
// voice, an asset — recorded so that on a shared provider account each org reaches only
// its own. Status fields are filled as the job is watched (zero until then).
type Job struct {
	ID         int64
	OrgID      int64
	Service    string
	Action     string // the action that created it
	UpstreamID string // the provider's id
	Source     Source // whose provider key created it
	RequestID  string
	KeyPrefix  string
	CreatedAt  time.Time

	Status         string // queued, processing, completed, failed; "" until first seen
	ProviderStatus string // the provider's own word
	Result         string // JSON: what the provider returned on completion; "" when none
	Error          string // JSON: the provider's error; "" when none
	UpdatedAt      time.Time
}

// Job statuses, the same for every provider (its own word is kept as ProviderStatus).
const (
	JobQueued     = "queued"
	JobProcessing = "processing"
	JobCompleted  = "completed"
	JobFailed     = "failed"
)

// OrgWebhook is where the gateway tells an org about its jobs (the outgoing webhook). Its
// signing secret is a credential of the service WebhookOutService (sealed like provider keys).
type OrgWebhook struct {
	OrgID     int64
	URL       string
	Events    []string // of WebhookEvents
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Outgoing webhook event types.
const (
	EventJobCompleted = "job.completed"
	EventJobFailed    = "job.failed"
)

// WebhookEvents lists the event types an org's webhook may subscribe to.
var WebhookEvents = []string{EventJobCompleted, EventJobFailed}

// Reserved credential services: the signing secrets of webhooks are sealed and rotated like
// provider keys, under these names (never catalog slugs, which cannot contain ':').
const (
	WebhookOutService = "webhook-out" // the org's outgoing signing secret (tenant, org)
	WebhookInPrefix   = "webhook-in:" // + service: a provider's signing secret
)

// Delivery states.
const (
	DeliveryPending   = "pending"   // waiting for its next attempt
	DeliveryDelivered = "delivered" // answered 2xx
	DeliveryFailed    = "failed"    // gave up (24 hours of retries, or no webhook)
)

// WebhookDelivery is one event to deliver to an org's webhook, kept in the store (the
// outbox) until it is delivered or given up on. Every attempt carries the same ID.
type WebhookDelivery struct {
	ID            string // "msg_…": the webhook-id header of every attempt
	Seq           int64  // store order, for pagination
	OrgID         int64
	JobID         int64
	Type          string // an event type (EventJobCompleted, …)
	Payload       string // the JSON body, fixed at the first attempt; "" before it
	State         string
	Attempts      int
	NextAttemptAt time.Time
	LastStatus    int    // the last answer's HTTP status; 0 when none came
	LastError     string // why the last attempt failed; "" when it did not
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// WebhookAttempt is one try at a delivery.
type WebhookAttempt struct {
	DeliveryID string
	N          int // 1 for the first attempt
	At         time.Time
	Status     int    // HTTP status; 0 when no answer came
	Error      string // "" when it was delivered
	Duration   time.Duration
}

// Idempotency states.
const (
	IdemInProgress = "in_progress" // the first request is running
	IdemDone       = "done"        // its answer is stored (or was too large to keep)
	IdemUnknown    = "unknown"     // the upstream may have run it, but no answer came
)

// IdempotencyRecord is what the gateway keeps of one Idempotency-Key of one org, for 24
// hours: the request's fingerprint and, once it finished, its answer.
type IdempotencyRecord struct {
	OrgID       int64
	Key         string
	Fingerprint string // hex SHA-256 of service, action, canonical envelope, file bytes
	State       string
	Status      int    // the answer's status (done)
	ContentType string // the answer's content type (done)
	Body        []byte // the answer's body (done and kept)
	BodyKept    bool   // false: too large to keep; a replay is refused
	RequestID   string // of the first request
	CreatedAt   time.Time
	ExpiresAt   time.Time // the key may be used again after this
	LeaseUntil  time.Time // an in-progress record not finished by then is unknown
}

// Usage units: what an invoke may be metered in.
const (
	UnitRequests   = "requests"
	UnitCharacters = "characters"
	UnitSeconds    = "seconds"
)

// Units counts metered units by unit name.
type Units map[string]int64

// UsageDelta is usage to add to one day's row of (org, service, action, source).
type UsageDelta struct {
	OrgID         int64
	Service       string
	Action        string
	Source        Source
	Day           string // UTC, 2006-01-02
	Calls         int64  // requests that reached the upstream
	BillableCalls int64  // calls of billable actions that the upstream accepted
	FailedCalls   int64  // calls the upstream refused, failed or never answered
	Refused       int64  // invokes refused before the upstream (policy, ownership, budget, input)
	Replayed      int64  // idempotent replays (no upstream call)
	Units         Units
}

// UsageRow is one stored day of usage.
type UsageRow = UsageDelta

// UsageQuery selects usage rows: one org (0: every org), days From to To inclusive ("" for
// open ends).
type UsageQuery struct {
	OrgID    int64
	From, To string
}

// Budget limits what an org may spend on one service per period.
type Budget struct {
	OrgID     int64
	Service   string
	Period    string // "day" or "month" (UTC calendar)
	Limits    Units  // any of UnitRequests, UnitCharacters, UnitSeconds
	UpdatedAt time.Time
}

// BudgetReservation is units taken from a budget window for one request in flight.
type BudgetReservation struct {
	ID        string // random, unique
	OrgID     int64
	Service   string
	Window    string // the period's start, e.g. "2026-12" or "2026-12-02"
	Units     Units
	ExpiresAt time.Time // released by the sweeper if neither committed nor released by then
}

// Revocation is what revoking a key changed.
type Revocation struct {
	Key    bool // the key was not revoked before: this call revoked it
	Tokens int  // keys it minted that were revoked with it
}

// AuditEntry records one change made through the admin API or the command line.
type AuditEntry struct {
	ID        int64
	OrgID     int64  // 0 for platform-wide changes
	Actor     string // key prefix, or "cli"
	Action    string // e.g. "credential.set"
	Target    string // e.g. "heygen"
	Before    string // JSON, never a secret
	After     string // JSON, never a secret
	CreatedAt time.Time
}

// Store is everything the gateway persists. Implementations: sqlite, postgres.
// Lookups return an *Error with code ENOTFOUND when nothing matches; creations return
// ECONFLICT when a unique value (org slug, key prefix) is taken.
type Store interface {
	// CreateOrg stores o and sets its ID and CreatedAt.
	CreateOrg(ctx context.Context, o *Org) error
	// OrgBySlug returns ENOTFOUND if no org has that slug.
	OrgBySlug(ctx context.Context, slug string) (*Org, error)
	// OrgByID returns ENOTFOUND if no org has that id.
	OrgByID(ctx context.Context, id int64) (*Org, error)
	ListOrgs(ctx context.Context) ([]*Org, error)
	// UpdateOrg saves Name, CORSOrigins and RateLimitPerMinute. Returns ENOTFOUND if the
	// org is gone.
	UpdateOrg(ctx context.Context, o *Org) error
	// DeleteOrg removes the org with its keys, credentials and settings (its audit stays).
	DeleteOrg(ctx context.Context, id int64) error

	// CreateAPIKey stores k and sets its ID and CreatedAt. ECONFLICT if the prefix is taken.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKeyByHash returns ENOTFOUND if no key has that hash (revoked keys are returned).
	APIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	// APIKeyByPrefix returns ENOTFOUND if no key has that prefix.
	APIKeyByPrefix(ctx context.Context, prefix string) (*APIKey, error)
	// APIKeyByID returns ENOTFOUND if no key has that id (revoked keys are returned).
	APIKeyByID(ctx context.Context, id int64) (*APIKey, error)
	// ListAPIKeys lists an org's keys (orgID 0: operator keys), newest first.
	ListAPIKeys(ctx context.Context, orgID int64) ([]*APIKey, error)
	// RevokeAPIKey marks the key with that prefix revoked at, and in the same transaction
	// every key it minted (ParentID) that is not revoked yet, and says what it changed. A
	// key already revoked keeps its first revocation time. ENOTFOUND if no key has that
	// prefix.
	RevokeAPIKey(ctx context.Context, prefix string, at time.Time) (Revocation, error)
	// TouchAPIKeys records last use of keys (id → time), in one batch.
	TouchAPIKeys(ctx context.Context, used map[int64]time.Time) error

	// PutCredential creates or replaces the credential for (service, source, org).
	PutCredential(ctx context.Context, c *Credential) error
	// GetCredential returns ENOTFOUND if none is stored.
	GetCredential(ctx context.Context, service string, source Source, orgID int64) (*Credential, error)
	// DeleteCredential returns ENOTFOUND if none is stored.
	DeleteCredential(ctx context.Context, service string, source Source, orgID int64) error
	// ListCredentials lists every stored credential (for key rotation).
	ListCredentials(ctx context.Context) ([]*Credential, error)
	// ServiceCredentials lists the credentials stored under one service name, every
	// source and org (the signing secrets an incoming webhook may be signed with).
	ServiceCredentials(ctx context.Context, service string) ([]*Credential, error)
	// RewrapCredential replaces the sealed DEK of one credential if its KEK id is still
	// oldKEKID (compare-and-swap, so a concurrent PutCredential wins). Reports whether it did.
	RewrapCredential(ctx context.Context, c *Credential, oldKEKID string) (bool, error)

	// ServiceSettings returns the settings for (service, org); ENOTFOUND if none.
	ServiceSettings(ctx context.Context, service string, orgID int64) (*ServiceSettings, error)
	// ListServiceSettings lists every stored settings row.
	ListServiceSettings(ctx context.Context) ([]*ServiceSettings, error)
	// PutServiceSettings creates or replaces the settings for (s.Service, s.OrgID).
	PutServiceSettings(ctx context.Context, s *ServiceSettings) error

	// AppendAudit stores e and sets its ID and CreatedAt.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns an org's entries (orgID 0: platform) newest first, with ID < before
	// (before 0: from the newest), at most limit.
	ListAudit(ctx context.Context, orgID int64, before int64, limit int) ([]*AuditEntry, error)

	// CreateJob stores j and sets its ID. ECONFLICT if (service, upstream id) is recorded.
	CreateJob(ctx context.Context, j *Job) error
	// JobByUpstreamID returns ENOTFOUND if no job of the service has that upstream id.
	JobByUpstreamID(ctx context.Context, service, upstreamID string) (*Job, error)
	// OwnedJobs returns which of ids (upstream ids of the service) the org created.
	OwnedJobs(ctx context.Context, orgID int64, service string, ids []string) (map[string]bool, error)
	// ListJobs returns an org's jobs newest first, with ID < before (0: from the newest),
	// at most limit; service and status filter when not "".
	ListJobs(ctx context.Context, orgID int64, service, status string, before int64, limit int) ([]*Job, error)
	// UpdateJobStatus saves Status, ProviderStatus, Result, Error and UpdatedAt of j. When
	// it moves the job from not terminal (or unset) to completed or failed and the job's org
	// has a webhook subscribed to job.completed or job.failed, it adds that event's
	// delivery (pending, due at once) in the same transaction: the outbox.
	UpdateJobStatus(ctx context.Context, j *Job) error
	// ClaimJobWatches atomically gives owner the watch of at most limit jobs that are not
	// terminal (status neither completed nor failed), were created after createdAfter, are
	// due (next poll unset or <= now) and whose watch is free, expired (lease <= now) or
	// owner's already; each claimed job's lease runs until leaseUntil. Two owners never
	// hold one job's watch at once.
	ClaimJobWatches(ctx context.Context, owner string, now, createdAfter, leaseUntil time.Time, limit int) ([]*Job, error)
	// SetJobNextPoll sets when the job is next due, if owner holds its watch (else nothing).
	SetJobNextPoll(ctx context.Context, id int64, owner string, next time.Time) error
	// ReleaseJobWatch frees the job's watch if owner holds it (else nothing).
	ReleaseJobWatch(ctx context.Context, id int64, owner string) error

	// BeginIdempotent stores r (state in progress) unless the org already has a live record
	// for r.Key; it returns the existing record then (nil when r was stored). A record
	// past its ExpiresAt is replaced. Atomic across replicas.
	BeginIdempotent(ctx context.Context, r *IdempotencyRecord) (*IdempotencyRecord, error)
	// FinishIdempotent saves State, Status, ContentType, Body and BodyKept of r, and its
	// Fingerprint when not "" (known only once the request has been read).
	FinishIdempotent(ctx context.Context, r *IdempotencyRecord) error
	// ForgetIdempotent deletes the org's record of key while it is in progress (a request
	// refused before it reached the upstream frees its key); otherwise it does nothing.
	ForgetIdempotent(ctx context.Context, orgID int64, key string) error
	// ExtendIdempotentLease moves the lease of the org's in-progress record for key (its
	// request is still running); no-op for a finished record or none.
	ExtendIdempotentLease(ctx context.Context, orgID int64, key string, until time.Time) error
	// PurgeIdempotency deletes the records that expired before t and returns how many.
	PurgeIdempotency(ctx context.Context, t time.Time) (int, error)

	// AddUsage adds the deltas to their day rows, creating them as needed, in one
	// transaction.
	AddUsage(ctx context.Context, deltas []UsageDelta) error
	// ListUsage returns the day rows q selects, ordered by day, org, service, action.
	ListUsage(ctx context.Context, q UsageQuery) ([]UsageRow, error)

	// PutBudget creates or replaces the budget of (org, service).
	PutBudget(ctx context.Context, b *Budget) error
	// GetBudget returns ENOTFOUND when the org has no budget for the service.
	GetBudget(ctx context.Context, orgID int64, service string) (*Budget, error)
	// DeleteBudget returns ENOTFOUND when there is none.
	DeleteBudget(ctx context.Context, orgID int64, service string) error
	// ListBudgets lists an org's budgets (orgID 0: every org's).
	ListBudgets(ctx context.Context, orgID int64) ([]*Budget, error)

	// ReserveBudget adds r.Units to the window's counters if, for every unit, used + units
	// stays within limits (units without a limit are counted but never refuse), and
	// records r until it is committed or released. Atomic across replicas. It returns
	// whether it reserved and the counters after (or as they were, when refused).
	ReserveBudget(ctx context.Context, r *BudgetReservation, limits Units) (ok bool, used Units, err error)
	// CommitBudget keeps the reservation's units spent and forgets the reservation.
	CommitBudget(ctx context.Context, id string) error
	// ReleaseBudget gives the reservation's units back and forgets it. Unknown ids: no-op.
	ReleaseBudget(ctx context.Context, id string) error
	// ExpireBudgetReservations releases every reservation whose ExpiresAt is before now;
	// it returns how many.
	ExpireBudgetReservations(ctx context.Context, now time.Time) (int, error)
	// BudgetUsed returns the window's counters (empty when nothing was reserved).
	BudgetUsed(ctx context.Context, orgID int64, service, window string) (Units, error)

	// Version returns a number that changes whenever anything above changes (except
	// TouchAPIKeys, AppendAudit, jobs, idempotency records, usage and budget counters), so
	// caches can tell when to reload.
	Version(ctx context.Context) (int64, error)

	Close() error

	// PutOrgWebhook creates or replaces the org's outgoing webhook (w.OrgID); it sets
	// CreatedAt (kept when replacing) and UpdatedAt.
	PutOrgWebhook(ctx context.Context, w *OrgWebhook) error
	// GetOrgWebhook returns ENOTFOUND when the org has none.
	GetOrgWebhook(ctx context.Context, orgID int64) (*OrgWebhook, error)
	// DeleteOrgWebhook returns ENOTFOUND when the org has none. Its deliveries stay
	// (pending ones fail at their next attempt).
	DeleteOrgWebhook(ctx context.Context, orgID int64) error
	// ClaimWebhookDeliveries atomically gives owner at most limit pending deliveries that
	// are due (NextAttemptAt <= now) and whose lease is free, expired or owner's already,
	// oldest first; each lease runs until leaseUntil. Two owners never hold one delivery.
	ClaimWebhookDeliveries(ctx context.Context, owner string, now, leaseUntil time.Time, limit int) ([]*WebhookDelivery, error)
	// RecordWebhookAttempt saves d's Payload, State, Attempts, NextAttemptAt, LastStatus,
	// LastError and UpdatedAt, appends a (with a.DeliveryID = d.ID) and frees the lease, in
	// one transaction — if owner still holds d's lease; else it changes nothing and returns
	// ECONFLICT.
	RecordWebhookAttempt(ctx context.Context, d *WebhookDelivery, a *WebhookAttempt, owner string) error
	// ListWebhookDeliveries returns an org's deliveries newest first with Seq < before (0:
	// from the newest), at most limit.
	ListWebhookDeliveries(ctx context.Context, orgID int64, before int64, limit int) ([]*WebhookDelivery, error)
	// WebhookDelivery returns one of the org's deliveries; ENOTFOUND when the org has none
	// with that id.
	WebhookDelivery(ctx context.Context, orgID int64, id string) (*WebhookDelivery, error)
	// ListWebhookAttempts returns the attempts of the given deliveries of the org, ordered
	// by delivery then attempt number.
	ListWebhookAttempts(ctx context.Context, orgID int64, deliveryIDs []string) ([]*WebhookAttempt, error)
	// RetryWebhookDelivery makes the org's delivery pending and due at now (its attempts
	// are kept). ENOTFOUND when the org has none with that id.
	RetryWebhookDelivery(ctx context.Context, orgID int64, id string, now time.Time) error
	// SeenWebhookEvent records that an incoming event of service with that key (an event
	// id, or a hash of its body) arrived at t, and reports whether it was recorded before.
	// Atomic across replicas: of two concurrent calls with one key, one returns false.
	SeenWebhookEvent(ctx context.Context, service, key string, t time.Time) (bool, error)
	// PurgeWebhooks deletes incoming-event records seen before t and finished (delivered or
	// failed) deliveries, with their attempts, created before t; it returns how many rows
	// of both it deleted.
	PurgeWebhooks(ctx context.Context, t time.Time) (int, error)
}
