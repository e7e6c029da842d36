package storage_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"github.com/sovereign-backend/sovereign/internal/platformtest"
)

// restScenario is one storage route called by four callers: the project's
// secret key (success), no key, the project's publishable key (the
// buckets have no rules, so only what any key may do passes), and another
// project's secret key (which must never reach this project's buckets or
// objects). Denied calls run first and must change nothing; the success
// call then proves that what they touched was still there.
type restScenario struct {
	name         string
	method, path string
	body         string
	header       map[string]string
	// want is the status of the secret key's call, and wantBody
	// fragments of its body.
	want     int
	wantBody []string
	// pub and other are the publishable key's and the other project's
	// statuses; 0 means 403 and 404. otherNot are fragments the other
	// project's answer must not hold (for routes without a resource).
	pub, other int
	otherNot   []string
}

// errCode is the JSON error code REST answers with status.
var errCode = map[int]string{401: "unauthenticated", 403: "permission_denied", 404: "not_found"}

func TestRESTScenarios(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, platformtest.Options{})
	a, b := pl.project(t), pl.project(t)
	base := pl.p.DataURL + "/v1/storage"

	// The world: a private bucket with objects, a public one, and one to
	// delete.
	for _, body := range []string{`{"name":"docs"}`, `{"name":"pics","public":true}`, `{"name":"gone"}`} {
		if r := do(t, "POST", base+"/buckets", a.sk, strings.NewReader(body), nil); r.status != 201 {
			t.Fatalf("create bucket %s: %d %s", body, r.status, r.body)
		}
	}
	const content = "hello, storage"
	var etag string
	for _, name := range []string{"docs/a.txt", "docs/dir/one.txt", "docs/dir/two.txt", "docs/del1.txt", "docs/del2.txt", "docs/mv.txt", "pics/p.txt"} {
		r := do(t, "PUT", base+"/objects/"+name, a.sk, strings.NewReader(content), map[string]string{"Content-Type": "text/plain"})
		if r.status != 201 {
			t.Fatalf("put %s: %d %s", name, r.status, r.body)
		}
		if name == "docs/a.txt" {
			etag = r.header.Get("ETag")
		}
	}
	if etag == "" {
		t.Fatal("the upload answered no ETag")
	}
	form, formType := multipartBody(t, "text/plain", content, `{"origin":"form"}`)

	scenarios := []restScenario{
		{name: "create bucket", method: "POST", path: "/buckets", body: `{"name":"made","max_object_bytes":1000,"allowed_content_types":["text/*"]}`,
			want: 201, wantBody: []string{`"name":"made"`, `"max_object_bytes":"1000"`},
			// Another project's key makes a bucket of the same name in its own
			// project; ours is still created afterwards.
			other: 201},
		{name: "list buckets", method: "GET", path: "/buckets", want: 200, wantBody: []string{`"name":"docs"`, `"name":"pics"`},
			other: 200, otherNot: []string{"docs", "pics"}},
		{name: "get bucket", method: "GET", path: "/buckets/docs", want: 200, wantBody: []string{`"name":"docs"`, `"object_count":"6"`}},
		{name: "update bucket", method: "PATCH", path: "/buckets/docs", body: `{"allowed_content_types":["text/*","image/*"]}`,
			want: 200, wantBody: []string{`"allowed_content_types":["text/*","image/*"]`}},
		{name: "delete bucket", method: "DELETE", path: "/buckets/gone", want: 200, wantBody: []string{"{}"}},
		{name: "put object", method: "PUT", path: "/objects/docs/put.txt", body: content,
			header: map[string]string{"Content-Type": "text/plain", "X-Meta-Owner": "me"},
			want:   201, wantBody: []string{`"name":"put.txt"`, `"owner":"me"`, `"size":"14"`}},
		{name: "post form", method: "POST", path: "/objects/docs/form.txt", body: form, header: map[string]string{"Content-Type": formType},
			want: 201, wantBody: []string{`"name":"form.txt"`, `"origin":"form"`, `"content_type":"text/plain"`}},
		{name: "get object", method: "GET", path: "/objects/docs/a.txt", want: 200, wantBody: []string{content}},
		{name: "get range", method: "GET", path: "/objects/docs/a.txt", header: map[string]string{"Range": "bytes=0-4"}, want: 206, wantBody: []string{"hello"}},
		{name: "get if-none-match", method: "GET", path: "/objects/docs/a.txt", header: map[string]string{"If-None-Match": etag}, want: 304},
		{name: "head object", method: "HEAD", path: "/objects/docs/a.txt", want: 200},
		{name: "list objects", method: "GET", path: "/objects/docs?prefix=dir/&page_size=1", want: 200,
			wantBody: []string{`"name":"dir/one.txt"`, `"next_page_token"`}},
		{name: "list with delimiter", method: "GET", path: "/objects/docs?delimiter=/", want: 200,
			wantBody: []string{`"prefixes":["dir/"]`, `"name":"a.txt"`, `"name":"mv.txt"`, `"name":"put.txt"`}},
		{name: "delete object", method: "DELETE", path: "/objects/docs/del1.txt", want: 204},
		{name: "delete objects", method: "POST", path: "/buckets/docs/delete", body: `{"names":["del2.txt","missing.txt"]}`,
			want: 200, wantBody: []string{`"deleted":["del2.txt"]`, `"not_found":["missing.txt"]`}},
		{name: "copy object", method: "POST", path: "/buckets/docs/copy", body: `{"name":"a.txt","destination_name":"copy.txt"}`,
			want: 200, wantBody: []string{`"name":"copy.txt"`}},
		{name: "move object", method: "POST", path: "/buckets/docs/move", body: `{"name":"mv.txt","destination_bucket":"pics","destination_name":"moved.txt"}`,
			want: 200, wantBody: []string{`"bucket":"pics"`, `"name":"moved.txt"`}},
		{name: "update metadata", method: "PUT", path: "/buckets/docs/metadata", body: `{"name":"a.txt","metadata":{"k":"v"}}`,
			want: 200, wantBody: []string{`"metadata":{"k":"v"}`}},
		{name: "sign", method: "POST", path: "/buckets/docs/sign", body: `{"name":"a.txt","method":"GET","expires_in_seconds":60}`,
			want: 200, wantBody: []string{`"url":"` + pl.p.DataURL + `/v1/storage/signed/` + a.ref + `/docs/a.txt?`, `"expires_at"`}},
		// Any key reads its own project's usage; another project's shows
		// its own (nothing).
		{name: "usage", method: "GET", path: "/usage", want: 200, wantBody: []string{`"bytes":"`, `"objects":"`},
			pub: 200, other: 200, otherNot: []string{`"bytes"`, `"objects"`}},
		{name: "rotate", method: "POST", path: "/signing-key/rotate", want: 200, wantBody: []string{`"key_id":"`}, other: 200},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			u := base + sc.path
			callers := []struct {
				who, key string
				want     int
			}{
				{"no key", "", 401},
				{"publishable key", a.pk, cmpInt(sc.pub, 403)},
				{"other project", b.sk, cmpInt(sc.other, 404)},
			}
			for _, c := range callers {
				r := do(t, sc.method, u, c.key, bodyOf(sc.body), sc.header)
				if r.status != c.want {
					t.Errorf("%s: status %d, want %d: %s", c.who, r.status, c.want, r.body)
				}
				if code := errCode[c.want]; code != "" && sc.method != "HEAD" && !strings.Contains(r.body, `"code":"`+code+`"`) {
					t.Errorf("%s: body %s does not name code %s", c.who, r.body, code)
				}
				if c.key == b.sk {
					for _, s := range sc.otherNot {
						if strings.Contains(r.body, s) {
							t.Errorf("other project's answer holds %q: %s", s, r.body)
						}
					}
				}
				// The caller's data never leaks into an error.
				if c.want >= 400 && strings.Contains(r.body, content) {
					t.Errorf("%s: the error body holds the object: %s", c.who, r.body)
				}
			}
			r := do(t, sc.method, u, a.sk, bodyOf(sc.body), sc.header)
			if r.status != sc.want {
				t.Fatalf("secret key: status %d, want %d: %s", r.status, sc.want, r.body)
			}
			for _, s := range sc.wantBody {
				if !strings.Contains(r.body, s) {
					t.Errorf("secret key: body %s lacks %q", r.body, s)
				}
			}
			if sc.method == "HEAD" && (r.body != "" || r.header.Get("Content-Length") != "14" || r.header.Get("ETag") != etag) {
				t.Errorf("HEAD: body %q, headers %v", r.body, r.header)
			}
		})
	}

	// Side effects the answers claim.
	if r := do(t, "GET", base+"/objects/docs/del1.txt", a.sk, nil, nil); r.status != 404 {
		t.Errorf("deleted object: %d", r.status)
	}
	if r := do(t, "DELETE", base+"/objects/docs/del1.txt", a.sk, nil, nil); r.status != 404 || !strings.Contains(r.body, `"code":"not_found"`) {
		t.Errorf("delete a missing object: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", base+"/objects/docs/mv.txt", a.sk, nil, nil); r.status != 404 {
		t.Errorf("moved object's old name: %d", r.status)
	}
	if r := do(t, "GET", base+"/objects/pics/moved.txt", a.sk, nil, nil); r.status != 200 || r.body != content {
		t.Errorf("moved object: %d %q", r.status, r.body)
	}
	if r := do(t, "GET", base+"/objects/docs/copy.txt", a.sk, nil, nil); r.status != 200 || r.body != content {
		t.Errorf("copied object: %d %q", r.status, r.body)
	}
	if r := do(t, "GET", base+"/buckets/gone", a.sk, nil, nil); r.status != 404 {
		t.Errorf("deleted bucket: %d", r.status)
	}
	// Pagination walks every name once, in order.
	var names []string
	for token, pages := "", 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		r := do(t, "GET", base+"/objects/docs?page_size=2&page_token="+url.QueryEscape(token), a.sk, nil, nil)
		var page struct {
			Objects []struct {
				Name string `json:"name"`
			} `json:"objects"`
			NextPageToken string `json:"next_page_token"`
		}
		if err := json.Unmarshal([]byte(r.body), &page); err != nil || r.status != 200 {
			t.Fatalf("list page: %d %s", r.status, r.body)
		}
		for _, o := range page.Objects {
			names = append(names, o.Name)
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	want := "a.txt copy.txt dir/one.txt dir/two.txt form.txt put.txt"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("paged list: %s, want %s", got, want)
	}

	t.Run("public bucket", func(t *testing.T) {
		pub := pl.p.DataURL + "/v1/storage/public/"
		if r := do(t, "GET", pub+a.ref+"/pics/p.txt", "", nil, nil); r.status != 200 || r.body != content {
			t.Errorf("public GET: %d %q", r.status, r.body)
		}
		if r := do(t, "HEAD", pub+a.ref+"/pics/p.txt", "", nil, nil); r.status != 200 || r.header.Get("Content-Length") != "14" {
			t.Errorf("public HEAD: %d %v", r.status, r.header)
		}
		if r := do(t, "GET", pub+a.ref+"/pics/p.txt", "", nil, map[string]string{"Range": "bytes=7-"}); r.status != 206 || r.body != "storage" {
			t.Errorf("public range: %d %q", r.status, r.body)
		}
		for name, path := range map[string]string{
			"private bucket":    a.ref + "/docs/a.txt",
			"unknown object":    a.ref + "/pics/nope.txt",
			"unknown bucket":    a.ref + "/nope/p.txt",
			"other project":     b.ref + "/pics/p.txt",
			"unknown project":   "zzzzzzzzzzzz/pics/p.txt",
			"invalid reference": "ZZ/pics/p.txt",
		} {
			if r := do(t, "GET", pub+path, "", nil, nil); r.status != 404 || !strings.Contains(r.body, `"code":"not_found"`) {
				t.Errorf("public GET of %s: %d %s", name, r.status, r.body)
			}
			if r := do(t, "HEAD", pub+path, "", nil, nil); r.status != 404 {
				t.Errorf("public HEAD of %s: %d", name, r.status)
			}
		}
	})

	t.Run("signed URLs", func(t *testing.T) {
		sign := func(key, bucket, body string) (int, string) {
			r := do(t, "POST", base+"/buckets/"+bucket+"/sign", key, strings.NewReader(body), nil)
			var out struct {
				URL string `json:"url"`
			}
			_ = json.Unmarshal([]byte(r.body), &out)
			return r.status, out.URL
		}
		st, get := sign(a.sk, "docs", `{"name":"a.txt","method":"GET"}`)
		if st != 200 || get == "" {
			t.Fatalf("sign GET: %d", st)
		}
		st, put := sign(a.sk, "docs", `{"name":"signed.txt","method":"PUT","expires_in_seconds":600}`)
		if st != 200 || put == "" {
			t.Fatalf("sign PUT: %d", st)
		}
		if r := do(t, "GET", get, "", nil, nil); r.status != 200 || r.body != content {
			t.Errorf("signed GET: %d %q", r.status, r.body)
		}
		if r := do(t, "HEAD", get, "", nil, nil); r.status != 200 || r.header.Get("Content-Length") != "14" {
			t.Errorf("signed HEAD: %d", r.status)
		}
		if r := do(t, "PUT", put, "", strings.NewReader("signed bytes"), map[string]string{"Content-Type": "text/plain"}); r.status != 201 {
			t.Errorf("signed PUT: %d %s", r.status, r.body)
		}
		if r := do(t, "GET", base+"/objects/docs/signed.txt", a.sk, nil, nil); r.status != 200 || r.body != "signed bytes" {
			t.Errorf("object of the signed PUT: %d %q", r.status, r.body)
		}
		u, _ := url.Parse(get)
		q := u.Query()
		tampered := map[string]string{
			"other name":     strings.Replace(get, "/a.txt?", "/copy.txt?", 1),
			"other bucket":   strings.Replace(get, "/docs/", "/pics/", 1),
			"other project":  strings.Replace(get, "/"+a.ref+"/", "/"+b.ref+"/", 1),
			"later expiry":   strings.Replace(get, "expires="+q.Get("expires"), "expires="+q.Get("expires")+"0", 1),
			"signature":      strings.Replace(get, "sig="+q.Get("sig"), "sig=AAAA"+q.Get("sig")[4:], 1),
			"no signature":   strings.Replace(get, "sig="+q.Get("sig"), "", 1),
			"PUT URL as GET": strings.Replace(put, "method=PUT", "method=GET", 1),
		}
		for name, u := range tampered {
			if r := do(t, "GET", u, "", nil, nil); r.status != 403 || !strings.Contains(r.body, `"code":"permission_denied"`) {
				t.Errorf("signed GET, tampered %s: %d %s", name, r.status, r.body)
			}
		}
		// A GET URL does not upload.
		if r := do(t, "PUT", get, "", strings.NewReader("x"), map[string]string{"Content-Type": "text/plain"}); r.status != 403 {
			t.Errorf("PUT with a GET URL: %d", r.status)
		}
		if st, _ := sign(a.pk, "docs", `{"name":"a.txt","method":"GET"}`); st != 403 {
			t.Errorf("publishable key signs: %d", st)
		}
		if st, _ := sign(b.sk, "docs", `{"name":"a.txt","method":"GET"}`); st != 404 {
			t.Errorf("other project signs our bucket: %d", st)
		}
		if st, _ := sign(a.sk, "docs", `{"name":"a.txt","method":"DELETE"}`); st != 400 {
			t.Errorf("sign DELETE: %d", st)
		}
		if st, _ := sign(a.sk, "docs", `{"name":"a.txt","method":"GET","expires_in_seconds":999999999}`); st != 400 {
			t.Errorf("sign past the longest expiry: %d", st)
		}
		if r := do(t, "POST", base+"/signing-key/rotate", a.sk, nil, nil); r.status != 200 {
			t.Fatalf("rotate: %d %s", r.status, r.body)
		}
		if r := do(t, "GET", get, "", nil, nil); r.status != 403 {
			t.Errorf("signed GET after rotation: %d", r.status)
		}
		if _, fresh := sign(a.sk, "docs", `{"name":"a.txt","method":"GET"}`); do(t, "GET", fresh, "", nil, nil).status != 200 {
			t.Error("a URL signed after rotation does not work")
		}
	})
}

func cmpInt(v, def int) int {
	if v != 0 {
		return v
	}
	return def
}

func bodyOf(s string) io.Reader {
	if s == "" {
		return nil
	}
	return strings.NewReader(s)
}

// multipartBody is a form with the field metadata (when not empty) and the
// part file of content type ct.
func multipartBody(t *testing.T, ct, content, metadata string) (body, contentType string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if metadata != "" {
		if err := mw.WriteField("metadata", metadata); err != nil {
			t.Fatal(err)
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="f.txt"`)
	h.Set("Content-Type", ct)
	pw, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(pw, content)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String(), mw.FormDataContentType()
}
