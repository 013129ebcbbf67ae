package metrics

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves /metrics, /healthz and /readyz.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Serve listens on addr (host:port; ":9090" listens on every interface)
// and serves, until Shutdown:
//
//   - /metrics: keyrotor's metrics and the Temporal SDK's, in Prometheus
//     text format;
//   - /healthz: 200 while the process runs;
//   - /readyz: 200 once the worker polls its task queue and Temporal
//     answers its health checks, else 503 with the reason.
//
// It returns once the listener is open, so an address in use is an error
// at start.
func (m *Metrics) Serve(addr string, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener on %s: %w", addr, err)
	}
	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	s := &Server{ln: ln, srv: &http.Server{
		Handler:           m.Handler(errLog),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          errLog,
	}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server stopped", "error", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on (with the port chosen when
// addr asked for port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops the server, letting requests under way finish until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Handler serves /metrics, /healthz and /readyz (see Serve).
func (m *Metrics) Handler(errLog *log.Logger) http.Handler {
	mux := http.NewServeMux()
	opts := promhttp.HandlerOpts{}
	if errLog != nil {
		opts.ErrorLog = errLog
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, opts))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := m.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// Ready is nil when the worker is ready: it started polling its task queue
// (Watch), is not stopping (Stopping), and the last health check of
// Temporal passed, recently.
func (m *Metrics) Ready() error { return m.ready.check(m.now()) }

// Stopping marks the worker as stopping: /readyz fails from now on.
func (m *Metrics) Stopping() { m.ready.set(func(r *readiness) { r.stopping = true }) }

// readiness is what /readyz reports.
type readiness struct {
	mu       sync.Mutex
	started  bool          // the worker polls its task queue
	stopping bool          // the worker is stopping
	checked  time.Time     // when Temporal last answered a health check
	err      error         // the last health check's error
	maxAge   time.Duration // how old the last good check may be
}

func (r *readiness) init() { r.maxAge = 3 * defaultHealthEvery }

func (r *readiness) set(f func(*readiness)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

func (r *readiness) check(now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.stopping:
		return errors.New("the worker is stopping")
	case !r.started:
		return errors.New("the worker has not started polling its task queue yet")
	case r.err != nil:
		return fmt.Errorf("the health check of Temporal failed: %w", r.err)
	case r.checked.IsZero():
		return errors.New("no health check of Temporal has passed yet")
	case now.Sub(r.checked) > r.maxAge:
		return fmt.Errorf("the last health check of Temporal that passed is %s old", now.Sub(r.checked).Round(time.Second))
	}
	return nil
}
