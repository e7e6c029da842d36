package mail_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/controlplane/mail"
	"github.com/sovereign-backend/sovereign/controlplane/migrations"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

func TestDevMailbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.Pool(t)
	if _, err := migrate.Up(ctx, pool, migrate.Config{Schema: "controlplane", FS: migrations.FS}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	box, err := mail.NewDevMailbox(mail.DevMailboxConfig{Pool: pool, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		to := "ada@example.com"
		if i%5 == 0 {
			to = "Grace@Example.com"
		}
		err := box.Send(ctx, mail.Message{To: to, Subject: fmt.Sprint("mail ", i), Body: fmt.Sprint("secret sov_mt_", i)})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(logs.String(), "mail kept in the dev mailbox") || !strings.Contains(logs.String(), "subject=\"mail 3\"") {
		t.Fatalf("log lacks the kept mails:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "sov_mt_") {
		t.Fatalf("log shows a mail body:\n%s", logs.String())
	}

	mux := http.NewServeMux()
	mux.Handle(controlplanev1connect.NewDevMailServiceHandler(mail.NewDevMailHandler(box)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := controlplanev1connect.NewDevMailServiceClient(srv.Client(), srv.URL)

	tests := []struct {
		name     string
		to       string
		limit    int32
		code     connect.Code
		subjects []string // expected, in order; nil: only the count is checked
		count    int
	}{
		{name: "default limit, newest first", count: 20, subjects: []string{"mail 24", "mail 23"}},
		{name: "limit", limit: 3, count: 3, subjects: []string{"mail 24", "mail 23", "mail 22"}},
		{name: "max limit", limit: 100, count: 25},
		{name: "by address, any case", to: "GRACE@example.com", count: 5, subjects: []string{"mail 20", "mail 15", "mail 10", "mail 5", "mail 0"}},
		{name: "nobody", to: "nobody@example.com", count: 0},
		{name: "limit too big", limit: 101, code: connect.CodeInvalidArgument},
		{name: "negative limit", limit: -1, code: connect.CodeInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := client.ListMail(ctx, connect.NewRequest(&controlplanev1.ListMailRequest{To: tt.to, Limit: tt.limit}))
			if tt.code != 0 {
				if connect.CodeOf(err) != tt.code || !strings.Contains(err.Error(), "limit: must be 1 to 100") {
					t.Fatalf("err = %v, want %s about the limit", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mails := resp.Msg.GetMails()
			if len(mails) != tt.count {
				t.Fatalf("%d mails, want %d", len(mails), tt.count)
			}
			for i, s := range tt.subjects {
				if mails[i].GetSubject() != s {
					t.Fatalf("mail %d: subject %q, want %q", i, mails[i].GetSubject(), s)
				}
			}
			for _, m := range mails {
				if m.GetId() == "" || m.GetSentAt() == nil || !strings.HasPrefix(m.GetBody(), "secret sov_mt_") || m.GetTo() != strings.ToLower(m.GetTo()) {
					t.Fatalf("mail = %v", m)
				}
			}
		})
	}
}
