package main

// The soak's load: paced webhooks from a pool of provider-like clients
// (retrying connection errors, 5xx and 429 with the same event ids), notes and
// replies through the console API, and read-your-writes lag probes.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// soakBoundChats are the Telegram chats with a channel: replies on their
// threads are delivered through the local Bot API.
var soakBoundChats = []int64{-1001000000001, -1001000000002, -1001000000003}

const (
	soakOtherChats      = 60
	soakGoodUpdateBase  = 100_000_000
	soakBadUpdateBase   = 900_000_000
	soakRetryBudget     = 60 * time.Second
	soakAttemptTimeout  = 20 * time.Second
	soakMaxRetryBackoff = 2 * time.Second
)

type soakAuth int

const (
	soakAuthNone soakAuth = iota
	soakAuthAPIKey
	soakAuthGenericSig
	soakAuthTelegramToken
	soakAuthGitHubSig
	soakAuthBadGenericSig
	soakAuthBadTelegramToken
	soakAuthBadGitHubSig
)

// soakReq is one webhook delivery. Duplicate copies share the same value.
type soakReq struct {
	provider    string
	key         string // provider + ":" + provider event id; "bad:…" for bad input
	good        bool
	wantStatus  int // bad input: the expected answer
	wantCode    string
	badKind     string
	body        []byte
	contentType string
	auth        soakAuth
	ghEvent     string
	ghDelivery  string
	chat        int64  // telegram: the chat, to learn its thread
	probe       string // a lag probe: the token its new thread's subject carries
	copy        bool   // a redelivered copy
	crossThread bool   // a copy sent with another thread_id (same provider event id)
}

type soakAccepted struct {
	n          int
	messageIDs map[string]bool
	threadID   string
}

// soakStats is what the clients saw.
type soakStats struct {
	mu             sync.Mutex
	sent           int // logical deliveries (copies and bad input included; retries not)
	copies         int // duplicate copies sent
	crossThread    int // of which with another thread_id (poison for the read side unless deduplicated)
	bad            int // bad inputs sent
	accepted       int // final 202 answers, duplicates included
	duplicates     int // 202 answers flagged duplicate
	rejected       int // final 4xx answers
	unanswered     int // never got a 2xx/4xx within the retry budget
	attempts       int
	byStatus       map[int]int    // every attempt's status
	transport      map[string]int // every attempt's connection error, by kind
	byPhase        map[string]int // 5xx / connection errors per chaos phase
	goodKeys       map[string]bool
	badKeys        map[string]bool
	goodAccepted   map[string]*soakAccepted
	goodUnanswered map[string]int
	unexpected     []string // a valid delivery refused, bad input accepted or answered otherwise than expected
	tgThreads      map[int64]string
	otherThreads   []string
	lags           []time.Duration
	lagFailures    []string
}

func newSoakStats() *soakStats {
	return &soakStats{byStatus: map[int]int{}, transport: map[string]int{}, byPhase: map[string]int{},
		goodKeys: map[string]bool{}, badKeys: map[string]bool{}, goodAccepted: map[string]*soakAccepted{},
		goodUnanswered: map[string]int{}, tgThreads: map[int64]string{}}
}

func (s *soakStats) unexpectedf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.unexpected) < 1000 {
		s.unexpected = append(s.unexpected, fmt.Sprintf(format, args...))
	}
}

// soakGen makes the deliveries; it runs on the pacer's goroutine only.
type soakGen struct {
	e        *soakEnv
	rng      *mrand.Rand
	n        int
	updateID int64
	recent   []*soakReq // recent good deliveries, redelivered later as copies
	ghOpened map[string]any
	ghComm   map[string]any
}

func newSoakGen(e *soakEnv, seed uint64) (*soakGen, error) {
	g := &soakGen{e: e, rng: mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), updateID: soakGoodUpdateBase}
	for file, dst := range map[string]*map[string]any{
		"issues.opened.payload.json":         &g.ghOpened,
		"issue_comment.created.payload.json": &g.ghComm,
	} {
		b, err := os.ReadFile(filepath.Join(e.root, "adapters", "github", "testdata", file))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, dst); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	return g, nil
}

