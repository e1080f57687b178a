package broker

// The group coordinator: Kafka's classic consumer group protocol (JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup) and committed offsets.
//
// Each group is a state machine guarded by its own mutex, driven by requests
// and by timers (rebalance timeout, session timeouts, pending-sync timeout):
//
//	Empty ──join──▶ PreparingRebalance ──all joined or timeout──▶ CompletingRebalance
//	  ▲                    ▲   │                                         │
//	  │                    │   └──no member left──▶ Empty                │ leader's SyncGroup
//	  │                    └──join, leave, expiry──── Stable ◀───────────┘
//	  └──last member gone (through PreparingRebalance)
//
// Dead is the state of a deleted group: a request that finds one looks the
// group up again. When the cluster's storage is on disk, committed offsets
// and each group's metadata (protocol, generation, leader, members and
// assignments, written at the end of each join phase and when the group
// becomes Stable) are persisted through groupStore (see groups_store.go).
// A restarted broker loads a group with members as Stable, as Kafka does:
// members that still heartbeat carry on in their generation, the others
// expire and the group rebalances.

import (
	"crypto/rand"
	"encoding/hex"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is a group's place in the state machine.
type groupState int8

const (
	groupEmpty groupState = iota
	groupPreparingRebalance
	groupCompletingRebalance
	groupStable
	groupDead
)

// String is the state's name as DescribeGroups and ListGroups report it.
func (s groupState) String() string {
	switch s {
	case groupEmpty:
		return "Empty"
	case groupPreparingRebalance:
		return "PreparingRebalance"
	case groupCompletingRebalance:
		return "CompletingRebalance"
	case groupStable:
		return "Stable"
	}
	return "Dead"
}

// Session timeout bounds. Kafka's group.min.session.timeout.ms is 6 s; a
// development broker accepts shorter ones so that tests can use them.
const (
	minSessionTimeout = time.Millisecond
	maxSessionTimeout = 30 * time.Minute
	// maxOffsetMetadata is Kafka's offset.metadata.max.bytes.
	maxOffsetMetadata = 4096
)

// groupCoordinator owns every group of a cluster. In a multi-node cluster
// each group is answered by one node (coordinatorNode); the state is shared.
type groupCoordinator struct {
	log   *slog.Logger
	store *groupStore // nil: nothing is persisted (memory storage)

	mu     sync.Mutex
	groups map[string]*group
	closed bool

	// maxWait caps how long a JoinGroup or SyncGroup waits for the rest
	// of the group (then answered REBALANCE_IN_PROGRESS, to be retried);
	// negative: no cap. The fuzz target sets it to 0 so that nothing
	// blocks on a rebalance timeout taken from its input.
	maxWait time.Duration
}

func newGroupCoordinator(log *slog.Logger, store *groupStore) *groupCoordinator {
	gc := &groupCoordinator{log: log, store: store, groups: make(map[string]*group), maxWait: -1}
	if store != nil {
		for id, sg := range store.state {
			g := gc.newGroup(id)
			g.restore(sg.meta)
			for tp, o := range sg.offsets {
				g.offsets[tp] = o
			}
			gc.groups[id] = g
		}
	}
	return gc
}

func (gc *groupCoordinator) newGroup(id string) *group {
	return &group{
		gc:      gc,
		id:      id,
		members: make(map[string]*member),
		pending: make(map[string]*time.Timer),
		statics: make(map[string]string),
		offsets: make(map[topicPartition]offsetValue),
	}
}

// get returns the group id, creating it (Empty) when create is set, or nil.
// The group is returned locked; a group found Dead is looked up again.
func (gc *groupCoordinator) get(id string, create bool) *group {
	for {
		gc.mu.Lock()
		if gc.closed {
			gc.mu.Unlock()
			return nil
		}
		g := gc.groups[id]
		if g == nil {
			if !create {
				gc.mu.Unlock()
				return nil
			}
			g = gc.newGroup(id)
			gc.groups[id] = g
		}
		gc.mu.Unlock()
		g.mu.Lock()
		if g.state != groupDead {
			return g
		}
		g.mu.Unlock()
	}
}

// all returns the groups, unlocked, sorted by id.
func (gc *groupCoordinator) all() []*group {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	out := make([]*group, 0, len(gc.groups))
	for _, g := range gc.groups {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *group) int { return strings.Compare(a.id, b.id) })
	return out
}

