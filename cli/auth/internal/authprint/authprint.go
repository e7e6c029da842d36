// Package authprint prints what the `sov auth` commands show: end users and
// their flags and times; a table on a terminal, tab-separated values in a
// pipe, JSON on request.
package authprint

import (
	"strconv"
	"strings"
	"time"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/tableprinter"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Header names the columns of PrintUsers, in order.
var Header = []string{"id", "email", "role", "verified", "disabled", "mfa", "providers", "created", "last sign-in"}

// PrintUsers prints users: a JSON array with asJSON; else one row each, a
// table with a header on a terminal (yes or blank for flags, "(anonymous)"
// for an anonymous user's email, relative times), tab-separated in a pipe
// (true or false, RFC 3339).
func PrintUsers(ios *factory.IOStreams, now time.Time, users []*sovereign.User, asJSON bool) error {
	if asJSON {
		return factory.PrintJSON(ios.Out, factory.NonNil(users))
	}
	tp := tableprinter.New(ios.Out, ios.OutTTY, now, Header...)
	for _, u := range users {
		for _, c := range cells(ios.OutTTY, now, u) {
			tp.Field(c)
		}
		tp.EndRow()
	}
	return tp.Render()
}

// PrintUser prints one user: indented JSON with asJSON; on a terminal one
// field a line; in a pipe the row PrintUsers would print.
func PrintUser(ios *factory.IOStreams, now time.Time, u *sovereign.User, asJSON bool) error {
	if asJSON {
		return factory.PrintJSON(ios.Out, u)
	}
	if !ios.OutTTY {
		return PrintUsers(ios, now, []*sovereign.User{u}, false)
	}
	tp := tableprinter.New(ios.Out, true, now)
	for i, c := range cells(true, now, u) {
		tp.Field(Header[i])
		tp.Field(c)
		tp.EndRow()
	}
	return tp.Render()
}

// cells are u's values in Header's order.
func cells(tty bool, now time.Time, u *sovereign.User) []string {
	email := u.Email
	if tty && u.Anonymous {
		email = "(anonymous)"
	}
	return []string{u.ID, email, u.Role, Flag(tty, u.EmailVerified), Flag(tty, u.Disabled), Flag(tty, u.MFAEnabled),
		strings.Join(u.Providers, ","), Time(tty, now, u.CreatedAt), Time(tty, now, u.LastSignInAt)}
}

// Time writes a time as tableprinter does: relative on a terminal ("-"
// when zero), RFC 3339 in UTC in a pipe (blank when zero).
func Time(tty bool, now, t time.Time) string {
	switch {
	case tty && t.IsZero():
		return "-"
	case tty:
		return tableprinter.RelativeTime(now, t)
	case t.IsZero():
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Flag writes a boolean for whoever reads it: "yes" or blank on a
// terminal, true or false in a pipe.
func Flag(tty, b bool) string {
	if !tty {
		return strconv.FormatBool(b)
	}
	if b {
		return "yes"
	}
	return ""
}
