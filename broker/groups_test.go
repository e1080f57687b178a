package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawMember drives one group member by hand over its own connection.
type rawMember struct {
	rc         *rawClient
	group      string
	id         string
	instance   *string
	generation int32
	protocols  []string
	session    int32
}

func newRawMember(t *testing.T, b *Broker, group string, protocols ...string) *rawMember {
	if len(protocols) == 0 {
		protocols = []string{"range"}
	}
	return &rawMember{rc: dialRaw(t, b.Addr()), group: group, protocols: protocols, session: 10000}
}

func (m *rawMember) joinReq(version int16) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = version
	req.Group, req.MemberID, req.InstanceID = m.group, m.id, m.instance
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = m.session, 5000
	req.ProtocolType = "consumer"
	for _, p := range m.protocols {
		jp := kmsg.NewJoinGroupRequestProtocol()
		jp.Name, jp.Metadata = p, []byte("meta-"+p)
		req.Protocols = append(req.Protocols, jp)
	}
	return req
}

// join sends a JoinGroup v9 and waits for its answer, recording the id
// and generation it gives.
func (m *rawMember) join() *kmsg.JoinGroupResponse {
	m.rc.t.Helper()
	resp := m.rc.do(m.joinReq(9)).(*kmsg.JoinGroupResponse)
	m.take(resp)
	return resp
}

func (m *rawMember) take(resp *kmsg.JoinGroupResponse) {
	if resp.MemberID != "" {
		m.id = resp.MemberID
	}
	if resp.ErrorCode == 0 {
		m.generation = resp.Generation
	}
}

// startJoin sends a JoinGroup whose answer is read later, by finish.
func (m *rawMember) startJoin() func() *kmsg.JoinGroupResponse {
	req := m.joinReq(9)
	corr := m.rc.send(req)
	done := make(chan *kmsg.JoinGroupResponse, 1)
	errc := make(chan error, 1)
	go func() {
		resp, err := m.rc.read(req, corr)
		if err != nil {
			errc <- err
			return
		}
		done <- resp.(*kmsg.JoinGroupResponse)
	}()
	return func() *kmsg.JoinGroupResponse {
		m.rc.t.Helper()
		select {
		case resp := <-done:
			m.take(resp)
			return resp
		case err := <-errc:
			m.rc.t.Fatalf("join: %v", err)
		}
		return nil
	}
}

