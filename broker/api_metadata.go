package broker

// Metadata (key 3), v0-v12.
//
// Describes the whole cluster whichever broker answers: every node that has
// listened at least once (stopped ones included, see Cluster), the lowest
// running node as controller, and for each partition its leader, which is
// also its only replica and in-sync replica.
//
// Topic selection: v0 lists every topic for an empty list, v1+ for a null
// one. Unknown topics are created when the cluster allows it and, from v4,
// the request does too (AllowAutoTopicCreation); v10+ may name topics by id.
// Auto-creation respects the partition limits: a topic it would take over
// ClusterConfig.MaxPartitionsTotal is answered POLICY_VIOLATION, as
// CreateTopics is. DisableAutoCreateTopics stops only this: CreateTopics
// still creates topics, within the same limits.

import (
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (c *conn) handleMetadata(req *kmsg.MetadataRequest) kmsg.Response {
	cl := c.b.cluster
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	all := req.Topics == nil || req.Version == 0 && len(req.Topics) == 0
	autoCreate := !cl.cfg.DisableAutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	var refused map[string]bool // auto-creations over MaxPartitionsTotal
	if !all && autoCreate {
		for _, rt := range req.Topics {
			if rt.Topic == nil || *rt.Topic == "" || cl.hasTopic(*rt.Topic) {
				continue
			}
			_, err := cl.createTopic(*rt.Topic, 0, false)
			switch {
			case err == nil, errors.Is(err, ErrTopicExists), errors.Is(err, ErrInvalidTopic):
			case errors.Is(err, ErrPartitionLimit):
				c.b.logs.partitions.Log("remote", c.remoteAddr(), "topic", *rt.Topic, "reason", err)
				if refused == nil {
					refused = make(map[string]bool)
				}
				refused[*rt.Topic] = true
			default:
				c.b.log.Error("auto-creating topic", "topic", *rt.Topic, "err", err)
			}
		}
	}

	cl.mu.RLock()
	defer cl.mu.RUnlock()
	ids := make([]int32, 0, len(cl.nodes))
	for id, n := range cl.nodes {
		if n.host != "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		n := cl.nodes[id]
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = n.id, n.host, n.port
		resp.Brokers = append(resp.Brokers, mb)
	}
	resp.ClusterID = &cl.cfg.ClusterID
	resp.ControllerID = cl.controllerLocked(c.b.node)

	if all {
		names := make([]string, 0, len(cl.topics))
		for name := range cl.topics {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			resp.Topics = append(resp.Topics, describeTopic(cl, cl.topics[name]))
		}
		return resp
	}
	for _, rt := range req.Topics {
		var t *topic
		if rt.Topic == nil || *rt.Topic == "" && rt.TopicID != ([16]byte{}) {
			t = cl.topicIDs[rt.TopicID]
			if t == nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		} else if t = cl.topics[*rt.Topic]; t == nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = rt.Topic
			switch {
			case validTopicName(*rt.Topic) != "":
				mt.ErrorCode = kerr.InvalidTopicException.Code
			case refused[*rt.Topic]:
				mt.ErrorCode = kerr.PolicyViolation.Code
			case autoCreate:
				mt.ErrorCode = kerr.LeaderNotAvailable.Code // creation failed; retriable
			default:
				mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, describeTopic(cl, t))
	}
	return resp
}

// describeTopic builds a topic's entry. Callers hold cl.mu.
func describeTopic(cl *Cluster, t *topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = &t.name
	mt.TopicID = t.id
	if code, ok := cl.faults.takeTopic(APIMetadata, t.name); ok {
		mt.ErrorCode = code
		return mt
	}
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, len(t.partitions))
	for _, p := range t.partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.index
		leader := p.leader()
		mp.Leader, mp.LeaderEpoch = leader, p.epoch()
		if leader >= 0 {
			mp.Replicas = []int32{leader}
			mp.ISR = mp.Replicas
		} else {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		if code, ok := cl.faults.take(APIMetadata, t.name, p.index); ok {
			mp.ErrorCode = code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

func (c *Cluster) hasTopic(name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.topics[name]
	return ok
}
