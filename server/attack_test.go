package server_test

// Attack tests: each probes the running server (built in-process over
// SQLite, as the other server tests do) as an outside caller would, for one
// finding of the security review (SECURITY.md, "How it is tested").

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
)

// TestIPv6ClientsOfOnePrefixShareABucket: an IPv6 host is routinely given
// a whole /64, so a per-address bucket let one attacker take 2^64 fresh
// buckets (failed logins, Enroll guesses, the rating page's per-IP rate)
// by changing the low bits of its source address. The addresses of one
// /64 share one bucket; another /64 and IPv4 clients keep their own.
func TestIPv6ClientsOfOnePrefixShareABucket(t *testing.T) {
	const burst = 3
	_, behindProxy := newProxiedEdge(t, burst)
	whoami := func(client string) error { return whoAmIFrom(behindProxy.URL, client) }
	for i := range burst {
		// A fresh address of the same /64 each time.
		if err := whoami("2001:db8:1:2::" + string(rune('a'+i))); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("within the burst: %v, want Unauthenticated", err)
		}
	}
	if err := whoami("2001:db8:1:2:ffff:ffff:ffff:fffe"); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("another address of the same /64 past the burst: %v, want ResourceExhausted", err)
	}
	if err := whoami("2001:db8:1:3::a"); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("another /64: %v, want its own bucket (Unauthenticated)", err)
	}
	if err := whoami("::ffff:198.51.100.9"); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("an IPv4 client (mapped): %v, want its own bucket (Unauthenticated)", err)
	}
}

// TestWebAppHeadersOnEveryAnswerAndServiceWorkerScopeAtTheRootOnly: the
// app's security headers travel on every answer of the web handler (its
// 404s and 405s too, which a browser may render), X-Frame-Options backs up
// frame-ancestors for browsers without CSP level 2, the window is isolated
// from cross-origin openers, powerful features are the app's own (the
// camera for the QR scanner) and no one else's, and only the root sw.js may claim the scope
// "/": a script deeper down (a build's leftover, a --web-dir file) could
// otherwise register a worker over the whole origin, API calls included.
func TestWebAppHeadersOnEveryAnswerAndServiceWorkerScopeAtTheRootOnly(t *testing.T) {
	t.Parallel()
	app := builtApp()
	app["assets/sw.js"] = app["sw.js"]
	app["help/sw.js"] = app["sw.js"]
	e := newEdgeServer(t, 0, false, func(c *server.Config) {
		c.Extra = map[string]http.Handler{"/": server.NewWebUI(app, "https://s3.example.com")}
	})
	u := e.srv.URL
	for _, tc := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/dashboard"}, {"GET", "/sw.js"}, {"GET", "/assets/missing.js"},
		{"POST", "/dashboard"}, {"GET", "/r/"}, {"GET", "/media/x"}, {"GET", "/metrics"},
	} {
		res, _ := get(t, tc.method, u+tc.path)
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s %s = %d: nosniff %q, CSP %q", tc.method, tc.path, res.StatusCode,
				res.Header.Get("X-Content-Type-Options"), res.Header.Get("Content-Security-Policy"))
		}
		if res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s %s: X-Frame-Options %q, want DENY", tc.method, tc.path, res.Header.Get("X-Frame-Options"))
		}
		if pp := res.Header.Get("Permissions-Policy"); !strings.Contains(pp, "camera=(self)") || !strings.Contains(pp, "microphone=()") {
			t.Errorf("%s %s: Permissions-Policy %q, want the camera for the app only and no microphone", tc.method, tc.path, pp)
		}
		if res.Header.Get("Cross-Origin-Opener-Policy") != "same-origin" {
			t.Errorf("%s %s: Cross-Origin-Opener-Policy %q, want same-origin", tc.method, tc.path, res.Header.Get("Cross-Origin-Opener-Policy"))
		}
	}
	for _, p := range []string{"/assets/sw.js", "/help/sw.js"} {
		res, _ := get(t, "GET", u+p)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s = %d", p, res.StatusCode)
		}
		if got := res.Header.Get("Service-Worker-Allowed"); got != "" {
			t.Errorf("GET %s: Service-Worker-Allowed %q, want none (only /sw.js is the app's worker)", p, got)
		}
	}
	if res, _ := get(t, "GET", u+"/sw.js"); res.Header.Get("Service-Worker-Allowed") != "/" {
		t.Errorf("/sw.js lost its scope: %q", res.Header.Get("Service-Worker-Allowed"))
	}
}