// remove drops a group that was marked Dead.
func (gc *groupCoordinator) remove(g *group) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if gc.groups[g.id] == g {
		delete(gc.groups, g.id)
	}
}

// close stops every timer and fails the requests still waiting.
func (gc *groupCoordinator) close() error {
	gc.mu.Lock()
	gc.closed = true
	groups := gc.groups
	gc.groups = map[string]*group{}
	gc.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		g.shutdownLocked()
		g.mu.Unlock()
	}
	if gc.store != nil {
		return gc.store.close()
	}
	return nil
}

// coordinatorNode is the node that answers for a group key: the key's
// FNV-1a hash over the node ids, in id order, so that groups spread over
// the nodes and every node agrees. -1 when there are no nodes.
func (c *Cluster) coordinatorNode(key string) int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.nodes) == 0 {
		return -1
	}
	ids := slices.Sorted(maps.Keys(c.nodes))
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return ids[h.Sum32()%uint32(len(ids))]
}

// offsetValue is one committed offset.
type offsetValue struct {
	Offset      int64  `json:"o"`
	LeaderEpoch int32  `json:"e"`
	Metadata    string `json:"m"`
	CommitTime  int64  `json:"ts"`
}

// group is one consumer group. Every field is guarded by mu.
type group struct {
	gc *groupCoordinator
	id string

	mu           sync.Mutex
	state        groupState
	protocolType string
	protocol     string // chosen at the end of each join phase
	generation   int32
	leader       string
	members      map[string]*member
	pending      map[string]*time.Timer // ids handed out with MEMBER_ID_REQUIRED, until they join or expire
	statics      map[string]string      // group.instance.id → member id
	offsets      map[topicPartition]offsetValue

	rebalanceTimer *time.Timer // join phase deadline
	syncTimer      *time.Timer // CompletingRebalance deadline
	timerSeq       uint64      // invalidates the callbacks of stopped timers
}

// member is one member of a group.
type member struct {
	id, instanceID       string // instanceID "" for a dynamic member
	clientID, clientHost string
	session, rebalance   time.Duration
	protocolType         string
	protocols            []protocolMeta
	assignment           []byte

	join   chan joinResult // set while the member's JoinGroup waits
	sync   chan syncResult // set while its SyncGroup waits
	synced bool            // sent SyncGroup in this generation

	expiry *time.Timer
	hbSeq  uint64
}

type protocolMeta struct {
	name string
	meta []byte
}

// allSupport reports whether every member of g named protocol name in its
// join.
func (g *group) allSupport(name string) bool {
	for _, m := range g.members {
		if !slices.ContainsFunc(m.protocols, func(q protocolMeta) bool { return q.name == name }) {
			return false
		}
	}
	return true
}

// joinArgs is a decoded JoinGroup request.
type joinArgs struct {
	version              int16
	memberID, instanceID string
	clientID, clientHost string
	session, rebalance   time.Duration
	protocolType         string
	protocols            []protocolMeta
}

// joinResult is what a JoinGroup is answered.
type joinResult struct {
	code                   int16
	memberID               string
	generation             int32
	protocolType, protocol string
	leader                 string
	members                []kmsg.JoinGroupResponseMember
	skipAssignment         bool
}

type syncResult struct {
	code                   int16
	protocolType, protocol string
	assignment             []byte
}

