package clusterproxy

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRoundRobinSkipsARefusingBackend: requests take the backends in
// turn; a backend refusing connections answers 502 once and is then
// skipped, the next one taking its turns.
func TestRoundRobinSkipsARefusingBackend(t *testing.T) {
	var backends []string
	for _, name := range []string{"a", "b"} {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
		s.Config.Protocols = new(http.Protocols)
		s.Config.Protocols.SetUnencryptedHTTP2(true) // the nodes speak h2c
		s.Start()
		t.Cleanup(s.Close)
		backends = append(backends, s.URL)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	backends = append(backends, dead)
	h, err := New(backends, log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(h)
	t.Cleanup(proxy.Close)
	get := func() (int, string) {
		res, err := http.Get(proxy.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	var got []string
	sawBadGateway := 0
	for range 9 {
		code, body := get()
		if code == http.StatusBadGateway {
			sawBadGateway++
			continue
		}
		got = append(got, body)
	}
	if sawBadGateway != 1 {
		t.Fatalf("%d answers 502, want one (then the dead backend is skipped)", sawBadGateway)
	}
	counts := map[string]int{}
	for _, b := range got {
		counts[b]++
	}
	if counts["a"] < 3 || counts["b"] < 3 || counts["a"]+counts["b"] != 8 {
		t.Fatalf("answers %v, want the two live backends taking every turn", got)
	}
}

func TestNewRefusesBadBackends(t *testing.T) {
	for _, backends := range [][]string{nil, {"not a url"}, {"http://"}} {
		if _, err := New(backends, nil); err == nil {
			t.Errorf("New(%q) succeeded", backends)
		}
	}
}

// Photo chunks go round-robin like every other call: a node on a shared
// database finds the chunks another node took in the database.
func TestEveryCallGoesToTheNextBackend(t *testing.T) {
	var backends []string
	for _, name := range []string{"a", "b", "c"} {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
		s.Config.Protocols = new(http.Protocols)
		s.Config.Protocols.SetUnencryptedHTTP2(true)
		s.Start()
		t.Cleanup(s.Close)
		backends = append(backends, s.URL)
	}
	h, err := New(backends, log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(h)
	t.Cleanup(proxy.Close)
	call := func(path, token string) string {
		req, _ := http.NewRequest(http.MethodPost, proxy.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	for _, token := range []string{"device-1", "device-2"} {
		media, other := map[string]bool{}, map[string]bool{}
		for range 3 {
			media[call("/fieldsync.v1.MediaService/PutChunk", token)] = true
			other[call("/fieldsync.v1.SyncService/Push", token)] = true
		}
		if len(media) != 3 || len(other) != 3 {
			t.Errorf("%s: media calls reached %v and other calls %v, want every backend", token, media, other)
		}
	}
}
