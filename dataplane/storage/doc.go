// Package storage is the data plane's file storage: a project's buckets and
// the objects in them, with per-bucket rules, limits and content types,
// signed URLs, a per-project quota, and the REST and Connect faces
// (StorageService) of all of it.
//
// Metadata lives in the tenant's schema, in tables the service makes on
// first use (_storage_buckets, _storage_objects, _storage_usage,
// _storage_keys), with row-level security enabled and forced and one
// policy that admits only the service role: the service authorizes each
// call itself (the caller's key and user against the bucket's rules) and
// then runs its SQL as the tenant's service identity. Bytes live in a
// blob.Backend under opaque keys "<bucket id>/<object version id>", never
// the user's name, so a name cannot traverse anything and a rename is a
// metadata change.
//
// An upload writes a new blob, then swaps the object's row and adjusts the
// usage row in one transaction (which re-checks the quota under the usage
// row's lock), then deletes the previous version's blob. A download that
// already opened the previous blob keeps reading it on local disk (the
// file stays open); on S3 a ranged read started after the delete fails.
// A crash between the blob write and the commit, or between the commit and
// the delete, leaves an orphan blob; the Janitor (janitor.go) deletes blobs
// no row names once seen so for Config.OrphanAge, and tus uploads (tus.go,
// table _storage_uploads, parts "uploads/<id>/...") older than 24 h.
//
// Limits: object names are 1 to MaxNameLen bytes of UTF-8 without control
// characters, backslashes, "." or ".." segments or a leading "/"; at most
// MaxMetadataEntries custom metadata entries of MaxMetadataBytes in all;
// objects up to Config.MaxObjectBytes (default 5 GiB) or the bucket's
// max_object_bytes; pages of ListObjects up to MaxPageSize; DeleteObjects up
// to MaxDeleteNames names; signed URLs valid for up to MaxSignedURLExpiry.
package storage
