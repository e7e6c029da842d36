package sovereign

import (
	"context"
	"iter"

	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// DevMail lists the dev mailbox, newest first: the last 100 mails the
// platform would have sent (verification, password reset, invitations),
// only those to the address to unless it is empty. Only a local platform
// (`sovereign dev`, or a server started with --dev-mailbox) keeps a mailbox;
// others answer [CodeNotFound] or [CodeUnimplemented].
func (c *ManagementClient) DevMail(ctx context.Context, to string) iter.Seq2[*Mail, error] {
	return pages(ctx, func(ctx context.Context, _ string) ([]*Mail, string, error) {
		m, err := unary(ctx, c.c, controlplanev1connect.DevMailServiceListMailProcedure, callRead,
			c.devMail.ListMail, &controlplanev1.ListMailRequest{To: to, Limit: 100})
		if err != nil {
			return nil, "", err
		}
		return mapSlice(m.GetMails(), mailOf), "", nil
	})
}
