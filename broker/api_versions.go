package broker

// ApiVersions (key 18), v0-v3.
//
// Lists supportedAPIs. A request at a version we do not answer gets the v0
// answer with UNSUPPORTED_VERSION and our ApiVersions range (KIP-511), and
// the answer's header is v0 even for the flexible v3 (see appendResponse).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleApiVersions(req *kmsg.ApiVersionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = make([]kmsg.ApiVersionsResponseApiKey, 0, len(supportedAPIs))
	for _, r := range supportedAPIs {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = int16(r.key), r.min, r.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	return resp
}

func apiVersionsDowngrade() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	r, _ := versionsFor(APIApiVersions)
	k := kmsg.NewApiVersionsResponseApiKey()
	k.ApiKey, k.MinVersion, k.MaxVersion = int16(r.key), r.min, r.max
	resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{k}
	return resp
}
