// Package kafkatest runs Apache Kafka itself for merlin's tests, benchmarks
// and demos: an N-node KRaft cluster of combined broker+controller nodes,
// each a `java -cp` child process on free loopback ports, data in a
// directory of the caller's, formatted with Kafka's storage tool.
//
// The jars come from the Maven project in interop/kafka: its resolve script
// puts them in the local Maven repository and writes their class path to
// a file under the user's cache directory (see ClasspathFile), outside the
// work tree. Nothing here downloads anything.
//
// Tests use New (or Need), which skips the test with a message unless
// MERLIN_KAFKA=1 is set (as .ci/run does), and then fails it when Java or
// the jars are missing. Commands use Start.
//
// Every node has three listeners on 127.0.0.1:
//
//   - CLIENT, the one Brokers returns, with the security protocol of
//     Options.ClientProtocol (PLAINTEXT unless a test asks for TLS or SASL);
//   - INTERNAL, PLAINTEXT, between brokers and for the harness's own admin
//     client, so that the harness works whatever CLIENT demands;
//   - CONTROLLER, for the KRaft quorum.
//
// Each node keeps its ports and data across Stop/Kill and Start, so a
// restarted node is the same broker to the cluster and to clients.
package kafkatest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DefaultVersion is the Kafka release pinned in interop/kafka/pom.xml.
// OlderVersion is the 3.9 release that can be selected with
// MERLIN_KAFKA_VERSION (after `KAFKA_VERSION=3.9.1 interop/kafka/resolve`).
const (
	DefaultVersion = "4.4.0"
	OlderVersion   = "3.9.1"
)

// Env is the variable that runs the tests that start Apache Kafka (and makes
// a missing Java or missing jars a failure); VersionEnv selects the Kafka
// release.
const (
	Env        = "MERLIN_KAFKA"
	VersionEnv = "MERLIN_KAFKA_VERSION"
)

// ErrMissing is wrapped by Start's error when Java or the jars are absent.
var ErrMissing = errors.New("kafkatest: Apache Kafka is not installed")

// Options says what cluster to start. The zero value is one node of
// DefaultVersion (or $MERLIN_KAFKA_VERSION) with 384 MiB of heap.
type Options struct {
	Nodes   int    // combined broker+controller nodes; default 1
	Version string // default $MERLIN_KAFKA_VERSION, else DefaultVersion
	Dir     string // data root; required by Start (New uses t.TempDir())
	HeapMB  int    // -Xmx of each node; default 384

	// Controllers is how many nodes, from node 1 on, are KRaft controllers
	// as well as brokers (the quorum); the rest are brokers only. Default:
	// every node. A test that stops most brokers yet needs the quorum to
	// keep working (an ISR shrinking) uses fewer.
	Controllers int

	// ClientProtocol is the security protocol of the CLIENT listener:
	// PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL. Its settings
	// (keystores, SASL mechanisms, JAAS) go in Props, under
	// listener.name.client.*.
	ClientProtocol string

	// Props are added to every node's server.properties, overriding the
	// harness's defaults.
	Props map[string]string

	// FormatArgs are passed to `kafka-storage format`, for example
	// --add-scram 'SCRAM-SHA-512=[name=alice,password=secret]'.
	FormatArgs []string

	// JVMArgs are added to each node's java command line.
	JVMArgs []string

	// Logf, if set, gets a line for each node started or stopped.
	Logf func(format string, args ...any)
}

// Cluster is a running Kafka cluster. Its methods are safe for concurrent
// use; Close stops every node and must be called.
type Cluster struct {
	opts      Options
	classpath string
	java      string
	nodes     []*Node
	admin     *kgo.Client
	adm       *kadm.Client
}

