package broker

import (
	"cmp"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// responseFailed reports whether an answer carries an error code, at the
// top level or for any topic or partition, for Stats' Errors. A request
// type without a case here counts no errors: an API added to the table (apis.go)
// should get one.
func responseFailed(resp kmsg.Response) bool {
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if r.Topics[i].Partitions[j].ErrorCode != 0 {
					return true
				}
			}
		}
	case *kmsg.FetchResponse:
		if r.ErrorCode != 0 {
			return true
		}
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if r.Topics[i].Partitions[j].ErrorCode != 0 {
					return true
				}
			}
		}
	case *kmsg.ListOffsetsResponse:
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if r.Topics[i].Partitions[j].ErrorCode != 0 {
					return true
				}
			}
		}
	case *kmsg.MetadataResponse:
		for i := range r.Topics {
			if r.Topics[i].ErrorCode != 0 {
				return true
			}
			for j := range r.Topics[i].Partitions {
				if r.Topics[i].Partitions[j].ErrorCode != 0 {
					return true
				}
			}
		}
	case *kmsg.ApiVersionsResponse:
		return r.ErrorCode != 0
	case *kmsg.CreateTopicsResponse:
		for i := range r.Topics {
			if r.Topics[i].ErrorCode != 0 {
				return true
			}
		}
	case *kmsg.InitProducerIDResponse:
		return r.ErrorCode != 0
	}
	return false
}

func sortClients(cs []ClientStats) {
	slices.SortFunc(cs, func(a, b ClientStats) int {
		return cmp.Or(a.Connected.Compare(b.Connected), cmp.Compare(a.Remote, b.Remote))
	})
}
