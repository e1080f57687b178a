package broker

// InitProducerId (key 22), v0-v4.
//
// Allocates a fresh producer id with epoch 0 for idempotent producers, as
// Kafka does when there is no transactional id (also when the request names
// an existing id and epoch: a new id is the answer to an epoch bump).
// Transactional ids are refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
// transactions are not supported.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (c *conn) handleInitProducerID(req *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	if code, ok := c.b.cluster.faults.takeTopic(APIInitProducerID, ""); ok {
		resp.ErrorCode = code
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return resp
	}
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return resp
	}
	resp.ProducerID = c.b.cluster.allocProducerID()
	resp.ProducerEpoch = 0
	return resp
}
