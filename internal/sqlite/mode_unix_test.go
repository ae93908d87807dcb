//go:build unix

package sqlite_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/aiproxy/aiproxy"
)

// The database and its -wal and -shm files hold sealed credentials and key hashes: they
// are created mode 0600 whatever the process's umask, like the master key file.
func TestModeOfNewFilesIsPrivate(t *testing.T) {
	for _, umask := range []int{0o022, 0o002, 0} {
		old := syscall.Umask(umask)
		path := filepath.Join(t.TempDir(), "aiproxy.db")
		s := open(t, path)
		err := s.CreateOrg(context.Background(), &aiproxy.Org{Slug: "acme", Name: "Acme"}) // a write: the WAL has content
		syscall.Umask(old)
		must(t, err)
		for _, name := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(name)
			if err != nil {
				t.Errorf("umask %03o: %v", umask, err)
				continue
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("umask %03o: %s has mode %v, want -rw-------", umask, filepath.Base(name), fi.Mode().Perm())
			}
		}
		must(t, s.Close())
	}
}

// An existing database keeps its mode (the operator's choice), and so do the files SQLite
// makes beside it.
func TestModeOfAnExistingDatabaseIsLeftAlone(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "aiproxy.db")
	must(t, open(t, path).Close())
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	must(t, os.Chmod(path, 0o640))

	s := open(t, path)
	defer s.Close()
	must(t, s.CreateOrg(context.Background(), &aiproxy.Org{Slug: "acme", Name: "Acme"}))
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		if got := mode(t, name); got != 0o640 {
			t.Errorf("%s has mode %v, want -rw-r----- (the database's)", filepath.Base(name), got)
		}
	}
}

func mode(t *testing.T, name string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}
