package broker

// Request types of the group coordinator and of the admin APIs.
const (
	APIOffsetCommit    APIKey = 8
	APIOffsetFetch     APIKey = 9
	APIFindCoordinator APIKey = 10
	APIJoinGroup       APIKey = 11
	APIHeartbeat       APIKey = 12
	APILeaveGroup      APIKey = 13
	APISyncGroup       APIKey = 14
	APIDescribeGroups  APIKey = 15
	APIListGroups      APIKey = 16
	APIDeleteGroups    APIKey = 42
	APIOffsetDelete    APIKey = 47

	APIDeleteRecords           APIKey = 21
	APIDeleteTopics            APIKey = 20
	APIDescribeConfigs         APIKey = 32
	APIAlterConfigs            APIKey = 33
	APIIncrementalAlterConfigs APIKey = 44
	APICreatePartitions        APIKey = 37
	APIDescribeCluster         APIKey = 60
)