var soakPhrases = []string{
	"API latency is high", "Checkout returns 502 for some users", "Xin chào, đơn hàng của tôi bị chậm",
	"我的订单还没有到,请帮忙查一下。", "Login page is blank on Safari", "Payment webhook retried 3 times",
	"Can you reset my 2FA?", "Export to CSV times out", "Доставка задерживается, что случилось?",
	"Disk usage above 90% on db-2", "Refund not received after 10 days", "🙂 thanks, it works now",
}

func (g *soakGen) phrase() string { return soakPhrases[g.rng.IntN(len(soakPhrases))] }

func soakJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// next returns the deliveries of the next slot: usually one, several copies
// of one event sent at once now and then.
func (g *soakGen) next() []*soakReq {
	x := g.rng.Float64()
	switch {
	case x < 0.05:
		return []*soakReq{g.bad()}
	case x < 0.08:
		// The same event several times at once (a provider's retry racing the original).
		r := g.good()
		out := []*soakReq{r}
		for i := 1 + g.rng.IntN(2); i > 0; i-- {
			out = append(out, g.copyOf(r))
		}
		return out
	case x < 0.14 && len(g.recent) > 0:
		// A redelivery of an earlier event.
		return []*soakReq{g.copyOf(g.recent[g.rng.IntN(len(g.recent))])}
	case x < 0.16 && len(g.recent) > 0:
		// Poison: an earlier generic event id on another thread. The first
		// thread to take the id keeps it; this copy must answer duplicate with
		// the original ids and store nothing (not halt the read side).
		if r := g.recent[g.rng.IntN(len(g.recent))]; r.provider == "generic-webhook" && r.probe == "" {
			return []*soakReq{g.onAnotherThread(r)}
		}
		return []*soakReq{g.good()}
	default:
		return []*soakReq{g.good()}
	}
}

func (g *soakGen) copyOf(r *soakReq) *soakReq {
	c := *r
	c.copy = true
	c.probe = ""
	return &c
}

// onAnotherThread is a copy of a generic delivery whose body names another thread.
func (g *soakGen) onAnotherThread(r *soakReq) *soakReq {
	c := g.copyOf(r)
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		panic(err)
	}
	body["thread_id"] = fmt.Sprintf("incident_%d", 400+g.rng.IntN(100))
	c.body = soakJSON(body)
	c.crossThread = true
	return c
}

func (g *soakGen) remember(r *soakReq) {
	if len(g.recent) < 2000 {
		g.recent = append(g.recent, r)
	} else {
		g.recent[g.rng.IntN(len(g.recent))] = r
	}
}

func (g *soakGen) good() *soakReq {
	g.n++
	var r *soakReq
	switch x := g.rng.Float64(); {
	case x < 0.40:
		r = g.generic()
	case x < 0.75:
		r = g.telegram()
	default:
		r = g.github()
	}
	r.good = true
	g.remember(r)
	return r
}

func (g *soakGen) generic() *soakReq {
	id := fmt.Sprintf("gen-%d", g.n)
	body := map[string]any{"event_id": id, "user": map[string]any{"id": fmt.Sprintf("monitor-%d", g.rng.IntN(20)), "name": "Monitoring"}}
	r := &soakReq{provider: "generic-webhook", key: "generic-webhook:" + id, contentType: "application/json", auth: soakAuthAPIKey}
	if g.n%80 == 0 {
		// A lag probe: a new thread whose subject carries a unique token.
		r.probe = fmt.Sprintf("lagprobe-%d-%s", g.n, soakRandomHex(3))
		body["thread_id"] = "probe-" + r.probe
		body["title"] = "Probe " + r.probe
		body["text"] = "read-your-writes probe"
	} else {
		k := g.rng.IntN(400)
		body["thread_id"] = fmt.Sprintf("incident_%d", k)
		body["title"] = fmt.Sprintf("Incident %d", k)
		body["text"] = g.phrase()
		if g.rng.IntN(25) == 0 {
			// Poison for the read models unless cleaned: NUL and other control characters.
			body["text"] = "nul\u0000 in \u0007provider text: " + g.phrase()
		}
		if g.rng.IntN(4) == 0 {
			body["labels"] = []string{"ops", []string{"urgent", "high", "low"}[g.rng.IntN(3)]}
		}
		if g.rng.IntN(3) == 0 {
			body["occurred_at"] = time.Now().UTC().Add(-time.Duration(g.rng.IntN(3600)) * time.Second).Format(time.RFC3339)
		}
		if g.rng.IntN(5) == 0 {
			r.auth = soakAuthGenericSig
		}
	}
	r.body = soakJSON(body)
	return r
}

