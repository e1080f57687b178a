package broker

// The group coordinator's requests: FindCoordinator (key 10), JoinGroup
// (11), SyncGroup (14), Heartbeat (12), LeaveGroup (13), OffsetCommit (8),
// OffsetFetch (9), ListGroups (16), DescribeGroups (15), DeleteGroups (42)
// and OffsetDelete (47). The state machine is in groups.go.
//
// Request decoding aliases strings and bytes into the connection's buffer:
// everything a group keeps is cloned here.

import (
	"bytes"
	"math"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// notCoordinator reports whether this node must answer NOT_COORDINATOR for
// a group.
func (c *conn) notCoordinator(group string) bool {
	return c.b.cluster.coordinatorNode(group) != c.b.node
}

// groupCode is the error every group request answers before looking at
// the group: INVALID_GROUP_ID for an empty id, NOT_COORDINATOR on a node
// that does not coordinate the group, else 0.
func (c *conn) groupCode(group string) int16 {
	switch {
	case group == "":
		return kerr.InvalidGroupID.Code
	case c.notCoordinator(group):
		return kerr.NotCoordinator.Code
	}
	return 0
}

func (c *conn) groups() *groupCoordinator { return c.b.cluster.groups }

func (c *conn) clientHost() string {
	if c.ip == "" {
		return ""
	}
	return "/" + strings.Trim(c.ip, "[]")
}

func strPtr(s string) *string { return &s }

// awaitGroup waits for the answer of a JoinGroup or SyncGroup that waits on
// the rest of its group, until the connection closes (an error), or, when
// the coordinator caps waits, answers late after the cap.
func awaitGroup[T any](c *conn, ch <-chan T, late T) (T, error) {
	var capped <-chan time.Time
	if d := c.groups().maxWait; d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		capped = t.C
	}
	select {
	case r := <-ch:
		return r, nil
	case <-capped:
		return late, nil
	case <-c.ctx.Done():
		var zero T
		return zero, c.ctx.Err()
	}
}

func (c *conn) handleFindCoordinator(req *kmsg.FindCoordinatorRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	nodes := c.b.cluster.Nodes()
	for _, key := range keys {
		co := kmsg.NewFindCoordinatorResponseCoordinator()
		co.Key = strings.Clone(key)
		co.NodeID = -1
		switch {
		case req.CoordinatorType != 0 && req.CoordinatorType != 1:
			co.ErrorCode = kerr.InvalidRequest.Code
		case req.CoordinatorType == 0 && key == "":
			co.ErrorCode = kerr.InvalidGroupID.Code
		default:
			co.ErrorCode = kerr.CoordinatorNotAvailable.Code
			id := c.b.cluster.coordinatorNode(key)
			for _, n := range nodes {
				if n.ID == id && n.Running {
					co.NodeID, co.Host, co.Port, co.ErrorCode = n.ID, n.Host, n.Port, 0
				}
			}
		}
		resp.Coordinators = append(resp.Coordinators, co)
	}
	if req.Version < 4 && len(resp.Coordinators) == 1 {
		co := resp.Coordinators[0]
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = co.ErrorCode, co.NodeID, co.Host, co.Port
		resp.Coordinators = nil
	}
	return resp
}

