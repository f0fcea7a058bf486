package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// ratingPagePrefix is where the public rating page is served: GET shows
// the form of /r/{token}, POST takes the rating.
const ratingPagePrefix = "/r/"

// ratingFormMaxBytes bounds a posted form: 4,000 CJK characters take 36 KB
// once percent-encoded.
const ratingFormMaxBytes = 40 << 10

// maxRatingComment is SatisfactionRating.comment's limit, in characters.
const maxRatingComment = 4000

// ratingPage serves the public page. It needs no login: the token in the
// path is the capability, and every token that is not a live one (unknown,
// used, expired, forged, malformed) gets the same 404 page.
type ratingPage struct {
	r             *ratings
	perIP, global *rateLimiter
}

func newRatingPage(r *ratings, c RatingConfig) *ratingPage {
	rate, burst, grate, gburst := DefaultRatingLimits()
	if c.Rate > 0 {
		rate, burst = c.Rate, c.Burst
	}
	if c.GlobalRate > 0 {
		grate, gburst = c.GlobalRate, c.GlobalBurst
	}
	return &ratingPage{r: r,
		perIP:  newRateLimiter(Limits{Rate: rate, Burst: burst}),
		global: newRateLimiter(Limits{Rate: grate, Burst: gburst}),
	}
}

func (p *ratingPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lang := pageLanguage(r.Header.Get("Accept-Language"))
	if err := p.limit(r); err != nil {
		if ce, ok := errors.AsType[*connect.Error](err); ok {
			w.Header().Set("Retry-After", ce.Meta().Get("Retry-After"))
		}
		p.fail(w, lang, http.StatusTooManyRequests, lang.TooMany)
		return
	}
	token := strings.TrimPrefix(r.URL.Path, ratingPagePrefix)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		p.show(w, r, lang, token)
	case http.MethodPost:
		p.submit(w, r, lang, token)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		p.fail(w, lang, http.StatusMethodNotAllowed, lang.BadRequest)
	}
}

// limit spends one request of the client IP's bucket and of the global one.
func (p *ratingPage) limit(r *http.Request) error {
	if err := p.perIP.take(peerKey(r.RemoteAddr)); err != nil {
		return err
	}
	return p.global.take("all")
}

// show renders the form of a live token.
func (p *ratingPage) show(w http.ResponseWriter, r *http.Request, lang *pageText, token string) {
	link, ok := p.lookup(w, r, lang, token)
	if !ok {
		return
	}
	store, ok := p.storeName(r.Context(), w, lang, link.tenantID, link.quoteID)
	if !ok {
		return
	}
	p.render(w, lang, http.StatusOK, pageData{Form: true, Store: store, Date: link.issued.Format("2006-01-02")})
}

// ratingLink is a live token: its id, and the quote it rates.
type ratingLink struct {
	id                []byte
	hash              []byte
	tenantID, quoteID string
	issued            time.Time
}

// lookup checks the token's signature, then the database: it writes the
// 404 page (or a 500) and returns ok false unless the token is live.
func (p *ratingPage) lookup(w http.ResponseWriter, r *http.Request, lang *pageText, token string) (*ratingLink, bool) {
	secret, err := p.r.key(r.Context())
	if err != nil {
		p.internal(r.Context(), w, lang, err)
		return nil, false
	}
	id, ok := openRatingToken(secret, token)
	if !ok {
		p.notFound(w, lang)
		return nil, false
	}
	link := &ratingLink{id: id, hash: ratingTokenHash(token)}
	link.tenantID, link.quoteID, link.issued, err = p.r.store.RatingToken(r.Context(), link.hash)
	if err != nil {
		p.writeErr(r.Context(), w, lang, err)
		return nil, false
	}
	return link, true
}

// storeName returns the name of the quote's store; a quote gone since the
// link was issued is the 404 page.
func (p *ratingPage) storeName(ctx context.Context, w http.ResponseWriter, lang *pageText, tenantID, quoteID string) (string, bool) {
	rec, err := p.r.liveQuote(ctx, tenantID, quoteID)
	if err != nil {
		p.internal(ctx, w, lang, err)
		return "", false
	}
	if rec == nil {
		p.notFound(w, lang)
		return "", false
	}
	_, _, shops, err := p.r.cfg.Identity.GetOrganization(ctx, tenantID)
	if err != nil {
		p.internal(ctx, w, lang, err)
		return "", false
	}
	for _, s := range shops {
		if s.ID == rec.Scope.Store {
			return s.Name, true
		}
	}
	return "", true
}