func (g *soakGen) chat() int64 {
	if g.rng.IntN(10) < 3 {
		return soakBoundChats[g.rng.IntN(len(soakBoundChats))]
	}
	return -1002000000000 - int64(g.rng.IntN(soakOtherChats))
}

func (g *soakGen) telegram() *soakReq {
	g.updateID++
	chat := g.chat()
	from := map[string]any{"id": 5550000 + g.rng.IntN(50), "is_bot": false, "first_name": []string{"Lan", "Minh", "Wei", "Olga", "Sam"}[g.rng.IntN(5)], "language_code": "vi"}
	msg := map[string]any{
		"message_id": g.n, "from": from, "date": time.Now().Unix() - int64(g.rng.IntN(60)),
		"chat": map[string]any{"id": chat, "title": fmt.Sprintf("Support %d", -chat%1000), "type": "supergroup"},
	}
	update := map[string]any{"update_id": g.updateID}
	switch x := g.rng.IntN(20); {
	case x == 0:
		msg["edit_date"] = time.Now().Unix()
		msg["text"] = g.phrase() + " (edited)"
		update["edited_message"] = msg
	case x == 1:
		msg["photo"] = []any{
			map[string]any{"file_id": "AgACAgIAAxkBAAIBY2" + soakRandomHex(8), "file_unique_id": "AQAD" + soakRandomHex(6), "file_size": 1642, "width": 90, "height": 68},
			map[string]any{"file_id": "AgACAgIAAxkBAAIBY2" + soakRandomHex(8), "file_unique_id": "AQAD" + soakRandomHex(6), "file_size": 98433, "width": 800, "height": 600},
		}
		msg["caption"] = "Screenshot: " + g.phrase()
		update["message"] = msg
	default:
		msg["text"] = g.phrase()
		update["message"] = msg
	}
	return &soakReq{provider: "telegram", key: "telegram:" + strconv.FormatInt(g.updateID, 10), body: soakJSON(update),
		contentType: "application/json", auth: soakAuthTelegramToken, chat: chat}
}

// github makes an issues.opened or issue_comment.created delivery from the
// real payloads of the normalizer's testdata, on one of 200 issues.
func (g *soakGen) github() *soakReq {
	repo := []string{"api", "web"}[g.rng.IntN(2)]
	number := 1 + g.rng.IntN(100)
	event, tpl := "issue_comment", g.ghComm
	if g.rng.IntN(10) < 3 {
		event, tpl = "issues", g.ghOpened
	}
	p := soakCloneJSON(tpl)
	repository := p["repository"].(map[string]any)
	repository["name"] = repo
	repository["full_name"] = "soak-org/" + repo
	issue := p["issue"].(map[string]any)
	issue["number"] = number
	issue["title"] = fmt.Sprintf("Issue %d: %s", number, g.phrase())
	issue["body"] = g.phrase()
	issue["html_url"] = fmt.Sprintf("https://github.com/soak-org/%s/issues/%d", repo, number)
	if c, ok := p["comment"].(map[string]any); ok {
		c["id"] = 900000 + g.n
		c["body"] = g.phrase()
	}
	delivery := soakUUID(g.rng)
	return &soakReq{provider: "github", key: "github:" + delivery, body: soakJSON(p), contentType: "application/json",
		auth: soakAuthGitHubSig, ghEvent: event, ghDelivery: delivery}
}

func soakCloneJSON(m map[string]any) map[string]any {
	var out map[string]any
	_ = json.Unmarshal(soakJSON(m), &out)
	return out
}