func (c *conn) handleJoinGroup(h reqHeader, req *kmsg.JoinGroupRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.MemberID = strings.Clone(req.MemberID)
	resp.Generation = -1
	if resp.ErrorCode = c.groupCode(req.Group); resp.ErrorCode != 0 {
		return resp, nil
	}
	a := joinArgs{
		version:      req.Version,
		memberID:     strings.Clone(req.MemberID),
		clientID:     string(h.clientID),
		clientHost:   c.clientHost(),
		session:      time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		rebalance:    time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		protocolType: strings.Clone(req.ProtocolType),
	}
	if req.Version == 0 {
		a.rebalance = a.session
	}
	if req.InstanceID != nil {
		a.instanceID = strings.Clone(*req.InstanceID)
	}
	for _, p := range req.Protocols {
		a.protocols = append(a.protocols, protocolMeta{name: strings.Clone(p.Name), meta: bytes.Clone(p.Metadata)})
	}
	g := c.groups().get(strings.Clone(req.Group), true)
	if g == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	r, ch := g.join(a)
	g.dropIfUnusedLocked()
	g.mu.Unlock()
	if ch != nil {
		var err error
		if r, err = awaitGroup(c, ch, joinResult{code: kerr.RebalanceInProgress.Code, memberID: a.memberID, generation: -1}); err != nil {
			return nil, err
		}
	}
	resp.ErrorCode, resp.Generation, resp.LeaderID, resp.SkipAssignment = r.code, r.generation, r.leader, r.skipAssignment
	if r.memberID != "" {
		resp.MemberID = r.memberID
	}
	resp.Members = r.members
	if r.code == 0 {
		resp.ProtocolType, resp.Protocol = strPtr(r.protocolType), strPtr(r.protocol)
	} else if req.Version < 7 {
		resp.Protocol = strPtr("")
	}
	return resp, nil
}

// dropIfUnusedLocked forgets a group that a failed request created: no
// members, offsets or generations.
func (g *group) dropIfUnusedLocked() {
	if g.state == groupEmpty && g.generation == 0 && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 {
		g.state = groupDead
		g.gc.remove(g)
	}
}

func (c *conn) handleSyncGroup(req *kmsg.SyncGroupRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	if resp.ErrorCode = c.groupCode(req.Group); resp.ErrorCode != 0 {
		return resp, nil
	}
	g := c.groups().get(req.Group, false)
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil
	}
	a := syncArgs{
		version:     req.Version,
		memberID:    req.MemberID,
		generation:  req.Generation,
		assignments: make(map[string][]byte, len(req.GroupAssignment)),
	}
	if req.InstanceID != nil {
		a.instanceID = *req.InstanceID
	}
	if req.Version >= 5 {
		a.protocolType, a.protocol = req.ProtocolType, req.Protocol
	}
	for _, ga := range req.GroupAssignment {
		a.assignments[strings.Clone(ga.MemberID)] = bytes.Clone(ga.MemberAssignment)
	}
	r, ch := g.sync(a)
	g.mu.Unlock()
	if ch != nil {
		var err error
		if r, err = awaitGroup(c, ch, syncResult{code: kerr.RebalanceInProgress.Code}); err != nil {
			return nil, err
		}
	}
	resp.ErrorCode, resp.MemberAssignment = r.code, r.assignment
	if r.code == 0 && req.Version >= 5 {
		resp.ProtocolType, resp.Protocol = strPtr(r.protocolType), strPtr(r.protocol)
	}
	return resp, nil
}

func (c *conn) handleHeartbeat(req *kmsg.HeartbeatRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if resp.ErrorCode = c.groupCode(req.Group); resp.ErrorCode != 0 {
		return resp
	}
	g := c.groups().get(req.Group, false)
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	defer g.mu.Unlock()
	inst := ""
	if req.InstanceID != nil {
		inst = *req.InstanceID
	}
	resp.ErrorCode = g.heartbeat(req.MemberID, inst, req.Generation)
	return resp
}

func (c *conn) handleLeaveGroup(req *kmsg.LeaveGroupRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	answer := func(code int16) {
		for _, m := range members {
			rm := kmsg.NewLeaveGroupResponseMember()
			rm.MemberID, rm.ErrorCode = strings.Clone(m.MemberID), code
			if m.InstanceID != nil {
				rm.InstanceID = strPtr(strings.Clone(*m.InstanceID))
			}
			resp.Members = append(resp.Members, rm)
		}
	}
	var g *group
	if resp.ErrorCode = c.groupCode(req.Group); resp.ErrorCode == 0 {
		if g = c.groups().get(req.Group, false); g == nil {
			answer(kerr.UnknownMemberID.Code)
		}
	}
	if g != nil {
		for _, m := range members {
			inst := ""
			if m.InstanceID != nil {
				inst = *m.InstanceID
			}
			code := g.leave(m.MemberID, inst)
			rm := kmsg.NewLeaveGroupResponseMember()
			rm.MemberID, rm.ErrorCode = strings.Clone(m.MemberID), code
			if m.InstanceID != nil {
				rm.InstanceID = strPtr(strings.Clone(inst))
			}
			resp.Members = append(resp.Members, rm)
		}
		g.mu.Unlock()
	}
	if req.Version < 3 {
		if resp.ErrorCode == 0 && len(resp.Members) == 1 {
			resp.ErrorCode = resp.Members[0].ErrorCode
		}
		resp.Members = nil
	}
	return resp
}

