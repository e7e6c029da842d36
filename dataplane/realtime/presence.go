package realtime

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"time"
)

// Presence across nodes. Each node knows its own members (channel.members)
// and publishes their joins, leaves and state changes on the channel's
// broker channel; other nodes keep what they hear in channel.remote. Every
// refresh interval a node republishes its full member list ("sync"), which
// both repairs messages the at-most-once broker lost and keeps its members
// alive elsewhere: a member not refreshed within the timeout (its node
// crashed or lost Valkey) is dropped with a presence_diff leave. A node that
// starts listening to a channel says "hello" and the others answer with a
// sync at once.

// presence are the channel's presence members, local then remote, in key
// order within each. h.mu is held.
func (ch *channel) presence() []PresenceMember {
	out := []PresenceMember{}
	for _, lm := range ch.members {
		if lm.presence {
			out = append(out, lm.m)
		}
	}
	for _, node := range ch.remote {
		for _, rm := range node {
			out = append(out, rm.m)
		}
	}
	slices.SortFunc(out, func(a, b PresenceMember) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// localPresence are this node's presence members of ch. h.mu is held.
func (ch *channel) localPresence() []PresenceMember {
	var out []PresenceMember
	for _, lm := range ch.members {
		if lm.presence {
			out = append(out, lm.m)
		}
	}
	return out
}

// localDiff sends a presence_diff to the connections to.
func (h *channelHub) localDiff(name string, to []*conn, joins, leaves []PresenceMember) {
	if len(to) == 0 || (len(joins) == 0 && len(leaves) == 0) {
		return
	}
	if joins == nil {
		joins = []PresenceMember{}
	}
	if leaves == nil {
		leaves = []PresenceMember{}
	}
	frame := marshal(presenceDiffFrame{Type: FramePresenceDiff, Channel: name, Joins: joins, Leaves: leaves})
	for _, c := range to {
		c.send(frame)
	}
}

// remote applies another node's presence message and tells the local
// members what changed.
func (h *channelHub) remote(ch *channel, m *busMsg) {
	now := time.Now()
	var joins, leaves []PresenceMember
	h.mu.Lock()
	node := ch.remote[m.Node]
	if node == nil {
		node = map[string]remoteMember{}
		ch.remote[m.Node] = node
	}
	switch m.K {
	case "join", "state":
		for _, pm := range m.Members {
			old, ok := node[pm.Key]
			node[pm.Key] = remoteMember{m: pm, seen: now}
			if !ok || !bytes.Equal(old.m.State, pm.State) {
				joins = append(joins, pm)
			}
		}
	case "leave":
		for _, pm := range m.Members {
			if old, ok := node[pm.Key]; ok {
				delete(node, pm.Key)
				leaves = append(leaves, old.m)
			}
		}
	case "sync":
		listed := make(map[string]bool, len(m.Members))
		for _, pm := range m.Members {
			listed[pm.Key] = true
			old, ok := node[pm.Key]
			node[pm.Key] = remoteMember{m: pm, seen: now}
			if !ok || !bytes.Equal(old.m.State, pm.State) {
				joins = append(joins, pm)
			}
		}
		for key, old := range node {
			if !listed[key] {
				delete(node, key)
				leaves = append(leaves, old.m)
			}
		}
	}
	if len(node) == 0 {
		delete(ch.remote, m.Node)
	}
	to := ch.others(nil)
	h.mu.Unlock()
	h.localDiff(ch.name, to, joins, leaves)
}

// sync publishes this node's members of ch.
func (h *channelHub) sync(ch *channel) {
	h.mu.Lock()
	members := ch.localPresence()
	h.mu.Unlock()
	h.publish(ch.key, busMsg{K: "sync", Node: h.node, Members: members})
}

// run republishes every channel's local members each refresh and drops
// remote members not refreshed within the timeout, until ctx ends.
func (h *channelHub) run(ctx context.Context) {
	t := time.NewTicker(h.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		chans := make([]*channel, 0, len(h.chans))
		for _, ch := range h.chans {
			chans = append(chans, ch)
		}
		h.mu.Unlock()
		for _, ch := range chans {
			h.expire(ch, time.Now().Add(-h.timeout))
			h.mu.Lock()
			has := len(ch.localPresence()) > 0
			h.mu.Unlock()
			if has {
				h.sync(ch)
			}
		}
	}
}

// expire drops the remote members of ch last seen before cutoff.
func (h *channelHub) expire(ch *channel, cutoff time.Time) {
	var leaves []PresenceMember
	h.mu.Lock()
	for id, node := range ch.remote {
		for key, rm := range node {
			if rm.seen.Before(cutoff) {
				delete(node, key)
				leaves = append(leaves, rm.m)
			}
		}
		if len(node) == 0 {
			delete(ch.remote, id)
		}
	}
	to := ch.others(nil)
	h.mu.Unlock()
	h.localDiff(ch.name, to, nil, leaves)
}
