package kafka

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/merlinkafka/merlin/broker"
)

// groupScript drives the classic group protocol by hand, through a kgo
// client (which finds the coordinator), and writes down what each step was
// answered: the transcript that TestGroupProtocolMatchesKafka compares
// between Apache Kafka and merlin's broker.
type groupScript struct {
	t     *testing.T
	ctx   context.Context
	cl    *kgo.Client
	other *kgo.Client // for a second member's blocking JoinGroup
	lines []string
}

// member is one hand-driven member.
type member struct {
	id       string
	instance *string
	gen      int32
}

func (s *groupScript) note(step string, code int16, extra ...any) {
	line := step + ": " + codeName(code)
	if len(extra) > 0 {
		line += " " + fmt.Sprint(extra...)
	}
	s.lines = append(s.lines, line)
}

func codeName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if err := kerr.ErrorForCode(code); err != nil {
		return err.(*kerr.Error).Message
	}
	return fmt.Sprint(code)
}

func (s *groupScript) do(req kmsg.Request) kmsg.Response {
	s.t.Helper()
	resp, err := s.cl.Request(s.ctx, req)
	if err != nil {
		s.t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

func joinReq(group string, m *member) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	req.Group, req.MemberID, req.InstanceID = group, m.id, m.instance
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 10000
	req.ProtocolType = "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"diff"}
	p.Name, p.Metadata = "range", meta.AppendTo(nil)
	req.Protocols = append(req.Protocols, p)
	return req
}

func (s *groupScript) join(step, group string, m *member) *kmsg.JoinGroupResponse {
	s.t.Helper()
	resp := s.do(joinReq(group, m)).(*kmsg.JoinGroupResponse)
	if resp.MemberID != "" {
		m.id = resp.MemberID
	}
	if resp.ErrorCode == 0 {
		m.gen = resp.Generation
	}
	s.note(step, resp.ErrorCode, "members=", len(resp.Members), " leader=", resp.LeaderID == m.id && resp.LeaderID != "")
	return resp
}

func (s *groupScript) sync(step, group string, m *member, gen int32, assign map[string]string) {
	s.t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation, req.InstanceID = group, m.id, gen, m.instance
	ptype, proto := "consumer", "range"
	req.ProtocolType, req.Protocol = &ptype, &proto
	for id, a := range assign {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = id, []byte(a)
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	resp := s.do(req).(*kmsg.SyncGroupResponse)
	s.note(step, resp.ErrorCode, "assignment=", string(resp.MemberAssignment))
}

func (s *groupScript) heartbeat(step, group string, m *member, gen int32) int16 {
	s.t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation, req.InstanceID = group, m.id, gen, m.instance
	code := s.do(req).(*kmsg.HeartbeatResponse).ErrorCode
	if step != "" {
		s.note(step, code)
	}
	return code
}

func (s *groupScript) commit(step, group, topic string, memberID string, gen int32, offset int64) {
	s.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 9
	req.Group, req.MemberID, req.Generation = group, memberID, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 0, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := s.do(req).(*kmsg.OffsetCommitResponse)
	s.note(step, resp.Topics[0].Partitions[0].ErrorCode)
}

func (s *groupScript) fetchOffset(step, group, topic string) {
	s.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 9
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	rg.Topics = append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	resp := s.do(req).(*kmsg.OffsetFetchResponse)
	g := resp.Groups[0]
	s.note(step, g.ErrorCode, "offset=", g.Topics[0].Partitions[0].Offset)
}

func (s *groupScript) describe(step, group string) {
	s.t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version = 6
	req.Groups = []string{group}
	g := s.do(req).(*kmsg.DescribeGroupsResponse).Groups[0]
	s.note(step, g.ErrorCode, "state=", g.State, " members=", len(g.Members), " protocol=", g.Protocol)
}

func (s *groupScript) leave(step, group string, ids ...string) {
	s.t.Helper()
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 5
	req.Group = group
	for _, id := range ids {
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = id
		req.Members = append(req.Members, m)
	}
	resp := s.do(req).(*kmsg.LeaveGroupResponse)
	var codes []string
	for _, m := range resp.Members {
		codes = append(codes, codeName(m.ErrorCode))
	}
	s.note(step, resp.ErrorCode, "members=", strings.Join(codes, ","))
}

func (s *groupScript) deleteGroup(step, group string) {
	s.t.Helper()
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Version = 2
	req.Groups = []string{group}
	s.note(step, s.do(req).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode)
}

// run is the scenario: one member's join and sync phases with the wrong
// and right generation, commits, a second member's join and the rebalance
// it causes, a batched leave, deletion, and a static member replaced by a
// new incarnation.
func (s *groupScript) run(topic string) {
	const g = "diff-group"
	a, c := &member{}, &member{}
	s.join("a: first join", g, a)
	s.join("a: join with id", g, a)
	s.describe("describe after join", g)
	s.commit("a: commit before sync", g, topic, a.id, a.gen, 1)
	s.sync("a: sync, wrong generation", g, a, a.gen+5, nil)
	s.sync("a: sync, unknown member", g, &member{id: "nobody"}, a.gen, nil)
	s.sync("a: leader sync", g, a, a.gen, map[string]string{a.id: "for-a"})
	s.describe("describe after sync", g)
	s.heartbeat("a: heartbeat", g, a, a.gen)
	s.heartbeat("a: heartbeat, wrong generation", g, a, a.gen+5)
	s.heartbeat("a: heartbeat, unknown member", g, &member{id: "nobody"}, a.gen)
	s.commit("a: commit", g, topic, a.id, a.gen, 5)
	s.commit("a: commit, old generation", g, topic, a.id, a.gen-1, 6)
	s.commit("simple commit on a group with members", g, topic, "", -1, 6)
	s.fetchOffset("fetch", g, topic)

	s.join("c: first join", g, c)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Its own client: kgo sends JoinGroups over one connection, and
		// a broker answers a connection's requests in order.
		resp, err := joinReq(g, c).RequestWith(s.ctx, s.other)
		if err != nil {
			s.t.Error(err)
			return
		}
		c.id, c.gen = resp.MemberID, resp.Generation
	}()
	deadline := time.Now().Add(30 * time.Second)
	for s.heartbeat("", g, a, a.gen) != kerr.RebalanceInProgress.Code {
		if time.Now().After(deadline) {
			s.t.Fatal("no REBALANCE_IN_PROGRESS after a second member joined")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.note("a: heartbeat after c joined", kerr.RebalanceInProgress.Code)
	s.commit("a: commit while preparing", g, topic, a.id, a.gen, 7)
	s.join("a: rejoin", g, a)
	<-done
	s.note("c: join", 0, "same generation=", c.gen == a.gen)
	s.sync("a: leader sync, generation 2", g, a, a.gen, map[string]string{a.id: "pa", c.id: "pc"})
	s.sync("c: sync", g, c, c.gen, nil)
	s.describe("describe with two members", g)
	s.deleteGroup("delete non-empty", g)
	s.leave("leave a, c and a stranger", g, a.id, c.id, "stranger")
	s.describe("describe after leave", g)
	s.fetchOffset("fetch after leave", g, topic)
	s.commit("simple commit on the empty group", g, topic, "", -1, 9)
	s.deleteGroup("delete empty", g)
	s.describe("describe deleted", g)
	s.deleteGroup("delete again", g)

	const sg = "diff-static"
	inst := "instance-1"
	st := &member{instance: &inst}
	s.join("static: join", sg, st)
	s.sync("static: sync", sg, st, st.gen, map[string]string{st.id: "mine"})
	old := *st
	again := &member{instance: &inst}
	r := s.join("static: rejoin without id", sg, again)
	s.note("static: rejoin keeps the generation", 0, r.Generation == old.gen, " new id=", again.id != old.id)
	s.heartbeat("static: old incarnation's heartbeat", sg, &old, old.gen)
	s.heartbeat("static: new incarnation's heartbeat", sg, again, again.gen)
}

// The same hand-driven group scenario against Apache Kafka and against
// merlin's broker gets the same answers, step by step: error codes, states,
// generations relative to each other, leadership, assignments.
func TestGroupProtocolMatchesKafka(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	kc := cluster(t, 1, nil)
	if err := kc.CreateTopic(ctx, "diff", 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Cluster().CreateTopic("diff", 1); err != nil {
		t.Fatal(err)
	}
	transcript := func(brokers []string) []string {
		// Kafka 4.0's versions: OffsetCommit v10 and OffsetFetch v10 name
		// topics by id, which merlin does not advertise.
		newClient := func() *kgo.Client {
			cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.MaxVersions(kversion.V4_0_0()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cl.Close)
			return cl
		}
		s := &groupScript{t: t, ctx: ctx, cl: newClient(), other: newClient()}
		s.run("diff")
		return s.lines
	}
	want := transcript(kc.Brokers())
	got := transcript([]string{b.Addr()})
	compareTranscripts(t, want, got)
}

// compareTranscripts fails t at every step where merlin's answer (got)
// differs from Kafka's (want), and logs Kafka's transcript.
func compareTranscripts(t *testing.T, want, got []string) {
	t.Helper()
	for i := range max(len(want), len(got)) {
		w, g := "", ""
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			t.Errorf("step %d:\n  Kafka  %s\n  merlin %s", i, w, g)
		}
	}
	t.Logf("Kafka's transcript:\n%s", strings.Join(want, "\n"))
}