func soakUUID(rng *mrand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// bad makes an invalid delivery: none of them may store anything.
func (g *soakGen) bad() *soakReq {
	g.n++
	id := fmt.Sprintf("bad-%d", g.n)
	generic := soakJSON(map[string]any{"event_id": id, "thread_id": "incident_1", "text": "must not be stored"})
	r := &soakReq{provider: "generic-webhook", key: "generic-webhook:" + id, contentType: "application/json", auth: soakAuthAPIKey, body: generic}
	switch k := g.rng.IntN(8); k {
	case 0:
		r.badKind, r.auth, r.wantStatus, r.wantCode = "generic bad signature", soakAuthBadGenericSig, 401, "invalid_signature"
	case 1:
		upd := soakBadUpdateBase + int64(g.n)
		r.provider, r.key = "telegram", "telegram:"+strconv.FormatInt(upd, 10)
		r.body = soakJSON(map[string]any{"update_id": upd, "message": map[string]any{"message_id": 1, "date": time.Now().Unix(), "text": "must not be stored",
			"chat": map[string]any{"id": soakBoundChats[0], "type": "supergroup", "title": "Support"}}})
		r.badKind, r.auth, r.wantStatus, r.wantCode = "telegram wrong secret token", soakAuthBadTelegramToken, 401, "invalid_signature"
	case 2:
		gh := g.github()
		gh.key = "github:" + id
		gh.ghDelivery = id
		gh.badKind, gh.auth, gh.wantStatus, gh.wantCode = "github bad signature", soakAuthBadGitHubSig, 401, "invalid_signature"
		return gh
	case 3:
		r.body = []byte(fmt.Sprintf(`{"event_id":%q,"thread_id":"incident_1","text":`, id))
		r.badKind, r.wantStatus, r.wantCode = "invalid JSON", 400, "invalid_payload"
	case 4:
		r.body = soakJSON(map[string]any{"event_id": id, "text": "no thread"})
		r.badKind, r.wantStatus, r.wantCode = "generic without thread_id", 422, "missing_field"
	case 5:
		r.provider, r.key = "telegram", "telegram:no-update-id-"+id
		r.body = soakJSON(map[string]any{"message": map[string]any{"message_id": 1, "date": time.Now().Unix(), "text": "no update id " + id,
			"chat": map[string]any{"id": soakBoundChats[0], "type": "supergroup"}}})
		r.badKind, r.auth, r.wantStatus, r.wantCode = "telegram without update_id", soakAuthTelegramToken, 422, "missing_field"
	case 6:
		r.contentType = []string{"text/plain", "application/x-www-form-urlencoded", ""}[g.rng.IntN(3)]
		r.badKind, r.wantStatus, r.wantCode = "wrong content type", 415, "unsupported_media_type"
	default:
		gh := g.github()
		gh.key = "github:" + id
		gh.ghDelivery = ""
		gh.badKind, gh.wantStatus, gh.wantCode = "github without X-GitHub-Delivery", 422, "missing_field"
		return gh
	}
	return r
}

// soakLoad runs the clients.
type soakLoad struct {
	e          *soakEnv
	stats      *soakStats
	client     *http.Client
	dispatched atomic.Int64
	phase      atomic.Value // string: the chaos phase, for counting errors
	probes     sync.WaitGroup
	probeSem   chan struct{}
	rng        *mrand.Rand
	rngMu      sync.Mutex
}

func newSoakLoad(e *soakEnv, stats *soakStats) *soakLoad {
	l := &soakLoad{e: e, stats: stats, probeSem: make(chan struct{}, 8),
		rng: mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 3)),
		client: &http.Client{Timeout: soakAttemptTimeout, Transport: &http.Transport{
			MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 30 * time.Second,
		}}}
	l.phase.Store("steady")
	return l
}

func (l *soakLoad) jitter(d time.Duration) time.Duration {
	l.rngMu.Lock()
	defer l.rngMu.Unlock()
	return d/2 + time.Duration(l.rng.Int64N(int64(d)))
}

func soakHMAC(secret string, parts ...[]byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write(p)
	}
	return hex.EncodeToString(m.Sum(nil))
}

