package producer

import (
	"encoding/json"
)

// JSONArray is a ready-made MassageFunc: it sends a whole batch as one
// message whose value is a JSON array of the batch's values, in order. A
// value that is valid JSON goes in as it is; any other value goes in as a
// JSON string. The message has no key; its headers are the first message's.
func JSONArray(topic string, partition int32, msgs []Message) ([]Message, error) {
	size := 2
	for i := range msgs {
		size += len(msgs[i].Value) + 1
	}
	out := make([]byte, 0, size)
	out = append(out, '[')
	for i := range msgs {
		if i > 0 {
			out = append(out, ',')
		}
		v := msgs[i].Value
		if json.Valid(v) {
			out = append(out, v...)
			continue
		}
		s, err := json.Marshal(string(v))
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	out = append(out, ']')
	m := Message{Value: out}
	if len(msgs) > 0 {
		m.Headers = msgs[0].Headers
		m.Timestamp = msgs[0].Timestamp
	}
	return []Message{m}, nil
}
