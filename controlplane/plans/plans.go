// Package plans defines the plans an organization can be on and the limits
// each gives its projects. The control plane sends a project's limits to its
// data plane when it provisions the tenant and again when the plan changes;
// the data plane enforces them.
package plans

import "slices"

// Default is the plan of a new organization.
const Default = "free"

// Limits bound what one project of a plan may use. Zero means unlimited.
type Limits struct {
	// RequestsPerSecond over all of the project's keys.
	RequestsPerSecond int32
	// DatabaseBytes is the size of the tenant's schema, in bytes.
	DatabaseBytes int64
	// StorageBytes is the size of the tenant's files, in bytes.
	StorageBytes int64
	// RealtimeConnections is how many realtime connections may be open at once.
	RealtimeConnections int32
	// RealtimeSubscriptions is how many subscriptions and channel joins
	// one realtime connection may hold.
	RealtimeSubscriptions int32
	// RealtimeMessagesPerSecond is how many frames one realtime connection
	// may send per second.
	RealtimeMessagesPerSecond int32
	// RealtimePayloadBytes is the largest frame a realtime client may send.
	RealtimePayloadBytes int32
}

// Plan is a named set of limits.
type Plan struct {
	// Name is what the API and the database call the plan.
	Name string
	// Limits apply to each project of an organization on the plan.
	Limits Limits
}

const (
	mib = 1 << 20
	gib = 1 << 30
)

var all = []Plan{
	{
		Name: "free",
		Limits: Limits{
			RequestsPerSecond:         50,
			DatabaseBytes:             500 * mib,
			StorageBytes:              1 * gib,
			RealtimeConnections:       200,
			RealtimeSubscriptions:     100,
			RealtimeMessagesPerSecond: 100,
			RealtimePayloadBytes:      64 << 10,
		},
	},
	{
		Name: "pro",
		Limits: Limits{
			RequestsPerSecond:         1000,
			DatabaseBytes:             8 * gib,
			StorageBytes:              100 * gib,
			RealtimeConnections:       5000,
			RealtimeSubscriptions:     500,
			RealtimeMessagesPerSecond: 500,
			RealtimePayloadBytes:      256 << 10,
		},
	},
}

// Lookup returns the plan called name.
func Lookup(name string) (Plan, bool) {
	i := slices.IndexFunc(all, func(p Plan) bool { return p.Name == name })
	if i < 0 {
		return Plan{}, false
	}
	return all[i], true
}

// Names lists the plans' names, cheapest first.
func Names() []string {
	names := make([]string, len(all))
	for i, p := range all {
		names[i] = p.Name
	}
	return names
}