func (c *conn) handleOffsetCommit(req *kmsg.OffsetCommitRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	// Partitions are answered in request order; codes[i] is the code of
	// the i-th partition of the request.
	var codes []int16
	var recs []groupRecord
	var refs []int // index in codes of each record
	now := time.Now().UnixMilli()
	groupCode := c.groupCode(req.Group)
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			code := groupCode
			switch {
			case code != 0:
			case c.b.cluster.partition(t.Topic, p.Partition) == nil:
				code = kerr.UnknownTopicOrPartition.Code
			case p.Metadata != nil && len(*p.Metadata) > maxOffsetMetadata:
				code = kerr.OffsetMetadataTooLarge.Code
			default:
				ov := offsetValue{Offset: p.Offset, LeaderEpoch: -1, CommitTime: now}
				if req.Version >= 6 {
					ov.LeaderEpoch = p.LeaderEpoch
				}
				if p.Metadata != nil {
					ov.Metadata = strings.Clone(*p.Metadata)
				}
				recs = append(recs, groupRecord{Type: recOffset, Topic: strings.Clone(t.Topic), Partition: p.Partition, Offset: &ov})
				refs = append(refs, len(codes))
			}
			codes = append(codes, code)
		}
	}
	if len(recs) > 0 {
		if code := c.commitOffsets(req, recs); code != 0 {
			for _, i := range refs {
				codes[i] = code
			}
		}
	}
	i := 0
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = strings.Clone(t.Topic)
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, codes[i]
			i++
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// commitOffsets checks the committer and stores the offsets, returning
// the code for all of them.
func (c *conn) commitOffsets(req *kmsg.OffsetCommitRequest, recs []groupRecord) int16 {
	gc := c.groups()
	g := gc.get(strings.Clone(req.Group), true)
	if g == nil {
		return kerr.CoordinatorNotAvailable.Code
	}
	defer g.mu.Unlock()
	generation, member := int32(-1), ""
	if req.Version >= 1 {
		generation, member = req.Generation, req.MemberID
	}
	inst := ""
	if req.InstanceID != nil {
		inst = *req.InstanceID
	}
	if code := g.checkCommit(member, inst, generation); code != 0 {
		g.dropIfUnusedLocked()
		return code
	}
	for i := range recs {
		recs[i].Group = g.id
	}
	if gc.store != nil {
		if err := gc.store.append(recs); err != nil {
			gc.log.Error("persisting committed offsets", "group", g.id, "err", err)
			g.dropIfUnusedLocked()
			return kerr.CoordinatorNotAvailable.Code
		}
	}
	for _, r := range recs {
		g.offsets[topicPartition{r.Topic, r.Partition}] = *r.Offset
	}
	return 0
}

