package broker

// ApiVersions (key 18), v0-v3.
//
// Lists the table of apis.go. A request at a version we do not answer gets the v0
// answer with UNSUPPORTED_VERSION and our ApiVersions range (KIP-511), and
// the answer's header is v0 even for the flexible v3 (see appendResponse).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (*conn) handleApiVersions(req *kmsg.ApiVersionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis))
	for i := range apis {
		resp.ApiKeys = append(resp.ApiKeys, advertised(&apis[i]))
	}
	return resp
}

// advertised is a's entry in ApiVersions answers.
func advertised(a *apiSpec) kmsg.ApiVersionsResponseApiKey {
	k := kmsg.NewApiVersionsResponseApiKey()
	k.ApiKey, k.MinVersion, k.MaxVersion = int16(a.key), a.min, a.max
	return k
}

func apiVersionsDowngrade() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{advertised(apiFor(APIApiVersions))}
	return resp
}
