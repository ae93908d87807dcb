// Package tenancy is the service layer: every rule about who may do what to which org,
// key, credential or setting lives here, and both the HTTP API (internal/httpapi) and the
// command line (cmd/aiproxy) call it, so that they cannot drift apart. Handlers and
// commands only parse input and render output.
//
// It owns authentication (a key is valid only while every key above it is), the role and
// scope checks, key creation and revocation (with the tokens a key minted), browser-token
// minting, org, credential and settings changes with their validation and audit records,
// the layering of service settings (catalog default → platform-wide → org), discovery's
// view of the catalog, and master-key rotation.
package tenancy

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/providerkeys"
)

// Manager performs the operations. Its fields are set once, before use.
type Manager struct {
	Store   aiproxy.Store
	Vault   *providerkeys.Vault
	Catalog *catalog.Catalog
	Now     func() time.Time
	// Budgets reserves budget units across replicas; nil: the store's own counters.
	Budgets BudgetLedger
	// Meter records usage; nil records nothing.
	Meter *Meter
	// Logger receives what the service layer notices but cannot answer (nil: the default).
	Logger *slog.Logger
}

func (m *Manager) logf(msg string, args ...any) {
	l := m.Logger
	if l == nil {
		l = slog.Default()
	}
	l.Warn(msg, args...)
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

// Actor is who asks for an operation: an authenticated API key, or the command line.
type Actor struct {
	// Key is the caller's key; nil for the command line, which runs on the server with
	// access to its database and so may do what an operator may.
	Key *aiproxy.APIKey
}

// CLI is the command line as an actor.
var CLI = Actor{}

// Name is how the audit trail names the actor: its key prefix (never the key), or "cli".
func (a Actor) Name() string {
	if a.Key == nil {
		return "cli"
	}
	return a.Key.Prefix
}

// Operator reports whether the actor has platform-wide powers.
func (a Actor) Operator() bool { return a.Key == nil || a.Key.Role == aiproxy.RoleOperator }

// The texts of docs/contract.md §2 and §9 that clients match on.
const (
	detailNotAuthenticated = "Authentication credentials were not provided."
	detailInvalidToken     = "Invalid token."
	detailForbidden        = "You do not have permission to perform this action."
)

var (
	// ErrNotAuthenticated: no Authorization header, or an unknown scheme (401).
	ErrNotAuthenticated = &aiproxy.Error{Code: aiproxy.EUNAUTHORIZED, Message: detailNotAuthenticated}
	// ErrInvalidToken: an unknown, revoked or expired key, or one whose minting key is (401).
	ErrInvalidToken = &aiproxy.Error{Code: aiproxy.EUNAUTHORIZED, Message: detailInvalidToken}
	// ErrForbidden: a valid key without the permission needed (403).
	ErrForbidden = &aiproxy.Error{Code: aiproxy.EFORBIDDEN, Message: detailForbidden}
)

func invalid(format string, args ...any) error {
	return aiproxy.Errorf(aiproxy.EINVALID, format, args...)
}

// audit records one change. before and after are views (never a secret), or nil.
func (m *Manager) audit(ctx context.Context, actor Actor, orgID int64, action, target string, before, after any) error {
	e := &aiproxy.AuditEntry{OrgID: orgID, Actor: actor.Name(), Action: action, Target: target,
		Before: auditJSON(before), After: auditJSON(after), CreatedAt: m.now()}
	return m.Store.AppendAudit(ctx, e)
}

func auditJSON(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