func (m *rawMember) sync(assign map[string]string) *kmsg.SyncGroupResponse {
	m.rc.t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation, req.InstanceID = m.group, m.id, m.generation, m.instance
	for id, a := range assign {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = id, []byte(a)
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	return m.rc.do(req).(*kmsg.SyncGroupResponse)
}

func (m *rawMember) heartbeat() int16 {
	m.rc.t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation, req.InstanceID = m.group, m.id, m.generation, m.instance
	return m.rc.do(req).(*kmsg.HeartbeatResponse).ErrorCode
}

func (m *rawMember) commit(topic string, partition int32, offset int64) int16 {
	m.rc.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group, req.MemberID, req.Generation, req.InstanceID = m.group, m.id, m.generation, m.instance
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return m.rc.do(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
}

func describeGroup(t *testing.T, rc *rawClient, group string) kmsg.DescribeGroupsResponseGroup {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version = 6
	req.Groups = []string{group}
	return rc.do(req).(*kmsg.DescribeGroupsResponse).Groups[0]
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	var wantCode int16
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

// The join and sync phases, generations and Kafka's error codes, step by
// step over raw connections.
func TestGroupProtocolRebalance(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "t", 2)
	a := newRawMember(t, b, "g")

	// KIP-394: the first JoinGroup (v4+) of a dynamic member gets an id.
	resp := a.join()
	wantCode(t, "first join", resp.ErrorCode, kerr.MemberIDRequired)
	if a.id == "" || a.generation != 0 {
		t.Fatalf("MEMBER_ID_REQUIRED gave id %q, generation %d", a.id, a.generation)
	}
	resp = a.join()
	wantCode(t, "join with the given id", resp.ErrorCode, nil)
	if resp.Generation != 1 || resp.LeaderID != a.id || len(resp.Members) != 1 || *resp.Protocol != "range" {
		t.Fatalf("join: %+v", resp)
	}
	if got := describeGroup(t, a.rc, "g").State; got != "CompletingRebalance" {
		t.Fatalf("state after join %s", got)
	}
	wantCode(t, "commit between join and sync", a.commit("t", 0, 1), kerr.RebalanceInProgress)
	wrong := *a
	wrong.generation = 7
	wantCode(t, "sync, wrong generation", wrong.sync(nil).ErrorCode, kerr.IllegalGeneration)
	stranger := *a
	stranger.id = "nobody"
	wantCode(t, "sync, unknown member", stranger.sync(nil).ErrorCode, kerr.UnknownMemberID)
	sr := a.sync(map[string]string{a.id: "for-a"})
	wantCode(t, "leader sync", sr.ErrorCode, nil)
	if string(sr.MemberAssignment) != "for-a" || *sr.Protocol != "range" || *sr.ProtocolType != "consumer" {
		t.Fatalf("sync: %+v", sr)
	}
	wantCode(t, "heartbeat", a.heartbeat(), nil)
	wantCode(t, "heartbeat, wrong generation", wrong.heartbeat(), kerr.IllegalGeneration)
	wantCode(t, "commit", a.commit("t", 0, 5), nil)
	wantCode(t, "commit, old generation", wrong.commit("t", 0, 6), kerr.IllegalGeneration)
	wantCode(t, "commit, unknown topic", a.commit("nope", 0, 6), kerr.UnknownTopicOrPartition)

	// A second member starts a rebalance; the first learns of it from its
	// heartbeat and rejoins; both get generation 2.
	c := newRawMember(t, b, "g")
	wantCode(t, "second member's first join", c.join().ErrorCode, kerr.MemberIDRequired)
	finishC := c.startJoin()
	deadline := time.Now().Add(10 * time.Second)
	for a.heartbeat() != kerr.RebalanceInProgress.Code {
		if time.Now().After(deadline) {
			t.Fatal("no REBALANCE_IN_PROGRESS after a second member joined")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Committing with the current generation stays allowed while the
	// group prepares the rebalance (consumers commit when revoked).
	wantCode(t, "commit while preparing", a.commit("t", 1, 9), nil)
	ra := a.join()
	rc := finishC()
	wantCode(t, "rejoin", ra.ErrorCode, nil)
	wantCode(t, "second join", rc.ErrorCode, nil)
	if ra.Generation != 2 || rc.Generation != 2 || ra.LeaderID != a.id || rc.LeaderID != a.id || len(ra.Members) != 2 || len(rc.Members) != 0 {
		t.Fatalf("generation 2: leader answer %+v, follower answer %+v", ra, rc)
	}
	// The follower's sync waits for the leader's.
	syncC := make(chan *kmsg.SyncGroupResponse, 1)
	go func() {
		req := kmsg.NewPtrSyncGroupRequest()
		req.Version = 5
		req.Group, req.MemberID, req.Generation = "g", c.id, c.generation
		resp, err := c.rc.read(req, c.rc.send(req))
		if err != nil {
			t.Error(err)
			close(syncC)
			return
		}
		syncC <- resp.(*kmsg.SyncGroupResponse)
	}()
	wantCode(t, "leader sync", a.sync(map[string]string{a.id: "p0", c.id: "p1"}).ErrorCode, nil)
	if got := <-syncC; got == nil || got.ErrorCode != 0 || string(got.MemberAssignment) != "p1" {
		t.Fatalf("follower sync: %+v", got)
	}
	d := describeGroup(t, a.rc, "g")
	if d.State != "Stable" || len(d.Members) != 2 || d.Protocol != "range" {
		t.Fatalf("described %+v", d)
	}

	// A member with no protocol in common is refused.
	odd := newRawMember(t, b, "g", "roundrobin")
	odd.id = "x"
	wantCode(t, "join, no common protocol", odd.rc.do(odd.joinReq(3)).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)

	// Deleting a group with members fails; LeaveGroup v3 takes both out
	// in one request, with an error for a stranger.
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Version = 2
	del.Groups = []string{"g", "missing"}
	dr := a.rc.do(del).(*kmsg.DeleteGroupsResponse)
	wantCode(t, "delete non-empty group", dr.Groups[0].ErrorCode, kerr.NonEmptyGroup)
	wantCode(t, "delete missing group", dr.Groups[1].ErrorCode, kerr.GroupIDNotFound)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 5
	leave.Group = "g"
	for _, id := range []string{a.id, c.id, "stranger"} {
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = id
		leave.Members = append(leave.Members, m)
	}
	lr := a.rc.do(leave).(*kmsg.LeaveGroupResponse)
	if lr.ErrorCode != 0 || len(lr.Members) != 3 || lr.Members[0].ErrorCode != 0 || lr.Members[1].ErrorCode != 0 || lr.Members[2].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave: %+v", lr)
	}
	if d := describeGroup(t, a.rc, "g"); d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("after leave: %+v", d)
	}
	// The offsets stay until the group is deleted.
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 8
	fg := kmsg.NewOffsetFetchRequestGroup()
	fg.Group = "g"
	fetch.Groups = append(fetch.Groups, fg)
	fr := a.rc.do(fetch).(*kmsg.OffsetFetchResponse)
	if len(fr.Groups) != 1 || len(fr.Groups[0].Topics) != 1 || len(fr.Groups[0].Topics[0].Partitions) != 2 ||
		fr.Groups[0].Topics[0].Partitions[0].Offset != 5 || fr.Groups[0].Topics[0].Partitions[1].Offset != 9 {
		t.Fatalf("offset fetch: %+v", fr.Groups)
	}
	del.Groups = []string{"g"}
	wantCode(t, "delete empty group", a.rc.do(del).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode, nil)
	if d := describeGroup(t, a.rc, "g"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("deleted group described %+v", d)
	}
}

// KIP-345: a static member that comes back under a new connection, without
// its member id, takes its old place without a rebalance, and its old
// incarnation is fenced.
func TestGroupStaticMember(t *testing.T) {
	b := startBroker(t, Config{})
	inst := "instance-1"
	a := newRawMember(t, b, "static")
	a.instance = &inst
	resp := a.join() // no MEMBER_ID_REQUIRED for static members
	wantCode(t, "static join", resp.ErrorCode, nil)
	wantCode(t, "sync", a.sync(map[string]string{a.id: "mine"}).ErrorCode, nil)
	old := *a

	again := newRawMember(t, b, "static")
	again.instance = &inst
	resp = again.join()
	wantCode(t, "static rejoin", resp.ErrorCode, nil)
	if resp.MemberID == old.id || resp.Generation != old.generation || !resp.SkipAssignment || resp.LeaderID != resp.MemberID {
		t.Fatalf("static rejoin: %+v (old id %s, generation %d)", resp, old.id, old.generation)
	}
	if sr := again.sync(nil); sr.ErrorCode != 0 || string(sr.MemberAssignment) != "mine" {
		t.Fatalf("sync after static rejoin: %+v", sr)
	}
	wantCode(t, "old incarnation's heartbeat", old.heartbeat(), kerr.FencedInstanceID)
	wantCode(t, "new incarnation's heartbeat", again.heartbeat(), nil)
}

// A member that stops heartbeating is removed after its session timeout,
// and the group, left without members, is Empty at the next generation.
func TestGroupSessionExpiry(t *testing.T) {
	b := startBroker(t, Config{})
	a := newRawMember(t, b, "expiring")
	a.session = 50
	a.join()
	wantCode(t, "join", a.join().ErrorCode, nil)
	wantCode(t, "sync", a.sync(map[string]string{a.id: "x"}).ErrorCode, nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := describeGroup(t, a.rc, "expiring")
		if d.State == "Empty" && len(d.Members) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("member not expired: %+v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantCode(t, "heartbeat after expiry", a.heartbeat(), kerr.UnknownMemberID)
	ra := a.rc.do(a.joinReq(9)).(*kmsg.JoinGroupResponse)
	wantCode(t, "join with the expired id", ra.ErrorCode, kerr.UnknownMemberID)
}

// FindCoordinator answers the batched form (v4+) and the single one, and a
// group request sent to another node of a cluster is NOT_COORDINATOR.
func TestGroupCoordinatorPerNode(t *testing.T) {
	cl, err := NewCluster(ClusterConfig{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	var brokers []*Broker
	for id := range int32(3) {
		brokers = append(brokers, startBroker(t, Config{NodeID: id, Cluster: cl}))
	}
	rc := dialRaw(t, brokers[0].Addr())
	keys := []string{"g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7"}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version = 4
	fc.CoordinatorKeys = keys
	resp := rc.do(fc).(*kmsg.FindCoordinatorResponse)
	nodes := map[int32]bool{}
	for i, co := range resp.Coordinators {
		if co.ErrorCode != 0 || co.Key != keys[i] || co.NodeID != cl.coordinatorNode(keys[i]) {
			t.Fatalf("coordinator %d: %+v", i, co)
		}
		nodes[co.NodeID] = true
		old := kmsg.NewPtrFindCoordinatorRequest()
		old.Version = 2
		old.CoordinatorKey = keys[i]
		if r := rc.do(old).(*kmsg.FindCoordinatorResponse); r.ErrorCode != 0 || r.NodeID != co.NodeID || r.Port != co.Port {
			t.Fatalf("v2 for %s: %+v, v4 said %+v", keys[i], r, co)
		}
		for _, br := range brokers {
			hb := kmsg.NewPtrHeartbeatRequest()
			hb.Group, hb.MemberID = keys[i], "m"
			code := dialRaw(t, br.Addr()).do(hb).(*kmsg.HeartbeatResponse).ErrorCode
			want := kerr.NotCoordinator.Code
			if br.NodeID() == co.NodeID {
				want = kerr.UnknownMemberID.Code
			}
			if code != want {
				t.Fatalf("heartbeat for %s at node %d: %v", keys[i], br.NodeID(), kerr.ErrorForCode(code))
			}
		}
	}
	if len(nodes) < 2 {
		t.Fatalf("8 groups all on nodes %v", nodes)
	}
}

// OffsetDelete refuses the offsets of a topic the group's members
// subscribe to and deletes the others; ListGroups filters by state; the
// multi-group OffsetFetch (v8+) answers each group.
func TestGroupOffsetDeleteListAndMultiFetch(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "sub", 1)
	createTopic(t, b, "other", 1)
	a := newRawMember(t, b, "busy")
	a.protocols = nil
	req := a.joinReq(9)
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"sub"}
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}
	a.take(a.rc.do(req).(*kmsg.JoinGroupResponse))
	req.MemberID = a.id
	resp := a.rc.do(req).(*kmsg.JoinGroupResponse)
	a.take(resp)
	wantCode(t, "join", resp.ErrorCode, nil)
	wantCode(t, "sync", a.sync(map[string]string{a.id: ""}).ErrorCode, nil)
	wantCode(t, "commit sub", a.commit("sub", 0, 3), nil)
	wantCode(t, "commit other", a.commit("other", 0, 4), nil)
	idle := newRawMember(t, b, "idle")
	idle.generation = -1
	wantCode(t, "simple commit", idle.commit("other", 0, 8), nil)

	del := kmsg.NewPtrOffsetDeleteRequest()
	del.Group = "busy"
	for _, topic := range []string{"sub", "other"} {
		dt := kmsg.NewOffsetDeleteRequestTopic()
		dt.Topic = topic
		dt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
		del.Topics = append(del.Topics, dt)
	}
	dr := a.rc.do(del).(*kmsg.OffsetDeleteResponse)
	if dr.ErrorCode != 0 || dr.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code || dr.Topics[1].Partitions[0].ErrorCode != 0 {
		t.Fatalf("offset delete: %+v", dr)
	}

	list := kmsg.NewPtrListGroupsRequest()
	list.Version = 5
	list.StatesFilter = []string{"stable"}
	lr := a.rc.do(list).(*kmsg.ListGroupsResponse)
	if len(lr.Groups) != 1 || lr.Groups[0].Group != "busy" || lr.Groups[0].GroupState != "Stable" || lr.Groups[0].ProtocolType != "consumer" {
		t.Fatalf("stable groups: %+v", lr.Groups)
	}
	list.StatesFilter = nil
	if lr := a.rc.do(list).(*kmsg.ListGroupsResponse); len(lr.Groups) != 2 {
		t.Fatalf("all groups: %+v", lr.Groups)
	}

	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 9
	for _, g := range []string{"busy", "idle", "none"} {
		fg := kmsg.NewOffsetFetchRequestGroup()
		fg.Group = g
		ft := kmsg.NewOffsetFetchRequestGroupTopic()
		ft.Topic, ft.Partitions = "other", []int32{0}
		fg.Topics = append(fg.Topics, ft)
		fetch.Groups = append(fetch.Groups, fg)
	}
	fr := a.rc.do(fetch).(*kmsg.OffsetFetchResponse)
	var got []int64
	for _, g := range fr.Groups {
		if g.ErrorCode != 0 || len(g.Topics) != 1 || len(g.Topics[0].Partitions) != 1 {
			t.Fatalf("group %s: %+v", g.Group, g)
		}
		got = append(got, g.Topics[0].Partitions[0].Offset)
	}
	if len(got) != 3 || got[0] != -1 || got[1] != 8 || got[2] != -1 {
		t.Fatalf("offsets of other/0 for busy (deleted), idle, none: %v", got)
	}
}
