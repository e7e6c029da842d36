package factory

import (
	"errors"
	"fmt"
	"testing"

	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{errors.New("boom"), ExitError},
		{UsageError("bad flag"), ExitUsage},
		{NotFoundError("no such org"), ExitNotFound},
		{&sovereign.Error{Code: sovereign.CodeUnauthenticated}, ExitAuth},
		{fmt.Errorf("wrapped: %w", &sovereign.Error{Code: sovereign.CodePermissionDenied}), ExitAuth},
		{&sovereign.Error{Code: sovereign.CodeNotFound}, ExitNotFound},
		{&sovereign.Error{Code: sovereign.CodeInvalidArgument}, ExitError},
		{&sovereign.Error{Code: sovereign.CodeUnavailable}, ExitError},
		// A code chosen by the command wins over the platform's.
		{WithExitCode(&sovereign.Error{Code: sovereign.CodeNotFound}, ExitUsage), ExitUsage},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
