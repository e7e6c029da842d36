package mail

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/internal/rpcerr"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// Page sizes of ListMail.
const (
	DefaultMailLimit = 20
	MaxMailLimit     = 100
)

type devMailHandler struct {
	box *DevMailbox
}

// NewDevMailHandler returns the DevMailService handler reading box. Mount it
// only in development (`sovereign dev`, --dev-mailbox): mails carry
// verification and reset tokens.
func NewDevMailHandler(box *DevMailbox) controlplanev1connect.DevMailServiceHandler {
	return &devMailHandler{box: box}
}

func (h *devMailHandler) ListMail(ctx context.Context, req *connect.Request[controlplanev1.ListMailRequest]) (*connect.Response[controlplanev1.ListMailResponse], error) {
	limit := int(req.Msg.GetLimit())
	switch {
	case limit == 0:
		limit = DefaultMailLimit
	case limit < 1 || limit > MaxMailLimit:
		return nil, rpcerr.New(connect.CodeInvalidArgument, "limit: must be 1 to 100 (0 means 20)")
	}
	mails, err := h.box.MailList(ctx, MailListParams{To: req.Msg.GetTo(), Limit: limit})
	if err != nil {
		return nil, rpcerr.Internal(ctx, err)
	}
	resp := &controlplanev1.ListMailResponse{Mails: make([]*controlplanev1.Mail, 0, len(mails))}
	for _, m := range mails {
		resp.Mails = append(resp.Mails, &controlplanev1.Mail{
			Id: m.ID, To: m.To, Subject: m.Subject, Body: m.Body, SentAt: timestamppb.New(m.SentAt),
		})
	}
	return connect.NewResponse(resp), nil
}
