package credentials

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestUpdateIsSerialisedAndPrivate(t *testing.T) {
	s := &Store{Dir: filepath.Join(t.TempDir(), "sovereign")}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			err := s.Update(func(f *File) error {
				p := f.Profiles["default"]
				if p == nil {
					p = &Profile{Email: "0"}
					f.Profiles["default"] = p
				}
				n, _ := strconv.Atoi(p.Email)
				p.Email = strconv.Itoa(n + 1)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	p, err := s.Profile("default")
	if err != nil {
		t.Fatal(err)
	}
	if p.Email != "20" {
		t.Errorf("20 updates under the lock counted %s: updates were lost", p.Email)
	}
	if st, _ := os.Stat(s.Path()); st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v", st.Mode().Perm())
	}
	if st, _ := os.Stat(s.Dir); st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", st.Mode().Perm())
	}
}

func TestLoad(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	p, err := s.Profile("nobody")
	if err != nil || p.LoggedIn() {
		t.Errorf("missing file: %+v, %v", p, err)
	}
	if err := os.WriteFile(s.Path(), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(); err == nil || !strings.Contains(err.Error(), "log in again") {
		t.Errorf("corrupt file: %v", err)
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("SOV_CONFIG_DIR", "/tmp/x")
	if d, err := DefaultDir(); err != nil || d != "/tmp/x" {
		t.Errorf("DefaultDir = %q, %v", d, err)
	}
}
