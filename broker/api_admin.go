package broker

// Admin requests: DeleteTopics (key 20), CreatePartitions (37),
// DescribeConfigs (32) and DescribeCluster (60).

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/merlinkafka/merlin/seglog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (c *conn) handleDeleteTopics(req *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	topics := req.Topics
	if req.Version < 6 {
		for _, name := range req.TopicNames {
			topics = append(topics, kmsg.DeleteTopicsRequestTopic{Topic: &name})
		}
	}
	cl := c.b.cluster
	for _, rt := range topics {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.TopicID = rt.TopicID
		name := ""
		if rt.Topic != nil {
			name = strings.Clone(*rt.Topic)
		} else {
			cl.mu.RLock()
			if t := cl.topicIDs[rt.TopicID]; t != nil {
				name = t.name
			}
			cl.mu.RUnlock()
		}
		if name != "" {
			st.Topic = &name
		}
		switch err := cl.DeleteTopic(name); {
		case err == nil:
		case rt.Topic == nil && name == "":
			st.ErrorCode = kerr.UnknownTopicID.Code
		case errors.Is(err, ErrUnknownTopicOrPartition):
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		default:
			st.ErrorCode = kerr.UnknownServerError.Code
			if req.Version >= 5 {
				st.ErrorMessage = strPtr(err.Error())
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (c *conn) handleCreatePartitions(req *kmsg.CreatePartitionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	cl := c.b.cluster
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = strings.Clone(rt.Topic)
		fail := func(e *kerr.Error, msg string) {
			st.ErrorCode, st.ErrorMessage = e.Code, strPtr(msg)
		}
		have := int32(-1)
		for _, spec := range cl.Topics() {
			if spec.Name == rt.Topic {
				have = spec.Partitions
			}
		}
		var leaders []int32
		switch {
		case seen[rt.Topic] > 1:
			fail(kerr.InvalidRequest, "topic named more than once")
		case have < 0:
			fail(kerr.UnknownTopicOrPartition, "no such topic")
		case rt.Count <= have || rt.Count > MaxPartitions:
			fail(kerr.InvalidPartitions, "topic has "+strconv.Itoa(int(have))+" partitions; the new count must be larger, and at most "+strconv.Itoa(MaxPartitions))
		case rt.Assignment != nil && len(rt.Assignment) != int(rt.Count-have):
			fail(kerr.InvalidReplicaAssignment, "one assignment per new partition is needed")
		default:
			for _, a := range rt.Assignment {
				if len(a.Replicas) != 1 {
					fail(kerr.InvalidReplicaAssignment, "merlin has no replication: give one replica per partition")
					break
				}
				if !c.knownNode(a.Replicas[0]) {
					fail(kerr.InvalidReplicaAssignment, "unknown node "+strconv.Itoa(int(a.Replicas[0])))
					break
				}
				leaders = append(leaders, a.Replicas[0])
			}
		}
		if st.ErrorCode == 0 && !req.ValidateOnly {
			if err := cl.AddPartitions(rt.Topic, rt.Count); err != nil {
				if errors.Is(err, ErrInvalidPartitions) {
					fail(kerr.InvalidPartitions, err.Error())
				} else {
					fail(kerr.UnknownServerError, err.Error())
				}
			} else {
				for i, id := range leaders {
					_ = cl.MoveLeader(rt.Topic, have+int32(i), id)
				}
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (c *conn) knownNode(id int32) bool {
	for _, n := range c.b.cluster.Nodes() {
		if n.ID == id {
			return true
		}
	}
	return false
}

// clusterOperations is the ClusterAuthorizedOperations when asked for:
// without ACLs, every cluster operation (CREATE, CLUSTER_ACTION,
// DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, ALTER, DESCRIBE).
const clusterOperations = 1<<4 | 1<<7 | 1<<10 | 1<<11 | 1<<12 | 1<<9 | 1<<8

func (c *conn) handleDescribeCluster(req *kmsg.DescribeClusterRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = strPtr("merlin brokers describe brokers only (endpoint type 1)")
		return resp
	}
	resp.ClusterAuthorizedOperations = math.MinInt32
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOperations
	}
	cl := c.b.cluster
	cl.mu.RLock()
	resp.ClusterID = cl.cfg.ClusterID
	resp.ControllerID = cl.controllerLocked(c.b.node)
	cl.mu.RUnlock()
	for _, n := range cl.Nodes() {
		if n.Host == "" {
			continue
		}
		b := kmsg.NewDescribeClusterResponseBroker()
		b.NodeID, b.Host, b.Port = n.ID, n.Host, n.Port
		b.IsFenced = !n.Running
		if !n.Running && !req.IncludeFencedBrokers {
			continue
		}
		resp.Brokers = append(resp.Brokers, b)
	}
	return resp
}

// configEntry is one config merlin reports.
type configEntry struct {
	name, value string
	isDefault   bool
	typ         kmsg.ConfigType
	doc         string
}

// topicConfigs are the topic configs in effect: the storage's limits,
// which apply to every topic alike (they are not per-topic settings yet).
func (c *conn) topicConfigs() []configEntry {
	maxMsg := configEntry{"max.message.bytes", strconv.Itoa(int(c.b.cfg.MaxRequestSize)), c.b.cfg.MaxRequestSize == DefaultMaxRequestSize, kmsg.ConfigTypeInt,
		"The largest record batch: merlin's limit is the request size."}
	ds, ok := c.b.cluster.storage.(*DiskStorage)
	if !ok {
		return []configEntry{
			{"cleanup.policy", "delete", true, kmsg.ConfigTypeList, "Memory storage keeps every batch; there is no compaction."},
			maxMsg,
			{"retention.bytes", "-1", true, kmsg.ConfigTypeLong, "Memory storage keeps every batch."},
			{"retention.ms", "-1", true, kmsg.ConfigTypeLong, "Memory storage keeps every batch."},
		}
	}
	o := ds.opts
	ms := func(d time.Duration) string {
		if d <= 0 {
			return "-1"
		}
		return strconv.FormatInt(d.Milliseconds(), 10)
	}
	segBytes, segAge := o.SegmentBytes, o.SegmentAge
	if segBytes == 0 {
		segBytes = seglog.DefaultSegmentBytes
	}
	if segAge == 0 {
		segAge = seglog.DefaultSegmentAge
		if o.RetentionAge > 0 && o.RetentionAge < segAge {
			segAge = o.RetentionAge
		}
	}
	retBytes := "-1"
	if o.RetentionBytes > 0 {
		retBytes = strconv.FormatInt(o.RetentionBytes, 10)
	}
	return []configEntry{
		{"cleanup.policy", "delete", true, kmsg.ConfigTypeList, "Retention deletes whole segments; there is no compaction."},
		maxMsg,
		{"retention.bytes", retBytes, o.RetentionBytes == 0, kmsg.ConfigTypeLong, "Oldest segments are deleted while a partition stays this large without them."},
		{"retention.ms", ms(o.RetentionAge), o.RetentionAge == 0, kmsg.ConfigTypeLong, "Segments whose newest record is older than this are deleted."},
		{"segment.bytes", strconv.FormatInt(segBytes, 10), o.SegmentBytes == 0, kmsg.ConfigTypeInt, "A partition rolls to a new segment at this size."},
		{"segment.ms", ms(segAge), o.SegmentAge == 0, kmsg.ConfigTypeLong, "A partition rolls to a new segment older than this."},
	}
}

// brokerConfigs are the topic configs under their broker-wide names, and
// the broker's topic creation settings.
func (c *conn) brokerConfigs() []configEntry {
	names := map[string]string{
		"max.message.bytes": "message.max.bytes",
		"retention.bytes":   "log.retention.bytes",
		"retention.ms":      "log.retention.ms",
		"segment.bytes":     "log.segment.bytes",
		"segment.ms":        "log.roll.ms",
		"cleanup.policy":    "log.cleanup.policy",
	}
	var out []configEntry
	for _, e := range c.topicConfigs() {
		e.name = names[e.name]
		out = append(out, e)
	}
	cc := c.b.cluster.cfg
	return append(out,
		configEntry{"auto.create.topics.enable", strconv.FormatBool(!cc.DisableAutoCreateTopics), !cc.DisableAutoCreateTopics, kmsg.ConfigTypeBoolean, "Metadata requests create unknown topics."},
		configEntry{"num.partitions", strconv.Itoa(int(cc.DefaultPartitions)), cc.DefaultPartitions == DefaultPartitions, kmsg.ConfigTypeInt, "Partitions of auto-created topics."},
	)
}

// handleDescribeConfigs reports the configs merlin applies, all read-only:
// topics have no settings of their own (AlterConfigs is not supported).
func (c *conn) handleDescribeConfigs(req *kmsg.DescribeConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, strings.Clone(rr.ResourceName)
		var entries []configEntry
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			if !c.b.cluster.hasTopic(rr.ResourceName) {
				sr.ErrorCode, sr.ErrorMessage = kerr.UnknownTopicOrPartition.Code, strPtr("no such topic")
			}
			entries = c.topicConfigs()
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(c.b.node)) {
				sr.ErrorCode, sr.ErrorMessage = kerr.InvalidRequest.Code, strPtr("ask each broker for its own configs")
			}
			entries = c.brokerConfigs()
		default:
			sr.ErrorCode, sr.ErrorMessage = kerr.InvalidRequest.Code, strPtr("merlin describes topic and broker configs only")
		}
		if sr.ErrorCode == 0 {
			for _, e := range entries {
				if rr.ConfigNames != nil && !matchesFilter(rr.ConfigNames, e.name) {
					continue
				}
				rc := kmsg.NewDescribeConfigsResponseResourceConfig()
				rc.Name, rc.Value, rc.ReadOnly, rc.IsDefault = e.name, strPtr(e.value), true, e.isDefault
				rc.Source = kmsg.ConfigSourceStaticBrokerConfig
				if e.isDefault {
					rc.Source = kmsg.ConfigSourceDefaultConfig
				}
				if req.IncludeSynonyms {
					syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
					syn.Name, syn.Value, syn.Source = e.name, rc.Value, rc.Source
					rc.ConfigSynonyms = append(rc.ConfigSynonyms, syn)
				}
				rc.ConfigType = e.typ
				if req.IncludeDocumentation {
					rc.Documentation = strPtr(e.doc)
				}
				sr.Configs = append(sr.Configs, rc)
			}
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}
