// Package credentials keeps `sov`'s logins: one file, credentials.json, in
// the user's config directory (os.UserConfigDir()/sovereign, or
// $SOV_CONFIG_DIR), readable by its owner only. The file holds named
// profiles, so one user can be signed in to several accounts or platforms
// and pick one with --profile.
package credentials

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// DefaultProfile is the profile used when --profile and SOV_PROFILE are unset.
const DefaultProfile = "default"

// FileName is the name of the credentials file in its directory.
const FileName = "credentials.json"

// File is the content of credentials.json.
type File struct {
	// Profiles by name.
	Profiles map[string]*Profile `json:"profiles"`
}

// Profile is one login.
type Profile struct {
	// APIURL is the control plane the profile signed in to.
	APIURL string `json:"api_url,omitempty"`
	// DataURL is the data plane URL used with the profile.
	DataURL string `json:"data_url,omitempty"`
	// Email of the account, for display.
	Email string `json:"email,omitempty"`
	// Session is the login's session (access and refresh tokens, with their
	// expiry), when the profile signed in with a password.
	Session *sovereign.Session `json:"session,omitempty"`
	// Token is a personal access token, when the profile signed in with one.
	Token string `json:"token,omitempty"`
}

// LoggedIn reports whether p holds credentials.
func (p *Profile) LoggedIn() bool {
	return p != nil && (p.Token != "" || (p.Session != nil && p.Session.RefreshToken != ""))
}

// Store reads and writes the credentials file of one directory.
type Store struct {
	// Dir is the directory of credentials.json; it is created with mode
	// 0700 when missing.
	Dir string
}

// DefaultDir returns $SOV_CONFIG_DIR when set, else the sovereign directory
// in the user's config directory.
func DefaultDir() (string, error) {
	if d := os.Getenv("SOV_CONFIG_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the config directory (set SOV_CONFIG_DIR): %w", err)
	}
	return filepath.Join(d, "sovereign"), nil
}

// Path is the credentials file's path.
func (s *Store) Path() string { return filepath.Join(s.Dir, FileName) }

// Load reads the file; a missing file is an empty one.
func (s *Store) Load() (*File, error) {
	b, err := os.ReadFile(s.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return &File{Profiles: map[string]*Profile{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	f := &File{}
	if err := json.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("read credentials: %s is not valid JSON (%v): remove it and log in again", s.Path(), err)
	}
	if f.Profiles == nil {
		f.Profiles = map[string]*Profile{}
	}
	return f, nil
}

// Profile returns the named profile, or an empty one.
func (s *Store) Profile(name string) (*Profile, error) {
	f, err := s.Load()
	if err != nil {
		return nil, err
	}
	if p := f.Profiles[name]; p != nil {
		return p, nil
	}
	return &Profile{}, nil
}

// Update reads the file, lets fn change it and writes it back, holding a
// lock that keeps other `sov` processes out in between (so that two of them
// never refresh the same session). Nothing is written when fn fails.
func (s *Store) Update(fn func(*File) error) error {
	if err := s.mkdir(); err != nil {
		return err
	}
	unlock, err := lock(filepath.Join(s.Dir, FileName+".lock"))
	if err != nil {
		return fmt.Errorf("lock credentials: %w", err)
	}
	defer unlock()
	f, err := s.Load()
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		return err
	}
	return s.write(f)
}

func (s *Store) mkdir() error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", s.Dir, err)
	}
	return nil
}

// write replaces the file atomically; it is never readable by others, not
// even for a moment.
func (s *Store) write(f *File) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.Dir, FileName+".*") // mode 0600
	if err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write credentials: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.Path()); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}