// Node is one broker+controller process: its id, ports, data and log.
type Node struct {
	c        *Cluster
	ID       int32
	dir      string
	props    string // path of server.properties
	LogPath  string // stdout and stderr of every run, appended
	client   int    // port of the CLIENT listener
	internal int    // port of the INTERNAL listener
	ctrl     int    // port of the CONTROLLER listener

	mu  sync.Mutex
	run *nodeRun // nil while stopped
}

type nodeRun struct {
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{}
}

// ClasspathFile is where interop/kafka/resolve writes the class path of
// version: $MERLIN_KAFKA_CACHE, else $XDG_CACHE_HOME/merlin/kafka, else
// ~/.cache/merlin/kafka, then VERSION/classpath.
func ClasspathFile(version string) string {
	root := os.Getenv("MERLIN_KAFKA_CACHE")
	if root == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		root = filepath.Join(base, "merlin", "kafka")
	}
	return filepath.Join(root, version, "classpath")
}

// Version is the Kafka release that Options{} selects.
func Version() string {
	if v := os.Getenv(VersionEnv); v != "" {
		return v
	}
	return DefaultVersion
}

// Classpath returns the class path of version and the java binary, or an
// error wrapping ErrMissing that says what to install.
func Classpath(version string) (classpath, java string, err error) {
	java, err = exec.LookPath("java")
	if err != nil {
		return "", "", fmt.Errorf("%w: no java on PATH (apt-get install openjdk-17-jre-headless)", ErrMissing)
	}
	file := ClasspathFile(version)
	b, err := os.ReadFile(file)
	if err != nil {
		return "", "", fmt.Errorf("%w: no class path for Kafka %s at %s: run `KAFKA_VERSION=%s interop/kafka/resolve` (needs Maven)", ErrMissing, version, file, version)
	}
	classpath = strings.TrimSpace(string(b))
	for _, jar := range filepath.SplitList(classpath) {
		if _, err := os.Stat(jar); err != nil {
			return "", "", fmt.Errorf("%w: %s lists a missing jar (%v): run interop/kafka/resolve again", ErrMissing, file, err)
		}
	}
	return classpath, java, nil
}

// Start formats and starts a cluster, and returns once every broker is in
// the cluster's metadata. On error nothing is left running.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Nodes <= 0 {
		opts.Nodes = 1
	}
	if opts.Version == "" {
		opts.Version = Version()
	}
	if opts.HeapMB <= 0 {
		opts.HeapMB = 384
	}
	if opts.Controllers <= 0 || opts.Controllers > opts.Nodes {
		opts.Controllers = opts.Nodes
	}
	if opts.ClientProtocol == "" {
		opts.ClientProtocol = "PLAINTEXT"
	}
	if opts.Dir == "" {
		return nil, errors.New("kafkatest: Options.Dir is required")
	}
	cp, java, err := Classpath(opts.Version)
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, classpath: cp, java: java}
	ports, err := freePorts(3 * opts.Nodes)
	if err != nil {
		return nil, err
	}
	for i := range opts.Nodes {
		dir := filepath.Join(opts.Dir, fmt.Sprintf("node%d", i+1))
		c.nodes = append(c.nodes, &Node{
			c: c, ID: int32(i + 1), dir: dir,
			props:   filepath.Join(dir, "server.properties"),
			LogPath: filepath.Join(dir, "server.log"),
			client:  ports[3*i], internal: ports[3*i+1], ctrl: ports[3*i+2],
		})
	}
	if err := c.format(ctx); err != nil {
		return nil, err
	}
	var internal []string
	for _, n := range c.nodes {
		internal = append(internal, n.InternalAddr())
	}
	c.admin, err = kgo.NewClient(kgo.SeedBrokers(internal...), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		return nil, err
	}
	c.adm = kadm.NewClient(c.admin)
	for _, n := range c.nodes {
		if err := n.spawn(); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.WaitBrokers(ctx, c.nodes...); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w\n%s", err, c.LogTails(30))
	}
	return c, nil
}

