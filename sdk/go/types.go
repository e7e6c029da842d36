package sovereign

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
)

// The types below are the SDK's own, not the wire messages: times are
// time.Time (the zero time when unset), enums are strings. Their JSON tags
// use the wire names, and unset times are left out.

// Account is a developer's account on the platform (not an end user of a
// project).
type Account struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	CreatedAt     time.Time `json:"created_at,omitzero"`
}

// Session is what Signup, Login and Refresh give: a short-lived access token
// to send with [WithToken] and a single-use refresh token that buys the next
// session with [ManagementClient.Refresh].
type Session struct {
	// AccessToken (sov_at_…) authenticates requests until AccessExpiresAt
	// (15 minutes after it was issued).
	AccessToken     string    `json:"access_token"`
	AccessExpiresAt time.Time `json:"access_expires_at,omitzero"`
	// RefreshToken (sov_rt_…) is single use: Refresh returns a new one. Using
	// one twice ends every session descended from the same login.
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at,omitzero"`
	// Account is the account the session belongs to.
	Account *Account `json:"account,omitempty"`
}

// Credential kinds reported by [ManagementClient.WhoAmI].
const (
	CredentialSession             = "session"
	CredentialPersonalAccessToken = "personal_access_token"
)

// Caller is who the platform takes the client for.
type Caller struct {
	Account *Account `json:"account"`
	// Credential is how the caller authenticated: [CredentialSession] or
	// [CredentialPersonalAccessToken].
	Credential string `json:"credential"`
}

// PersonalAccessToken describes a personal access token (sov_pat_…). The
// token itself is returned once, by [ManagementClient.CreateToken].
type PersonalAccessToken struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Prefix is the token's first characters (sov_pat_XXXX), to recognise it.
	Prefix    string    `json:"prefix"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	// ExpiresAt is zero for a token that does not expire.
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

// Role is a member's role in an organization. From most to least: owner,
// admin, developer, viewer. Admins manage members and projects; developers
// manage projects and keys; viewers only read; only an owner deletes the
// organization or changes its plan.
type Role string

// Roles.
const (
	RoleOwner     Role = "owner"
	RoleAdmin     Role = "admin"
	RoleDeveloper Role = "developer"
	RoleViewer    Role = "viewer"
)

var roleToProto = map[Role]controlplanev1.Role{
	RoleOwner:     controlplanev1.Role_ROLE_OWNER,
	RoleAdmin:     controlplanev1.Role_ROLE_ADMIN,
	RoleDeveloper: controlplanev1.Role_ROLE_DEVELOPER,
	RoleViewer:    controlplanev1.Role_ROLE_VIEWER,
}

func (r Role) proto() (controlplanev1.Role, error) {
	p, ok := roleToProto[r]
	if !ok {
		return 0, invalidArgument("unknown role %q: use owner, admin, developer or viewer", r)
	}
	return p, nil
}

func roleFromProto(p controlplanev1.Role) Role {
	for r, q := range roleToProto {
		if q == p {
			return r
		}
	}
	return ""
}

// Organization groups projects and the accounts that manage them.
type Organization struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Plan is "free" or "pro".
	Plan string `json:"plan"`
	// Role is the caller's role in the organization.
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// Member is an account's membership of an organization.
type Member struct {
	AccountID string    `json:"account_id"`
	Email     string    `json:"email"`
	Role      Role      `json:"role"`
	JoinedAt  time.Time `json:"joined_at,omitzero"`
}

// Invitation is a pending invitation to join an organization.
type Invitation struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      Role      `json:"role"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Region is a region and its data plane.
type Region struct {
	// Name is what [CreateProjectParams].Region takes, e.g. "local".
	Name string `json:"name"`
	// PublicURL is the base URL of the region's data plane.
	PublicURL string `json:"public_url"`
	// Healthy is true when the data plane sent a heartbeat within the last
	// 30 seconds.
	Healthy         bool      `json:"healthy"`
	LastHeartbeatAt time.Time `json:"last_heartbeat_at,omitzero"`
	RegisteredAt    time.Time `json:"registered_at,omitzero"`
}