func (l *soakLoad) newRequest(r *soakReq) *http.Request {
	req, err := http.NewRequest(http.MethodPost, l.e.pickBase()+"/v1/apps/socialops/"+soakAlias+"/webhook/"+r.provider, bytes.NewReader(r.body))
	if err != nil {
		panic(err)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	switch r.auth {
	case soakAuthAPIKey:
		req.Header.Set("X-API-Key", l.e.apiKey)
	case soakAuthGenericSig, soakAuthBadGenericSig:
		secret := l.e.secrets["generic-webhook"]
		if r.auth == soakAuthBadGenericSig {
			secret = "not-the-secret"
		}
		req.Header.Set("X-Timestamp", ts)
		req.Header.Set("X-Signature", soakHMAC(secret, []byte(ts+"."), r.body))
	case soakAuthTelegramToken:
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", l.e.secrets["telegram"])
	case soakAuthBadTelegramToken:
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", "wrong-"+l.e.secrets["telegram"])
	case soakAuthGitHubSig, soakAuthBadGitHubSig:
		secret := l.e.secrets["github"]
		if r.auth == soakAuthBadGitHubSig {
			secret = "not-the-secret"
		}
		req.Header.Set("X-Hub-Signature-256", "sha256="+soakHMAC(secret, r.body))
	}
	if r.provider == "github" {
		req.Header.Set("User-Agent", "GitHub-Hookshot/soak")
		req.Header.Set("X-GitHub-Event", r.ghEvent)
		req.Header.Set("X-GitHub-Hook-ID", "424242")
		if r.ghDelivery != "" {
			req.Header.Set("X-GitHub-Delivery", r.ghDelivery)
		}
	}
	return req
}

func soakTransportKind(err error) string {
	s := err.Error()
	for _, k := range []string{"connection refused", "connection reset", "EOF", "timeout", "broken pipe", "server closed idle connection"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Timeout() {
		return "timeout"
	}
	return soakCut(s, 80)
}

// deliver sends one delivery as a provider would: retrying connection errors,
// 5xx and 429 with the same body, bounded by soakRetryBudget.
func (l *soakLoad) deliver(r *soakReq) {
	st := l.stats
	start := time.Now()
	backoff := 100 * time.Millisecond
	for {
		resp, err := l.client.Do(l.newRequest(r))
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		phase := l.phase.Load().(string)
		st.mu.Lock()
		st.attempts++
		retry := false
		wait := backoff
		switch {
		case err != nil:
			st.transport[soakTransportKind(err)]++
			st.byPhase[phase+" connection error"]++
			retry = true
		case resp.StatusCode == http.StatusTooManyRequests:
			st.byStatus[resp.StatusCode]++
			retry = true
			if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
		case resp.StatusCode >= 500:
			st.byStatus[resp.StatusCode]++
			st.byPhase[fmt.Sprintf("%s %d", phase, resp.StatusCode)]++
			retry = true
		default:
			st.byStatus[resp.StatusCode]++
		}
		st.mu.Unlock()
		if retry {
			if time.Since(start)+wait > soakRetryBudget {
				st.mu.Lock()
				st.unanswered++
				if r.good {
					st.goodUnanswered[r.key]++
				}
				st.mu.Unlock()
				return
			}
			time.Sleep(l.jitter(wait))
			backoff = min(backoff*2, soakMaxRetryBackoff)
			continue
		}
		l.answered(r, resp, body)
		return
	}
}

type soakWebhookAnswer struct {
	Status    string `json:"status"`
	Provider  string `json:"provider"`
	ThreadID  string `json:"thread_id"`
	MessageID string `json:"message_id"`
	Duplicate bool   `json:"duplicate"`
	Error     struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (l *soakLoad) answered(r *soakReq, resp *http.Response, body []byte) {
	st := l.stats
	var a soakWebhookAnswer
	_ = json.Unmarshal(body, &a)
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case resp.StatusCode == http.StatusAccepted:
		st.accepted++
		if a.Duplicate {
			st.duplicates++
		}
		if !r.good {
			st.unexpected = append(st.unexpected, fmt.Sprintf("bad input (%s) accepted: %s", r.badKind, soakCut(string(body), 200)))
			return
		}
		acc := st.goodAccepted[r.key]
		if acc == nil {
			acc = &soakAccepted{messageIDs: map[string]bool{}, threadID: a.ThreadID}
			st.goodAccepted[r.key] = acc
		}
		acc.n++
		acc.messageIDs[a.MessageID] = true
		if r.provider == "telegram" && a.ThreadID != "" {
			st.tgThreads[r.chat] = a.ThreadID
		} else if a.ThreadID != "" && len(st.otherThreads) < 50 && r.probe == "" {
			st.otherThreads = append(st.otherThreads, a.ThreadID)
		}
		if r.probe != "" {
			pos := resp.Header.Get("X-SocialOps-Position")
			accepted := time.Now()
			l.probes.Add(1)
			go l.measureLag(r.probe, a.ThreadID, pos, accepted)
		}
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		st.rejected++
		if r.good {
			st.unexpected = append(st.unexpected, fmt.Sprintf("valid %s delivery %s refused: %d %s", r.provider, r.key, resp.StatusCode, soakCut(string(body), 300)))
		} else if resp.StatusCode != r.wantStatus || a.Error.Code != r.wantCode {
			st.unexpected = append(st.unexpected, fmt.Sprintf("bad input (%s) answered %d %s, want %d %s", r.badKind, resp.StatusCode, a.Error.Code, r.wantStatus, r.wantCode))
		}
	default:
		st.unexpected = append(st.unexpected, fmt.Sprintf("%s delivery %s (good=%v) answered %d: %s", r.provider, r.key, r.good, resp.StatusCode, soakCut(string(body), 200)))
	}
}

// measureLag polls the inbox, with the position header, until the probe's
// thread is there and the answer is not stale: the webhook-to-inbox lag.
func (l *soakLoad) measureLag(token, threadID, pos string, accepted time.Time) {
	defer l.probes.Done()
	l.probeSem <- struct{}{}
	defer func() { <-l.probeSem }()
	var last string
	for time.Since(accepted) < 90*time.Second {
		req, _ := http.NewRequest(http.MethodGet, l.e.pickBase()+"/v1/apps/socialops/"+soakAlias+"/inbox?limit=5&provider=generic-webhook&q="+url.QueryEscape(token), nil)
		req.Header.Set("X-API-Key", l.e.apiKey)
		if pos != "" {
			req.Header.Set("X-SocialOps-Position", pos)
		}
		resp, err := l.client.Do(req)
		if err != nil {
			last = err.Error()
			time.Sleep(50 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var page struct {
			Data struct {
				Threads []struct {
					ThreadID string `json:"thread_id"`
				} `json:"threads"`
			} `json:"data"`
		}
		if resp.StatusCode == 200 && json.Unmarshal(b, &page) == nil && resp.Header.Get("X-SocialOps-Stale") != "true" {
			for _, th := range page.Data.Threads {
				if th.ThreadID == threadID {
					lag := time.Since(accepted)
					l.stats.mu.Lock()
					l.stats.lags = append(l.stats.lags, lag)
					l.stats.mu.Unlock()
					return
				}
			}
		}
		last = fmt.Sprintf("%d stale=%s %s", resp.StatusCode, resp.Header.Get("X-SocialOps-Stale"), soakCut(string(b), 200))
		time.Sleep(20 * time.Millisecond)
	}
	l.stats.mu.Lock()
	l.stats.lagFailures = append(l.stats.lagFailures, fmt.Sprintf("probe %s (thread %s) not visible in the inbox 90s after its 202: %s", token, threadID, last))
	l.stats.mu.Unlock()
}

// run paces total webhook slots at rate per second over workers clients.
func (l *soakLoad) run(g *soakGen, total int, rate float64, workers int) {
	jobs := make(chan *soakReq, total+16)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range jobs {
				l.deliver(r)
			}
		}()
	}
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	for sent := 0; sent < total; {
		batch := g.next()
		l.stats.mu.Lock()
		for _, r := range batch {
			l.stats.sent++
			switch {
			case r.copy:
				l.stats.copies++
				if r.crossThread {
					l.stats.crossThread++
				}
			case !r.good:
				l.stats.bad++
				l.stats.badKeys[r.key] = true
			default:
				l.stats.goodKeys[r.key] = true
			}
		}
		l.stats.mu.Unlock()
		for _, r := range batch {
			jobs <- r
		}
		sent += len(batch)
		l.dispatched.Store(int64(sent))
		next = next.Add(interval * time.Duration(len(batch)))
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	close(jobs)
	wg.Wait()
	l.probes.Wait()
}

// The console client: notes and replies on Telegram threads.

type soakReply struct {
	n        int
	key      string
	threadID string
	text     string
	target   string // bound, unbound (a chat without channel) or other (github/generic)
	mu       sync.Mutex
	actions  map[string]bool
	got201   int
	replays  int // requests repeating the key on purpose
	replayed int // answers marked Idempotent-Replayed
	problems []string
}

type soakConsole struct {
	l       *soakLoad
	mu      sync.Mutex
	rng     *mrand.Rand
	replies []*soakReply
	notes   struct{ sent, created, unanswered int }
	notesOK map[string]int // note text → 201 answers
	statusN map[int]int
	wg      sync.WaitGroup
	sem     chan struct{}
	// poisonSent and poisonRefused count console texts with control characters.
	poisonSent, poisonRefused int
}

func newSoakConsole(l *soakLoad) *soakConsole {
	return &soakConsole{l: l, rng: mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 11)), notesOK: map[string]int{},
		statusN: map[int]int{}, sem: make(chan struct{}, 16)}
}

// do sends a console request, retrying connection errors, 5xx and 429 with
// the same headers (so the same Idempotency-Key).
func (c *soakConsole) do(method, path, body string, header map[string]string) (int, http.Header, []byte) {
	start := time.Now()
	backoff := 100 * time.Millisecond
	for {
		req, _ := http.NewRequest(method, c.l.e.pickBase()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+c.l.e.token)
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := c.l.client.Do(req)
		status := 0
		var b []byte
		if err == nil {
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
		c.mu.Lock()
		c.statusN[status]++
		c.mu.Unlock()
		if err == nil && status < 500 && status != http.StatusTooManyRequests {
			return status, resp.Header, b
		}
		if time.Since(start)+backoff > soakRetryBudget {
			return 0, nil, nil
		}
		time.Sleep(c.l.jitter(backoff))
		backoff = min(backoff*2, soakMaxRetryBackoff)
	}
}

// pick chooses a thread: mostly a bound chat's, sometimes another chat's or a
// github/generic thread (replies there fail without being sent).
func (c *soakConsole) pick() (threadID, target string) {
	st := c.l.stats
	st.mu.Lock()
	var bound, unbound []string
	for chat, th := range st.tgThreads {
		if soakIsBound(chat) {
			bound = append(bound, th)
		} else {
			unbound = append(unbound, th)
		}
	}
	other := append([]string(nil), st.otherThreads...)
	st.mu.Unlock()
	sort.Strings(bound)
	sort.Strings(unbound)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch x := c.rng.IntN(20); {
	case x == 0 && len(other) > 0:
		return other[c.rng.IntN(len(other))], "other"
	case x <= 2 && len(unbound) > 0:
		return unbound[c.rng.IntN(len(unbound))], "unbound"
	case len(bound) > 0:
		return bound[c.rng.IntN(len(bound))], "bound"
	}
	return "", ""
}

func soakIsBound(chat int64) bool {
	for _, b := range soakBoundChats {
		if b == chat {
			return true
		}
	}
	return false
}

// run sends notes and replies at rate per second until stop is closed.
func (c *soakConsole) run(rate float64, stop <-chan struct{}) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-stop:
			c.wg.Wait()
			return
		case <-tick.C:
		}
		n++
		c.mu.Lock()
		x := c.rng.IntN(10)
		var replay *soakReply
		if x == 0 && len(c.replies) > 0 {
			replay = c.replies[c.rng.IntN(len(c.replies))]
		}
		c.mu.Unlock()
		c.sem <- struct{}{}
		c.wg.Add(1)
		go func(n, x int) {
			defer c.wg.Done()
			defer func() { <-c.sem }()
			switch {
			case replay != nil:
				c.reply(replay, true)
			case x == 9 && n%4 == 0:
				c.poison(n)
			case x < 5:
				thread, target := c.pick()
				if thread == "" {
					return
				}
				r := &soakReply{n: n, key: fmt.Sprintf("soak-reply-%d-%s", n, soakRandomHex(4)), threadID: thread, target: target,
					text: fmt.Sprintf("soak reply %d %s: we are looking into it / 我们正在检查这个问题。", n, soakRandomHex(4)), actions: map[string]bool{}}
				c.mu.Lock()
				c.replies = append(c.replies, r)
				c.mu.Unlock()
				c.reply(r, false)
			default:
				thread, _ := c.pick()
				if thread != "" {
					c.note(thread, fmt.Sprintf("soak note %d %s: checked the provider console", n, soakRandomHex(4)))
				}
			}
		}(n, x)
	}
}

