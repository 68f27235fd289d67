package ymq

// Subscribers is the number of subscribers connected right now; the scheduler builds
// per-task monitor messages only while someone listens.
func (p publisher) Subscribers() int {
	p.b.mu.RLock()
	defer p.b.mu.RUnlock()
	n := 0
	for _, peer := range p.b.peers {
		if peer.conn != nil {
			n++
		}
	}
	return n
}
