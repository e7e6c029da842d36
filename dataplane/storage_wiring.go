package dataplane

// buildStorage mounts the storage service (Connect and REST under
// /v1/storage/).
func (p *Plane) buildStorage(d *wiring) error {
	_ = d
	return nil
}
