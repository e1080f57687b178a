package broker

// CreateTopics (key 19), v0-v7.
//
// Errors: TOPIC_ALREADY_EXISTS, INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS
// (below 1, other than -1 which asks for the default, or above
// ClusterConfig.MaxPartitionsPerTopic), POLICY_VIOLATION when the topic
// would take the cluster over ClusterConfig.MaxPartitionsTotal (Kafka's
// answer when its topic creation policy refuses; the count is not a rate,
// so not THROTTLING_QUOTA_EXCEEDED), INVALID_REPLICATION_FACTOR (below 1 other than -1, or more
// than the cluster's nodes), INVALID_REQUEST for a topic named twice in one
// request, KAFKA_STORAGE_ERROR when the storage fails. Manual replica
// assignments are accepted for their partition count and first replica
// (the leader). Of the topic configs, those merlin applies on disk storage
// (see createConfigs) are validated (INVALID_CONFIG) and set; the others
// are accepted and ignored. ValidateOnly (v1+) checks without creating.
// Any broker answers, not only the controller.

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (c *conn) handleCreateTopics(req *kmsg.CreateTopicsRequest) kmsg.Response {
	cl := c.b.cluster
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	nodes := len(cl.Nodes())
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		fail := func(e *kerr.Error, msg string) {
			st.ErrorCode = e.Code
			if req.Version >= 1 {
				st.ErrorMessage = &msg
			}
		}
		partitions := rt.NumPartitions
		var leaders []int32
		if len(rt.ReplicaAssignment) > 0 {
			partitions = int32(len(rt.ReplicaAssignment))
			leaders = make([]int32, partitions)
			for _, ra := range rt.ReplicaAssignment {
				if ra.Partition < 0 || ra.Partition >= partitions || len(ra.Replicas) == 0 {
					leaders = nil
					break
				}
				leaders[ra.Partition] = ra.Replicas[0]
			}
		}
		rf := rt.ReplicationFactor
		cfg, cfgErr := c.createConfigs(rt.Configs)
		switch {
		case cfgErr != nil:
			fail(kerr.InvalidConfig, cfgErr.Error())
		case seen[rt.Topic] > 1:
			fail(kerr.InvalidRequest, fmt.Sprintf("topic %q is named more than once", rt.Topic))
		case len(rt.ReplicaAssignment) > 0 && leaders == nil:
			fail(kerr.InvalidReplicaAssignment, "replica assignment must list each partition once, with at least one replica")
		case len(rt.ReplicaAssignment) == 0 && (partitions == 0 || partitions < -1):
			fail(kerr.InvalidPartitions, fmt.Sprintf("number of partitions must be at least 1 (or -1 for the default), not %d", partitions))
		case len(rt.ReplicaAssignment) == 0 && (rf == 0 || rf < -1 || int(rf) > nodes):
			fail(kerr.InvalidReplicationFactor, fmt.Sprintf("replication factor must be in [1, %d] (the number of brokers) or -1, not %d", nodes, rf))
		default:
			id, err := cl.createTopicAssigned(rt.Topic, partitions, leaders, req.ValidateOnly)
			switch {
			case errors.Is(err, ErrTopicExists):
				fail(kerr.TopicAlreadyExists, err.Error())
			case errors.Is(err, ErrInvalidTopic):
				fail(kerr.InvalidTopicException, err.Error())
			case errors.Is(err, ErrInvalidPartitions):
				fail(kerr.InvalidPartitions, err.Error())
			case errors.Is(err, ErrPartitionLimit):
				c.b.logs.partitions.Log("remote", c.remoteAddr(), "topic", rt.Topic, "reason", err)
				fail(kerr.PolicyViolation, err.Error())
			case errors.Is(err, ErrUnknownNode):
				fail(kerr.InvalidReplicaAssignment, err.Error())
			case err != nil:
				fail(kerr.KafkaStorageError, err.Error())
			case !req.ValidateOnly && c.setCreateConfigs(rt.Topic, cfg) != nil:
				fail(kerr.KafkaStorageError, "the topic was created, but its configs could not be saved")
			default:
				st.TopicID = id
				st.NumPartitions = partitions
				if partitions == -1 {
					st.NumPartitions = cl.cfg.DefaultPartitions
				}
				st.ReplicationFactor = 1
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
