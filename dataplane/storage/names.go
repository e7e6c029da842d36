package storage

import (
	"fmt"
	"mime"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"connectrpc.com/connect"
)

// Limits on names and metadata.
const (
	// MaxNameLen is the longest object name, in bytes.
	MaxNameLen = 1024
	// MaxMetadataEntries is the most custom metadata entries of an object.
	MaxMetadataEntries = 32
	// MaxMetadataBytes caps the keys and values of an object's custom
	// metadata together, in bytes.
	MaxMetadataBytes = 8 << 10
	// MaxContentTypes is the most entries of a bucket's
	// allowed_content_types.
	MaxContentTypes = 64
	// MaxRuleLen is the longest bucket rule, in bytes.
	MaxRuleLen = 4096
)

var (
	bucketName  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{2,62}$`)
	metadataKey = regexp.MustCompile(`^[a-z0-9-]{1,128}$`)
)

func invalidf(format string, args ...any) error {
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(format, args...))
}

// CheckBucketName returns an InvalidArgument error unless name is 3 to 63
// characters of [a-z0-9._-], starting with a letter or digit.
func CheckBucketName(name string) error {
	if !bucketName.MatchString(name) {
		return invalidf("bucket name %q: use 3 to 63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", name)
	}
	return nil
}

// CheckObjectName returns an InvalidArgument error naming what is wrong
// with an object name: empty or over MaxNameLen bytes, not UTF-8, a
// control character (NUL included), a backslash, a leading "/", or a "."
// or ".." segment.
func CheckObjectName(name string) error {
	switch {
	case name == "":
		return invalidf("object name is empty")
	case len(name) > MaxNameLen:
		return invalidf("object name is %d bytes long, more than the limit of %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return invalidf("object name is not valid UTF-8")
	case strings.HasPrefix(name, "/"):
		return invalidf("object name %q starts with '/': names are relative", name)
	case strings.ContainsRune(name, '\\'):
		return invalidf("object name %q holds a backslash", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return invalidf("object name holds the control character %U", r)
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "." || seg == ".." {
			return invalidf("object name %q holds a %q segment", name, seg)
		}
	}
	return nil
}

// CheckMetadata returns an InvalidArgument error unless md has at most
// MaxMetadataEntries keys of [a-z0-9-] and MaxMetadataBytes in all, with
// UTF-8 values free of control characters.
func CheckMetadata(md map[string]string) error {
	if len(md) > MaxMetadataEntries {
		return invalidf("metadata has %d entries, more than the limit of %d", len(md), MaxMetadataEntries)
	}
	total := 0
	for k, v := range md {
		if !metadataKey.MatchString(k) {
			return invalidf("metadata key %q: use 1 to 128 characters of a-z, 0-9 and '-'", k)
		}
		if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			return invalidf("metadata %q: the value must be UTF-8 without control characters", k)
		}
		total += len(k) + len(v)
	}
	if total > MaxMetadataBytes {
		return invalidf("metadata is %d bytes, more than the limit of %d", total, MaxMetadataBytes)
	}
	return nil
}

// checkContentTypes validates a bucket's allowed_content_types: media
// types ("text/plain") or "type/*".
func checkContentTypes(list []string) error {
	if len(list) > MaxContentTypes {
		return invalidf("allowed_content_types has %d entries, more than the limit of %d", len(list), MaxContentTypes)
	}
	for _, ct := range list {
		typ, sub, ok := strings.Cut(ct, "/")
		if !ok || typ == "" || sub == "" || typ == "*" || strings.ContainsAny(ct, " ;,") {
			return invalidf("allowed_content_types: %q is not a media type like \"image/png\" or \"image/*\"", ct)
		}
	}
	return nil
}

// mediaType is ct without parameters, lowercased; "" when ct does not
// parse.
func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}

// contentTypeAllowed reports whether ct matches one of allowed (empty
// allows any).
func contentTypeAllowed(ct string, allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	mt := mediaType(ct)
	for _, a := range allowed {
		a = strings.ToLower(a)
		if a == mt {
			return true
		}
		if prefix, ok := strings.CutSuffix(a, "/*"); ok && strings.HasPrefix(mt, prefix+"/") {
			return true
		}
	}
	return false
}

// folder is an object name's first segment when it has a "/", else "":
// what rules read as object.folder.
func folder(name string) string {
	if f, _, ok := strings.Cut(name, "/"); ok {
		return f
	}
	return ""
}
