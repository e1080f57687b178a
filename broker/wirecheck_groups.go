package broker

// Request shapes (see checkRequestShape) of the group coordinator's and the
// admin requests, in kmsg's field order per version.

func shapeOffsetCommit(w *shapeWalk, v int16) {
	w.str()
	if v >= 1 {
		w.fixed(4)
		w.str()
	}
	if v >= 7 {
		w.str()
	}
	if v >= 2 && v <= 4 {
		w.fixed(8)
	}
	w.topics(v, 9, func() {
		w.fixed(4 + 8)
		if v == 1 {
			w.fixed(8)
		}
		if v >= 6 {
			w.fixed(4)
		}
		w.str()
		w.tags(nil)
	})
	w.tags(nil)
}

func shapeOffsetFetch(w *shapeWalk, v int16) {
	if v <= 7 {
		w.str()
		w.topicPartitions(v, never) // by name only
	} else {
		w.array(func() {
			w.str()
			if v >= 9 {
				w.str()
				w.fixed(4)
			}
			w.topicPartitions(v, 9)
			w.tags(nil)
		})
	}
	if v >= 7 {
		w.fixed(1)
	}
	w.tags(nil)
}

func shapeFindCoordinator(w *shapeWalk, v int16) {
	if v <= 3 {
		w.str()
	}
	if v >= 1 {
		w.fixed(1)
	}
	if v >= 4 {
		w.strs()
	}
	w.tags(nil)
}

func shapeJoinGroup(w *shapeWalk, v int16) {
	w.str()
	w.fixed(4)
	if v >= 1 {
		w.fixed(4)
	}
	w.str()
	if v >= 5 {
		w.str()
	}
	w.str()
	w.protocols()
	if v >= 8 {
		w.str()
	}
	w.tags(nil)
}

func shapeHeartbeat(w *shapeWalk, v int16) {
	w.member(v)
	w.tags(nil)
}

func shapeLeaveGroup(w *shapeWalk, v int16) {
	w.str()
	if v <= 2 {
		w.str()
	} else {
		w.array(func() {
			w.str()
			w.str()
			if v >= 5 {
				w.str()
			}
			w.tags(nil)
		})
	}
	w.tags(nil)
}

func shapeSyncGroup(w *shapeWalk, v int16) {
	w.member(v)
	if v >= 5 {
		w.str()
		w.str()
	}
	w.protocols()
	w.tags(nil)
}

func shapeDescribeGroups(w *shapeWalk, v int16) {
	w.strs()
	if v >= 3 {
		w.fixed(1)
	}
	w.tags(nil)
}

func shapeListGroups(w *shapeWalk, v int16) {
	if v >= 4 {
		w.strs()
	}
	if v >= 5 {
		w.strs()
	}
	w.tags(nil)
}

func shapeDeleteGroups(w *shapeWalk, _ int16) {
	w.strs()
	w.tags(nil)
}

func shapeOffsetDelete(w *shapeWalk, v int16) {
	w.str()
	w.topicPartitions(v, never) // by name only
}

func shapeDeleteTopics(w *shapeWalk, v int16) {
	if v <= 5 {
		w.strs()
	} else {
		w.array(func() {
			w.str()
			w.fixed(16)
			w.tags(nil)
		})
	}
	w.fixed(4)
	w.tags(nil)
}

func shapeDeleteRecords(w *shapeWalk, v int16) {
	w.topics(v, never, func() {
		w.fixed(4 + 8)
		w.tags(nil)
	})
	w.fixed(4)
	w.tags(nil)
}

func shapeDescribeConfigs(w *shapeWalk, v int16) {
	w.array(func() {
		w.fixed(1)
		w.str()
		w.strs()
		w.tags(nil)
	})
	if v >= 1 {
		w.fixed(1)
	}
	if v >= 3 {
		w.fixed(1)
	}
	w.tags(nil)
}

// shapeAlterConfigs walks AlterConfigs, or IncrementalAlterConfigs, whose
// configs have an operation.
func shapeAlterConfigs(incremental bool) func(*shapeWalk, int16) {
	return func(w *shapeWalk, _ int16) {
		w.array(func() {
			w.fixed(1)
			w.str()
			w.array(func() {
				w.str()
				if incremental {
					w.fixed(1)
				}
				w.str()
				w.tags(nil)
			})
			w.tags(nil)
		})
		w.fixed(1)
		w.tags(nil)
	}
}

func shapeCreatePartitions(w *shapeWalk, _ int16) {
	w.array(func() {
		w.str()
		w.fixed(4)
		w.array(func() {
			w.int32s()
			w.tags(nil)
		})
		w.tags(nil)
	})
	w.fixed(4 + 1)
	w.tags(nil)
}

func shapeDescribeCluster(w *shapeWalk, v int16) {
	w.fixed(1)
	if v >= 1 {
		w.fixed(1)
	}
	if v >= 2 {
		w.fixed(1)
	}
	w.tags(nil)
}

// member walks the group, generation, member id and (from v3) group
// instance id that Heartbeat and SyncGroup start with.
func (w *shapeWalk) member(v int16) {
	w.str()
	w.fixed(4)
	w.str()
	if v >= 3 {
		w.str()
	}
}

// protocols walks JoinGroup's protocols and SyncGroup's assignments: name
// (or member id) and bytes.
func (w *shapeWalk) protocols() {
	w.array(func() {
		w.str()
		w.bytes()
		w.tags(nil)
	})
}
