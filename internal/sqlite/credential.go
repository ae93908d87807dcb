package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
)

const credentialColumns = `service, source, org_id, kek_id, wrapped_dek, ciphertext, fingerprint, last4, created_at, updated_at`

// PutCredential creates or replaces the credential for (service, source, org), and sets its
// CreatedAt (kept from the credential it replaces) and UpdatedAt.
func (s *Store) PutCredential(ctx context.Context, c *aiproxy.Credential) error {
	updated := sqlcodec.Now()
	return s.write(ctx, true, func(ctx context.Context, tx *sql.Tx) error {
		var created int64
		err := tx.QueryRowContext(ctx, `INSERT INTO credentials (`+credentialColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (service, source, org_id) DO UPDATE SET
				kek_id = excluded.kek_id, wrapped_dek = excluded.wrapped_dek, ciphertext = excluded.ciphertext,
				fingerprint = excluded.fingerprint, last4 = excluded.last4, updated_at = excluded.updated_at
			RETURNING created_at`,
			c.Service, string(c.Source), c.OrgID, c.Sealed.KEKID, sqlcodec.Bytes(c.Sealed.WrappedDEK), sqlcodec.Bytes(c.Sealed.Ciphertext),
			c.Fingerprint, c.Last4, nanos(updated), nanos(updated)).Scan(&created)
		if err != nil {
			return fmt.Errorf("put credential %s/%s/%d: %w", c.Service, c.Source, c.OrgID, err)
		}
		c.CreatedAt, c.UpdatedAt = fromNanos(created), updated
		return nil
	})
}

// GetCredential returns ENOTFOUND if none is stored.
func (s *Store) GetCredential(ctx context.Context, service string, source aiproxy.Source, orgID int64) (*aiproxy.Credential, error) {
	c, err := get(ctx, s, scanCredential, `SELECT `+credentialColumns+` FROM credentials
		WHERE service = ? AND source = ? AND org_id = ?`, service, string(source), orgID)
	return c, sqlcodec.NotFound(err, sql.ErrNoRows, "No %s credential for %s.", source, service)
}

// DeleteCredential returns ENOTFOUND if none is stored.
func (s *Store) DeleteCredential(ctx context.Context, service string, source aiproxy.Source, orgID int64) error {
	return s.write(ctx, true, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE service = ? AND source = ? AND org_id = ?`,
			service, string(source), orgID)
		if err != nil {
			return fmt.Errorf("delete credential: %w", err)
		}
		return mustAffect(res, "No %s credential for %s.", source, service)
	})
}

// ListCredentials lists every stored credential.
func (s *Store) ListCredentials(ctx context.Context) ([]*aiproxy.Credential, error) {
	return list(ctx, s, "list credentials", scanCredential, `SELECT `+credentialColumns+` FROM credentials ORDER BY service, source, org_id`)
}

// ServiceCredentials lists the credentials stored under service.
func (s *Store) ServiceCredentials(ctx context.Context, service string) ([]*aiproxy.Credential, error) {
	return list(ctx, s, "list credentials", scanCredential, `SELECT `+credentialColumns+` FROM credentials WHERE service = ? ORDER BY source, org_id`, service)
}

// RewrapCredential stores c.Sealed's KEK id and wrapped DEK if the stored KEK id is still
// oldKEKID, and reports whether it did. The ciphertext and UpdatedAt are left alone: the
// secret did not change.
func (s *Store) RewrapCredential(ctx context.Context, c *aiproxy.Credential, oldKEKID string) (bool, error) {
	var swapped bool
	err := s.write(ctx, true, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE credentials SET kek_id = ?, wrapped_dek = ?
			WHERE service = ? AND source = ? AND org_id = ? AND kek_id = ?`,
			c.Sealed.KEKID, sqlcodec.Bytes(c.Sealed.WrappedDEK), c.Service, string(c.Source), c.OrgID, oldKEKID)
		if err != nil {
			return fmt.Errorf("rewrap credential: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("rewrap credential: %w", err)
		}
		swapped = n == 1
		if !swapped {
			return errNoChange
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return false, nil
	}
	return swapped, err
}

// errNoChange rolls back a write that turned out to change nothing, so Version stays.
var errNoChange = errors.New("no change")

func scanCredential(row sqlcodec.Row) (*aiproxy.Credential, error) {
	var (
		c                aiproxy.Credential
		source           string
		created, updated int64
	)
	if err := row.Scan(&c.Service, &source, &c.OrgID, &c.Sealed.KEKID, &c.Sealed.WrappedDEK, &c.Sealed.Ciphertext,
		&c.Fingerprint, &c.Last4, &created, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan credential: %w", err)
	}
	c.Source = aiproxy.Source(source)
	c.CreatedAt, c.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &c, nil
}
