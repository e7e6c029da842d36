package factory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sovereign-backend/sovereign/cli/credentials"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// refreshMargin is how long before its expiry an access token is replaced,
// so that it does not expire on the way.
const refreshMargin = 30 * time.Second

// Store returns the credentials store.
func (f *Factory) Store() (*credentials.Store, error) {
	dir, err := f.ConfigDir()
	if err != nil {
		return nil, err
	}
	return &credentials.Store{Dir: dir}, nil
}

// ProfileName is the profile the command acts on.
func (f *Factory) ProfileName() string { return cmp.Or(f.Profile, credentials.DefaultProfile) }

// Endpoints returns the control and data plane URLs: --api-url and
// --data-url (or their environment variables) when given, else those stored
// in the profile, else those of `sovereign dev`.
func (f *Factory) Endpoints() (apiURL, dataURL string, err error) {
	p := &credentials.Profile{}
	if f.APIURL == "" || f.DataURL == "" {
		store, err := f.Store()
		if err != nil {
			return "", "", err
		}
		if p, err = store.Profile(f.ProfileName()); err != nil {
			return "", "", err
		}
	}
	return cmp.Or(f.APIURL, p.APIURL, DefaultAPIURL), cmp.Or(f.DataURL, p.DataURL, DefaultDataURL), nil
}

// AnonymousClient returns a control plane client without credentials, for
// signup, login and the dev mailbox.
func (f *Factory) AnonymousClient() (*sovereign.ManagementClient, error) {
	api, _, err := f.Endpoints()
	if err != nil {
		return nil, err
	}
	return sovereign.NewManagementClient(api, f.clientOptions()...), nil
}

func (f *Factory) clientOptions(extra ...sovereign.Option) []sovereign.Option {
	return append(append([]sovereign.Option{sovereign.WithUserAgent("sov")}, f.ClientOptions...), extra...)
}

// NotLoggedIn is the error of a command that needs credentials the profile
// does not have (exit code 3).
func (f *Factory) NotLoggedIn() error {
	hint := "sov login"
	if name := f.ProfileName(); name != credentials.DefaultProfile {
		hint += " --profile " + name
	}
	return WithExitCode(fmt.Errorf("not logged in (profile %q): run `%s`", f.ProfileName(), hint), ExitAuth)
}

// Client returns a control plane client signed in with the profile's
// credentials. A session's access token is refreshed when it is about to
// expire, and the new session saved at once: the old refresh token stops
// working as soon as it is used.
func (f *Factory) Client() (*sovereign.ManagementClient, error) {
	store, err := f.Store()
	if err != nil {
		return nil, err
	}
	p, err := store.Profile(f.ProfileName())
	if err != nil {
		return nil, err
	}
	if !p.LoggedIn() {
		return nil, f.NotLoggedIn()
	}
	api := cmp.Or(f.APIURL, p.APIURL, DefaultAPIURL)
	if p.Token != "" {
		return sovereign.NewManagementClient(api, f.clientOptions(sovereign.WithToken(p.Token))...), nil
	}
	s := &sessionSource{f: f, store: store, api: api, session: p.Session}
	return sovereign.NewManagementClient(api, f.clientOptions(sovereign.WithTokenFunc(s.token))...), nil
}

// sessionSource hands out the profile's access token, refreshing it when
// needed.
type sessionSource struct {
	f     *Factory
	store *credentials.Store
	api   string

	mu      sync.Mutex
	session *sovereign.Session
}

func (s *sessionSource) fresh(sess *sovereign.Session) bool {
	return sess != nil && sess.AccessToken != "" && s.f.Now().Add(refreshMargin).Before(sess.AccessExpiresAt)
}

func (s *sessionSource) token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fresh(s.session) {
		return s.session.AccessToken, nil
	}
	name := s.f.ProfileName()
	err := s.store.Update(func(file *credentials.File) error {
		p := file.Profiles[name]
		if !p.LoggedIn() || p.Session == nil {
			return s.f.NotLoggedIn()
		}
		// Another sov may have refreshed while this one waited for the lock.
		if s.fresh(p.Session) {
			s.session = p.Session
			return nil
		}
		if !s.f.Now().Before(p.Session.RefreshExpiresAt) {
			return WithExitCode(fmt.Errorf("your session has expired: run `sov login`"), ExitAuth)
		}
		anon := sovereign.NewManagementClient(s.api, s.f.clientOptions()...)
		next, err := anon.Refresh(ctx, p.Session.RefreshToken)
		if err != nil {
			if sovereign.IsUnauthenticated(err) {
				var e *sovereign.Error
				errors.As(err, &e)
				return WithExitCode(fmt.Errorf("your session has ended (%s): run `sov login`", e.Message), ExitAuth)
			}
			return fmt.Errorf("refresh the session: %w", err)
		}
		if next.Account == nil {
			next.Account = p.Session.Account
		}
		p.Session = next
		s.session = next
		return nil
	})
	if err != nil {
		return "", err
	}
	return s.session.AccessToken, nil
}

// SaveLogin stores credentials in the profile, with the URLs they are for,
// replacing what it held.
func (f *Factory) SaveLogin(p *credentials.Profile) error {
	store, err := f.Store()
	if err != nil {
		return err
	}
	return store.Update(func(file *credentials.File) error {
		file.Profiles[f.ProfileName()] = p
		return nil
	})
}

// Forget removes the profile's credentials, keeping its URLs.
func (f *Factory) Forget() error {
	store, err := f.Store()
	if err != nil {
		return err
	}
	return store.Update(func(file *credentials.File) error {
		if p := file.Profiles[f.ProfileName()]; p != nil {
			file.Profiles[f.ProfileName()] = &credentials.Profile{APIURL: p.APIURL, DataURL: p.DataURL}
		}
		return nil
	})
}

// LoggedInProfile returns the profile when it holds credentials, and
// NotLoggedIn otherwise.
func (f *Factory) LoggedInProfile() (*credentials.Profile, error) {
	store, err := f.Store()
	if err != nil {
		return nil, err
	}
	p, err := store.Profile(f.ProfileName())
	if err != nil {
		return nil, err
	}
	if !p.LoggedIn() {
		return nil, f.NotLoggedIn()
	}
	return p, nil
}
