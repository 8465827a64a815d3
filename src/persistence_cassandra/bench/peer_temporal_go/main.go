// Command peer-temporal-go runs bench's workflow lifecycle through Temporal's own Cassandra
// persistence (go.temporal.io/server, the release in go.mod): the peer baseline of
// `persistence-cassandra bench --peer temporal-go`.
//
// It is a client of Temporal's packages, not a copy of them: the managers come from
// Temporal's persistence factory (common/persistence/client.NewFactory over
// common/persistence/cassandra.NewFactoryFromSession, on the gocql session Temporal's own
// nosqlplugin opens), stacked as a server stacks them (metrics with a no-op handler, then
// retries), and every request is built from Temporal's own types. The
// keyspace must hold Temporal's schema (schema/cassandra/temporal/versioned of the same
// module), migrated by our schema tool.
//
// Two modes:
//
//   - one shot (default): for each -concurrency level a warm-up, then one measured run;
//     prints one JSON object with lifecycles/s, p50/p99 and client CPU per lifecycle.
//   - -serve: prepares the workers, prints {"ready": ...}, then reads one JSON command per
//     line on stdin ({"op":"run","concurrency":8,"count":400,"seconds":2} or {"op":"quit"})
//     and answers each run with one JSON line holding every latency, so that bench can cut a
//     cell into slices interleaved with its own sides and merge the peer's slices exactly as
//     it merges its own.
//
// The Cassandra password, if any, is read from PEER_CASSANDRA_PASSWORD (never a flag: flags
// show in the process list).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gocql/gocql"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/cassandra"
	"go.temporal.io/server/common/persistence/client"
	commongocql "go.temporal.io/server/common/persistence/nosql/nosqlplugin/cassandra/gocql"
	"go.temporal.io/server/common/persistence/serialization"
	"go.temporal.io/server/common/resolver"
)

const (
	temporalModule = "go.temporal.io/server"
	clusterName    = "active"
	// Temporal's default transaction size limit (limit.blobSize.error is 2 MiB; the
	// persistence config's limit defaults to 4 MiB); far above one lifecycle's batches.
	transactionSizeLimit = 4 * 1024 * 1024
)

type options struct {
	hosts, keyspace, user, datacenter, tag string
	port, maxConns, workers, count         int
	firstShard                             int
	seconds, warmup                        float64
	concurrency                            []int
	serve                                  bool
}

func parseFlags() (options, error) {
	var o options
	var levels string
	flag.StringVar(&o.hosts, "hosts", "127.0.0.1", "comma-separated Cassandra contact points")
	flag.IntVar(&o.port, "port", 9042, "Cassandra native port")
	flag.StringVar(&o.keyspace, "keyspace", "", "keyspace holding Temporal's schema (required)")
	flag.StringVar(&o.user, "user", "", "Cassandra user (password: PEER_CASSANDRA_PASSWORD)")
	flag.StringVar(&o.datacenter, "datacenter", "", "local datacenter filter")
	flag.IntVar(&o.maxConns, "max-conns", 2, "connections per host (Temporal's maxConns)")
	flag.StringVar(&o.tag, "tag", "", "prefix of every workflow and task queue name (default: random)")
	flag.IntVar(&o.firstShard, "first-shard", 0, "first worker's shard id (default: random)")
	flag.IntVar(&o.workers, "workers", 0, "workers to prepare (default: the highest -concurrency)")
	flag.StringVar(&levels, "concurrency", "1,8,64", "lifecycles in flight, comma-separated levels")
	flag.IntVar(&o.count, "count", 500, "lifecycles per level (one-shot mode)")
	flag.Float64Var(&o.seconds, "seconds", 5, "time cap per level (one-shot mode)")
	flag.Float64Var(&o.warmup, "warmup", 1, "seconds of warm-up per level (one-shot mode)")
	flag.BoolVar(&o.serve, "serve", false, "take run commands on stdin, one JSON object a line")
	flag.Parse()
	if o.keyspace == "" {
		return o, errors.New("-keyspace is required")
	}
	for _, part := range strings.Split(levels, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		level, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || level < 1 {
			return o, fmt.Errorf("-concurrency: %q is not a positive integer", part)
		}
		o.concurrency = append(o.concurrency, level)
	}
	if o.workers == 0 {
		for _, level := range o.concurrency {
			o.workers = max(o.workers, level)
		}
	}
	if o.workers < 1 {
		return o, errors.New("-workers or -concurrency must name at least one worker")
	}
	now := time.Now().UnixNano()
	if o.tag == "" {
		o.tag = "p" + strconv.FormatInt(now&0xffffffff, 16)
	}
	if o.firstShard == 0 {
		// Shard ids are int32 in Temporal's API; leave room for the workers above.
		o.firstShard = 1_000_000 + int((now/1000)%1_000_000_000)
	}
	return o, nil
}

