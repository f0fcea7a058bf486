package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// cpuProfile is the load generator's own CPU profile (--cpuprofile):
// started once, at the run's start or, for push5-pull, as the first
// round's syncs start, and stopped at the end of the run.
type cpuProfile struct {
	path string
	f    *os.File
	err  error
}

// start starts the profile unless it runs already, failed or was not asked for.
func (p *cpuProfile) start() {
	if p.path == "" || p.f != nil || p.err != nil {
		return
	}
	f, err := os.Create(p.path)
	if err == nil {
		if err = pprof.StartCPUProfile(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		p.err = fmt.Errorf("--cpuprofile: %w", err)
		return
	}
	p.f = f
}

// stop ends the profile and reports what went wrong with it.
func (p *cpuProfile) stop() error {
	if p.f == nil {
		return p.err
	}
	pprof.StopCPUProfile()
	err := p.f.Close()
	p.f = nil
	if err != nil {
		p.err = fmt.Errorf("--cpuprofile: %w", err)
	}
	return p.err
}
