package broker

// Admin requests: DeleteTopics (key 20), CreatePartitions (37),
// DescribeConfigs (32), AlterConfigs (33), IncrementalAlterConfigs (44) and
// DescribeCluster (60).

import (
	"errors"
	"fmt"
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
	dynamic     bool // a topic override (DYNAMIC_TOPIC_CONFIG)
	settable    bool // AlterConfigs can set it
}

// topicConfigs are the configs in effect for a topic: the storage's limits,
// with the topic's overrides on disk storage ("" for none).
func (c *conn) topicConfigs(topic string) []configEntry {
	limit := c.b.cluster.cfg.MaxMessageBytes
	if limit < 0 {
		limit = c.b.cfg.MaxRequestSize // no batch limit: the request's is what holds
	}
	maxMsg := configEntry{name: "max.message.bytes", value: strconv.Itoa(int(limit)), isDefault: limit == DefaultMaxMessageBytes,
		typ: kmsg.ConfigTypeInt, doc: "The largest record batch of a produce request (ClusterConfig.MaxMessageBytes)."}
	ds, ok := c.b.cluster.storage.(*DiskStorage)
	if !ok {
		return []configEntry{
			{name: "cleanup.policy", value: "delete", isDefault: true, typ: kmsg.ConfigTypeList, doc: "Memory storage keeps every batch; there is no compaction."},
			maxMsg,
			{name: "retention.bytes", value: "-1", isDefault: true, typ: kmsg.ConfigTypeLong, doc: "Memory storage keeps every batch."},
			{name: "retention.ms", value: "-1", isDefault: true, typ: kmsg.ConfigTypeLong, doc: "Memory storage keeps every batch."},
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
	entries := []configEntry{
		{name: "cleanup.policy", value: "delete", isDefault: true, typ: kmsg.ConfigTypeList, doc: "Retention deletes whole segments; there is no compaction."},
		maxMsg,
		{name: "retention.bytes", value: retBytes, isDefault: o.RetentionBytes == 0, typ: kmsg.ConfigTypeLong, doc: "Oldest segments are deleted while a partition stays this large without them."},
		{name: "retention.ms", value: ms(o.RetentionAge), isDefault: o.RetentionAge == 0, typ: kmsg.ConfigTypeLong, doc: "Segments whose newest record is older than this are deleted."},
		{name: "segment.bytes", value: strconv.FormatInt(segBytes, 10), isDefault: o.SegmentBytes == 0, typ: kmsg.ConfigTypeInt, doc: "A partition rolls to a new segment at this size."},
		{name: "segment.ms", value: ms(segAge), isDefault: o.SegmentAge == 0, typ: kmsg.ConfigTypeLong, doc: "A partition rolls to a new segment older than this."},
	}
	overrides := map[string]string{}
	if topic != "" {
		overrides, _ = ds.topicConfig(topic)
	}
	for i := range entries {
		e := &entries[i]
		e.settable = e.name != "max.message.bytes"
		if v, ok := overrides[e.name]; ok {
			e.value, e.isDefault, e.dynamic = v, false, true
		}
	}
	return entries
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
	for _, e := range c.topicConfigs("") {
		e.name, e.settable = names[e.name], false
		out = append(out, e)
	}
	cc := c.b.cluster.cfg
	return append(out,
		configEntry{name: "auto.create.topics.enable", value: strconv.FormatBool(!cc.DisableAutoCreateTopics), isDefault: !cc.DisableAutoCreateTopics,
			typ: kmsg.ConfigTypeBoolean, doc: "Metadata requests create unknown topics."},
		configEntry{name: "num.partitions", value: strconv.Itoa(int(cc.DefaultPartitions)), isDefault: cc.DefaultPartitions == DefaultPartitions,
			typ: kmsg.ConfigTypeInt, doc: "Partitions of auto-created topics."},
	)
}

// handleDescribeConfigs reports the configs merlin applies. Those that
// AlterConfigs can set on a topic are not read-only.
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
			entries = c.topicConfigs(rr.ResourceName)
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
				rc.Name, rc.Value, rc.ReadOnly, rc.IsDefault = e.name, strPtr(e.value), !e.settable, e.isDefault
				switch {
				case e.dynamic:
					rc.Source = kmsg.ConfigSourceDynamicTopicConfig
				case e.isDefault:
					rc.Source = kmsg.ConfigSourceDefaultConfig
				default:
					rc.Source = kmsg.ConfigSourceStaticBrokerConfig
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

// alterTopicConfig validates and applies one resource of an AlterConfigs
// or IncrementalAlterConfigs: next computes the topic's new overrides from
// its current ones. It returns the error code and message to answer.
func (c *conn) alterTopicConfig(typ kmsg.ConfigResourceType, name string, validateOnly bool, next func(map[string]string) error) (int16, *string) {
	code, msg := c.alterTopicConfigCode(typ, name, validateOnly, next)
	if msg == "" {
		return code, nil
	}
	return code, &msg
}

func (c *conn) alterTopicConfigCode(typ kmsg.ConfigResourceType, name string, validateOnly bool, next func(map[string]string) error) (int16, string) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker:
		return kerr.InvalidRequest.Code, "broker configs are merlin-broker's flags; they cannot be altered"
	default:
		return kerr.InvalidRequest.Code, "merlin alters topic configs only"
	}
	tc, ok := c.b.cluster.storage.(topicConfigurer)
	switch {
	case !c.b.cluster.hasTopic(name):
		return kerr.UnknownTopicOrPartition.Code, "no such topic"
	case !ok:
		return kerr.InvalidRequest.Code, "memory storage keeps every batch: topic configs need disk storage"
	}
	cur, err := tc.topicConfig(name)
	if err != nil {
		return kerr.UnknownServerError.Code, err.Error()
	}
	if cur == nil {
		cur = map[string]string{}
	}
	if err := next(cur); err != nil {
		return kerr.InvalidConfig.Code, err.Error()
	}
	for k, v := range cur {
		if err := checkTopicConfig(k, v); err != nil {
			return kerr.InvalidConfig.Code, err.Error()
		}
	}
	if validateOnly {
		return 0, ""
	}
	if err := tc.setTopicConfig(strings.Clone(name), cur); err != nil {
		if errors.Is(err, errInvalidConfig) {
			return kerr.InvalidConfig.Code, err.Error()
		}
		return kerr.UnknownServerError.Code, err.Error()
	}
	return 0, ""
}

// handleAlterConfigs replaces a topic's overrides with the ones given: a
// config not named returns to its default, as in Kafka.
func (c *conn) handleAlterConfigs(req *kmsg.AlterConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, strings.Clone(rr.ResourceName)
		sr.ErrorCode, sr.ErrorMessage = c.alterTopicConfig(rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(cfg map[string]string) error {
			clear(cfg)
			for _, e := range rr.Configs {
				if e.Value == nil {
					return fmt.Errorf("%w: %s has no value", errInvalidConfig, e.Name)
				}
				cfg[strings.Clone(e.Name)] = strings.Clone(*e.Value)
			}
			return nil
		})
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

// handleIncrementalAlterConfigs sets or deletes single overrides. APPEND
// and SUBTRACT apply to list configs, of which merlin has only
// cleanup.policy, whose one value is "delete": they are refused.
func (c *conn) handleIncrementalAlterConfigs(req *kmsg.IncrementalAlterConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, strings.Clone(rr.ResourceName)
		sr.ErrorCode, sr.ErrorMessage = c.alterTopicConfig(rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(cfg map[string]string) error {
			for _, e := range rr.Configs {
				switch e.Op {
				case kmsg.IncrementalAlterConfigOpSet:
					if e.Value == nil {
						return fmt.Errorf("%w: SET %s without a value", errInvalidConfig, e.Name)
					}
					cfg[strings.Clone(e.Name)] = strings.Clone(*e.Value)
				case kmsg.IncrementalAlterConfigOpDelete:
					delete(cfg, e.Name)
				default:
					return fmt.Errorf("%w: operation %v on %s: merlin has no list config to append to or subtract from", errInvalidConfig, e.Op, e.Name)
				}
			}
			return nil
		})
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}