// ProjectState is where a project is in its life:
// provisioning → active ⇄ paused → deleting → deleted.
type ProjectState string

// Project states.
const (
	// ProjectProvisioning: the region is creating the tenant; keys do not
	// work yet. [ManagementClient.WaitProjectActive] waits it out.
	ProjectProvisioning ProjectState = "provisioning"
	// ProjectActive: the data plane serves the project's keys.
	ProjectActive ProjectState = "active"
	// ProjectPaused: the data plane refuses the project's keys; its data is
	// kept.
	ProjectPaused ProjectState = "paused"
	// ProjectDeleting: deleted, data kept until PurgeAt.
	ProjectDeleting ProjectState = "deleting"
	// ProjectDeleted: the data is gone.
	ProjectDeleted ProjectState = "deleted"
)

var projectStates = map[controlplanev1.ProjectState]ProjectState{
	controlplanev1.ProjectState_PROJECT_STATE_PROVISIONING: ProjectProvisioning,
	controlplanev1.ProjectState_PROJECT_STATE_ACTIVE:       ProjectActive,
	controlplanev1.ProjectState_PROJECT_STATE_PAUSED:       ProjectPaused,
	controlplanev1.ProjectState_PROJECT_STATE_DELETING:     ProjectDeleting,
	controlplanev1.ProjectState_PROJECT_STATE_DELETED:      ProjectDeleted,
}

// Project is a tenant: its own schema of data, users, files and keys in one
// region.
type Project struct {
	ID string `json:"id"`
	// Ref is the project's short, unique, URL-safe reference (12 lowercase
	// letters and digits); calls that take a project id take it too.
	Ref            string       `json:"ref"`
	OrganizationID string       `json:"organization_id"`
	Name           string       `json:"name"`
	Region         string       `json:"region"`
	State          ProjectState `json:"state"`
	// DataPlaneURL is the base URL for [NewClient].
	DataPlaneURL string    `json:"data_plane_url"`
	CreatedAt    time.Time `json:"created_at,omitzero"`
	// PurgeAt is when a deleting project's data is dropped; zero otherwise.
	PurgeAt time.Time `json:"purge_at,omitzero"`
	// LastError says why provisioning has not finished yet, when it was
	// retried.
	LastError string `json:"last_error,omitempty"`
}

// KeyKind is the kind of a project API key.
type KeyKind string

// API key kinds.
const (
	// KeyPublishable (sov_pk_…) is safe in browsers and apps; the project's
	// access rules decide what it may do.
	KeyPublishable KeyKind = "publishable"
	// KeySecret (sov_sk_…) has full access to the project's data; keep it on
	// servers.
	KeySecret KeyKind = "secret"
)

var keyKinds = map[controlplanev1.ApiKeyKind]KeyKind{
	controlplanev1.ApiKeyKind_API_KEY_KIND_PUBLISHABLE: KeyPublishable,
	controlplanev1.ApiKeyKind_API_KEY_KIND_SECRET:      KeySecret,
}

func (k KeyKind) proto() (controlplanev1.ApiKeyKind, error) {
	for p, kk := range keyKinds {
		if kk == k {
			return p, nil
		}
	}
	return 0, invalidArgument("unknown key kind %q: use publishable or secret", k)
}

