package daemon

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/grpchealth"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// Dependencies fieldsyncd reports in health and metrics.
const (
	DepDatabase = "database"
	DepNATS     = "nats"
	DepMedia    = "media"
)

// DependencyService is the grpc.health.v1 service name that reports one
// dependency: "fieldsync.dependency.media".
func DependencyService(name string) string { return "fieldsync.dependency." + name }

// probeTimeout bounds one check of one dependency.
const probeTimeout = 5 * time.Second

// dependency is something fieldsyncd needs, checked in the background.
type dependency struct {
	name  string
	probe func(ctx context.Context) error
	up    atomic.Bool
}

// dependencies checks every dependency each probe interval and reports
// the results to grpc.health.v1 and as the fieldsync_dependency_up gauge.
// Records need only the database: the server is serving while it is up,
// and MediaService while the database and the media store are.
type dependencies struct {
	log    *slog.Logger
	health *grpchealth.StaticChecker
	mu     sync.Mutex // one round of checks at a time
	list   []*dependency
}

// coreServices need the database only.
var coreServices = []string{
	fieldsyncv1connect.IdentityServiceName, fieldsyncv1connect.AdminServiceName,
	fieldsyncv1connect.SyncServiceName, fieldsyncv1connect.InsightsServiceName,
}

func newDependencies(log *slog.Logger) *dependencies {
	return &dependencies{log: log, health: grpchealth.NewStaticChecker()}
}

// add registers a dependency; it counts as up until its first check.
func (ds *dependencies) add(name string, probe func(ctx context.Context) error) {
	dep := &dependency{name: name, probe: probe}
	dep.up.Store(true)
	ds.list = append(ds.list, dep)
}

// register adds fieldsync_dependency_up{dependency=…} to reg.
func (ds *dependencies) register(reg prometheus.Registerer) error {
	for _, dep := range ds.list {
		g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "fieldsync_dependency_up",
			Help:        "Whether fieldsyncd reached the dependency at its last check (1) or not (0).",
			ConstLabels: prometheus.Labels{"dependency": dep.name},
		}, func() float64 {
			if dep.up.Load() {
				return 1
			}
			return 0
		})
		if err := reg.Register(g); err != nil {
			return err
		}
	}
	return nil
}

// checkAll checks every dependency once, logs each change and updates
// the health statuses.
func (ds *dependencies) checkAll(ctx context.Context) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	for _, dep := range ds.list {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := dep.probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return // shutting down: keep the last answers
		}
		switch was := dep.up.Swap(err == nil); {
		case was && err != nil:
			ds.log.Warn("dependency down", "dependency", dep.name, "err", err)
		case !was && err == nil:
			ds.log.Info("dependency back", "dependency", dep.name)
		}
	}
	ds.report()
}

// report sets every health status from the dependencies' states.
func (ds *dependencies) report() {
	up := map[string]bool{}
	for _, dep := range ds.list {
		up[dep.name] = dep.up.Load()
		ds.health.SetStatus(DependencyService(dep.name), status(up[dep.name]))
	}
	db, mediaUp := up[DepDatabase], up[DepMedia]
	ds.health.SetStatus("", status(db))
	for _, s := range coreServices {
		ds.health.SetStatus(s, status(db))
	}
	if _, ok := up[DepMedia]; ok {
		ds.health.SetStatus(fieldsyncv1connect.MediaServiceName, status(db && mediaUp))
	}
}

func status(up bool) grpchealth.Status {
	if up {
		return grpchealth.StatusServing
	}
	return grpchealth.StatusNotServing
}

// run checks every interval until ctx ends.
func (ds *dependencies) run(ctx context.Context, interval time.Duration) error {
	return every(ctx, interval, func() error {
		ds.checkAll(ctx)
		return nil
	})
}
