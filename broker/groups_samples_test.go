package broker

import "github.com/twmb/franz-go/pkg/kmsg"

// moreSampleRequests are sampleRequests' requests of the group coordinator
// and the admin APIs: every field set, arrays of two, so that the shape
// walks meet every field of every version.
func moreSampleRequests(key APIKey, v int16, tags kmsg.Tags) []kmsg.Request {
	s := func(x string) *string { return &x }
	var req kmsg.Request
	switch key {
	case APIOffsetCommit:
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Group, r.Generation, r.MemberID, r.InstanceID, r.RetentionTimeMillis = "g", 3, "m", s("i"), 5
		for _, name := range []string{"a", "b"} {
			t := kmsg.NewOffsetCommitRequestTopic()
			t.Topic, t.TopicID, t.UnknownTags = name, [16]byte{1}, tags
			for p := int32(0); p < 2; p++ {
				tp := kmsg.NewOffsetCommitRequestTopicPartition()
				tp.Partition, tp.Offset, tp.Timestamp, tp.LeaderEpoch, tp.Metadata, tp.UnknownTags = p, 10, 11, 2, s("meta"), tags
				t.Partitions = append(t.Partitions, tp)
			}
			r.Topics = append(r.Topics, t)
		}
		r.UnknownTags = tags
		req = r
	case APIOffsetFetch:
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Group, r.RequireStable, r.UnknownTags = "g", true, tags
		for _, name := range []string{"a", "b"} {
			t := kmsg.NewOffsetFetchRequestTopic()
			t.Topic, t.Partitions, t.UnknownTags = name, []int32{0, 1}, tags
			r.Topics = append(r.Topics, t)
			g := kmsg.NewOffsetFetchRequestGroup()
			g.Group, g.MemberID, g.MemberEpoch, g.UnknownTags = name, s("m"), 4, tags
			gt := kmsg.NewOffsetFetchRequestGroupTopic()
			gt.Topic, gt.TopicID, gt.Partitions, gt.UnknownTags = name, [16]byte{2}, []int32{0, 1}, tags
			g.Topics = append(g.Topics, gt, gt)
			r.Groups = append(r.Groups, g)
		}
		req = r
	case APIFindCoordinator:
		r := kmsg.NewPtrFindCoordinatorRequest()
		r.CoordinatorKey, r.CoordinatorType, r.CoordinatorKeys, r.UnknownTags = "g", 0, []string{"g", "h"}, tags
		req = r
	case APIJoinGroup:
		r := kmsg.NewPtrJoinGroupRequest()
		r.Group, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis, r.MemberID, r.InstanceID = "g", 1, 2, "m", s("i")
		r.ProtocolType, r.Reason, r.UnknownTags = "consumer", s("why"), tags
		for _, name := range []string{"range", "sticky"} {
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name, p.Metadata, p.UnknownTags = name, []byte{1, 2}, tags
			r.Protocols = append(r.Protocols, p)
		}
		req = r
	case APIHeartbeat:
		r := kmsg.NewPtrHeartbeatRequest()
		r.Group, r.Generation, r.MemberID, r.InstanceID, r.UnknownTags = "g", 1, "m", s("i"), tags
		req = r
	case APILeaveGroup:
		r := kmsg.NewPtrLeaveGroupRequest()
		r.Group, r.MemberID, r.UnknownTags = "g", "m", tags
		for _, id := range []string{"m", "n"} {
			m := kmsg.NewLeaveGroupRequestMember()
			m.MemberID, m.InstanceID, m.Reason, m.UnknownTags = id, s("i"), s("why"), tags
			r.Members = append(r.Members, m)
		}
		req = r
	case APISyncGroup:
		r := kmsg.NewPtrSyncGroupRequest()
		r.Group, r.Generation, r.MemberID, r.InstanceID, r.ProtocolType, r.Protocol, r.UnknownTags = "g", 1, "m", s("i"), s("consumer"), s("range"), tags
		for _, id := range []string{"m", "n"} {
			a := kmsg.NewSyncGroupRequestGroupAssignment()
			a.MemberID, a.MemberAssignment, a.UnknownTags = id, []byte{3}, tags
			r.GroupAssignment = append(r.GroupAssignment, a)
		}
		req = r
	case APIDescribeGroups:
		r := kmsg.NewPtrDescribeGroupsRequest()
		r.Groups, r.IncludeAuthorizedOperations, r.UnknownTags = []string{"g", "h"}, true, tags
		req = r
	case APIListGroups:
		r := kmsg.NewPtrListGroupsRequest()
		r.StatesFilter, r.TypesFilter, r.UnknownTags = []string{"Stable", "Empty"}, []string{"classic"}, tags
		req = r
	case APIDeleteGroups:
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Groups, r.UnknownTags = []string{"g", "h"}, tags
		req = r
	case APIOffsetDelete:
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = "g"
		for _, name := range []string{"a", "b"} {
			t := kmsg.NewOffsetDeleteRequestTopic()
			t.Topic = name
			t.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}, {Partition: 1}}
			r.Topics = append(r.Topics, t)
		}
		req = r
	case APIDeleteTopics:
		r := kmsg.NewPtrDeleteTopicsRequest()
		r.TopicNames, r.TimeoutMillis, r.UnknownTags = []string{"a", "b"}, 1000, tags
		for _, name := range []string{"a", "b"} {
			t := kmsg.NewDeleteTopicsRequestTopic()
			t.Topic, t.TopicID, t.UnknownTags = s(name), [16]byte{3}, tags
			r.Topics = append(r.Topics, t)
		}
		req = r
	case APIDeleteRecords:
		r := kmsg.NewPtrDeleteRecordsRequest()
		r.TimeoutMillis, r.UnknownTags = 1000, tags
		for _, name := range []string{"a", "b"} {
			t := kmsg.NewDeleteRecordsRequestTopic()
			t.Topic, t.UnknownTags = name, tags
			for p := int32(0); p < 2; p++ {
				tp := kmsg.NewDeleteRecordsRequestTopicPartition()
				tp.Partition, tp.Offset, tp.UnknownTags = p, 5, tags
				t.Partitions = append(t.Partitions, tp)
			}
			r.Topics = append(r.Topics, t)
		}
		req = r
	case APIDescribeConfigs:
		r := kmsg.NewPtrDescribeConfigsRequest()
		r.IncludeSynonyms, r.IncludeDocumentation, r.UnknownTags = true, true, tags
		for _, name := range []string{"a", "0"} {
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName, rr.ConfigNames, rr.UnknownTags = kmsg.ConfigResourceTypeTopic, name, []string{"retention.ms", "x"}, tags
			r.Resources = append(r.Resources, rr)
		}
		req = r
	case APIAlterConfigs:
		r := kmsg.NewPtrAlterConfigsRequest()
		r.ValidateOnly, r.UnknownTags = true, tags
		for _, name := range []string{"a", "b"} {
			rr := kmsg.NewAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName, rr.UnknownTags = kmsg.ConfigResourceTypeTopic, name, tags
			for _, c := range []string{"retention.ms", "segment.ms"} {
				rc := kmsg.NewAlterConfigsRequestResourceConfig()
				rc.Name, rc.Value, rc.UnknownTags = c, s("1000"), tags
				rr.Configs = append(rr.Configs, rc)
			}
			r.Resources = append(r.Resources, rr)
		}
		req = r
	case APIIncrementalAlterConfigs:
		r := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r.ValidateOnly, r.UnknownTags = true, tags
		for _, name := range []string{"a", "b"} {
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName, rr.UnknownTags = kmsg.ConfigResourceTypeTopic, name, tags
			for _, c := range []string{"retention.ms", "segment.ms"} {
				rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
				rc.Name, rc.Op, rc.Value, rc.UnknownTags = c, kmsg.IncrementalAlterConfigOpSet, s("1000"), tags
				rr.Configs = append(rr.Configs, rc)
			}
			r.Resources = append(r.Resources, rr)
		}
		req = r
	case APICreatePartitions:
		r := kmsg.NewPtrCreatePartitionsRequest()
		r.TimeoutMillis, r.ValidateOnly, r.UnknownTags = 1000, true, tags
		for _, name := range []string{"a", "b"} {
			t := kmsg.NewCreatePartitionsRequestTopic()
			t.Topic, t.Count, t.UnknownTags = name, 4, tags
			for range 2 {
				a := kmsg.NewCreatePartitionsRequestTopicAssignment()
				a.Replicas, a.UnknownTags = []int32{0, 1}, tags
				t.Assignment = append(t.Assignment, a)
			}
			r.Topics = append(r.Topics, t)
		}
		req = r
	case APIDescribeCluster:
		r := kmsg.NewPtrDescribeClusterRequest()
		r.IncludeClusterAuthorizedOperations, r.EndpointType, r.IncludeFencedBrokers, r.UnknownTags = true, 1, true, tags
		req = r
	default:
		return nil
	}
	req.SetVersion(v)
	return []kmsg.Request{req}
}
