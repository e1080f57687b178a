package broker

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiRange is a request type and the versions the broker answers.
type apiRange struct {
	key      APIKey
	min, max int16
}

// supportedAPIs is what ApiVersions advertises and what the dispatcher
// accepts. Metadata goes up to v12 (kafka-python infers the broker's version
// from it and needs at least v4 to use record batches); Produce starts at v3
// and Fetch at v4, the first versions with record batches (magic 2).
var supportedAPIs = []apiRange{
	{APIProduce, 3, 9},
	{APIFetch, 4, 18},
	{APIListOffsets, 1, 7},
	{APIMetadata, 0, 12},
	{APIApiVersions, 0, 3},
	{APICreateTopics, 0, 7},
	{APIInitProducerID, 0, 4},
	// The group coordinator (api_groups.go).
	{APIOffsetCommit, 0, 9},
	{APIOffsetFetch, 0, 9},
	{APIFindCoordinator, 0, 6},
	{APIJoinGroup, 0, 9},
	{APIHeartbeat, 0, 4},
	{APILeaveGroup, 0, 5},
	{APISyncGroup, 0, 5},
	{APIDescribeGroups, 0, 6},
	{APIListGroups, 0, 5},
	{APIDeleteGroups, 0, 2},
	{APIOffsetDelete, 0, 0},
	// Admin (api_admin.go).
	{APIDeleteTopics, 0, 6},
	{APIDeleteRecords, 0, 2},
	{APIDescribeConfigs, 0, 4},
	{APIAlterConfigs, 0, 2},
	{APIIncrementalAlterConfigs, 0, 1},
	{APICreatePartitions, 0, 3},
	{APIDescribeCluster, 0, 2},
	{APISaslHandshake, 0, 1},
	{APISaslAuthenticate, 0, 2},
}

func versionsFor(key APIKey) (apiRange, bool) {
	for _, r := range supportedAPIs {
		if r.key == key {
			return r, true
		}
	}
	return apiRange{}, false
}

// reqHeader is a decoded request header (v1, or v2 for flexible versions).
type reqHeader struct {
	key      APIKey
	version  int16
	corr     int32
	clientID []byte // aliases the frame; nil when null
}

// parseRequestHeader decodes the fixed part of the header: api key, version,
// correlation id and client id. The tagged fields of flexible versions follow
// in rest.
func parseRequestHeader(frame []byte) (h reqHeader, rest []byte, err error) {
	if len(frame) < minFrame {
		return h, nil, fmt.Errorf("%w: request header needs %d bytes, frame has %d", errProtocol, minFrame, len(frame))
	}
	h.key = APIKey(binary.BigEndian.Uint16(frame[0:]))
	h.version = int16(binary.BigEndian.Uint16(frame[2:]))
	h.corr = int32(binary.BigEndian.Uint32(frame[4:]))
	n := int16(binary.BigEndian.Uint16(frame[8:]))
	rest = frame[10:]
	if n >= 0 {
		if int(n) > len(rest) {
			return h, nil, fmt.Errorf("%w: client id of %d bytes overruns the frame", errProtocol, n)
		}
		h.clientID, rest = rest[:n:n], rest[n:]
	}
	return h, rest, nil
}

// skipTags skips a tagged field section.
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, fmt.Errorf("%w: bad tagged field count", errProtocol)
	}
	b = b[n:]
	for ; count > 0; count-- {
		_, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, fmt.Errorf("%w: bad tag", errProtocol)
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, fmt.Errorf("%w: bad tagged field size", errProtocol)
		}
		b = b[n+int(size):]
	}
	return b, nil
}

// unsafeReader is implemented by every kmsg request: decoding that aliases
// strings into the frame instead of copying them. Names kept past the
// request must be cloned (Cluster does so for the topics it creates).
type unsafeReader interface {
	UnsafeReadFrom([]byte) error
}

// handle decodes and answers one request frame, appending the answer (if
// any) to c.out. An error means the connection must be closed.
func (c *conn) handle(frame []byte) error {
	if c.sasl != nil && c.sasl.state == stRaw {
		return c.handleRawToken(frame)
	}
	h, body, err := parseRequestHeader(frame)
	if err != nil {
		return err
	}
	r, ok := versionsFor(h.key)
	if !ok {
		return fmt.Errorf("%w: unsupported API key %d (%s)", errProtocol, h.key, h.key)
	}
	if err := c.authorize(h.key); err != nil {
		return err
	}
	if h.version < r.min || h.version > r.max {
		if h.key == APIApiVersions {
			// KIP-511: answer in v0 with UNSUPPORTED_VERSION and our
			// range, so that the client retries with a version we know.
			if err := c.throttle(); err != nil {
				return err
			}
			c.appendResponse(h, apiVersionsDowngrade())
			return nil
		}
		return fmt.Errorf("%w: %s version %d is not supported (versions %d to %d are)", errProtocol, h.key, h.version, r.min, r.max)
	}
	req := kmsg.RequestForKey(int16(h.key))
	req.SetVersion(h.version)
	if req.IsFlexible() {
		if body, err = skipTags(body); err != nil {
			return err
		}
	}
	if err := checkRequestShape(h.key, h.version, body); err != nil {
		return fmt.Errorf("%s v%d: %w", h.key, h.version, err)
	}
	if err := req.(unsafeReader).UnsafeReadFrom(body); err != nil {
		return fmt.Errorf("%w: malformed %s v%d request: %v", errProtocol, h.key, h.version, err)
	}
	if err := c.throttle(); err != nil {
		return err
	}
	resp, err := c.dispatch(h, req)
	c.b.stats.answered(c, h, resp, err)
	if err != nil || resp == nil {
		c.dropPending()
		return err
	}
	if err := c.appendResponse(h, resp); err != nil {
		return err
	}
	return c.afterAnswer()
}

