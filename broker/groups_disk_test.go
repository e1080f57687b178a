package broker

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Committed offsets and group metadata (members, generation, assignments)
// survive a restart of disk storage; the groups log is rewritten as it
// grows, so that many commits of the same partitions leave it small; a
// deleted group stays deleted; and a rewrite interrupted between its
// renames is finished on open.
func TestGroupsDiskRestart(t *testing.T) {
	old := compactAfter
	compactAfter = 4 << 10
	t.Cleanup(func() { compactAfter = old })
	ctx := testContext(t)
	dir := t.TempDir()

	b1 := startBroker(t, Config{Storage: openDisk(t, dir, DiskOptions{})})
	createTopic(t, b1, "t", 3)
	adm := kadm.NewClient(newClient(t, b1.Addr()))
	for i := range 300 {
		commit := kadm.Offsets{}
		commit.Add(kadm.Offset{Topic: "t", Partition: int32(i % 3), At: int64(i), LeaderEpoch: -1, Metadata: "m"})
		resp, err := adm.CommitOffsets(ctx, "simple", commit)
		if err != nil || resp.Error() != nil {
			t.Fatalf("commit %d: %v %v", i, err, resp.Error())
		}
	}
	doomed := kadm.Offsets{}
	doomed.Add(kadm.Offset{Topic: "t", Partition: 0, At: 1, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "doomed", doomed); err != nil {
		t.Fatal(err)
	}
	m := newRawMember(t, b1, "members")
	m.join()
	wantCode(t, "join", m.join().ErrorCode, nil)
	wantCode(t, "sync", m.sync(map[string]string{m.id: "a"}).ErrorCode, nil)
	wantCode(t, "member commit", m.commit("t", 2, 42), nil)
	gen := m.generation
	if r, err := adm.DeleteGroups(ctx, "doomed"); err != nil || r.Error() != nil {
		t.Fatalf("delete: %v %v", err, r.Error())
	}
	if size := dirSize(t, filepath.Join(dir, groupsDir)); size > 4*compactAfter {
		t.Fatalf("groups log of %d bytes after 300 commits of 3 partitions", size)
	}
	closeBroker(t, b1)

	// A crash between the two renames of a rewrite leaves groups.new alone.
	if err := os.Rename(filepath.Join(dir, groupsDir), filepath.Join(dir, groupsNewDir)); err != nil {
		t.Fatal(err)
	}

	b2 := startBroker(t, Config{Storage: openDisk(t, dir, DiskOptions{})})
	adm = kadm.NewClient(newClient(t, b2.Addr()))
	offs, err := adm.FetchOffsets(ctx, "simple")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range []int64{297, 298, 299} {
		if o, ok := offs.Lookup("t", int32(p)); !ok || o.At != want || o.Metadata != "m" {
			t.Fatalf("partition %d after restart: %+v, want %d", p, o, want)
		}
	}
	offs, err = adm.FetchOffsets(ctx, "members")
	if o, ok := offs.Lookup("t", 2); err != nil || !ok || o.At != 42 {
		t.Fatalf("member's commit after restart: %+v %v", o, err)
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := listed["doomed"]; ok || len(listed) != 2 || listed["members"].ProtocolType != "consumer" || listed["members"].State != "Stable" {
		t.Fatalf("groups after restart: %+v", listed)
	}
	// The member and its generation were kept: it carries on, heartbeats
	// and commits, and gets its assignment back.
	again := newRawMemberAs(t, b2, m)
	wantCode(t, "member's heartbeat after restart", again.heartbeat(), nil)
	wantCode(t, "member's commit after restart", again.commit("t", 2, 43), nil)
	if sr := again.sync(nil); sr.ErrorCode != 0 || string(sr.MemberAssignment) != "a" {
		t.Fatalf("sync after restart: %+v", sr)
	}
	if d := describeGroup(t, again.rc, "members"); d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberID != m.id || d.Protocol != "range" {
		t.Fatalf("described after restart: %+v", d)
	}
	// Once it leaves, a new member starts the next generation.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 5
	leave.Group = "members"
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = m.id
	leave.Members = append(leave.Members, lm)
	if lr := again.rc.do(leave).(*kmsg.LeaveGroupResponse); lr.Members[0].ErrorCode != 0 {
		t.Fatalf("leave: %+v", lr)
	}
	n := newRawMember(t, b2, "members")
	n.join()
	if r := n.join(); r.ErrorCode != 0 || r.Generation <= gen {
		t.Fatalf("join after restart: %+v, generation before %d", r, gen)
	}
}

// A member whose broker restarted without it coming back expires after its
// session timeout, and the group, restored Stable, ends up Empty.
func TestGroupsDiskRestoredMemberExpires(t *testing.T) {
	dir := t.TempDir()
	b1 := startBroker(t, Config{Storage: openDisk(t, dir, DiskOptions{})})
	m := newRawMember(t, b1, "gone")
	m.session = 100
	m.join()
	wantCode(t, "join", m.join().ErrorCode, nil)
	wantCode(t, "sync", m.sync(map[string]string{m.id: "a"}).ErrorCode, nil)
	closeBroker(t, b1)
	b2 := startBroker(t, Config{Storage: openDisk(t, dir, DiskOptions{})})
	rc := dialRaw(t, b2.Addr())
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := describeGroup(t, rc, "gone")
		if d.State == "Empty" && len(d.Members) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restored member did not expire: %+v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newRawMemberAs is m on a connection to b.
func newRawMemberAs(t *testing.T, b *Broker, m *rawMember) *rawMember {
	c := *m
	c.rc = dialRaw(t, b.Addr())
	return &c
}
