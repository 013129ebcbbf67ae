package tfeemu

import "time"

// SetClock makes the emulator read the time from now, so that a test can
// step through rate-limit windows without waiting for them.
func (e *Emulator) SetClock(now func() time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.timeSource = now
}
