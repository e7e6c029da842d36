// Package orgs holds organizations, their members and invitations, and the
// roles that decide what a member may do: owner, admin, developer, viewer,
// from most to least. Viewers read; developers manage projects and keys;
// admins also manage members and rename the organization; only an owner
// deletes it, changes its plan, or grants or takes the owner role. An
// organization always keeps at least one owner. To a caller who is not a
// member, an organization does not exist (fault.NotFound), so its existence
// is never revealed.
//
// The package is transport-free: Service returns *fault.Error for what a
// caller can act on; handler.go maps those to Connect codes.
package orgs

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/sovereign-backend/sovereign/controlplane/fault"
)

// Role is a member's role in an organization.
type Role string

// Roles, from most to least powerful.
const (
	Owner     Role = "owner"
	Admin     Role = "admin"
	Developer Role = "developer"
	Viewer    Role = "viewer"
)

func (r Role) rank() int {
	switch r {
	case Owner:
		return 4
	case Admin:
		return 3
	case Developer:
		return 2
	case Viewer:
		return 1
	}
	return 0
}

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// AtLeast reports whether r is min or a more powerful role. An invalid role
// is at least nothing.
func (r Role) AtLeast(min Role) bool { return r.Valid() && r.rank() >= min.rank() }

// Require returns a fault.PermissionDenied error saying that doing needs
// min, unless r is at least min.
func (r Role) Require(min Role, doing string) error {
	if r.AtLeast(min) {
		return nil
	}
	return fault.New(fault.PermissionDenied, "%s needs the %s role or higher; you are %s", doing, min, r)
}

// Caller is the account making a request.
type Caller struct {
	// AccountID is the account's id (UUID text).
	AccountID string
	// Email is the account's email address, lowercased.
	Email string
}

// Organization is an organization as one member sees it.
type Organization struct {
	ID        string
	Name      string
	Plan      string
	Role      Role // the caller's role
	CreatedAt time.Time
}

// Member is one member of an organization.
type Member struct {
	AccountID string
	Email     string
	Role      Role
	JoinedAt  time.Time
}

// Invitation is a pending invitation.
type Invitation struct {
	ID             string
	OrganizationID string
	Email          string
	Role           Role
	ExpiresAt      time.Time
}

// MaxNameLen is the longest organization or project name, in characters.
const MaxNameLen = 64

// CleanName trims s and checks it is a usable name: 1 to MaxNameLen
// characters, no control characters. field names the input in the error.
func CleanName(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		return "", fault.New(fault.Invalid, "%s: give a name of 1 to %d characters", field, MaxNameLen)
	case n > MaxNameLen:
		return "", fault.New(fault.Invalid, "%s: %d characters is too long; the limit is %d", field, n, MaxNameLen)
	case !utf8.ValidString(s):
		return "", fault.New(fault.Invalid, "%s: not valid UTF-8", field)
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return "", fault.New(fault.Invalid, "%s: control characters are not allowed (at byte %d)", field, i)
	}
	return s, nil
}

// ParseID checks that s is a UUID and returns it in canonical form. field
// names the input in the error.
func ParseID(field, s string) (string, error) {
	id, err := uuid.Parse(s)
	if err != nil || s == "" {
		return "", fault.New(fault.Invalid, "%s: %q is not a valid id", field, truncate(s, 64))
	}
	return id.String(), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
