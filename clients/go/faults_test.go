package fieldsync

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
)

// fault is what the network does to one request.
type fault int

const (
	faultNone         fault = iota
	faultDropRequest        // the request never reaches the server
	faultDropResponse       // the server handles it, the answer is lost
	faultDuplicate          // the request reaches the server twice
	faultReplayOld          // an earlier push reaches the server again first (reordered)
	faultCutBody            // the answer is cut off halfway
	numFaults
)

var errInjected = errors.New("connection reset (injected)")

// faultTransport forwards Push and Pull calls to base with faults from a
// plan, one per call, then none. Other calls pass untouched.
type faultTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	plan []fault
	old  [][]byte // bodies of earlier pushes
	// afterForward, when set, runs after a call reached the server and
	// before its answer is dropped (faultDropResponse): a crash hook.
	afterForward func()
	pushes       int
	// dropWatches is how many Watch streams to refuse before letting one through.
	dropWatches int
}

func newFaultTransport(plan ...fault) *faultTransport {
	return &faultTransport{base: http.DefaultTransport, plan: plan}
}

func (f *faultTransport) client() *http.Client { return &http.Client{Transport: f} }

// next pops the fault for a call and notes a push's body for replays. It
// returns the fault, an earlier push to replay and the crash hook.
func (f *faultTransport) next(push bool, body []byte) (fault, []byte, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var old []byte
	if push {
		f.pushes++
		if len(f.old) > 0 {
			old = f.old[len(body)%len(f.old)]
		}
		f.old = append(f.old, body)
	}
	if len(f.plan) == 0 {
		return faultNone, nil, nil
	}
	ft := f.plan[0]
	f.plan = f.plan[1:]
	return ft, old, f.afterForward
}

// set replaces the plan and the crash hook.
func (f *faultTransport) set(hook func(), plan ...fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plan, f.afterForward = plan, hook
}

func (f *faultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	push := strings.HasSuffix(req.URL.Path, "/Push")
	if strings.HasSuffix(req.URL.Path, "/Watch") && f.takeWatchDrop() {
		return nil, errInjected
	}
	if !push && !strings.HasSuffix(req.URL.Path, "/Pull") {
		return f.base.RoundTrip(req)
	}
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	ft, old, hook := f.next(push, body)
	switch ft {
	case faultDropRequest:
		return nil, errInjected
	case faultDropResponse:
		f.discard(req, body)
		if hook != nil {
			hook()
		}
		return nil, errInjected
	case faultDuplicate:
		f.discard(req, body)
	case faultReplayOld:
		if old != nil {
			f.discard(req, old)
		}
	case faultCutBody:
		return f.cut(req, body)
	}
	return f.forward(req, body)
}

func (f *faultTransport) takeWatchDrop() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dropWatches == 0 {
		return false
	}
	f.dropWatches--
	return true
}

func (f *faultTransport) watchDropsLeft() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dropWatches
}

func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil {
		return nil, nil
	}
	defer req.Body.Close()
	return io.ReadAll(req.Body)
}

func (f *faultTransport) forward(req *http.Request, body []byte) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return f.base.RoundTrip(r)
}

// discard sends a request and throws its answer away, after the server sent it.
func (f *faultTransport) discard(req *http.Request, body []byte) {
	res, err := f.forward(req, body)
	if err == nil {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

func (f *faultTransport) cut(req *http.Request, body []byte) (*http.Response, error) {
	res, err := f.forward(req, body)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b[:len(b)/2]), errReader{}))
	return res, nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errInjected }