// managers are the three a history and a matching service hold, built by Temporal's factory.
type managers struct {
	factory   client.Factory
	shard     persistence.ShardManager
	execution persistence.ExecutionManager
	task      persistence.TaskManager
}

func openManagers(o options) (*managers, error) {
	cfg := config.Cassandra{
		Hosts:      o.hosts,
		Port:       o.port,
		User:       o.user,
		Password:   os.Getenv("PEER_CASSANDRA_PASSWORD"),
		Keyspace:   o.keyspace,
		Datacenter: o.datacenter,
		MaxConns:   o.maxConns,
	}
	logger := log.NewNoopLogger()
	serializer := serialization.NewSerializer()
	// cassandra.NewFactory would open this same session but only log.Fatal on failure, which
	// the no-op logger ignores: open it here to report a missing keyspace or a dead node.
	session, err := commongocql.NewSession(
		func() (*gocql.ClusterConfig, error) {
			return commongocql.NewCassandraCluster(cfg, resolver.NewNoopResolver())
		},
		logger,
		metrics.NoopMetricsHandler,
	)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s:%d, keyspace %s: %w", o.hosts, o.port, o.keyspace, err)
	}
	dataStore := cassandra.NewFactoryFromSession(cfg, clusterName, logger, session, serializer)
	persistenceConfig := &config.Persistence{
		TransactionSizeLimit: dynamicconfig.GetIntPropertyFn(transactionSizeLimit),
	}
	// No rate limiters (a bench measures the store path, not a quota); a no-op metrics
	// handler and health aggregator so that the metrics client is in the stack, as on a
	// server; the factory always adds the retrying client on top.
	factory := client.NewFactory(
		dataStore,
		persistenceConfig,
		nil,
		nil,
		nil,
		serializer,
		nil,
		clusterName,
		metrics.NoopMetricsHandler,
		logger,
		persistence.NoopHealthSignalAggregator,
		client.EnableDataLossMetrics(dynamicconfig.GetBoolPropertyFn(false)),
		client.EnableBestEffortDeleteTasksOnWorkflowUpdate(dynamicconfig.GetBoolPropertyFn(false)),
	)
	m := &managers{factory: factory}
	if m.shard, err = factory.NewShardManager(); err != nil {
		return nil, err
	}
	if m.execution, err = factory.NewExecutionManager(); err != nil {
		return nil, err
	}
	if m.task, err = factory.NewTaskManager(); err != nil {
		return nil, err
	}
	return m, nil
}