func newMemberID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// join handles a JoinGroup. It returns either a result now, or a channel
// that receives one when the join phase completes.
func (g *group) join(a joinArgs) (joinResult, chan joinResult) {
	fail := func(code int16) (joinResult, chan joinResult) {
		return joinResult{code: code, memberID: a.memberID, generation: -1}, nil
	}
	if a.protocolType == "" || len(a.protocols) == 0 || !g.supports(a.protocolType, a.protocols) {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	if a.session < minSessionTimeout || a.session > maxSessionTimeout {
		return fail(kerr.InvalidSessionTimeout.Code)
	}
	static := a.instanceID != ""
	if a.memberID == "" {
		if static {
			if old, ok := g.statics[a.instanceID]; ok && g.members[old] != nil {
				return g.replaceStatic(g.members[old], a)
			}
		} else if a.version >= 4 {
			// KIP-394: hand out an id; the member joins again with it.
			id := newMemberID(a.clientID)
			g.addPendingLocked(id, a.session)
			return joinResult{code: kerr.MemberIDRequired.Code, memberID: id, generation: -1}, nil
		}
		prefix := a.clientID
		if static {
			prefix = a.instanceID
		}
		a.memberID = newMemberID(prefix)
		return g.addMember(a)
	}
	if t, ok := g.pending[a.memberID]; ok {
		t.Stop()
		delete(g.pending, a.memberID)
		return g.addMember(a)
	}
	if static {
		if id, ok := g.statics[a.instanceID]; ok && id != a.memberID {
			return fail(kerr.FencedInstanceID.Code)
		}
	}
	m := g.members[a.memberID]
	if m == nil {
		return fail(kerr.UnknownMemberID.Code)
	}
	switch g.state {
	case groupPreparingRebalance:
		g.updateMember(m, a)
		ch := g.awaitJoin(m)
		g.tryCompleteJoin()
		return joinResult{}, ch
	case groupCompletingRebalance:
		if sameProtocols(m.protocols, a.protocols) {
			// The member lost our answer: give it again.
			return g.joinResultFor(m), nil
		}
	case groupStable:
		if m.id != g.leader && sameProtocols(m.protocols, a.protocols) {
			return g.joinResultFor(m), nil
		}
	default:
		return fail(kerr.UnknownMemberID.Code)
	}
	g.updateMember(m, a)
	ch := g.awaitJoin(m)
	g.prepareRebalance()
	return joinResult{}, ch
}

// supports reports whether a member with these protocols may join: any
// when the group has no members, else the same protocol type and at least
// one protocol every member supports.
func (g *group) supports(ptype string, protos []protocolMeta) bool {
	if len(g.members) == 0 {
		return true
	}
	if ptype != g.protocolType {
		return false
	}
	for _, p := range protos {
		if g.allSupport(p.name) {
			return true
		}
	}
	return false
}

func sameProtocols(a, b []protocolMeta) bool {
	return slices.EqualFunc(a, b, func(x, y protocolMeta) bool {
		return x.name == y.name && string(x.meta) == string(y.meta)
	})
}

// addPendingLocked records an id handed out with MEMBER_ID_REQUIRED; it is
// forgotten unless the member joins with it within its session timeout.
func (g *group) addPendingLocked(id string, session time.Duration) {
	g.pending[id] = time.AfterFunc(session, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if _, ok := g.pending[id]; ok {
			delete(g.pending, id)
			if g.state == groupPreparingRebalance {
				g.tryCompleteJoin()
			}
		}
	})
}

func (g *group) updateMember(m *member, a joinArgs) {
	m.clientID, m.clientHost = a.clientID, a.clientHost
	m.session, m.rebalance = a.session, a.rebalance
	m.protocolType, m.protocols = a.protocolType, a.protocols
}

// awaitJoin gives the member a channel for its join answer; an earlier
// JoinGroup still waiting is told to rejoin.
func (g *group) awaitJoin(m *member) chan joinResult {
	if m.join != nil {
		m.join <- joinResult{code: kerr.RebalanceInProgress.Code, memberID: m.id, generation: -1}
	}
	m.join = make(chan joinResult, 1)
	return m.join
}