// TestAlertDetailIsNoExistenceOracle: GetAlertDetail answered NotFound for
// a missing id and PermissionDenied for a record out of the caller's
// scope, so any device could learn which ids exist — and alert ids are
// predictable (tenant and dedup key), so whether an intervention or a
// rating happened elsewhere. A hidden alert, a hidden record of another
// type and a missing id now get one answer, as GetDeliveries does.
func TestAlertDetailIsNoExistenceOracle(t *testing.T) {
	t.Parallel()
	w := newDashWorld(t)
	answer := func(token, id string) (connect.Code, string) {
		_, err := w.detail(token, id)
		return connect.CodeOf(err), strings.ReplaceAll(err.Error(), id, "<id>")
	}
	for who, token := range map[string]string{"another store's manager": w.manager2Token, "another region's director": w.director2Token} {
		missingCode, missingMsg := answer(token, "alert-no-such-alert")
		if missingCode != connect.CodeNotFound {
			t.Fatalf("%s, a missing id: %v %s, want NotFound", who, missingCode, missingMsg)
		}
		for what, id := range map[string]string{"a hidden alert": w.a1, "a hidden diagnosis": w.diagA} {
			if code, msg := answer(token, id); code != missingCode || msg != missingMsg {
				t.Errorf("%s, %s: %v %q; a missing id: %v %q — want the same answer", who, what, code, msg, missingCode, missingMsg)
			}
		}
	}
}

// TestTrustedProxiesRefuseEveryAddress: --trusted-proxies 0.0.0.0/0 (or
// ::/0) trusts every peer, so any client's own X-Forwarded-For would name
// its bucket — what the flag promises never happens. Such a list is
// refused at start, naming the entry.
func TestTrustedProxiesRefuseEveryAddress(t *testing.T) {
	for _, list := range []string{"0.0.0.0/0", "10.0.0.0/8, ::/0", "::ffff:0.0.0.0/96"} {
		if _, err := server.ParseTrustedProxies(list); err == nil || !strings.Contains(err.Error(), "trusted-proxies") {
			t.Errorf("%q: %v, want an error naming --trusted-proxies", list, err)
		}
	}
	if p, err := server.ParseTrustedProxies("10.0.0.0/8,192.0.2.7,2001:db8::/32"); err != nil || len(p) != 3 {
		t.Errorf("a usual list: %v %v", p, err)
	}
}

// TestFailedEnrollmentsAreLimitedPerAddress: Enroll is the one procedure
// a caller without a token reaches with a secret to guess. After ten wrong
// codes from one address, the next call is refused with ResourceExhausted
// and a Retry-After before its code is looked at (a right code too, until
// the bucket refills); another address is unaffected, and enrollments that
// succeed spend nothing.
func TestFailedEnrollmentsAreLimitedPerAddress(t *testing.T) {
	t.Parallel()
	e := newEdgeServer(t, 0, false, nil)
	ctx := context.Background()
	admin := fieldsyncv1connect.NewAdminServiceClient(http.DefaultClient, e.srv.URL, connect.WithInterceptors(bearer(e.creds.AdminToken)))
	code := func() string {
		res, err := admin.IssueEnrollmentCode(ctx, connect.NewRequest(&fieldsyncv1.IssueEnrollmentCodeRequest{UserId: e.creds.Users[0].UserID}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.GetEnrollmentCode()
	}
	trusted, err := server.ParseTrustedProxies("127.0.0.1,::1")
	if err != nil {
		t.Fatal(err)
	}
	behindProxy := httptest.NewServer(server.NewClientIP(trusted, e.srv.Config.Handler))
	defer behindProxy.Close()
	enroll := func(from, code string) (*connect.Response[fieldsyncv1.EnrollResponse], error) {
		c := fieldsyncv1connect.NewIdentityServiceClient(http.DefaultClient, behindProxy.URL)
		req := connect.NewRequest(&fieldsyncv1.EnrollRequest{EnrollmentCode: code, DeviceName: "phone"})
		req.Header().Set("X-Forwarded-For", from)
		return c.Enroll(ctx, req)
	}
	// Successes spend nothing.
	for range 12 {
		if _, err := enroll("198.51.100.1", code()); err != nil {
			t.Fatalf("a valid code: %v", err)
		}
	}
	for i := range 10 {
		if _, err := enroll("198.51.100.1", "fse_wrong-guess-"+string(rune('a'+i))); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("wrong code %d: %v, want Unauthenticated", i, err)
		}
	}
	_, err = enroll("198.51.100.1", code())
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("after ten wrong codes: %v, want ResourceExhausted", err)
	}
	if ce, ok := errors.AsType[*connect.Error](err); !ok || ce.Meta().Get("Retry-After") == "" {
		t.Errorf("no Retry-After: %v", err)
	}
	if _, err := enroll("198.51.100.2", code()); err != nil {
		t.Errorf("another address: %v", err)
	}
}