// dispatch runs the handler of a decoded request. A nil response means no
// answer is due (acks=0 produce).
func (c *conn) dispatch(h reqHeader, req kmsg.Request) (kmsg.Response, error) {
	switch req := req.(type) {
	case *kmsg.ProduceRequest:
		return c.handleProduce(req)
	case *kmsg.FetchRequest:
		return c.handleFetch(req)
	case *kmsg.ListOffsetsRequest:
		return c.handleListOffsets(req), nil
	case *kmsg.MetadataRequest:
		return c.handleMetadata(req), nil
	case *kmsg.ApiVersionsRequest:
		return handleApiVersions(req), nil
	case *kmsg.CreateTopicsRequest:
		return c.handleCreateTopics(req), nil
	case *kmsg.InitProducerIDRequest:
		return c.handleInitProducerID(req), nil
	case *kmsg.FindCoordinatorRequest:
		return c.handleFindCoordinator(req), nil
	case *kmsg.JoinGroupRequest:
		return c.handleJoinGroup(h, req)
	case *kmsg.SyncGroupRequest:
		return c.handleSyncGroup(req)
	case *kmsg.HeartbeatRequest:
		return c.handleHeartbeat(req), nil
	case *kmsg.LeaveGroupRequest:
		return c.handleLeaveGroup(req), nil
	case *kmsg.OffsetCommitRequest:
		return c.handleOffsetCommit(req), nil
	case *kmsg.OffsetFetchRequest:
		return c.handleOffsetFetch(req), nil
	case *kmsg.ListGroupsRequest:
		return c.handleListGroups(req), nil
	case *kmsg.DescribeGroupsRequest:
		return c.handleDescribeGroups(req), nil
	case *kmsg.DeleteGroupsRequest:
		return c.handleDeleteGroups(req), nil
	case *kmsg.OffsetDeleteRequest:
		return c.handleOffsetDelete(req), nil
	case *kmsg.DeleteTopicsRequest:
		return c.handleDeleteTopics(req), nil
	case *kmsg.DeleteRecordsRequest:
		return c.handleDeleteRecords(req), nil
	case *kmsg.DescribeConfigsRequest:
		return c.handleDescribeConfigs(req), nil
	case *kmsg.AlterConfigsRequest:
		return c.handleAlterConfigs(req), nil
	case *kmsg.IncrementalAlterConfigsRequest:
		return c.handleIncrementalAlterConfigs(req), nil
	case *kmsg.CreatePartitionsRequest:
		return c.handleCreatePartitions(req), nil
	case *kmsg.DescribeClusterRequest:
		return c.handleDescribeCluster(req), nil
	case *kmsg.SASLHandshakeRequest:
		return c.handleSaslHandshake(req), nil
	case *kmsg.SASLAuthenticateRequest:
		return c.handleSaslAuthenticate(req)
	}
	// Unreachable while supportedAPIs and this switch agree.
	return nil, fmt.Errorf("%w: no handler for %s", errProtocol, h.key)
}

// appendResponse frames resp: length, correlation id, the tagged field
// section of response header v1 for flexible versions (never for
// ApiVersions, whose answers keep header v0 so that clients can read them
// before they know our versions), then the body.
//
// The records of a zero-copy Fetch answer (see zerocopy.go) are not in the
// body: their lengths are, and the frame's length counts them.
func (c *conn) appendResponse(h reqHeader, resp kmsg.Response) error {
	if c.out == nil {
		c.out = getBuf(minPooled)
	}
	start := len(c.out)
	c.out = append(c.out, 0, 0, 0, 0)
	c.out = binary.BigEndian.AppendUint32(c.out, uint32(h.corr))
	if resp.IsFlexible() && h.key != APIApiVersions {
		c.out = append(c.out, 0)
	}
	c.out = resp.AppendTo(c.out)
	extra := 0
	if len(c.pending) > 0 {
		var err error
		if extra, err = c.spliceSections(start, resp.IsFlexible()); err != nil {
			c.dropPending()
			return err
		}
	}
	binary.BigEndian.PutUint32(c.out[start:], uint32(len(c.out)-start-4+extra))
	return nil
}