func (c *conn) handleOffsetFetch(req *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version < 8 {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = req.Group
		if req.Topics != nil || req.Version < 2 {
			rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{}
			for _, t := range req.Topics {
				rg.Topics = append(rg.Topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t.Topic, Partitions: t.Partitions})
			}
		} else {
			rg.Topics = nil
		}
		g := c.fetchGroupOffsets(rg)
		resp.ErrorCode = g.ErrorCode
		for _, t := range g.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				if req.Version < 2 && resp.ErrorCode != 0 {
					rp.ErrorCode = resp.ErrorCode
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, rg := range req.Groups {
		resp.Groups = append(resp.Groups, c.fetchGroupOffsets(rg))
	}
	return resp
}

// fetchGroupOffsets answers one group of an OffsetFetch. rg.Topics nil
// asks for every committed offset.
func (c *conn) fetchGroupOffsets(rg kmsg.OffsetFetchRequestGroup) kmsg.OffsetFetchResponseGroup {
	out := kmsg.NewOffsetFetchResponseGroup()
	out.Group = strings.Clone(rg.Group)
	partition := func(p int32, ov offsetValue, ok bool) kmsg.OffsetFetchResponseGroupTopicPartition {
		rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p, -1, -1, strPtr("")
		if ok {
			rp.Offset, rp.LeaderEpoch, rp.Metadata = ov.Offset, ov.LeaderEpoch, strPtr(ov.Metadata)
		}
		return rp
	}
	if out.ErrorCode = c.groupCode(rg.Group); out.ErrorCode != 0 {
		return out
	}
	offsets := map[topicPartition]offsetValue{}
	if g := c.groups().get(rg.Group, false); g != nil {
		for tp, ov := range g.offsets {
			offsets[tp] = ov
		}
		g.mu.Unlock()
	}
	if rg.Topics == nil {
		byTopic := map[string]int{}
		for _, tp := range sortedTopicPartitions(offsets) {
			i, ok := byTopic[tp.topic]
			if !ok {
				i = len(out.Topics)
				byTopic[tp.topic] = i
				rt := kmsg.NewOffsetFetchResponseGroupTopic()
				rt.Topic = tp.topic
				out.Topics = append(out.Topics, rt)
			}
			out.Topics[i].Partitions = append(out.Topics[i].Partitions, partition(tp.partition, offsets[tp], true))
		}
		return out
	}
	for _, t := range rg.Topics {
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic = strings.Clone(t.Topic)
		for _, p := range t.Partitions {
			ov, ok := offsets[topicPartition{t.Topic, p}]
			rt.Partitions = append(rt.Partitions, partition(p, ov, ok))
		}
		out.Topics = append(out.Topics, rt)
	}
	return out
}

func sortedTopicPartitions(m map[topicPartition]offsetValue) []topicPartition {
	tps := make([]topicPartition, 0, len(m))
	for tp := range m {
		tps = append(tps, tp)
	}
	sortTopicPartitions(tps)
	return tps
}

func (c *conn) handleListGroups(req *kmsg.ListGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	for _, g := range c.groups().all() {
		if c.notCoordinator(g.id) {
			continue
		}
		g.mu.Lock()
		state, ptype := g.state, g.protocolType
		g.mu.Unlock()
		if state == groupDead || !matchesFilter(req.StatesFilter, state.String()) || !matchesFilter(req.TypesFilter, "classic") {
			continue
		}
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group, rg.ProtocolType, rg.GroupState, rg.GroupType = g.id, ptype, state.String(), "classic"
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// matchesFilter is ListGroups' filter: empty matches all, else a
// case-insensitive match of one entry.
func matchesFilter(filter []string, v string) bool {
	if len(filter) == 0 {
		return true
	}
	for _, f := range filter {
		if strings.EqualFold(f, v) {
			return true
		}
	}
	return false
}

// groupOperations is the AuthorizedOperations of a group when asked for:
// without ACLs, everything a group allows (READ, DELETE, DESCRIBE).
const groupOperations = 1<<3 | 1<<6 | 1<<8

func (c *conn) handleDescribeGroups(req *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group, rg.State = strings.Clone(id), groupDead.String()
		if req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = groupOperations
		} else {
			rg.AuthorizedOperations = math.MinInt32
		}
		if rg.ErrorCode = c.groupCode(id); rg.ErrorCode == 0 {
			if g := c.groups().get(id, false); g != nil {
				g.describeLocked(&rg)
				g.mu.Unlock()
			} else if req.Version >= 6 {
				rg.ErrorCode = kerr.GroupIDNotFound.Code
				rg.ErrorMessage = strPtr("group " + rg.Group + " not found")
			}
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// describeLocked fills a DescribeGroups answer as Kafka does: the protocol,
// metadata and assignments only while the group is Stable.
func (g *group) describeLocked(rg *kmsg.DescribeGroupsResponseGroup) {
	rg.State, rg.ProtocolType = g.state.String(), g.protocolType
	stable := g.state == groupStable
	if stable {
		rg.Protocol = g.protocol
	}
	for _, m := range g.sortedMembers() {
		rm := kmsg.NewDescribeGroupsResponseGroupMember()
		rm.MemberID, rm.ClientID, rm.ClientHost = m.id, m.clientID, m.clientHost
		if m.instanceID != "" {
			rm.InstanceID = strPtr(m.instanceID)
		}
		if stable {
			for _, p := range m.protocols {
				if p.name == g.protocol {
					rm.ProtocolMetadata = p.meta
				}
			}
			rm.MemberAssignment = m.assignment
		}
		rg.Members = append(rg.Members, rm)
	}
}

func (c *conn) handleDeleteGroups(req *kmsg.DeleteGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	gc := c.groups()
	for _, id := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = strings.Clone(id)
		if rg.ErrorCode = c.groupCode(id); rg.ErrorCode == 0 {
			rg.ErrorCode = gc.deleteGroup(id)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// deleteGroup deletes an empty group and its offsets.
func (gc *groupCoordinator) deleteGroup(id string) int16 {
	g := gc.get(id, false)
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	defer g.mu.Unlock()
	if g.state != groupEmpty || len(g.members) > 0 {
		return kerr.NonEmptyGroup.Code
	}
	if gc.store != nil {
		if err := gc.store.append([]groupRecord{{Type: recGroupDelete, Group: g.id}}); err != nil {
			gc.log.Error("persisting a group deletion", "group", g.id, "err", err)
			return kerr.CoordinatorNotAvailable.Code
		}
	}
	g.shutdownLocked()
	gc.remove(g)
	return 0
}

func (c *conn) handleOffsetDelete(req *kmsg.OffsetDeleteRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	answer := func(code func(topic string) int16) {
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = strings.Clone(t.Topic)
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code(t.Topic)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	if resp.ErrorCode = c.groupCode(req.Group); resp.ErrorCode != 0 {
		return resp
	}
	gc := c.groups()
	g := gc.get(req.Group, false)
	if g == nil {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	defer g.mu.Unlock()
	subscribed, ok := g.subscribedTopics()
	if !ok {
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		return resp
	}
	var recs []groupRecord
	for _, t := range req.Topics {
		if subscribed[t.Topic] {
			continue
		}
		for _, p := range t.Partitions {
			recs = append(recs, groupRecord{Type: recOffsetDelete, Group: g.id, Topic: strings.Clone(t.Topic), Partition: p.Partition})
		}
	}
	if gc.store != nil && len(recs) > 0 {
		if err := gc.store.append(recs); err != nil {
			gc.log.Error("persisting an offset deletion", "group", g.id, "err", err)
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp
		}
	}
	for _, r := range recs {
		delete(g.offsets, topicPartition{r.Topic, r.Partition})
	}
	answer(func(topic string) int16 {
		if subscribed[topic] {
			return kerr.GroupSubscribedToTopic.Code
		}
		return 0
	})
	return resp
}

// subscribedTopics lists the topics the members of a consumer group
// subscribe to (none for an empty group). ok is false for a non-empty
// group whose protocol type is not "consumer": its subscriptions cannot be
// read, so none of its offsets may be deleted.
func (g *group) subscribedTopics() (topics map[string]bool, ok bool) {
	topics = map[string]bool{}
	if len(g.members) == 0 {
		return topics, true
	}
	if g.protocolType != "consumer" {
		return nil, false
	}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if g.protocol != "" && p.name != g.protocol {
				continue
			}
			var meta kmsg.ConsumerMemberMetadata
			if err := meta.ReadFrom(p.meta); err != nil {
				continue
			}
			for _, t := range meta.Topics {
				topics[t] = true
			}
		}
	}
	return topics, true
}