// addMember adds a new member and starts (or continues) a rebalance.
func (g *group) addMember(a joinArgs) (joinResult, chan joinResult) {
	m := &member{id: a.memberID, instanceID: a.instanceID}
	g.updateMember(m, a)
	g.members[m.id] = m
	if m.instanceID != "" {
		g.statics[m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
	g.protocolType = a.protocolType
	ch := g.awaitJoin(m)
	g.resetExpiry(m)
	if g.state == groupPreparingRebalance {
		g.tryCompleteJoin()
	} else {
		g.prepareRebalance()
	}
	return joinResult{}, ch
}

// replaceStatic is KIP-345: a static member that joins again without its
// member id takes the place of its old incarnation, which is fenced. A
// stable group whose member rejoins with the same protocols is not
// rebalanced: the member gets its current generation back (the leader, on
// JoinGroup v9+, with the members and SkipAssignment).
func (g *group) replaceStatic(old *member, a joinArgs) (joinResult, chan joinResult) {
	fenced := joinResult{code: kerr.FencedInstanceID.Code, memberID: old.id, generation: -1}
	if old.join != nil {
		old.join <- fenced
	}
	if old.sync != nil {
		old.sync <- syncResult{code: kerr.FencedInstanceID.Code}
	}
	g.stopExpiry(old)
	delete(g.members, old.id)
	unchanged := sameProtocols(old.protocols, a.protocols)
	m := &member{id: newMemberID(a.instanceID), instanceID: a.instanceID, assignment: old.assignment, synced: old.synced}
	g.updateMember(m, a)
	g.members[m.id] = m
	g.statics[m.instanceID] = m.id
	wasLeader := g.leader == old.id
	if wasLeader {
		g.leader = m.id
	}
	g.resetExpiry(m)
	switch {
	case g.state == groupStable && unchanged && (!wasLeader || a.version >= 9):
		g.persistMeta()
		r := g.joinResultFor(m)
		r.skipAssignment = wasLeader
		return r, nil
	case g.state == groupPreparingRebalance:
		ch := g.awaitJoin(m)
		g.tryCompleteJoin()
		return joinResult{}, ch
	}
	ch := g.awaitJoin(m)
	g.prepareRebalance()
	return joinResult{}, ch
}

// joinResultFor is the answer of the current generation for m: the leader
// gets the members and their metadata for the chosen protocol.
func (g *group) joinResultFor(m *member) joinResult {
	r := joinResult{
		memberID:     m.id,
		generation:   g.generation,
		protocolType: g.protocolType,
		protocol:     g.protocol,
		leader:       g.leader,
	}
	if m.id == g.leader {
		ids := make([]string, 0, len(g.members))
		for id := range g.members {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			o := g.members[id]
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = o.id
			if o.instanceID != "" {
				inst := o.instanceID
				jm.InstanceID = &inst
			}
			for _, p := range o.protocols {
				if p.name == g.protocol {
					jm.ProtocolMetadata = p.meta
				}
			}
			r.members = append(r.members, jm)
		}
	}
	return r
}

// prepareRebalance starts a join phase: members must join again within the
// largest of their rebalance timeouts.
func (g *group) prepareRebalance() {
	if g.state == groupCompletingRebalance {
		for _, m := range g.members {
			if m.sync != nil {
				m.sync <- syncResult{code: kerr.RebalanceInProgress.Code}
				m.sync = nil
			}
		}
	}
	g.stopTimers()
	g.state = groupPreparingRebalance
	timeout := time.Duration(0)
	for _, m := range g.members {
		timeout = max(timeout, m.rebalance)
	}
	seq := g.timerSeq
	g.rebalanceTimer = time.AfterFunc(timeout, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.timerSeq == seq && g.state == groupPreparingRebalance {
			g.completeJoin()
		}
	})
	g.tryCompleteJoin()
}

func (g *group) stopTimers() {
	g.timerSeq++
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
		g.rebalanceTimer = nil
	}
	if g.syncTimer != nil {
		g.syncTimer.Stop()
		g.syncTimer = nil
	}
}

// tryCompleteJoin ends the join phase early once every member (and every
// id handed out with MEMBER_ID_REQUIRED) has joined.
func (g *group) tryCompleteJoin() {
	if g.state != groupPreparingRebalance || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if m.join == nil {
			return
		}
	}
	g.completeJoin()
}