// TestRPCAnswersAreNeverStored: RPC answers carry tokens (Enroll's device
// token) and records; without Cache-Control a browser or a shared cache
// between a device and the server may keep them. Every RPC answer, an
// error or a refusal before the body included, says no-store.
func TestRPCAnswersAreNeverStored(t *testing.T) {
	t.Parallel()
	e := newEdgeServer(t, 0, false, nil)
	ctx := context.Background()
	var hdr http.Header
	keep := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			res, err := next(ctx, req)
			switch {
			case err != nil:
				if ce, ok := errors.AsType[*connect.Error](err); ok {
					hdr = ce.Meta()
				}
			default:
				hdr = res.Header()
			}
			return res, err
		}
	})
	admin := fieldsyncv1connect.NewAdminServiceClient(http.DefaultClient, e.srv.URL, connect.WithInterceptors(bearer(e.creds.AdminToken)))
	code, err := admin.IssueEnrollmentCode(ctx, connect.NewRequest(&fieldsyncv1.IssueEnrollmentCodeRequest{UserId: e.creds.Users[0].UserID}))
	if err != nil {
		t.Fatal(err)
	}
	ident := fieldsyncv1connect.NewIdentityServiceClient(http.DefaultClient, e.srv.URL, connect.WithInterceptors(keep))
	calls := map[string]func() error{
		"Enroll": func() error {
			_, err := ident.Enroll(ctx, connect.NewRequest(&fieldsyncv1.EnrollRequest{EnrollmentCode: code.Msg.GetEnrollmentCode(), DeviceName: "phone"}))
			return err
		},
		"WhoAmI without a token": func() error {
			_, err := ident.WhoAmI(ctx, connect.NewRequest(&fieldsyncv1.WhoAmIRequest{}))
			return err
		},
		"Pull": func() error {
			c := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, e.srv.URL, connect.WithInterceptors(bearer(e.token("rep")), keep))
			_, err := c.Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{}))
			return err
		},
	}
	for name, call := range calls {
		hdr = nil
		err := call()
		if hdr == nil {
			t.Fatalf("%s: no answer headers (%v)", name, err)
		}
		if got := hdr.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s (err %v): Cache-Control %q, want no-store", name, err, got)
		}
	}
}

// TestEveryAdminCallRefusesOtherRoles calls each AdminService procedure
// (found in its descriptor, so a new one without a case here fails) with
// a well-formed request, as every non-admin demo user's device and as an
// API key: each is PermissionDenied, ListDevices aside for the store
// manager and the regional director (their scope's devices only, see
// fleet_test.go). The admin's own device gets through.
func TestEveryAdminCallRefusesOtherRoles(t *testing.T) {
	t.Parallel()
	e := newEdgeServer(t, 0, false, nil)
	admin := e.creds.Users[0]
	bodies := map[string]string{
		"CreateRegion":        `{"name":"Attack region"}`,
		"CreateStore":         `{"regionId":"` + e.creds.RegionID + `","name":"Attack store"}`,
		"GetOrganization":     `{}`,
		"CreateUser":          `{"displayName":"Mallory","role":"ROLE_ADMIN"}`,
		"ListUsers":           `{}`,
		"IssueEnrollmentCode": `{"userId":"` + admin.UserID + `"}`,
		"ListDevices":         `{}`,
		"RevokeDevice":        `{"deviceId":"` + admin.DeviceID + `"}`,
		"CreateApiKey":        `{"name":"exfil","permissions":["records:read"]}`,
		"ListApiKeys":         `{}`,
		"RevokeApiKey":        `{"apiKeyId":"01ARZ3NDEKTSV4RRFFQ69G5FAV"}`,
		"GetInsightsConfig":   `{}`,
		"SetInsightsConfig":   `{"configJson":"{}"}`,
	}
	methods := fieldsyncv1.File_fieldsync_v1_admin_proto.Services().ByName("AdminService").Methods()
	call := func(method, token string) int {
		req, err := http.NewRequest("POST", e.srv.URL+"/fieldsync.v1.AdminService/"+method, strings.NewReader(bodies[method]))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	callers := map[string]string{"API key": e.creds.IntegratorKey}
	for _, u := range e.creds.Users {
		if u.Role != "admin" {
			callers[u.Role] = u.DeviceToken
		}
	}
	if len(callers) < 5 || methods.Len() < len(bodies) {
		t.Fatalf("only %d callers and %d methods: the demo organisation changed", len(callers), methods.Len())
	}
	for i := range methods.Len() {
		method := string(methods.Get(i).Name())
		if _, ok := bodies[method]; !ok {
			t.Errorf("AdminService.%s has no case in this test: add one with a well-formed request", method)
			continue
		}
		for who, token := range callers {
			want := http.StatusForbidden
			if method == "ListDevices" && (who == "store_manager" || who == "regional_director") {
				want = http.StatusOK
			}
			if got := call(method, token); got != want {
				t.Errorf("%s as %s: HTTP %d, want %d", method, who, got, want)
			}
		}
	}
	// The admin passes the role check (RevokeDevice last: it revokes the
	// admin's own device).
	for _, method := range []string{"GetOrganization", "ListUsers", "ListDevices", "ListApiKeys", "RevokeDevice"} {
		if got := call(method, admin.DeviceToken); got != http.StatusOK {
			t.Errorf("%s as the admin: HTTP %d, want 200", method, got)
		}
	}
}
