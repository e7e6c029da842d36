package authn_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/controlplane/authn"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// tokens is an Authenticator over a fixed table; the real one (accounts)
// is tested through this interceptor in its own package.
type tokens map[string]authn.Principal

func (m tokens) Authenticate(_ context.Context, bearer string) (authn.Principal, error) {
	switch bearer {
	case "boom":
		return authn.Principal{}, errors.New("database on fire: select * from secrets")
	}
	p, ok := m[bearer]
	if !ok {
		return authn.Principal{}, &authn.CredentialError{Reason: "token revoked"}
	}
	return p, nil
}

// whoami answers with the Principal it finds in the context.
type whoami struct {
	controlplanev1connect.UnimplementedAccountServiceHandler
}

func (whoami) WhoAmI(ctx context.Context, _ *connect.Request[controlplanev1.WhoAmIRequest]) (*connect.Response[controlplanev1.WhoAmIResponse], error) {
	p, ok := authn.FromContext(ctx)
	if !ok {
		return connect.NewResponse(&controlplanev1.WhoAmIResponse{Credential: "anonymous"}), nil
	}
	return connect.NewResponse(&controlplanev1.WhoAmIResponse{Credential: p.Credential, Account: &controlplanev1.Account{Id: p.AccountID}}), nil
}

type status struct{}

func (status) GetStatus(context.Context, *connect.Request[controlplanev1.GetStatusRequest]) (*connect.Response[controlplanev1.GetStatusResponse], error) {
	return connect.NewResponse(&controlplanev1.GetStatusResponse{Version: "test"}), nil
}

func TestInterceptor(t *testing.T) {
	t.Parallel()
	icpt, err := authn.NewInterceptor(authn.InterceptorConfig{
		Authenticator: tokens{"good": {AccountID: "a1", Credential: authn.CredentialPAT}},
		Skip:          append(authn.PublicProcedures(), controlplanev1connect.AccountServiceLogoutProcedure),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(controlplanev1connect.NewAccountServiceHandler(whoami{}, connect.WithInterceptors(icpt)))
	mux.Handle(controlplanev1connect.NewStatusServiceHandler(status{}, connect.WithInterceptors(icpt)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	accounts := controlplanev1connect.NewAccountServiceClient(srv.Client(), srv.URL, connect.WithInterceptors(icpt))
	statuses := controlplanev1connect.NewStatusServiceClient(srv.Client(), srv.URL)
	ctx := context.Background()

	tests := []struct {
		name   string
		call   func(header string) error
		header string
		code   connect.Code
		msg    string
	}{
		{name: "good credential", header: "Bearer good", call: func(h string) error {
			r := connect.NewRequest(&controlplanev1.WhoAmIRequest{})
			r.Header().Set("Authorization", h)
			resp, err := accounts.WhoAmI(ctx, r)
			if err == nil && resp.Msg.GetAccount().GetId() != "a1" {
				return errors.New("principal not in context")
			}
			return err
		}},
		{name: "missing", code: connect.CodeUnauthenticated, msg: authn.MissingCredentials, call: whoamiWith(ctx, accounts)},
		{name: "bad credential", header: "Bearer nope", code: connect.CodeUnauthenticated, msg: "token revoked", call: whoamiWith(ctx, accounts)},
		{name: "internal error leaks nothing", header: "Bearer boom", code: connect.CodeInternal, msg: "internal error", call: whoamiWith(ctx, accounts)},
		{name: "public procedure", code: connect.CodeUnimplemented, call: func(string) error {
			_, err := accounts.Login(ctx, connect.NewRequest(&controlplanev1.LoginRequest{}))
			return err
		}},
		{name: "skipped procedure", code: connect.CodeUnimplemented, call: func(string) error {
			_, err := accounts.Logout(ctx, connect.NewRequest(&controlplanev1.LogoutRequest{}))
			return err
		}},
		{name: "public service", call: func(string) error {
			_, err := statuses.GetStatus(ctx, connect.NewRequest(&controlplanev1.GetStatusRequest{}))
			return err
		}},
		{name: "protected unimplemented call", code: connect.CodeUnauthenticated, call: func(string) error {
			_, err := accounts.ListTokens(ctx, connect.NewRequest(&controlplanev1.ListTokensRequest{}))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call(tt.header)
			if tt.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if connect.CodeOf(err) != tt.code {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), "secrets") {
				t.Fatalf("internal detail leaked: %v", err)
			}
		})
	}
}

func whoamiWith(ctx context.Context, c controlplanev1connect.AccountServiceClient) func(string) error {
	return func(h string) error {
		r := connect.NewRequest(&controlplanev1.WhoAmIRequest{})
		if h != "" {
			r.Header().Set("Authorization", h)
		}
		_, err := c.WhoAmI(ctx, r)
		return err
	}
}

func TestNewInterceptorConfig(t *testing.T) {
	t.Parallel()
	if _, err := authn.NewInterceptor(authn.InterceptorConfig{}); err == nil {
		t.Fatal("no authenticator accepted")
	}
	if _, err := authn.NewInterceptor(authn.InterceptorConfig{Authenticator: tokens{}, Skip: []string{"sovereign.controlplane.v1.StatusService/"}}); err == nil {
		t.Fatal("skip entry without leading slash accepted")
	}
}

// TestInterceptorStreaming checks streaming handlers get the same check.
func TestInterceptorStreaming(t *testing.T) {
	t.Parallel()
	const procedure = "/sovereign.test.v1.Watch/Watch"
	icpt, err := authn.NewInterceptor(authn.InterceptorConfig{Authenticator: tokens{"good": {AccountID: "a1"}}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(procedure, connect.NewServerStreamHandler(procedure,
		func(ctx context.Context, _ *connect.Request[controlplanev1.WhoAmIRequest], s *connect.ServerStream[controlplanev1.WhoAmIResponse]) error {
			p, _ := authn.FromContext(ctx)
			return s.Send(&controlplanev1.WhoAmIResponse{Account: &controlplanev1.Account{Id: p.AccountID}})
		}, connect.WithInterceptors(icpt)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := connect.NewClient[controlplanev1.WhoAmIRequest, controlplanev1.WhoAmIResponse](srv.Client(), srv.URL+procedure, connect.WithInterceptors(icpt))
	for _, tt := range []struct {
		header string
		code   connect.Code
	}{{"Bearer good", 0}, {"", connect.CodeUnauthenticated}, {"Bearer bad", connect.CodeUnauthenticated}} {
		r := connect.NewRequest(&controlplanev1.WhoAmIRequest{})
		if tt.header != "" {
			r.Header().Set("Authorization", tt.header)
		}
		stream, err := client.CallServerStream(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for stream.Receive() {
			got = stream.Msg().GetAccount().GetId()
		}
		if connect.CodeOf(stream.Err()) != tt.code && !(tt.code == 0 && stream.Err() == nil) {
			t.Fatalf("%q: err = %v, want %v", tt.header, stream.Err(), tt.code)
		}
		if tt.code == 0 && got != "a1" {
			t.Fatalf("%q: streamed account %q", tt.header, got)
		}
		stream.Close()
	}
}