// completeJoin ends the join phase: dynamic members that did not join are
// removed (static ones stay, as in Kafka, until their session expires), the
// generation is bumped, a protocol chosen, and the joined members answered.
func (g *group) completeJoin() {
	for id, m := range g.members {
		if m.join == nil && m.instanceID == "" {
			g.dropMember(m)
			delete(g.members, id)
		}
	}
	joined := 0
	for _, m := range g.members {
		if m.join != nil {
			joined++
		}
	}
	if len(g.members) > 0 && joined == 0 {
		// Only absent static members are left: wait again for them to
		// join or expire.
		g.prepareRebalance()
		return
	}
	g.stopTimers()
	g.generation++
	if len(g.members) == 0 {
		g.state, g.protocol, g.leader = groupEmpty, "", ""
		g.persistMeta()
		return
	}
	if l := g.members[g.leader]; l == nil || l.join == nil {
		g.leader = ""
		for _, m := range g.sortedMembers() {
			if m.join != nil {
				g.leader = m.id
				break
			}
		}
	}
	g.protocol = g.selectProtocol()
	g.state = groupCompletingRebalance
	g.persistMeta()
	for _, m := range g.members {
		m.synced = false
		if m.join != nil {
			m.join <- g.joinResultFor(m)
			m.join = nil
			g.resetExpiry(m)
		}
	}
	// Members that do not sync within the rebalance timeout are removed
	// and the group rebalances without them (Kafka does the same since
	// 3.2), so that a leader that died after joining cannot stall it.
	timeout := time.Duration(0)
	for _, m := range g.members {
		timeout = max(timeout, m.rebalance)
	}
	seq, gen := g.timerSeq, g.generation
	g.syncTimer = time.AfterFunc(timeout, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.timerSeq != seq || g.generation != gen || g.state != groupCompletingRebalance {
			return
		}
		for id, m := range g.members {
			if !m.synced {
				g.gc.log.Info("removing group member that did not sync", "group", g.id, "member", id)
				g.dropMember(m)
				delete(g.members, id)
			}
		}
		g.prepareRebalance()
	})
}

func (g *group) sortedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *member) int { return strings.Compare(a.id, b.id) })
	return ms
}

