package compose

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/keyrotor/keyrotor/activities"
	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/discover"
	"github.com/keyrotor/keyrotor/internal/model"
)

// How often the worker runs its selectors again, and how soon after the
// last run a lookup of an unknown user may run them again.
var (
	DiscoverEvery   = 10 * time.Minute
	DiscoverMissGap = 30 * time.Second
)

// rotationSet is the worker's Rotations (and NotifyChannels): the file's
// named rotations first, unchanged and without any call, then the users
// the file's selectors found (discovery runs at start, every
// DiscoverEvery, and on a lookup of a user nothing knows, at most once per
// DiscoverMissGap). The file stays the only authority: a discovered
// rotation's targets are the file's templates, rendered and checked.
type rotationSet struct {
	cfg    *config.Config
	run    func(ctx context.Context) discover.Result
	logger *slog.Logger

	refreshMu sync.Mutex // one discovery at a time
	mu        sync.RWMutex
	found     discover.Result
	last      time.Time
}

var (
	_ activities.Rotations      = (*rotationSet)(nil)
	_ activities.NotifyChannels = (*rotationSet)(nil)
)

func newRotationSet(cfg *config.Config, run func(ctx context.Context) discover.Result, logger *slog.Logger) *rotationSet {
	return &rotationSet{cfg: cfg, run: run, logger: logger}
}

// Rotation implements activities.Rotations.
func (s *rotationSet) Rotation(account, user string) (model.Rotation, error) {
	r, err := s.cfg.Rotation(account, user)
	if err == nil || len(s.cfg.Selectors) == 0 {
		return r, err
	}
	f, ok := s.lookup(account, user, true)
	if !ok {
		return model.Rotation{}, fmt.Errorf("%w; no selector finds it", err)
	}
	return f.Rotation, nil
}

// NotifyChannel implements activities.NotifyChannels.
func (s *rotationSet) NotifyChannel(account, user, name string) (model.NotifyChannel, error) {
	ch, err := s.cfg.NotifyChannel(account, user, name)
	if err == nil || len(s.cfg.Selectors) == 0 {
		return ch, err
	}
	if _, rerr := s.cfg.Rotation(account, user); rerr == nil {
		return ch, err // a named rotation without that channel
	}
	f, ok := s.lookup(account, user, false)
	if !ok {
		return model.NotifyChannel{}, err
	}
	return s.cfg.NotifyChannelOf(f.Selector, f.Rotation, name)
}

// lookup finds a discovered user, running discovery again on a miss when
// refresh is set and the last run is older than DiscoverMissGap.
func (s *rotationSet) lookup(account, user string, refresh bool) (discover.Found, bool) {
	s.mu.RLock()
	f, ok := s.found.Lookup(account, user)
	stale := time.Since(s.last) > DiscoverMissGap
	s.mu.RUnlock()
	if ok || !refresh || !stale {
		return f, ok
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.refresh(ctx)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.found.Lookup(account, user)
}

// refresh runs discovery. An account that could not be listed keeps what
// the last run found in it: an outage does not make users unknown.
func (s *rotationSet) refresh(ctx context.Context) {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	res := s.run(ctx)
	for _, p := range res.Problems {
		s.logger.Warn("discovery", "account", p.Account, "user", p.User, "selector", p.Selector, "error", p.Msg)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range res.FailedAccounts {
		for _, f := range s.found.Rotations {
			if f.Account == a {
				res.Rotations = append(res.Rotations, f)
			}
		}
	}
	s.found, s.last = res, time.Now()
	s.logger.Info("discovery", "users", len(res.Rotations), "skipped", len(res.Problems))
}

// watch runs discovery every DiscoverEvery until ctx ends.
func (s *rotationSet) watch(ctx context.Context) {
	t := time.NewTicker(DiscoverEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.refresh(ctx)
		}
	}
}