// format writes each node's config and formats its storage.
func (c *Cluster) format(ctx context.Context) error {
	id, err := clusterID()
	if err != nil {
		return err
	}
	var voters []string
	for _, n := range c.nodes[:c.opts.Controllers] {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", n.ID, n.ctrl))
	}
	for _, n := range c.nodes {
		if err := os.MkdirAll(filepath.Join(n.dir, "data"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(n.props, []byte(n.serverProperties(strings.Join(voters, ","))), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(n.dir, "log4j.properties"), []byte(log4jProperties), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(n.dir, "log4j-tools.properties"), []byte(strings.Replace(log4jProperties, "=INFO,", "=WARN,", 1)), 0o644); err != nil {
			return err
		}
		args := append([]string{"format", "-t", id, "-c", n.props, "--ignore-formatted"}, c.opts.FormatArgs...)
		cmd := c.javaCmd(ctx, n.dir, "kafka.tools.StorageTool", args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("kafkatest: formatting node %d: %v\n%s", n.ID, err, out)
		}
	}
	return nil
}

// log4jProperties sends Kafka's log to stdout, which the harness appends to
// the node's server.log.
const log4jProperties = `log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.state.change.logger=WARN
`

func (n *Node) serverProperties(voters string) string {
	c := n.c
	rf := strconv.Itoa(min(3, len(c.nodes)))
	props := map[string]string{
		"process.roles":                                    "broker,controller",
		"node.id":                                          strconv.Itoa(int(n.ID)),
		"controller.quorum.voters":                         voters,
		"listeners":                                        fmt.Sprintf("CLIENT://127.0.0.1:%d,INTERNAL://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", n.client, n.internal, n.ctrl),
		"advertised.listeners":                             fmt.Sprintf("CLIENT://127.0.0.1:%d,INTERNAL://127.0.0.1:%d", n.client, n.internal),
		"listener.security.protocol.map":                   "CLIENT:" + c.opts.ClientProtocol + ",INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"controller.listener.names":                        "CONTROLLER",
		"inter.broker.listener.name":                       "INTERNAL",
		"log.dirs":                                         filepath.Join(n.dir, "data"),
		"num.partitions":                                   "1",
		"default.replication.factor":                       rf,
		"offsets.topic.replication.factor":                 rf,
		"offsets.topic.num.partitions":                     "4",
		"transaction.state.log.replication.factor":         rf,
		"transaction.state.log.min.isr":                    "1",
		"share.coordinator.state.topic.replication.factor": rf,
		"share.coordinator.state.topic.min.isr":            "1",
		"group.initial.rebalance.delay.ms":                 "0",
		// Sized for 3 nodes on 2 cores.
		"num.network.threads":               "2",
		"num.io.threads":                    "2",
		"background.threads":                "2",
		"num.recovery.threads.per.data.dir": "1",
		// A killed broker is fenced after 4 s rather than Kafka's 9 s, so
		// that failover tests take seconds; heartbeats every 500 ms.
		"broker.session.timeout.ms":    "4000",
		"broker.heartbeat.interval.ms": "500",
		"controlled.shutdown.enable":   "true",
	}
	if int(n.ID) > c.opts.Controllers {
		props["process.roles"] = "broker"
		props["listeners"] = fmt.Sprintf("CLIENT://127.0.0.1:%d,INTERNAL://127.0.0.1:%d", n.client, n.internal)
	}
	maps.Copy(props, c.opts.Props)
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(props)) {
		fmt.Fprintf(&b, "%s=%s\n", k, props[k])
	}
	return b.String()
}

// javaCmd is java with the Kafka class path running mainClass in dir.
func (c *Cluster) javaCmd(ctx context.Context, dir, mainClass string, args ...string) *exec.Cmd {
	return JavaCommand(ctx, c.java, c.classpath, dir, append([]string{"-Xmx256m", "-Dlog4j.configuration=file:" + filepath.Join(dir, "log4j-tools.properties"), mainClass}, args...)...)
}

// JavaCommand is `java -cp classpath args...` in dir, killed with its
// parent: the child gets SIGKILL if the process that started it dies, so
// no JVM outlives a test run.
func JavaCommand(ctx context.Context, java, classpath, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, java, append([]string{"-cp", classpath, "-Djava.awt.headless=true"}, args...)...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGKILL) }
	return cmd
}

