package accounts

import (
	"strings"
	"testing"
)

// The hashing itself is tested in internal/passwords; this checks that the
// rule reaches accounts' callers as an InputError on the password field.
func TestCheckPassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		password, email string
		ok              bool
	}{
		{"correct horse battery", "ada@example.com", true},
		{"123456789", "ada@example.com", false},
		{"my ADA password 1", "ada@example.com", false},
	}
	for _, tt := range tests {
		err := checkPassword(tt.password, tt.email)
		if (err == nil) != tt.ok {
			t.Errorf("checkPassword(%q, %q) = %v, want ok=%v", tt.password, tt.email, err, tt.ok)
		}
		if err == nil {
			continue
		}
		ie, ok := err.(*InputError)
		if !ok || ie.Field != "password" || !strings.Contains(err.Error(), passwordRule) {
			t.Errorf("error %#v is not a password InputError stating the rule", err)
		}
	}
}