func (c *soakConsole) reply(r *soakReply, replay bool) {
	status, header, body := c.do(http.MethodPost, "/console/socialops/"+soakAlias+"/threads/"+r.threadID+"/replies",
		string(soakJSON(map[string]string{"text": r.text})), map[string]string{"Idempotency-Key": r.key})
	r.mu.Lock()
	defer r.mu.Unlock()
	if status == 0 {
		r.problems = append(r.problems, "never answered within the retry budget")
		return
	}
	if status != http.StatusCreated {
		r.problems = append(r.problems, fmt.Sprintf("answered %d: %s", status, soakCut(string(body), 200)))
		return
	}
	var out struct {
		Data struct {
			Action struct {
				ActionID string `json:"action_id"`
			} `json:"action"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Data.Action.ActionID == "" {
		r.problems = append(r.problems, "201 without an action id: "+soakCut(string(body), 200))
		return
	}
	r.got201++
	r.actions[out.Data.Action.ActionID] = true
	if replay {
		r.replays++
	}
	if header.Get("Idempotent-Replayed") == "true" {
		r.replayed++
	}
}

// poison sends console text that the read models cannot hold (NUL and other
// control characters): each must be refused with 400 invalid_field, store
// nothing and leave every projector running.
func (c *soakConsole) poison(n int) {
	thread, _ := c.pick()
	if thread == "" {
		return
	}
	base := "/console/socialops/" + soakAlias + "/threads/" + thread
	tries := []struct{ method, path, body string }{
		{http.MethodPost, base + "/notes", string(soakJSON(map[string]string{"text": fmt.Sprintf("poison note %d \x00 nul", n)}))},
		{http.MethodPost, base + "/replies", string(soakJSON(map[string]string{"text": fmt.Sprintf("poison reply %d \x00 nul", n)}))},
		{http.MethodPatch, base, string(soakJSON(map[string]string{"assignee": fmt.Sprintf("agent\x00%d", n)}))},
		{http.MethodPatch, base, string(soakJSON(map[string]string{"assignee": fmt.Sprintf("agent\x1b[31m%d", n)}))},
	}
	for _, p := range tries {
		status, _, body := c.do(p.method, p.path, p.body, map[string]string{"Idempotency-Key": fmt.Sprintf("soak-poison-%d-%s", n, soakRandomHex(4))})
		c.mu.Lock()
		c.poisonSent++
		if status == http.StatusBadRequest && strings.Contains(string(body), `"invalid_field"`) {
			c.poisonRefused++
		}
		c.mu.Unlock()
		if status != 0 && status != http.StatusBadRequest {
			c.l.stats.unexpectedf("poison console text (%s %s) answered %d: %s", p.method, p.path, status, soakCut(string(body), 200))
		}
	}
}

func (c *soakConsole) note(thread, text string) {
	status, _, body := c.do(http.MethodPost, "/console/socialops/"+soakAlias+"/threads/"+thread+"/notes", string(soakJSON(map[string]string{"text": text})), nil)
	c.mu.Lock()
	c.notes.sent++
	switch status {
	case http.StatusCreated:
		c.notes.created++
		c.notesOK[text]++
	case 0:
		c.notes.unanswered++
	}
	c.mu.Unlock()
	if status != 0 && status != http.StatusCreated {
		c.l.stats.unexpectedf("note answered %d: %s", status, soakCut(string(body), 200))
	}
}
