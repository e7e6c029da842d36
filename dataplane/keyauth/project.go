package keyauth

import (
	"context"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/internal/rpcerr"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// ProjectHandler serves sovereign.dataplane.v1.ProjectService. Mount it
// behind the Interceptor:
//
//	mux.Handle(dataplanev1connect.NewProjectServiceHandler(
//		keyauth.NewProjectHandler(region),
//		connect.WithInterceptors(keyauth.NewInterceptor(keys))))
type ProjectHandler struct{ region string }

var _ dataplanev1connect.ProjectServiceHandler = (*ProjectHandler)(nil)

// NewProjectHandler returns the ProjectService of a node serving region.
func NewProjectHandler(region string) *ProjectHandler { return &ProjectHandler{region: region} }

// GetCurrentProject answers with the project, region and key of the
// caller's API key.
func (h *ProjectHandler) GetCurrentProject(ctx context.Context, _ *connect.Request[dataplanev1.GetCurrentProjectRequest]) (*connect.Response[dataplanev1.GetCurrentProjectResponse], error) {
	id, ok := FromContext(ctx)
	if !ok {
		// Mounted without the Interceptor: refuse rather than answer for
		// nobody.
		return nil, rpcerr.New(connect.CodeUnauthenticated, MissingKeyMessage)
	}
	return connect.NewResponse(&dataplanev1.GetCurrentProjectResponse{
		Ref:     id.TenantRef,
		Region:  h.region,
		KeyKind: string(id.Kind),
		KeyId:   id.KeyID,
	}), nil
}
