package broker

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// GroupStats describes one consumer group, for monitoring (the console,
// metrics): its state, members and committed offsets with their lag.
type GroupStats struct {
	ID           string
	State        string // Empty, PreparingRebalance, CompletingRebalance, Stable, Dead
	ProtocolType string // "consumer" for Kafka consumers
	Protocol     string // the assignor chosen
	Generation   int32
	Members      []GroupMemberStats
	Offsets      []GroupOffsetStats
}

// GroupMemberStats is one member of a group.
type GroupMemberStats struct {
	MemberID, InstanceID, ClientID, Host string
	// Assigned are the partitions assigned to the member, by topic, when
	// the group uses Kafka's consumer protocol and the assignment decodes.
	Assigned map[string][]int32
}

// GroupOffsetStats is a committed offset and how far behind the
// partition's end it is (-1 when the partition no longer exists).
type GroupOffsetStats struct {
	Topic     string
	Partition int32
	Committed int64
	Lag       int64
}

// Groups lists the cluster's consumer groups, by id, each read under its
// own lock (a consistent view per group, not across groups).
func (c *Cluster) Groups() []GroupStats {
	if c.groups == nil {
		return nil
	}
	var out []GroupStats
	for _, g := range c.groups.all() {
		g.mu.Lock()
		gs := GroupStats{ID: g.id, State: g.state.String(), ProtocolType: g.protocolType, Protocol: g.protocol, Generation: g.generation}
		for _, m := range g.members {
			ms := GroupMemberStats{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, Host: m.clientHost}
			if m.protocolType == "consumer" && len(m.assignment) > 0 {
				var a kmsg.ConsumerMemberAssignment
				if a.ReadFrom(m.assignment) == nil {
					ms.Assigned = map[string][]int32{}
					for _, t := range a.Topics {
						ms.Assigned[t.Topic] = append(ms.Assigned[t.Topic], t.Partitions...)
					}
				}
			}
			gs.Members = append(gs.Members, ms)
		}
		for tp, ov := range g.offsets {
			gs.Offsets = append(gs.Offsets, GroupOffsetStats{Topic: tp.topic, Partition: tp.partition, Committed: ov.Offset})
		}
		g.mu.Unlock()
		slices.SortFunc(gs.Members, func(a, b GroupMemberStats) int { return strings.Compare(a.MemberID, b.MemberID) })
		slices.SortFunc(gs.Offsets, func(a, b GroupOffsetStats) int {
			if n := strings.Compare(a.Topic, b.Topic); n != 0 {
				return n
			}
			return int(a.Partition - b.Partition)
		})
		for i := range gs.Offsets {
			o := &gs.Offsets[i]
			o.Lag = -1
			if _, next, err := c.Offsets(o.Topic, o.Partition); err == nil {
				o.Lag = max(next-o.Committed, 0)
			}
		}
		out = append(out, gs)
	}
	return out
}