// APIKey describes a project API key. The key itself is returned once, by
// [ManagementClient.CreateAPIKey].
type APIKey struct {
	ID        string  `json:"id"`
	ProjectID string  `json:"project_id"`
	Name      string  `json:"name"`
	Kind      KeyKind `json:"kind"`
	// Prefix is the key's first characters (e.g. sov_sk_Ab12), to recognise
	// it.
	Prefix    string    `json:"prefix"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	// ExpiresAt is zero for a key that does not expire.
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

// Mail is a mail the platform would have sent, kept in the dev mailbox.
type Mail struct {
	ID      string    `json:"id"`
	To      string    `json:"to"`
	Subject string    `json:"subject"`
	Body    string    `json:"body"`
	SentAt  time.Time `json:"sent_at,omitzero"`
}

// ProjectInfo is what the data plane says of the project an API key opens.
type ProjectInfo struct {
	// Ref is the project's reference.
	Ref    string `json:"ref"`
	Region string `json:"region"`
	// KeyKind is the kind of the key the client sent.
	KeyKind KeyKind `json:"key_kind"`
	KeyID   string  `json:"key_id"`
}

func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func accountOf(m *controlplanev1.Account) *Account {
	if m == nil {
		return nil
	}
	return &Account{ID: m.GetId(), Email: m.GetEmail(), EmailVerified: m.GetEmailVerified(), CreatedAt: timeOf(m.GetCreatedAt())}
}

func sessionOf(m *controlplanev1.Session, acct *controlplanev1.Account) *Session {
	if m.GetAccount() != nil {
		acct = m.GetAccount()
	}
	return &Session{
		AccessToken: m.GetAccessToken(), AccessExpiresAt: timeOf(m.GetAccessExpiresAt()),
		RefreshToken: m.GetRefreshToken(), RefreshExpiresAt: timeOf(m.GetRefreshExpiresAt()),
		Account: accountOf(acct),
	}
}

func tokenOf(m *controlplanev1.PersonalAccessToken) *PersonalAccessToken {
	return &PersonalAccessToken{
		ID: m.GetId(), Name: m.GetName(), Prefix: m.GetPrefix(), CreatedAt: timeOf(m.GetCreatedAt()),
		ExpiresAt: timeOf(m.GetExpiresAt()), LastUsedAt: timeOf(m.GetLastUsedAt()), RevokedAt: timeOf(m.GetRevokedAt()),
	}
}

func organizationOf(m *controlplanev1.Organization) *Organization {
	return &Organization{ID: m.GetId(), Name: m.GetName(), Plan: m.GetPlan(), Role: roleFromProto(m.GetRole()), CreatedAt: timeOf(m.GetCreatedAt())}
}

func memberOf(m *controlplanev1.Member) *Member {
	return &Member{AccountID: m.GetAccountId(), Email: m.GetEmail(), Role: roleFromProto(m.GetRole()), JoinedAt: timeOf(m.GetJoinedAt())}
}

func invitationOf(m *controlplanev1.Invitation) *Invitation {
	return &Invitation{ID: m.GetId(), Email: m.GetEmail(), Role: roleFromProto(m.GetRole()), ExpiresAt: timeOf(m.GetExpiresAt())}
}

func regionOf(m *controlplanev1.Region) *Region {
	return &Region{Name: m.GetName(), PublicURL: m.GetPublicUrl(), Healthy: m.GetHealthy(),
		LastHeartbeatAt: timeOf(m.GetLastHeartbeatAt()), RegisteredAt: timeOf(m.GetRegisteredAt())}
}

func projectOf(m *controlplanev1.Project) *Project {
	return &Project{
		ID: m.GetId(), Ref: m.GetRef(), OrganizationID: m.GetOrganizationId(), Name: m.GetName(),
		Region: m.GetRegion(), State: projectStates[m.GetState()], DataPlaneURL: m.GetDataPlaneUrl(),
		CreatedAt: timeOf(m.GetCreatedAt()), PurgeAt: timeOf(m.GetPurgeAt()), LastError: m.GetLastError(),
	}
}

func apiKeyOf(m *controlplanev1.ApiKey) *APIKey {
	return &APIKey{
		ID: m.GetId(), ProjectID: m.GetProjectId(), Name: m.GetName(), Kind: keyKinds[m.GetKind()],
		Prefix: m.GetPrefix(), CreatedAt: timeOf(m.GetCreatedAt()), ExpiresAt: timeOf(m.GetExpiresAt()),
		LastUsedAt: timeOf(m.GetLastUsedAt()), RevokedAt: timeOf(m.GetRevokedAt()),
	}
}

func mailOf(m *controlplanev1.Mail) *Mail {
	return &Mail{ID: m.GetId(), To: m.GetTo(), Subject: m.GetSubject(), Body: m.GetBody(), SentAt: timeOf(m.GetSentAt())}
}

func mapSlice[M any, T any](ms []M, f func(M) T) []T {
	out := make([]T, len(ms))
	for i, m := range ms {
		out[i] = f(m)
	}
	return out
}
