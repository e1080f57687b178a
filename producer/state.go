package producer

// State is a partition worker's state. Every transition is emitted as a
// callbacks.StateChange event, and the main ones as their own events too.
//
//	connecting --connected--> ready
//	ready --send error, leader unreachable--> downtime
//	downtime --leader reachable--> replaying --backlog sent--> ready
//	any --Close--> draining --> closed
//
// A worker starts in connecting once the topic's metadata is known (the
// producer-wide bootstrapping happens before workers exist).
type State int32

const (
	StateConnecting State = iota
	StateReady
	StateDowntime
	StateReplaying
	StateDraining
	StateClosed
)

var stateNames = [...]string{"connecting", "ready", "downtime", "replaying", "draining", "closed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}