// submit takes a posted rating: the form first (its shape says nothing
// about the token), then the token, then one transaction that claims the
// token and writes the rating.
func (p *ratingPage) submit(w http.ResponseWriter, r *http.Request, lang *pageText, token string) {
	score, comment, status, msg := readRatingForm(w, r, lang)
	if status != 0 {
		p.fail(w, lang, status, msg)
		return
	}
	link, ok := p.lookup(w, r, lang, token)
	if !ok {
		return
	}
	rating := &fieldsyncv1.SatisfactionRating{QuoteId: link.quoteID, Score: score, Comment: comment}
	id := RatingRecordID(link.tenantID, link.quoteID)
	_, err := p.r.writer.ServerWriteGuarded(r.Context(), link.tenantID, ratingType, id, rating, syncengine.AllFields(rating),
		func(tx syncengine.Tx) error {
			if err := tx.ClaimRatingToken(link.hash, link.tenantID); err != nil {
				return err
			}
			if err := notRatedYet(tx, link.tenantID, id); err != nil {
				return err // the claim rolls back: the link stays unused
			}
			return placeRating(tx, link.tenantID, rating)
		})
	if err != nil {
		p.writeErr(r.Context(), w, lang, err)
		return
	}
	p.render(w, lang, http.StatusOK, pageData{Message: lang.Thanks})
}

// errAlreadyRated refuses a rating of a quote that has one (from another
// of its links): the page says so, and the link stays unused.
var errAlreadyRated = syncengine.Errorf(syncengine.CodeAlreadyExists, "the quote has been rated already")

// notRatedYet returns errAlreadyRated when the quote's rating exists in tx.
func notRatedYet(tx syncengine.Tx, tenantID, ratingID string) error {
	cur, err := tx.GetRecord(tenantID, ratingID)
	if err != nil {
		return err
	}
	if cur != nil && !cur.State.Deleted() {
		return errAlreadyRated
	}
	return nil
}

// errQuoteGone is the 404 of a token whose quote was deleted.
var errQuoteGone = syncengine.Errorf(syncengine.CodeNotFound, "the rated quote is gone")

// placeRating puts the rating in its quote's store and region, as the quote
// is in tx.
func placeRating(tx syncengine.Tx, tenantID string, rating *fieldsyncv1.SatisfactionRating) error {
	q, err := tx.GetRecord(tenantID, rating.QuoteId)
	if err != nil {
		return err
	}
	if q == nil || q.Type != quoteType || q.State.Deleted() {
		return errQuoteGone
	}
	rating.StoreId, rating.RegionId = q.Scope.Store, q.Scope.Region
	return nil
}

// readRatingForm reads and checks a posted form; status is 0 when it is
// good, else the HTTP status and the message naming what is wrong.
func readRatingForm(w http.ResponseWriter, r *http.Request, lang *pageText) (score int32, comment string, status int, msg string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return 0, "", http.StatusUnsupportedMediaType, lang.BadRequest
	}
	r.Body = http.MaxBytesReader(w, r.Body, ratingFormMaxBytes)
	if err := r.ParseForm(); err != nil {
		if _, big := errors.AsType[*http.MaxBytesError](err); big {
			return 0, "", http.StatusRequestEntityTooLarge, lang.TooLarge
		}
		return 0, "", http.StatusBadRequest, lang.BadRequest
	}
	s, err := strconv.Atoi(r.PostForm.Get("score"))
	if err != nil || s < 1 || s > 5 || len(r.PostForm["score"]) != 1 {
		return 0, "", http.StatusBadRequest, lang.BadScore
	}
	comment = r.PostForm.Get("comment")
	if !utf8.ValidString(comment) || utf8.RuneCountInString(comment) > maxRatingComment || len(r.PostForm["comment"]) > 1 {
		return 0, "", http.StatusBadRequest, lang.BadComment
	}
	return int32(s), comment, 0, ""
}

// writeErr answers a domain error: NotFound is the 404 page, Invalid a 400
// with the engine's message, anything else a logged 500.
func (p *ratingPage) writeErr(ctx context.Context, w http.ResponseWriter, lang *pageText, err error) {
	switch {
	case syncengine.IsCode(err, syncengine.CodeNotFound):
		p.notFound(w, lang)
	case syncengine.IsCode(err, syncengine.CodeInvalid):
		p.fail(w, lang, http.StatusBadRequest, lang.BadRequest)
	case syncengine.IsCode(err, syncengine.CodeAlreadyExists):
		p.fail(w, lang, http.StatusConflict, lang.AlreadyRated)
	default:
		p.internal(ctx, w, lang, err)
	}
}

func (p *ratingPage) notFound(w http.ResponseWriter, lang *pageText) {
	p.fail(w, lang, http.StatusNotFound, lang.NotFound)
}

