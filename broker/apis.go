package broker

import (
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// APIKey is a Kafka request type.
type APIKey int16

// The request types a broker answers (see also api_keys_groups.go).
const (
	APIProduce        APIKey = 0
	APIFetch          APIKey = 1
	APIListOffsets    APIKey = 2
	APIMetadata       APIKey = 3
	APIApiVersions    APIKey = 18
	APICreateTopics   APIKey = 19
	APIInitProducerID APIKey = 22
)

func (k APIKey) String() string { return kmsg.NameForKey(int16(k)) }

// apiSpec is one request type the broker answers, and the one place its
// versions are written: ApiVersions advertises the table (in its order),
// conn.handle accepts what it advertises and nothing else, the request's
// shape is checked with its shape walk (see checkRequestShape), and Stats
// counts by it.
type apiSpec struct {
	key  APIKey
	name string // Kafka's name for it, as the package doc lists it
	// min and max are the versions answered.
	min, max int16
	// flexible is the first flexible version (request header v2, compact
	// strings and arrays, tagged fields), or never.
	flexible int16
	// shape walks a request body at version v, in kmsg's field order
	// (wirecheck.go, wirecheck_groups.go).
	shape func(w *shapeWalk, v int16)
	// handle answers a decoded request (of the kmsg type of key). A nil
	// answer means none is due (acks=0 produce).
	handle handler
}

// never is the flexible version of the request types that have none.
const never = math.MaxInt16

type handler func(c *conn, h reqHeader, req kmsg.Request) (kmsg.Response, error)

// reply adapts a handler that cannot fail.
func reply[R kmsg.Request](f func(*conn, R) kmsg.Response) handler {
	return func(c *conn, _ reqHeader, req kmsg.Request) (kmsg.Response, error) {
		return f(c, req.(R)), nil
	}
}

// replyOrFail adapts a handler whose error closes the connection.
func replyOrFail[R kmsg.Request](f func(*conn, R) (kmsg.Response, error)) handler {
	return func(c *conn, _ reqHeader, req kmsg.Request) (kmsg.Response, error) {
		return f(c, req.(R))
	}
}

// apis is the table of request types. Metadata goes up to v12 (kafka-python
// infers the broker's version from it and needs at least v4 to use record
// batches); Produce starts at v3 and Fetch at v4, the first versions with
// record batches (magic 2).
//
// It is filled by init: the ApiVersions handler reads it, which a
// package-level initializer could not express without a cycle.
var apis []apiSpec

// apiByKey indexes apis by key.
var apiByKey [256]*apiSpec

func init() {
	apis = []apiSpec{
		{APIProduce, "Produce", 3, 9, 9, shapeProduce, replyOrFail((*conn).handleProduce)},
		{APIFetch, "Fetch", 4, 18, 12, shapeFetch, replyOrFail((*conn).handleFetch)},
		{APIListOffsets, "ListOffsets", 1, 7, 6, shapeListOffsets, reply((*conn).handleListOffsets)},
		{APIMetadata, "Metadata", 0, 12, 9, shapeMetadata, reply((*conn).handleMetadata)},
		{APIApiVersions, "ApiVersions", 0, 3, 3, shapeApiVersions, reply((*conn).handleApiVersions)},
		{APICreateTopics, "CreateTopics", 0, 7, 5, shapeCreateTopics, reply((*conn).handleCreateTopics)},
		{APIInitProducerID, "InitProducerId", 0, 4, 2, shapeInitProducerID, reply((*conn).handleInitProducerID)},
		// The group coordinator (api_groups.go).
		{APIOffsetCommit, "OffsetCommit", 0, 9, 8, shapeOffsetCommit, reply((*conn).handleOffsetCommit)},
		{APIOffsetFetch, "OffsetFetch", 0, 9, 6, shapeOffsetFetch, reply((*conn).handleOffsetFetch)},
		{APIFindCoordinator, "FindCoordinator", 0, 6, 3, shapeFindCoordinator, reply((*conn).handleFindCoordinator)},
		{APIJoinGroup, "JoinGroup", 0, 9, 6, shapeJoinGroup, func(c *conn, h reqHeader, req kmsg.Request) (kmsg.Response, error) {
			return c.handleJoinGroup(h, req.(*kmsg.JoinGroupRequest))
		}},
		{APIHeartbeat, "Heartbeat", 0, 4, 4, shapeHeartbeat, reply((*conn).handleHeartbeat)},
		{APILeaveGroup, "LeaveGroup", 0, 5, 4, shapeLeaveGroup, reply((*conn).handleLeaveGroup)},
		{APISyncGroup, "SyncGroup", 0, 5, 4, shapeSyncGroup, replyOrFail((*conn).handleSyncGroup)},
		{APIDescribeGroups, "DescribeGroups", 0, 6, 5, shapeDescribeGroups, reply((*conn).handleDescribeGroups)},
		{APIListGroups, "ListGroups", 0, 5, 3, shapeListGroups, reply((*conn).handleListGroups)},
		{APIDeleteGroups, "DeleteGroups", 0, 2, 2, shapeDeleteGroups, reply((*conn).handleDeleteGroups)},
		{APIOffsetDelete, "OffsetDelete", 0, 0, never, shapeOffsetDelete, reply((*conn).handleOffsetDelete)},
		// Admin (api_admin.go).
		{APIDeleteTopics, "DeleteTopics", 0, 6, 4, shapeDeleteTopics, reply((*conn).handleDeleteTopics)},
		{APIDeleteRecords, "DeleteRecords", 0, 2, 2, shapeDeleteRecords, reply((*conn).handleDeleteRecords)},
		{APIDescribeConfigs, "DescribeConfigs", 0, 4, 4, shapeDescribeConfigs, reply((*conn).handleDescribeConfigs)},
		{APIAlterConfigs, "AlterConfigs", 0, 2, 2, shapeAlterConfigs(false), reply((*conn).handleAlterConfigs)},
		{APIIncrementalAlterConfigs, "IncrementalAlterConfigs", 0, 1, 1, shapeAlterConfigs(true), reply((*conn).handleIncrementalAlterConfigs)},
		{APICreatePartitions, "CreatePartitions", 0, 3, 2, shapeCreatePartitions, reply((*conn).handleCreatePartitions)},
		{APIDescribeCluster, "DescribeCluster", 0, 2, 0, shapeDescribeCluster, reply((*conn).handleDescribeCluster)},
		// SASL (api_sasl.go).
		{APISaslHandshake, "SaslHandshake", 0, 1, never, shapeSaslHandshake, reply((*conn).handleSaslHandshake)},
		{APISaslAuthenticate, "SaslAuthenticate", 0, 2, 2, shapeSaslAuthenticate, replyOrFail((*conn).handleSaslAuthenticate)},
	}
	for i := range apis {
		a := &apis[i]
		if a.key < 0 || int(a.key) >= len(apiByKey) || apiByKey[a.key] != nil {
			panic(fmt.Sprintf("broker: API key %d out of range or listed twice", a.key))
		}
		apiByKey[a.key] = a
	}
	slots = newStatSlots(apis)
}

// apiFor returns the table entry of key, or nil for a type not answered.
func apiFor(key APIKey) *apiSpec {
	if key < 0 || int(key) >= len(apiByKey) {
		return nil
	}
	return apiByKey[key]
}

// supports reports whether version v is answered.
func (a *apiSpec) supports(v int16) bool { return v >= a.min && v <= a.max }

// isFlexible reports whether version v is flexible.
func (a *apiSpec) isFlexible(v int16) bool { return v >= a.flexible }

// checkShape walks a request body of version v (see checkRequestShape).
func (a *apiSpec) checkShape(v int16, body []byte) error {
	w := &shapeWalk{r: kbin.Reader{Src: body}, flex: a.isFlexible(v)}
	a.shape(w, v)
	return w.err()
}
