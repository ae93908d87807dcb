package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/masterkeys"
	"github.com/aiproxy/aiproxy/internal/postgres"
	"github.com/aiproxy/aiproxy/internal/sqlite"
)

const defaultDB = "./aiproxy.db"

// isPostgres reports whether db names a PostgreSQL database rather than a SQLite file.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// openStore opens (and migrates) the store that db names.
func openStore(ctx context.Context, db string) (aiproxy.Store, error) {
	if isPostgres(db) {
		s, err := postgres.Open(ctx, db)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL: %w", err)
		}
		return s, nil
	}
	if dir := filepath.Dir(db); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	s, err := sqlite.Open(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", db, err)
	}
	return s, nil
}

// dataDir is where files that belong with the database live (the master key file).
func dataDir(db string) string {
	if isPostgres(db) {
		return "."
	}
	return filepath.Dir(db)
}

// keySource says where the master key comes from, for the log (never the key itself).
type keySource struct {
	keys    [][]byte
	where   string
	created bool
}

// masterKeys says where the master key is to be found.
type masterKeys struct {
	db     string              // the database: a SQLite file keeps its key file beside it
	file   string              // --master-key-file; "" when not given
	getenv func(string) string // the environment
}

// load finds the master key, in this order (docs/operations.md, "Configuration"):
//  1. the key file named by --master-key-file;
//  2. AIPROXY_MASTER_KEY, the key itself;
//  3. the key file named by AIPROXY_MASTER_KEY_FILE;
//  4. with SQLite, aiproxy.key beside the database, created with mode 0600 when missing.
//     With PostgreSQL there is no default: replicas must share one key.
//
// A key file may hold several keys, one per line: the first seals, all open (that is how
// servers accept both keys while the master key rotates). AIPROXY_PREVIOUS_MASTER_KEYS adds
// keys that only open.
func (mk masterKeys) load() (*keySource, error) {
	ks := &keySource{}
	keyFile, explicit := mk.file, mk.file != ""
	if !explicit {
		if v := mk.getenv("AIPROXY_MASTER_KEY"); v != "" {
			k, err := masterkeys.ParseKey(v)
			if err != nil {
				return nil, fmt.Errorf("AIPROXY_MASTER_KEY: %w", err)
			}
			ks.keys, ks.where = [][]byte{k}, "AIPROXY_MASTER_KEY"
		} else if keyFile = mk.getenv("AIPROXY_MASTER_KEY_FILE"); keyFile != "" {
			explicit = true
		}
	}
	if ks.keys == nil {
		if keyFile == "" && isPostgres(mk.db) {
			// Replicas on one database must share one master key: a key file made up
			// on the spot by each of them would seal credentials the others cannot open.
			return nil, usagef("with PostgreSQL, give the master key: --master-key-file, AIPROXY_MASTER_KEY or AIPROXY_MASTER_KEY_FILE (every replica needs the same one)")
		}
		if keyFile == "" {
			keyFile = filepath.Join(dataDir(mk.db), "aiproxy.key")
		}
		keys, err := masterkeys.ReadKeyFile(keyFile)
		switch {
		case err == nil:
			ks.keys = keys
		case errors.Is(err, fs.ErrNotExist) && !explicit:
			k, err := masterkeys.CreateKeyFile(keyFile)
			if err != nil {
				return nil, fmt.Errorf("create master key file: %w", err)
			}
			ks.keys, ks.created = [][]byte{k}, true
		default:
			return nil, fmt.Errorf("master key: %w", err)
		}
		ks.where = keyFile
	}
	for _, v := range strings.FieldsFunc(mk.getenv("AIPROXY_PREVIOUS_MASTER_KEYS"), func(r rune) bool { return r == ',' || r == ' ' }) {
		k, err := masterkeys.ParseKey(v)
		if err != nil {
			return nil, fmt.Errorf("AIPROXY_PREVIOUS_MASTER_KEYS: %w", err)
		}
		ks.keys = append(ks.keys, k)
	}
	return ks, nil
}

func (ks *keySource) keyring() (*masterkeys.Keyring, error) {
	return masterkeys.NewKeyring(ks.keys[0], ks.keys[1:]...)
}

func (ks *keySource) log(logger *slog.Logger) {
	if ks.created {
		logger.Warn("no master key given: created a new master key file (mode 0600); back it up, credentials cannot be read without it",
			slog.String("path", ks.where))
		return
	}
	logger.Info("master key loaded", slog.String("from", ks.where), slog.Int("keys", len(ks.keys)))
}