// Java returns a java command with the cluster's class path (Kafka's
// clients and tools), for running the Java producer or consumer, a tool
// such as ProducerPerformance, or a single-file Java program.
func (c *Cluster) Java(ctx context.Context, args ...string) *exec.Cmd {
	return JavaCommand(ctx, c.java, c.classpath, c.opts.Dir, args...)
}

// spawn starts the node's process.
func (n *Node) spawn() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.run != nil {
		return fmt.Errorf("kafkatest: node %d is already running", n.ID)
	}
	log, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "\n==== kafkatest: node %d starting at %s\n", n.ID, time.Now().Format(time.RFC3339Nano))
	args := []string{
		fmt.Sprintf("-Xmx%dm", n.c.opts.HeapMB), "-Xms64m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
		"-Dlog4j.configuration=file:" + filepath.Join(n.dir, "log4j.properties"),
	}
	args = append(args, n.c.opts.JVMArgs...)
	args = append(args, "kafka.Kafka", n.props)
	// Not CommandContext: the node outlives the call that started it.
	cmd := JavaCommand(context.Background(), n.c.java, n.c.classpath, n.dir, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return err
	}
	r := &nodeRun{cmd: cmd, log: log, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(r.exited)
	}()
	n.run = r
	n.c.logf("kafkatest: node %d started (pid %d, client %s)", n.ID, cmd.Process.Pid, n.Addr())
	return nil
}

func (c *Cluster) logf(format string, args ...any) {
	if c.opts.Logf != nil {
		c.opts.Logf(format, args...)
	}
}

// Addr is the node's CLIENT listener, host:port.
func (n *Node) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.client)) }

// InternalAddr is the node's PLAINTEXT INTERNAL listener.
func (n *Node) InternalAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.internal)) }

// Running says whether the node's process is alive.
func (n *Node) Running() bool {
	n.mu.Lock()
	r := n.run
	n.mu.Unlock()
	if r == nil {
		return false
	}
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// Pid is the node's process id, or 0 when stopped.
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.run == nil {
		return 0
	}
	return n.run.cmd.Process.Pid
}

// Stop shuts the node down with SIGTERM (Kafka's controlled shutdown: its
// leaderships move first) and waits for it to exit; past ctx it is killed.
func (n *Node) Stop(ctx context.Context) error {
	return n.halt(ctx, syscall.SIGTERM)
}

// Kill ends the node with SIGKILL, as a crash would.
func (n *Node) Kill() error {
	return n.halt(context.Background(), syscall.SIGKILL)
}

func (n *Node) halt(ctx context.Context, sig syscall.Signal) error {
	n.mu.Lock()
	r := n.run
	n.run = nil
	n.mu.Unlock()
	if r == nil {
		return nil
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, sig)
	select {
	case <-r.exited:
	case <-ctx.Done():
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.exited
		n.c.logf("kafkatest: node %d killed after %v", n.ID, ctx.Err())
		return nil
	}
	n.c.logf("kafkatest: node %d stopped (%v)", n.ID, sig)
	return nil
}

// Start starts a stopped node on the same ports and data, and waits until
// it is back in the cluster's metadata.
func (n *Node) Start(ctx context.Context) error {
	if err := n.spawn(); err != nil {
		return err
	}
	return n.c.WaitBrokers(ctx, n)
}

// Restart is Stop then Start.
func (n *Node) Restart(ctx context.Context) error {
	if err := n.Stop(ctx); err != nil {
		return err
	}
	return n.Start(ctx)
}

