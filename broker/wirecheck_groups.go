package broker

// Request shapes (see checkRequestShape) of the group coordinator's and the
// admin requests, in kmsg's field order per version.

// moreShapes walks the request types checkRequestShape does not list
// itself, and reports false for a type it does not know either.
func (w *shapeWalk) moreShapes(key APIKey, v int16) bool {
	switch key {
	case APIOffsetCommit:
		w.flex = v >= 8
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
		w.array(func() {
			if v <= 9 {
				w.str()
			} else {
				w.fixed(16)
			}
			w.array(func() {
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
		})
		w.tags(nil)
	case APIOffsetFetch:
		w.flex = v >= 6
		if v <= 7 {
			w.str()
			w.array(func() {
				w.str()
				w.array(func() { w.fixed(4) })
				w.tags(nil)
			})
		} else {
			w.array(func() {
				w.str()
				if v >= 9 {
					w.str()
					w.fixed(4)
				}
				w.array(func() {
					if v <= 9 {
						w.str()
					} else {
						w.fixed(16)
					}
					w.array(func() { w.fixed(4) })
					w.tags(nil)
				})
				w.tags(nil)
			})
		}
		if v >= 7 {
			w.fixed(1)
		}
		w.tags(nil)
	case APIFindCoordinator:
		w.flex = v >= 3
		if v <= 3 {
			w.str()
		}
		if v >= 1 {
			w.fixed(1)
		}
		if v >= 4 {
			w.array(w.str)
		}
		w.tags(nil)
	case APIJoinGroup:
		w.flex = v >= 6
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
		w.array(func() {
			w.str()
			w.bytes()
			w.tags(nil)
		})
		if v >= 8 {
			w.str()
		}
		w.tags(nil)
	case APIHeartbeat:
		w.flex = v >= 4
		w.str()
		w.fixed(4)
		w.str()
		if v >= 3 {
			w.str()
		}
		w.tags(nil)
	case APILeaveGroup:
		w.flex = v >= 4
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
	case APISyncGroup:
		w.flex = v >= 4
		w.str()
		w.fixed(4)
		w.str()
		if v >= 3 {
			w.str()
		}
		if v >= 5 {
			w.str()
			w.str()
		}
		w.array(func() {
			w.str()
			w.bytes()
			w.tags(nil)
		})
		w.tags(nil)
	case APIDescribeGroups:
		w.flex = v >= 5
		w.array(w.str)
		if v >= 3 {
			w.fixed(1)
		}
		w.tags(nil)
	case APIListGroups:
		w.flex = v >= 3
		if v >= 4 {
			w.array(w.str)
		}
		if v >= 5 {
			w.array(w.str)
		}
		w.tags(nil)
	case APIDeleteGroups:
		w.flex = v >= 2
		w.array(w.str)
		w.tags(nil)
	case APIOffsetDelete:
		w.str()
		w.array(func() {
			w.str()
			w.array(func() { w.fixed(4) })
		})
	case APIDeleteTopics:
		w.flex = v >= 4
		if v <= 5 {
			w.array(w.str)
		} else {
			w.array(func() {
				w.str()
				w.fixed(16)
				w.tags(nil)
			})
		}
		w.fixed(4)
		w.tags(nil)
	case APIDeleteRecords:
		w.flex = v >= 2
		w.array(func() {
			w.str()
			w.array(func() {
				w.fixed(4 + 8)
				w.tags(nil)
			})
			w.tags(nil)
		})
		w.fixed(4)
		w.tags(nil)
	case APIDescribeConfigs:
		w.flex = v >= 4
		w.array(func() {
			w.fixed(1)
			w.str()
			w.array(w.str)
			w.tags(nil)
		})
		if v >= 1 {
			w.fixed(1)
		}
		if v >= 3 {
			w.fixed(1)
		}
		w.tags(nil)
	case APIAlterConfigs, APIIncrementalAlterConfigs:
		incremental := key == APIIncrementalAlterConfigs
		w.flex = v >= 2 || incremental && v >= 1
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
	case APICreatePartitions:
		w.flex = v >= 2
		w.array(func() {
			w.str()
			w.fixed(4)
			w.array(func() {
				w.array(func() { w.fixed(4) })
				w.tags(nil)
			})
			w.tags(nil)
		})
		w.fixed(4 + 1)
		w.tags(nil)
	case APIDescribeCluster:
		w.flex = true
		w.fixed(1)
		if v >= 1 {
			w.fixed(1)
		}
		if v >= 2 {
			w.fixed(1)
		}
		w.tags(nil)
	default:
		return false
	}
	return true
}
