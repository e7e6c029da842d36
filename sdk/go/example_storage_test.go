package sovereign_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"
	"time"

	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

func init() {
	// The storage examples run against the platform too (see TestMain).
	examples = append(examples, "ExampleBucketRef_Upload", "ExampleBucketRef_List", "ExampleBucketRef_SignedURL")
}

// Make a bucket, upload a file with custom metadata, and read it back.
func ExampleBucketRef_Upload() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dataClient(ctx) // a client with the project's secret key

	_, err := c.Storage().CreateBucket(ctx, sovereign.Bucket{
		Name:                "example-docs",
		MaxObjectBytes:      10 << 20, // 10 MiB
		AllowedContentTypes: []string{"text/*", "application/pdf"},
	})
	if err != nil {
		log.Fatal(err)
	}
	docs := c.Storage().Bucket("example-docs")

	// Any io.Reader streams; an *os.File is the usual one. Files of 8 MiB
	// and more go up resumably, in chunks.
	obj, err := docs.Upload(ctx, "notes/today.txt", strings.NewReader("buy milk\n"), &sovereign.UploadOptions{
		ContentType: "text/plain",
		Metadata:    map[string]string{"author": "ada"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(obj.Name, obj.Size, obj.Metadata["author"])

	rc, _, err := docs.Download(ctx, "notes/today.txt", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", body)
	// Output:
	// notes/today.txt 9 ada
	// "buy milk\n"
}

// List a bucket by folder: with the delimiter "/", names past it fold into
// one entry per folder.
func ExampleBucketRef_List() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dataClient(ctx)

	if _, err := c.Storage().CreateBucket(ctx, sovereign.Bucket{Name: "example-site"}); err != nil {
		log.Fatal(err)
	}
	site := c.Storage().Bucket("example-site")
	for _, name := range []string{"index.html", "css/main.css", "img/logo.png", "img/icon.png"} {
		if _, err := site.Upload(ctx, name, strings.NewReader(name), nil); err != nil {
			log.Fatal(err)
		}
	}
	for o, err := range site.List(ctx, sovereign.ListOptions{Delimiter: "/"}) {
		if err != nil {
			log.Fatal(err)
		}
		if o.Prefix {
			fmt.Println(o.Name, "(folder)")
		} else {
			fmt.Println(o.Name, o.Size)
		}
	}
	// Output:
	// css/ (folder)
	// img/ (folder)
	// index.html 10
}

// A signed URL lets someone without a key download one object until it
// expires.
func ExampleBucketRef_SignedURL() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dataClient(ctx)

	if _, err := c.Storage().CreateBucket(ctx, sovereign.Bucket{Name: "example-private"}); err != nil {
		log.Fatal(err)
	}
	private := c.Storage().Bucket("example-private")
	if _, err := private.Upload(ctx, "report.txt", strings.NewReader("Q3: up"), nil); err != nil {
		log.Fatal(err)
	}
	url, expires, err := private.SignedURL(ctx, "report.txt", "GET", 15*time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.Contains(url, "/v1/storage/signed/"), time.Until(expires) > 14*time.Minute)
	// Output:
	// true true
}
