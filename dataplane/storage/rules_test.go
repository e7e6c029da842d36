package storage_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/internal/platformtest"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// TestRulesWithEndUsers: a bucket whose rules keep each signed-in user in
// their own folder. Users write, read, list, move and delete only there;
// a caller without a user sees nothing; the service role sees all; a rule
// change applies at once.
func TestRulesWithEndUsers(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, platformtest.Options{})
	pr, other := pl.project(t), pl.project(t)
	idA, tokA := pl.user(t, pr)
	idB, tokB := pl.user(t, pr)
	_, tokOther := pl.user(t, other)
	base := pl.p.DataURL + "/v1/storage"
	const own = "auth.uid != '' && object.folder == auth.uid"
	body, _ := json.Marshal(map[string]any{"name": "home", "rules": map[string]string{
		"read": own, "write": own, "delete": own + " && object.size < 10",
	}})
	if r := do(t, "POST", base+"/buckets", pr.sk, strings.NewReader(string(body)), nil); r.status != 201 {
		t.Fatalf("create bucket: %d %s", r.status, r.body)
	}
	as := func(tok string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "text/plain"}
	}
	put := func(tok, name, data string) resp {
		return do(t, "PUT", base+"/objects/home/"+name, pr.pk, strings.NewReader(data), as(tok))
	}
	for _, c := range []struct {
		who, tok, name string
		want           int
	}{
		{"A in A's folder", tokA, idA + "/a.txt", 201},
		{"A in A's folder, big", tokA, idA + "/big.txt", 201},
		{"B in B's folder", tokB, idB + "/b.txt", 201},
		{"A in B's folder", tokA, idB + "/evil.txt", 403},
		{"A at the top", tokA, "top.txt", 403},
		{"A in a folder named like A's", tokA, idA + "x/a.txt", 403},
	} {
		data := "small"
		if strings.HasSuffix(c.name, "big.txt") {
			data = "a bigger object"
		}
		if r := put(c.tok, c.name, data); r.status != c.want {
			t.Errorf("%s: %d, want %d: %s", c.who, r.status, c.want, r.body)
		}
	}
	// Without a user, the publishable key alone writes nowhere.
	if r := do(t, "PUT", base+"/objects/home/top.txt", pr.pk, strings.NewReader("x"), map[string]string{"Content-Type": "text/plain"}); r.status != 403 {
		t.Errorf("no user: %d %s", r.status, r.body)
	}
	// Another project's user token is no user of this project.
	if r := put(tokOther, idA+"/o.txt", "x"); r.status != 401 {
		t.Errorf("another project's user: %d %s", r.status, r.body)
	}

	// A size rule holds for bodies without Content-Length too: the rule
	// is checked again once the size is known.
	if r := do(t, "POST", base+"/buckets", pr.sk, strings.NewReader(`{"name":"small","rules":{"write":"auth.uid != '' && object.size < 10"}}`), nil); r.status != 201 {
		t.Fatalf("create bucket: %d %s", r.status, r.body)
	}
	for _, c := range []struct {
		name string
		body io.Reader
		want int
	}{
		{"big with Content-Length", strings.NewReader(strings.Repeat("x", 20)), 403},
		{"big without Content-Length", io.MultiReader(strings.NewReader(strings.Repeat("x", 20))), 403},
		{"small without Content-Length", io.MultiReader(strings.NewReader("tiny")), 201},
	} {
		if r := do(t, "PUT", base+"/objects/small/"+strings.ReplaceAll(c.name, " ", "-"), pr.pk, c.body, as(tokA)); r.status != c.want {
			t.Errorf("%s under a size rule: %d, want %d: %s", c.name, r.status, c.want, r.body)
		}
	}
	if r := do(t, "GET", base+"/objects/small", pr.sk, nil, nil); strings.Count(r.body, `"name"`) != 1 {
		t.Errorf("objects under the size rule: %s", r.body)
	}

	get := func(tok, name string) int {
		h := map[string]string{}
		if tok != "" {
			h["Authorization"] = "Bearer " + tok
		}
		return do(t, "GET", base+"/objects/home/"+name, pr.pk, nil, h).status
	}
	if s := get(tokA, idA+"/a.txt"); s != 200 {
		t.Errorf("A reads A's: %d", s)
	}
	if s := get(tokA, idB+"/b.txt"); s != 403 {
		t.Errorf("A reads B's: %d", s)
	}
	if s := get("", idB+"/b.txt"); s != 403 {
		t.Errorf("no user reads B's: %d", s)
	}

	list := func(key, tok string) string {
		h := map[string]string{}
		if tok != "" {
			h["Authorization"] = "Bearer " + tok
		}
		r := do(t, "GET", base+"/objects/home", key, nil, h)
		var page struct {
			Objects []struct {
				Name string `json:"name"`
			} `json:"objects"`
		}
		if r.status != 200 || json.Unmarshal([]byte(r.body), &page) != nil {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		var n []string
		for _, o := range page.Objects {
			n = append(n, o.Name)
		}
		return strings.Join(n, " ")
	}
	if got, want := list(pr.pk, tokA), idA+"/a.txt "+idA+"/big.txt"; got != want {
		t.Errorf("A lists %q, want %q", got, want)
	}
	if got, want := list(pr.pk, tokB), idB+"/b.txt"; got != want {
		t.Errorf("B lists %q, want %q", got, want)
	}
	if got := list(pr.pk, ""); got != "" {
		t.Errorf("no user lists %q", got)
	}
	if got := list(pr.sk, ""); len(strings.Fields(got)) != 3 {
		t.Errorf("the service role lists %q", got)
	}

	// Over Connect, the same rules.
	client := dataplanev1connect.NewStorageServiceClient(http.DefaultClient, pl.p.DataURL)
	userReq := func(r interface{ Header() http.Header }, tok string) {
		r.Header().Set("apikey", pr.pk)
		r.Header().Set("Authorization", "Bearer "+tok)
	}
	sreq := connect.NewRequest(&dataplanev1.StatObjectRequest{Bucket: "home", Name: idB + "/b.txt"})
	userReq(sreq, tokA)
	if _, err := client.StatObject(t.Context(), sreq); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("A stats B's over Connect: %v", err)
	}
	lreq := connect.NewRequest(&dataplanev1.ListObjectsRequest{Bucket: "home"})
	userReq(lreq, tokB)
	if res, err := client.ListObjects(t.Context(), lreq); err != nil || len(res.Msg.GetObjects()) != 1 || res.Msg.GetObjects()[0].GetName() != idB+"/b.txt" {
		t.Errorf("B lists over Connect: %v %v", res, err)
	}
	mreq := connect.NewRequest(&dataplanev1.UpdateObjectMetadataRequest{Bucket: "home", Name: idB + "/b.txt", Metadata: map[string]string{"k": "v"}})
	userReq(mreq, tokA)
	if _, err := client.UpdateObjectMetadata(t.Context(), mreq); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("A changes B's metadata: %v", err)
	}

	// Moves and copies: the destination's write rule applies.
	move := func(tok, from, to string) int {
		b, _ := json.Marshal(map[string]string{"name": from, "destination_name": to})
		return do(t, "POST", base+"/buckets/home/move", pr.pk, strings.NewReader(string(b)), as(tok)).status
	}
	if s := move(tokA, idA+"/a.txt", idB+"/a.txt"); s != 403 {
		t.Errorf("A moves into B's folder: %d", s)
	}
	if s := move(tokA, idB+"/b.txt", idA+"/b.txt"); s != 403 {
		t.Errorf("A moves B's into A's folder: %d", s)
	}
	if s := move(tokA, idA+"/a.txt", idA+"/renamed.txt"); s != 200 {
		t.Errorf("A renames A's: %d", s)
	}

	// Deletes: own and small only.
	del := func(tok, name string) int {
		return do(t, "DELETE", base+"/objects/home/"+name, pr.pk, nil, as(tok)).status
	}
	if s := del(tokA, idB+"/b.txt"); s != 403 {
		t.Errorf("A deletes B's: %d", s)
	}
	if s := del(tokA, idA+"/big.txt"); s != 403 {
		t.Errorf("A deletes A's big object against the size rule: %d", s)
	}
	if s := del(tokA, idA+"/renamed.txt"); s != 204 {
		t.Errorf("A deletes A's: %d", s)
	}
	if s := get("", idB+"/b.txt"); s != 403 {
		t.Errorf("B's object after A's attempts: %d", s)
	}
	if s := get(tokB, idB+"/b.txt"); s != 200 {
		t.Errorf("B's object after A's attempts: %d", s)
	}

	// A rule change applies to the next request.
	if r := do(t, "PATCH", base+"/buckets/home", pr.sk, strings.NewReader(`{"rules":{"read":"auth.uid != ''","write":"`+own+`"}}`), nil); r.status != 200 {
		t.Fatalf("update rules: %d %s", r.status, r.body)
	}
	if s := get(tokA, idB+"/b.txt"); s != 200 {
		t.Errorf("A reads B's after the read rule opened: %d", s)
	}
	if got := list(pr.pk, tokA); len(strings.Fields(got)) != 2 {
		t.Errorf("A lists after the read rule opened: %q", got)
	}
	// The delete rule is gone: only the service role deletes.
	if s := del(tokB, idB+"/b.txt"); s != 403 {
		t.Errorf("B deletes without a delete rule: %d", s)
	}
	// A rule that does not compile is refused with its position.
	if r := do(t, "PATCH", base+"/buckets/home", pr.sk, strings.NewReader(`{"rules":{"read":"object.nope == 1"}}`), nil); r.status != 400 || !strings.Contains(r.body, "rules.read") {
		t.Errorf("bad rule: %d %s", r.status, r.body)
	}
}