func (p *ratingPage) internal(ctx context.Context, w http.ResponseWriter, lang *pageText, err error) {
	p.r.cfg.Logger.ErrorContext(ctx, "rating page", "err", err)
	p.fail(w, lang, http.StatusInternalServerError, lang.Internal)
}

func (p *ratingPage) fail(w http.ResponseWriter, lang *pageText, status int, msg string) {
	p.render(w, lang, status, pageData{Message: msg})
}

// pageData is what one page shows: the form (store name and link date) or
// a message.
type pageData struct {
	T           *pageText
	Form        bool
	Store, Date string
	Message     string
}

func (p *ratingPage) render(w http.ResponseWriter, lang *pageText, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", lang.Lang)
	h.Set("Content-Security-Policy", ratingCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	w.WriteHeader(status)
	d.T = lang
	_ = ratingTemplate.Execute(w, d)
}

// ratingStyle is the page's only style, allowed by its hash in the CSP.
const ratingStyle = `body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#222}` +
	`fieldset{border:0;padding:0;margin:1rem 0}label.s{font-size:2rem;margin-right:.5rem}` +
	`textarea{width:100%;min-height:6rem;box-sizing:border-box}button{font-size:1.1rem;padding:.5rem 1.5rem}`

var ratingCSP = "default-src 'none'; style-src 'sha256-" + styleHash() + "'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func styleHash() string {
	h := sha256.Sum256([]byte(ratingStyle))
	return base64.StdEncoding.EncodeToString(h[:])
}

var ratingTemplate = template.Must(template.New("rating").Parse(`<!doctype html>
<html lang="{{.T.Lang}}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.T.Title}}</title><style>` + ratingStyle + `</style></head><body>
<h1>{{.T.Title}}</h1>
{{if .Form}}<p>{{.T.Intro}}{{if .Store}} {{.Store}}{{end}} · {{.Date}}</p>
<form method="post" accept-charset="utf-8">
<fieldset><legend>{{.T.Score}}</legend>
<label class="s"><input type="radio" name="score" value="1" required>1★</label>
<label class="s"><input type="radio" name="score" value="2">2★</label>
<label class="s"><input type="radio" name="score" value="3">3★</label>
<label class="s"><input type="radio" name="score" value="4">4★</label>
<label class="s"><input type="radio" name="score" value="5">5★</label>
</fieldset>
<p><label for="c">{{.T.Comment}}</label><br><textarea id="c" name="comment" maxlength="4000"></textarea></p>
<p><button type="submit">{{.T.Submit}}</button></p>
</form>{{else}}<p>{{.Message}}</p>{{end}}
</body></html>
`))

// pageText is the page's words in one language.
type pageText struct {
	Lang, Title, Intro, Score, Comment, Submit                            string
	Thanks, NotFound, BadRequest, BadScore, BadComment, TooLarge, TooMany string
	Internal, AlreadyRated                                                string
}

var (
	pageZH = &pageText{Lang: "zh-CN", Title: "服务评价", Intro: "请为本次报价打分：", Score: "评分（1–5 星）",
		Comment: "留言（选填，最多 4000 字）", Submit: "提交",
		Thanks: "感谢您的评价！", NotFound: "此评价链接无效、已使用或已过期。", BadRequest: "请求无效。",
		BadScore: "score：请选择 1 到 5 星。", BadComment: "comment：留言最多 4000 字。", TooLarge: "提交的内容过大。",
		TooMany: "请求过于频繁，请稍后再试。", Internal: "服务器暂时出错，请稍后再试。", AlreadyRated: "此报价已经评价过了，谢谢！"}
	pageEN = &pageText{Lang: "en", Title: "Rate our service", Intro: "Please rate your quote:", Score: "Score (1–5 stars)",
		Comment: "Comment (optional, up to 4000 characters)", Submit: "Send",
		Thanks: "Thank you for your rating!", NotFound: "This rating link is not valid, was used already or has expired.",
		BadRequest: "The request is not valid.", BadScore: "score: choose 1 to 5 stars.",
		BadComment: "comment: at most 4000 characters.", TooLarge: "What you sent is too large.",
		TooMany: "Too many requests; please try again later.", Internal: "The server had a problem; please try again later.",
		AlreadyRated: "This quote has already been rated. Thank you!"}
)

// pageLanguage picks Chinese or English by Accept-Language: the language
// of the two with the highest q (the first on a tie); Chinese by default.
func pageLanguage(header string) *pageText {
	best, bestQ := pageZH, -1.0
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		tag = strings.ToLower(tag)
		var lang *pageText
		switch {
		case tag == "zh" || strings.HasPrefix(tag, "zh-"):
			lang = pageZH
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			lang = pageEN
		}
		if lang != nil && q > bestQ {
			best, bestQ = lang, q
		}
	}
	return best
}
