package wecom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socialops/socialops/domain"
)

// DefaultAPIURL is the public WeCom API.
const DefaultAPIURL = "https://qyapi.weixin.qq.com"

// Credentials are what sending as an instance's WeCom app needs.
type Credentials struct {
	CorpID  string
	AgentID int64
	Secret  string
}

// CredentialsFunc finds an instance's WeCom credentials; found is false when
// the instance has no WeCom settings.
type CredentialsFunc func(ctx context.Context, instanceID string) (c Credentials, found bool, err error)

// Sender delivers replies through the WeCom API: gettoken (the access token
// is cached until a minute before expires_in, and fetched again when WeCom
// calls it invalid or expired) and message/send. The secret and the access
// token travel in URLs, so errors never include a URL or a transport error's
// text.
type Sender struct {
	BaseURL     string
	Client      *http.Client
	Credentials CredentialsFunc
	Now         func() time.Time

	mu     sync.Mutex
	tokens map[string]cachedToken // by corp id and secret
}

type cachedToken struct {
	token   string
	expires time.Time
}

// NewSender returns a sender for a WeCom API base URL (DefaultAPIURL when empty).
func NewSender(baseURL string, timeout time.Duration, creds CredentialsFunc) *Sender {
	if baseURL == "" {
		baseURL = DefaultAPIURL
	}
	return &Sender{BaseURL: strings.TrimRight(baseURL, "/"), Client: &http.Client{Timeout: timeout},
		Credentials: creds, Now: time.Now, tokens: map[string]cachedToken{}}
}

// Recipient is the user a reply on a WeCom thread goes to: the thread is
// "<corp id>:<user id>", and the corp must still be the instance's. A
// non-empty failCode ends the delivery (and refunds it).
func (s *Sender) Recipient(ctx context.Context, instanceID string, thread domain.Thread) (string, string, string, error) {
	creds, found, err := s.Credentials(ctx, instanceID)
	if err != nil {
		return "", "", "", err
	}
	if !found || creds.Secret == "" {
		return "", domain.DeliveryAccountNotFound, "the instance has no WeCom app secret (socialops wecom set --secret-file)", nil
	}
	corp, user, ok := strings.Cut(thread.ExternalThreadID, ":")
	if !ok || user == "" {
		return "", domain.DeliveryChannelNotFound, "the thread names no WeCom user", nil
	}
	if corp != creds.CorpID {
		return "", domain.DeliveryChannelNotFound, "the thread's corp is not the instance's WeCom corp", nil
	}
	return user, "", "", nil
}

type sendRequest struct {
	ToUser  string `json:"touser"`
	MsgType string `json:"msgtype"`
	AgentID int64  `json:"agentid"`
	Text    struct {
		Content string `json:"content"`
	} `json:"text"`
}