// Nodes are the cluster's nodes, by id order (node i has ID i+1).
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Node is the node with the given broker id.
func (c *Cluster) Node(id int32) *Node {
	for _, n := range c.nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Brokers are the CLIENT listeners of every node: a producer's bootstrap.
func (c *Cluster) Brokers() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.Addr())
	}
	return out
}

// InternalBrokers are the PLAINTEXT INTERNAL listeners of every node: for
// reading back what a test wrote through a CLIENT listener that demands
// TLS or SASL.
func (c *Cluster) InternalBrokers() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.InternalAddr())
	}
	return out
}

// Version is the cluster's Kafka release.
func (c *Cluster) Version() string { return c.opts.Version }

// Admin is a kadm client on the INTERNAL listeners, for the tests' own
// administration (topics, configs, offsets). It lives as long as c.
func (c *Cluster) Admin() *kadm.Client { return c.adm }

// Close stops every node (SIGTERM, killed after 20 s) and the admin client.
func (c *Cluster) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Go(func() { _ = n.Stop(ctx) })
	}
	wg.Wait()
	if c.admin != nil {
		c.admin.Close()
	}
}

// WaitBrokers waits until every given node is running and registered,
// unfenced, in the metadata of every running node.
func (c *Cluster) WaitBrokers(ctx context.Context, nodes ...*Node) error {
	want := map[int32]bool{}
	for _, n := range nodes {
		want[n.ID] = true
	}
	return c.poll(ctx, "brokers to join", func(ctx context.Context) (bool, error) {
		for _, n := range nodes {
			if !n.Running() {
				return false, fmt.Errorf("kafkatest: node %d exited while starting", n.ID)
			}
		}
		for _, n := range c.nodes {
			if !n.Running() {
				continue
			}
			md, err := c.brokerMetadata(ctx, n, nil)
			if err != nil {
				return false, nil
			}
			seen := 0
			for _, b := range md.Brokers {
				if want[b.NodeID] {
					seen++
				}
			}
			if seen < len(want) {
				return false, nil
			}
		}
		return true, nil
	})
}

// brokerMetadata asks node n itself (not whichever broker the client picks)
// for metadata of topics (nil: none, just brokers).
func (c *Cluster) brokerMetadata(ctx context.Context, n *Node, topics []string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	if topics == nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := req.RequestWith(rctx, c.admin.Broker(int(n.ID)))
	if err != nil {
		// Before the first metadata the client does not know the node's id
		// yet: dial the seed instead.
		cl, err2 := kgo.NewClient(kgo.SeedBrokers(n.InternalAddr()))
		if err2 != nil {
			return nil, err
		}
		defer cl.Close()
		return req.RequestWith(rctx, cl)
	}
	return resp, nil
}