// selectProtocol chooses as Kafka does: among the protocols every member
// supports, each member votes for the first in its own preference order,
// and the most voted wins; ties go to the leader's preference order.
func (g *group) selectProtocol() string {
	var candidates []string
	var leader *member
	if leader = g.members[g.leader]; leader == nil {
		leader = g.sortedMembers()[0]
	}
	for _, p := range leader.protocols {
		if g.allSupport(p.name) {
			candidates = append(candidates, p.name)
		}
	}
	votes := make(map[string]int)
	for _, m := range g.members {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.name) {
				votes[p.name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

// dropMember forgets what the group holds for a member leaving it: its
// timers, its static id and its waiting requests.
func (g *group) dropMember(m *member) {
	g.stopExpiry(m)
	if m.instanceID != "" && g.statics[m.instanceID] == m.id {
		delete(g.statics, m.instanceID)
	}
	if m.join != nil {
		m.join <- joinResult{code: kerr.UnknownMemberID.Code, memberID: m.id, generation: -1}
		m.join = nil
	}
	if m.sync != nil {
		m.sync <- syncResult{code: kerr.UnknownMemberID.Code}
		m.sync = nil
	}
	if g.leader == m.id {
		g.leader = ""
	}
}

// removeMember takes a member out (it left or its session expired) and
// moves the group on.
func (g *group) removeMember(m *member) {
	g.dropMember(m)
	delete(g.members, m.id)
	switch g.state {
	case groupPreparingRebalance:
		g.tryCompleteJoin()
	case groupStable, groupCompletingRebalance:
		g.prepareRebalance()
	}
}

// resetExpiry restarts a member's session timer: heartbeats, commits,
// joins and syncs keep the member alive.
func (g *group) resetExpiry(m *member) {
	g.stopExpiry(m)
	seq := m.hbSeq
	m.expiry = time.AfterFunc(m.session, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if m.hbSeq != seq || g.members[m.id] != m {
			return
		}
		if m.join != nil || m.sync != nil {
			// A member waiting on us is alive.
			g.resetExpiry(m)
			return
		}
		g.gc.log.Info("group member session expired", "group", g.id, "member", m.id)
		g.removeMember(m)
	})
}

func (g *group) stopExpiry(m *member) {
	m.hbSeq++
	if m.expiry != nil {
		m.expiry.Stop()
		m.expiry = nil
	}
}

// member looks up the member a request names, by instance id for static
// members. It returns the error code to answer when there is none.
func (g *group) member(memberID, instanceID string) (*member, int16) {
	if instanceID != "" {
		if id, ok := g.statics[instanceID]; ok && id != memberID {
			return nil, kerr.FencedInstanceID.Code
		}
	}
	m := g.members[memberID]
	if m == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	return m, 0
}

type syncArgs struct {
	version                int16
	memberID, instanceID   string
	generation             int32
	protocolType, protocol *string
	assignments            map[string][]byte
}

// sync handles a SyncGroup: the leader's assignment completes the
// rebalance; the others wait for it.
func (g *group) sync(a syncArgs) (syncResult, chan syncResult) {
	m, code := g.member(a.memberID, a.instanceID)
	switch {
	case code != 0:
		return syncResult{code: code}, nil
	case a.generation != g.generation:
		return syncResult{code: kerr.IllegalGeneration.Code}, nil
	case a.protocolType != nil && *a.protocolType != g.protocolType,
		a.protocol != nil && *a.protocol != g.protocol:
		return syncResult{code: kerr.InconsistentGroupProtocol.Code}, nil
	}
	switch g.state {
	case groupPreparingRebalance:
		return syncResult{code: kerr.RebalanceInProgress.Code}, nil
	case groupStable:
		g.resetExpiry(m)
		return g.syncResultFor(m), nil
	case groupCompletingRebalance:
	default:
		return syncResult{code: kerr.UnknownMemberID.Code}, nil
	}
	m.synced = true
	g.resetExpiry(m)
	if m.id != g.leader {
		if m.sync != nil {
			m.sync <- syncResult{code: kerr.RebalanceInProgress.Code}
		}
		m.sync = make(chan syncResult, 1)
		return syncResult{}, m.sync
	}
	for _, o := range g.members {
		o.assignment = a.assignments[o.id]
	}
	g.stopTimers()
	g.state = groupStable
	g.persistMeta()
	for _, o := range g.members {
		if o.sync != nil {
			o.sync <- g.syncResultFor(o)
			o.sync = nil
		}
	}
	return g.syncResultFor(m), nil
}

func (g *group) syncResultFor(m *member) syncResult {
	return syncResult{protocolType: g.protocolType, protocol: g.protocol, assignment: m.assignment}
}

// heartbeat handles a Heartbeat.
func (g *group) heartbeat(memberID, instanceID string, generation int32) int16 {
	if g.state == groupEmpty {
		return kerr.UnknownMemberID.Code
	}
	m, code := g.member(memberID, instanceID)
	switch {
	case code != 0:
		return code
	case generation != g.generation:
		return kerr.IllegalGeneration.Code
	}
	g.resetExpiry(m)
	if g.state == groupPreparingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// leave handles one member of a LeaveGroup.
func (g *group) leave(memberID, instanceID string) int16 {
	if instanceID != "" {
		id, ok := g.statics[instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID.Code
		case memberID != "" && memberID != id:
			return kerr.FencedInstanceID.Code
		}
		memberID = id
	}
	if t, ok := g.pending[memberID]; ok {
		t.Stop()
		delete(g.pending, memberID)
		g.tryCompleteJoin()
		return 0
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	g.removeMember(m)
	return 0
}

// checkCommit validates an OffsetCommit's member and generation as Kafka
// does: generation -1 with no member commits for a group without members
// (an admin, or a consumer that assigns itself partitions); a member of a
// group commits with the current generation, also while it rebalances, but
// not between the join and sync phases.
func (g *group) checkCommit(memberID, instanceID string, generation int32) int16 {
	if generation < 0 && memberID == "" && len(g.members) == 0 {
		return 0
	}
	m, code := g.member(memberID, instanceID)
	switch {
	case code != 0:
		return code
	case g.state == groupCompletingRebalance:
		return kerr.RebalanceInProgress.Code
	case generation != g.generation:
		return kerr.IllegalGeneration.Code
	}
	g.resetExpiry(m)
	return 0
}

// shutdownLocked stops the group's timers and fails its waiting requests,
// when the cluster closes.
func (g *group) shutdownLocked() {
	g.stopTimers()
	for _, t := range g.pending {
		t.Stop()
	}
	for _, m := range g.members {
		g.dropMember(m)
	}
	g.state = groupDead
}

// persistMeta records the group's metadata: protocol, generation, leader,
// members and assignments.
func (g *group) persistMeta() {
	if g.gc.store == nil {
		return
	}
	meta := &groupMeta{ProtocolType: g.protocolType, Protocol: g.protocol, Generation: g.generation, Leader: g.leader}
	for _, m := range g.sortedMembers() {
		sm := savedMember{
			ID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			SessionMs: m.session.Milliseconds(), RebalanceMs: m.rebalance.Milliseconds(),
			ProtocolType: m.protocolType, Assignment: m.assignment,
		}
		for _, p := range m.protocols {
			sm.Protocols = append(sm.Protocols, savedProtocol{Name: p.name, Metadata: p.meta})
		}
		meta.Members = append(meta.Members, sm)
	}
	if err := g.gc.store.append([]groupRecord{{Type: recGroup, Group: g.id, Meta: meta}}); err != nil {
		g.gc.log.Error("persisting group metadata", "group", g.id, "err", err)
	}
}

// restore loads a group from its saved metadata, as Kafka loads one from
// __consumer_offsets: Stable with its members when it has any (their
// sessions start now, so members that are gone expire and the group
// rebalances without them), else Empty.
func (g *group) restore(meta groupMeta) {
	g.protocolType, g.protocol, g.generation, g.leader = meta.ProtocolType, meta.Protocol, meta.Generation, meta.Leader
	for _, sm := range meta.Members {
		m := &member{
			id: sm.ID, instanceID: sm.InstanceID, clientID: sm.ClientID, clientHost: sm.ClientHost,
			session:      time.Duration(sm.SessionMs) * time.Millisecond,
			rebalance:    time.Duration(sm.RebalanceMs) * time.Millisecond,
			protocolType: sm.ProtocolType, assignment: sm.Assignment, synced: true,
		}
		for _, p := range sm.Protocols {
			m.protocols = append(m.protocols, protocolMeta{name: p.Name, meta: p.Metadata})
		}
		g.members[m.id] = m
		if m.instanceID != "" {
			g.statics[m.instanceID] = m.id
		}
		g.resetExpiry(m)
	}
	if len(g.members) == 0 {
		g.state, g.protocol, g.leader = groupEmpty, "", ""
		return
	}
	g.state = groupStable
	if g.members[g.leader] == nil {
		g.leader = g.sortedMembers()[0].id
	}
}

// openGroups makes a cluster's group coordinator, with its state replayed
// from the groups log when the storage is on disk.
func openGroups(c *Cluster) (*groupCoordinator, error) {
	var store *groupStore
	if ds, ok := c.storage.(*DiskStorage); ok {
		var err error
		if store, err = openGroupStore(ds); err != nil {
			return nil, err
		}
	}
	return newGroupCoordinator(c.log, store), nil
}

func sortTopicPartitions(tps []topicPartition) {
	slices.SortFunc(tps, func(a, b topicPartition) int {
		if a.topic != b.topic {
			return strings.Compare(a.topic, b.topic)
		}
		return int(a.partition - b.partition)
	})
}