// slice is one measured run: what bench's Python harness keeps per slice.
type slice struct {
	Completed  int     `json:"completed"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	Latencies  []int64 `json:"latencies_us,omitempty"`
	// The last lifecycle a worker completed, so that a caller can read its rows back.
	Sample *runKey `json:"sample,omitempty"`
}

type runKey struct {
	ShardID     int32  `json:"shard_id"`
	NamespaceID string `json:"namespace_id"`
	WorkflowID  string `json:"workflow_id"`
	RunID       string `json:"run_id"`
}

// cpuSeconds is the process's user+system CPU time (every thread), as Python's
// time.process_time() is on bench's side.
func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	seconds := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return seconds(usage.Utime) + seconds(usage.Stime)
}

// measure runs the lifecycle with one goroutine per worker (the concurrency) until count
// lifecycles were started or seconds passed: bench's harness.measure, in Go.
func measure(m *managers, workers []*worker, count int, seconds float64, keep bool) slice {
	var remaining atomic.Int64
	remaining.Store(int64(count))
	var mu sync.Mutex
	result := slice{}
	cpuStarted := cpuSeconds()
	started := time.Now()
	deadline := started.Add(time.Duration(seconds * float64(time.Second)))
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			var latencies []int64
			var sample *runKey
			errorsSeen, firstError := 0, ""
			for remaining.Add(-1) >= 0 && time.Now().Before(deadline) {
				begin := time.Now()
				key, err := guarded(w, m)
				if err != nil {
					errorsSeen++
					if firstError == "" {
						firstError = fmt.Sprintf("%T: %v", err, err)
					}
					continue
				}
				latencies = append(latencies, time.Since(begin).Microseconds())
				sample = key
			}
			mu.Lock()
			defer mu.Unlock()
			result.Completed += len(latencies)
			result.Errors += errorsSeen
			if result.FirstError == "" {
				result.FirstError = firstError
			}
			if keep {
				result.Latencies = append(result.Latencies, latencies...)
			}
			if sample != nil {
				result.Sample = sample
			}
		}(w)
	}
	wg.Wait()
	result.Seconds = time.Since(started).Seconds()
	result.CPUSeconds = cpuSeconds() - cpuStarted
	return result
}

// guarded runs one lifecycle, turning a panic inside Temporal's code into a counted error
// (bench reports the first one) rather than the end of the process.
func guarded(w *worker, m *managers) (key *runKey, err error) {
	defer func() {
		if recovered := recover(); recovered != nil {
			err = fmt.Errorf("panic: %v", recovered)
		}
	}()
	return w.lifecycle(context.Background(), m)
}

type cell struct {
	Concurrency         int     `json:"concurrency"`
	Lifecycles          int     `json:"lifecycles"`
	Errors              int     `json:"errors"`
	FirstError          string  `json:"first_error"`
	Seconds             float64 `json:"seconds"`
	LifecyclesPerSecond float64 `json:"lifecycles_per_second"`
	P50Ms               float64 `json:"p50_ms"`
	P99Ms               float64 `json:"p99_ms"`
	CPUMsPerLifecycle   float64 `json:"cpu_ms_per_lifecycle"`
}

// quantile is the same nearest-rank quantile bench's harness computes.
func quantile(ordered []int64, q float64) float64 {
	if len(ordered) == 0 {
		return 0
	}
	rank := int(float64(len(ordered))*q+0.999999999) - 1
	return float64(ordered[max(0, min(rank, len(ordered)-1))]) / 1000
}

func summarize(concurrency int, s slice) cell {
	sort.Slice(s.Latencies, func(i, j int) bool { return s.Latencies[i] < s.Latencies[j] })
	c := cell{
		Concurrency: concurrency,
		Lifecycles:  s.Completed,
		Errors:      s.Errors,
		FirstError:  s.FirstError,
		Seconds:     s.Seconds,
		P50Ms:       quantile(s.Latencies, 0.5),
		P99Ms:       quantile(s.Latencies, 0.99),
	}
	if s.Seconds > 0 {
		c.LifecyclesPerSecond = float64(s.Completed) / s.Seconds
	}
	if s.Completed > 0 {
		c.CPUMsPerLifecycle = s.CPUSeconds * 1000 / float64(s.Completed)
	}
	return c
}

func temporalVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == temporalModule {
				return dep.Version
			}
		}
	}
	return "unknown"
}

type ready struct {
	Ready        bool    `json:"ready"`
	Peer         string  `json:"peer"`
	Temporal     string  `json:"temporal"`
	Go           string  `json:"go"`
	Workers      int     `json:"workers"`
	SetupSeconds float64 `json:"setup_seconds"`
}

type command struct {
	Op          string  `json:"op"`
	Concurrency int     `json:"concurrency"`
	Count       int     `json:"count"`
	Seconds     float64 `json:"seconds"`
	// Keep is false for a warm-up: no latencies to send back.
	Keep bool `json:"keep"`
}

func serve(m *managers, workers []*worker, setup float64) error {
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(ready{true, "temporal-go", temporalVersion(), runtime.Version(), len(workers), setup}); err != nil {
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var c command
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			return fmt.Errorf("bad command %q: %w", in.Text(), err)
		}
		switch c.Op {
		case "quit":
			return nil
		case "run":
			if c.Concurrency < 1 || c.Concurrency > len(workers) {
				return fmt.Errorf("concurrency %d outside 1..%d", c.Concurrency, len(workers))
			}
			if err := out.Encode(measure(m, workers[:c.Concurrency], c.Count, c.Seconds, c.Keep)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown op %q", c.Op)
		}
	}
	return in.Err()
}

func oneShot(o options, m *managers, workers []*worker, setup float64) error {
	report := struct {
		Peer         string  `json:"peer"`
		Temporal     string  `json:"temporal"`
		Go           string  `json:"go"`
		SetupSeconds float64 `json:"setup_seconds"`
		Cells        []cell  `json:"cells"`
	}{"temporal-go", temporalVersion(), runtime.Version(), setup, nil}
	for _, level := range o.concurrency {
		active := workers[:level]
		if o.warmup > 0 {
			measure(m, active, 1<<30, o.warmup, false)
		}
		report.Cells = append(report.Cells, summarize(level, measure(m, active, o.count, o.seconds, true)))
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	return out.Encode(report)
}

func runPeer() error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	m, err := openManagers(o)
	if err != nil {
		return fmt.Errorf("opening Temporal's persistence: %w", err)
	}
	defer m.factory.Close()
	started := time.Now()
	workers, err := prepareWorkers(context.Background(), m, o)
	if err != nil {
		return fmt.Errorf("preparing workers: %w", err)
	}
	setup := time.Since(started).Seconds()
	if o.serve {
		return serve(m, workers, setup)
	}
	return oneShot(o, m, workers, setup)
}

func main() {
	if err := runPeer(); err != nil {
		fmt.Fprintf(os.Stderr, "peer-temporal-go: %v\n", err)
		os.Exit(1)
	}
}