type apiAnswer struct {
	ErrCode     *int   `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	MsgID       string `json:"msgid"`
	InvalidUser string `json:"invaliduser"`
}

// Token errcodes: 40014 invalid access_token, 42001 expired, 40001 invalid credential.
func tokenRejected(code int) bool { return code == 40014 || code == 42001 || code == 40001 }

// Send posts a text message to a user as the instance's app and returns
// WeCom's msgid. Failures are *domain.SendError: a request that never left,
// errcode -1 (system busy) and 45009 (API rate limit) are retryable; other
// errcodes are permanent; an answer lost after the request may have reached
// WeCom is Unknown (message/send has no idempotency key).
func (s *Sender) Send(ctx context.Context, instanceID, toUser, text string) (string, error) {
	creds, found, err := s.Credentials(ctx, instanceID)
	if err != nil {
		return "", &domain.SendError{Code: "wecom_settings", Message: "the WeCom settings could not be read (nothing was sent)", Retryable: true}
	}
	if !found || creds.Secret == "" {
		return "", &domain.SendError{Code: "wecom_no_secret", Message: "the instance has no WeCom app secret"}
	}
	for attempt := 0; ; attempt++ {
		token, err := s.token(ctx, creds)
		if err != nil {
			return "", err
		}
		id, code, err := s.send(ctx, token, creds.AgentID, toUser, text)
		if err != nil && tokenRejected(code) && attempt == 0 {
			s.forget(creds, token) // expired or revoked early: fetch a new one once
			continue
		}
		return id, err
	}
}

func (s *Sender) cacheKey(c Credentials) string { return c.CorpID + "\x00" + c.Secret }

func (s *Sender) forget(c Credentials, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[s.cacheKey(c)]; ok && t.token == token {
		delete(s.tokens, s.cacheKey(c))
	}
}

func (s *Sender) token(ctx context.Context, c Credentials) (string, error) {
	s.mu.Lock()
	t, ok := s.tokens[s.cacheKey(c)]
	s.mu.Unlock()
	if ok && s.Now().Before(t.expires) {
		return t.token, nil
	}
	q := url.Values{"corpid": {c.CorpID}, "corpsecret": {c.Secret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.BaseURL+"/cgi-bin/gettoken?"+q.Encode(), nil)
	if err != nil {
		return "", &domain.SendError{Code: "wecom_request", Message: "could not build the gettoken request"}
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		// Nothing was sent to the customer yet: any failure here may be retried.
		return "", &domain.SendError{Code: "wecom_unreachable", Message: "gettoken failed (nothing was sent)", Retryable: true}
	}
	defer resp.Body.Close()
	var ans apiAnswer
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || json.Unmarshal(raw, &ans) != nil || ans.ErrCode == nil {
		return "", &domain.SendError{Code: "wecom_" + strconv.Itoa(resp.StatusCode), Retryable: true,
			Message: fmt.Sprintf("gettoken answered HTTP %d without WeCom JSON (nothing was sent)", resp.StatusCode)}
	}
	if *ans.ErrCode != 0 || ans.AccessToken == "" {
		return "", classify(*ans.ErrCode, "gettoken: "+ans.ErrMsg)
	}
	life := time.Duration(ans.ExpiresIn) * time.Second
	if life > 2*time.Minute {
		life -= time.Minute // refreshed shortly before WeCom expires it
	}
	s.mu.Lock()
	s.tokens[s.cacheKey(c)] = cachedToken{token: ans.AccessToken, expires: s.Now().Add(life)}
	s.mu.Unlock()
	return ans.AccessToken, nil
}

// send calls message/send once; code is WeCom's errcode (0 when none).
func (s *Sender) send(ctx context.Context, token string, agentID int64, toUser, text string) (string, int, error) {
	r := sendRequest{ToUser: toUser, MsgType: "text", AgentID: agentID}
	r.Text.Content = text
	body, err := json.Marshal(r)
	if err != nil {
		return "", 0, &domain.SendError{Code: "wecom_request", Message: "could not encode the message/send request"}
	}
	var connected atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { connected.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost,
		s.BaseURL+"/cgi-bin/message/send?access_token="+url.QueryEscape(token), bytes.NewReader(body))
	if err != nil {
		return "", 0, &domain.SendError{Code: "wecom_request", Message: "could not build the message/send request"}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client.Do(req)
	if err != nil {
		if !connected.Load() {
			return "", 0, &domain.SendError{Code: "wecom_unreachable", Message: "the WeCom API could not be reached (nothing was sent)", Retryable: true}
		}
		return "", 0, lostAnswer(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, lostAnswer(err)
	}
	var ans apiAnswer
	if json.Unmarshal(raw, &ans) != nil || ans.ErrCode == nil {
		se := &domain.SendError{Code: "wecom_" + strconv.Itoa(resp.StatusCode),
			Message: fmt.Sprintf("message/send answered HTTP %d without WeCom JSON", resp.StatusCode)}
		se.Unknown = resp.StatusCode < 400 || resp.StatusCode >= 500
		return "", 0, se
	}
	if *ans.ErrCode != 0 {
		return "", *ans.ErrCode, classify(*ans.ErrCode, "message/send: "+ans.ErrMsg)
	}
	if ans.InvalidUser != "" {
		return "", 0, &domain.SendError{Code: "wecom_invaliduser", Message: "message/send: the user is not reachable by the app"}
	}
	return ans.MsgID, 0, nil
}

// classify maps a WeCom errcode: -1 (system busy) and 45009 (API rate limit)
// are retried; the rest (bad user, no permission, bad secret) are permanent.
func classify(code int, msg string) *domain.SendError {
	se := &domain.SendError{Code: "wecom_" + strconv.Itoa(code), Message: msg}
	switch code {
	case -1:
		se.Retryable = true
	case 45009:
		se.Retryable = true
		se.RetryAfter = time.Second
	}
	return se
}

func lostAnswer(err error) error {
	var netErr net.Error
	code, msg := "wecom_answer_lost", "the connection failed while waiting for the message/send answer"
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		code, msg = "timeout", "no answer in time from message/send"
	}
	return &domain.SendError{Code: code, Message: msg, Unknown: true}
}
