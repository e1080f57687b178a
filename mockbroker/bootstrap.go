package mockbroker

import "strings"

// Bootstrap returns the addresses in list, a comma-separated bootstrap list
// such as a -brokers flag holds, or, when list is empty, those of a new
// Cluster started with opts. stop closes that Cluster; it does nothing when
// list named brokers. It lets a program run against a real Kafka when given
// one and against brokers in its own process otherwise.
func Bootstrap(list string, opts ...Option) (addrs []string, stop func(), err error) {
	if list != "" {
		return strings.Split(list, ","), func() {}, nil
	}
	c, err := NewCluster(opts...)
	if err != nil {
		return nil, nil, err
	}
	return c.Addrs(), c.Close, nil
}
