package sovereign

import (
	"context"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// CurrentProject asks the data plane which project the client's API key
// opens.
//
// Errors: [CodeUnauthenticated] (a missing, malformed, unknown, revoked or
// expired key, with the reason), [CodeFailedPrecondition] (the project is
// paused or being deleted).
func (c *Client) CurrentProject(ctx context.Context) (*ProjectInfo, error) {
	m, err := unary(ctx, c.c, dataplanev1connect.ProjectServiceGetCurrentProjectProcedure, callRead,
		c.project.GetCurrentProject, &dataplanev1.GetCurrentProjectRequest{})
	if err != nil {
		return nil, err
	}
	return &ProjectInfo{Ref: m.GetRef(), Region: m.GetRegion(), KeyKind: KeyKind(m.GetKeyKind()), KeyID: m.GetKeyId()}, nil
}