// poll runs check every 200 ms until it says done or fails, or ctx ends.
func (c *Cluster) poll(ctx context.Context, what string, check func(context.Context) (bool, error)) error {
	for {
		done, err := check(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafkatest: waiting for %s: %w", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// CreateTopic creates a topic with partitions and replication factor rf
// (rf <= 0: as many replicas as nodes, at most 3) and configs, then waits
// until every running node's metadata shows every partition with a leader
// and a full ISR.
func (c *Cluster) CreateTopic(ctx context.Context, topic string, partitions, rf int, configs map[string]string) error {
	if rf <= 0 {
		rf = min(3, len(c.nodes))
	}
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = kmsg.StringPtr(v)
	}
	resp, err := c.adm.CreateTopic(ctx, int32(partitions), int16(rf), cfg, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("kafkatest: creating topic %s: %w", topic, err)
	}
	return c.WaitTopic(ctx, topic, partitions, rf)
}

// CreateTopicAssigned creates a topic whose partition i has the replicas
// assignment[i] (broker ids, the first the preferred leader), then waits
// as CreateTopic does.
func (c *Cluster) CreateTopicAssigned(ctx context.Context, topic string, assignment [][]int32, configs map[string]string) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30_000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for i, replicas := range assignment {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(i), replicas
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	for k, v := range configs {
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, cfg)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c.admin)
	if err == nil && len(resp.Topics) == 1 {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		return fmt.Errorf("kafkatest: creating topic %s: %w", topic, err)
	}
	return c.WaitTopic(ctx, topic, len(assignment), len(assignment[0]))
}

// WaitTopic waits until every running node knows topic with partitions
// partitions, each with a leader and at least isr in-sync replicas.
func (c *Cluster) WaitTopic(ctx context.Context, topic string, partitions, isr int) error {
	return c.poll(ctx, "topic "+topic, func(ctx context.Context) (bool, error) {
		for _, n := range c.nodes {
			if !n.Running() {
				continue
			}
			md, err := c.brokerMetadata(ctx, n, []string{topic})
			if err != nil || len(md.Topics) != 1 || md.Topics[0].ErrorCode != 0 || len(md.Topics[0].Partitions) != partitions {
				return false, nil
			}
			for _, p := range md.Topics[0].Partitions {
				if p.ErrorCode != 0 || p.Leader < 0 || len(p.ISR) < isr {
					return false, nil
				}
			}
		}
		return true, nil
	})
}

// Leaders maps each partition of topic to its leader's id, as node n sees
// it (n nil: any running node).
func (c *Cluster) Leaders(ctx context.Context, topic string) (map[int32]int32, error) {
	for _, n := range c.nodes {
		if !n.Running() {
			continue
		}
		md, err := c.brokerMetadata(ctx, n, []string{topic})
		if err != nil {
			continue
		}
		if len(md.Topics) != 1 || md.Topics[0].ErrorCode != 0 {
			return nil, fmt.Errorf("kafkatest: topic %s: error code %d", topic, md.Topics[0].ErrorCode)
		}
		out := map[int32]int32{}
		for _, p := range md.Topics[0].Partitions {
			out[p.Partition] = p.Leader
		}
		return out, nil
	}
	return nil, errors.New("kafkatest: no running node answered metadata")
}

// ISR maps each partition of topic to its in-sync replicas, as a running
// node sees them.
func (c *Cluster) ISR(ctx context.Context, topic string) (map[int32][]int32, error) {
	for _, n := range c.nodes {
		if !n.Running() {
			continue
		}
		md, err := c.brokerMetadata(ctx, n, []string{topic})
		if err != nil || len(md.Topics) != 1 {
			continue
		}
		out := map[int32][]int32{}
		for _, p := range md.Topics[0].Partitions {
			out[p.Partition] = p.ISR
		}
		return out, nil
	}
	return nil, errors.New("kafkatest: no running node answered metadata")
}

// LogTails is the last n lines of every node's log, for a failing test.
func (c *Cluster) LogTails(lines int) string {
	var b bytes.Buffer
	for _, n := range c.nodes {
		fmt.Fprintf(&b, "---- node %d log (%s), last %d lines:\n", n.ID, n.LogPath, lines)
		b.WriteString(tail(n.LogPath, lines))
	}
	return b.String()
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error() + "\n"
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 1<<20 {
		_, _ = f.Seek(-1<<20, io.SeekEnd)
	}
	var ring []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		ring = append(ring, sc.Text())
		if len(ring) > n {
			ring = ring[1:]
		}
	}
	return strings.Join(ring, "\n") + "\n"
}

// freePorts reserves n distinct loopback ports by listening on port 0, and
// releases them for Kafka to bind.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// clusterID is a random Kafka Uuid in its base64 form. Like Kafka's
// Uuid.randomUuid it never starts with '-': kafka-storage's argument
// parser takes "-t -abc..." for two options and fails the format (1 run in
// 64, before).
func clusterID() (string, error) {
	for {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		if id := base64.RawURLEncoding.EncodeToString(b[:]); id[0] != '-' {
			return id, nil
		}
	}
}
