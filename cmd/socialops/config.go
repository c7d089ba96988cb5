package main

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	httpapi "github.com/socialops/socialops/adapters/http"
)

// Config is read from SOCIALOPS_* environment variables. Every setting is
// documented in the README's configuration table.
type Config struct {
	DatabaseURL   string
	EventStoreURL string
	HTTPAddr      string
	// MetricsAddr serves GET /metrics; empty when metrics are off.
	MetricsAddr        string
	LogLevel           slog.Level
	MaxBodyBytes       int64
	InboundFeeMicroUSD int64
	WebhookTolerance   time.Duration
	// WeComMaxAge bounds a WeCom callback's timestamp age; negative: unchecked.
	WeComMaxAge     time.Duration
	ShutdownTimeout time.Duration
	// JWTSecret verifies console user tokens; empty disables the console.
	JWTSecret []byte
	// ConsoleSessionTTL is how long a web console sign-in lasts.
	ConsoleSessionTTL time.Duration
	// PublicURL is where browsers reach this server (sign-in links).
	PublicURL string
	// EncryptionKey (32 bytes) encrypts connected accounts' tokens; nil when unset.
	EncryptionKey []byte
	// Reply delivery.
	ReplyFeeMicroUSD      int64
	TelegramAPIURL        string
	WeComAPIURL           string
	DeliveryMaxAttempts   int64
	DeliveryMaxUnresolved int64
	DeliveryConcurrency   int64
	DeliveryTimeout       time.Duration
	DeliveryLease         time.Duration
	DeliveryBackoff       time.Duration
	DeliveryStuckAfter    time.Duration
	DeliverySweepInterval time.Duration
	// ElectionInterval is how often a process tries to win free follower
	// roles and heartbeats the ones it holds.
	ElectionInterval time.Duration
	// Request limits.
	RequestTimeout time.Duration
	RateLimitRPS   int64
	RateLimitBurst int64
	// Failed authentications per client address, and the proxies trusted to name the client.
	AuthFailurePerMinute int64
	AuthFailureBurst     int64
	TrustedProxies       []string
	AccessTokenTTL       time.Duration
	UnmergeWindow        time.Duration
	// WSOrigins are the browser origins (host patterns) allowed to open
	// WebSockets besides the server's own host (SOCIALOPS_WS_ORIGINS).
	WSOrigins []string
	// Outbound webhooks (config_webhooks.go).
	Webhooks WebhookConfig
	AI       AIConfig
}

// ConfigError names the variable that is wrong.
type ConfigError struct {
	Variable string
	Problem  string
}

func (e *ConfigError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Variable, e.Problem) }

// loadConfig reads the configuration; lookupEnv is os.LookupEnv, which tells
// an unset variable (its default) from one set to the empty string
// (SOCIALOPS_METRICS_ADDR= turns metrics off).
func loadConfig(lookupEnv func(string) (string, bool)) (Config, error) {
	getenv := func(k string) string { v, _ := lookupEnv(k); return v }
	cfg := Config{
		DatabaseURL:        strings.TrimSpace(getenv("SOCIALOPS_DATABASE_URL")),
		EventStoreURL:      strings.TrimSpace(getenv("SOCIALOPS_EVENTSTORE_URL")),
		HTTPAddr:           "127.0.0.1:8080",
		MetricsAddr:        defaultMetricsAddr,
		LogLevel:           slog.LevelInfo,
		MaxBodyBytes:       httpapi.DefaultMaxBodyBytes,
		InboundFeeMicroUSD: 200,
		WebhookTolerance:   5 * time.Minute,
		ShutdownTimeout:    20 * time.Second,
	}
	if cfg.DatabaseURL == "" {
		return cfg, &ConfigError{"SOCIALOPS_DATABASE_URL", "not set (make run provides a local Postgres when it is unset)"}
	}
	if u, err := url.Parse(cfg.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return cfg, &ConfigError{"SOCIALOPS_DATABASE_URL", "must be a postgres:// URL"}
	}
	if cfg.EventStoreURL != "" {
		u, err := url.Parse(cfg.EventStoreURL)
		if err != nil || (u.Scheme != "esdb" && u.Scheme != "esdb+discover" && u.Scheme != "kurrentdb" && u.Scheme != "kurrentdb+discover") || u.Host == "" {
			return cfg, &ConfigError{"SOCIALOPS_EVENTSTORE_URL", "must be empty (Postgres store) or an esdb://host:port?tls=false style URL"}
		}
	}
	if v := strings.TrimSpace(getenv("SOCIALOPS_HTTP_ADDR")); v != "" {
		host, port, err := net.SplitHostPort(v)
		if p, perr := strconv.Atoi(port); err != nil || perr != nil || p < 0 || p > 65535 {
			return cfg, &ConfigError{"SOCIALOPS_HTTP_ADDR", fmt.Sprintf("%q is not host:port", v)}
		}
		_ = host
		cfg.HTTPAddr = v
	}
	if err := metricsAddrVar(lookupEnv, &cfg); err != nil {
		return cfg, err
	}
	if v := strings.TrimSpace(getenv("SOCIALOPS_LOG_LEVEL")); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return cfg, &ConfigError{"SOCIALOPS_LOG_LEVEL", fmt.Sprintf("%q is not one of debug, info, warn, error", v)}
		}
	}
	var err error
	if cfg.MaxBodyBytes, err = intVar(getenv, "SOCIALOPS_MAX_BODY_BYTES", cfg.MaxBodyBytes, 1024, 64<<20); err != nil {
		return cfg, err
	}
	if cfg.InboundFeeMicroUSD, err = intVar(getenv, "SOCIALOPS_INBOUND_FEE_MICRO_USD", cfg.InboundFeeMicroUSD, 0, 1_000_000_000); err != nil {
		return cfg, err
	}
	if cfg.WebhookTolerance, err = durationVar(getenv, "SOCIALOPS_WEBHOOK_TOLERANCE", cfg.WebhookTolerance); err != nil {
		return cfg, err
	}
	if cfg.WeComMaxAge, err = weComMaxAgeVar(getenv); err != nil {
		return cfg, err
	}
	if cfg.ShutdownTimeout, err = durationVar(getenv, "SOCIALOPS_SHUTDOWN_TIMEOUT", cfg.ShutdownTimeout); err != nil {
		return cfg, err
	}
	if cfg.JWTSecret, err = jwtSecretVar(getenv); err != nil {
		return cfg, err
	}
	if cfg.ConsoleSessionTTL, err = durationVar(getenv, "SOCIALOPS_CONSOLE_SESSION_TTL", 12*time.Hour); err != nil {
		return cfg, err
	}
	if cfg.RequestTimeout, err = durationVar(getenv, "SOCIALOPS_REQUEST_TIMEOUT", 10*time.Second); err != nil {
		return cfg, err
	}
	if cfg.RateLimitRPS, err = intVar(getenv, "SOCIALOPS_RATE_LIMIT_RPS", 100, 0, 1_000_000); err != nil {
		return cfg, err
	}
	if cfg.RateLimitBurst, err = intVar(getenv, "SOCIALOPS_RATE_LIMIT_BURST", 200, 1, 10_000_000); err != nil {
		return cfg, err
	}
	if cfg.AuthFailurePerMinute, err = intVar(getenv, "SOCIALOPS_AUTH_FAILURE_PER_MINUTE", 30, 0, 1_000_000); err != nil {
		return cfg, err
	}
	if cfg.AuthFailureBurst, err = intVar(getenv, "SOCIALOPS_AUTH_FAILURE_BURST", 20, 1, 1_000_000); err != nil {
		return cfg, err
	}
	for _, o := range strings.Split(getenv("SOCIALOPS_WS_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.WSOrigins = append(cfg.WSOrigins, o)
		}
	}
	if cfg.TrustedProxies, err = trustedProxiesVar(getenv); err != nil {
		return cfg, err
	}
	if cfg.UnmergeWindow, err = durationVar(getenv, "SOCIALOPS_CONTACT_UNMERGE_WINDOW", 72*time.Hour); err != nil {
		return cfg, err
	}
	if cfg.AccessTokenTTL, err = durationVar(getenv, "SOCIALOPS_OAUTH_TOKEN_TTL", time.Hour); err != nil {
		return cfg, err
	}
	if cfg.AccessTokenTTL < time.Minute || cfg.AccessTokenTTL > 24*time.Hour {
		return cfg, fmt.Errorf("SOCIALOPS_OAUTH_TOKEN_TTL: between 1m and 24h, got %s", cfg.AccessTokenTTL)
	}
	if err := deliveryVars(getenv, &cfg); err != nil {
		return cfg, err
	}
	if err := webhookVars(getenv, &cfg); err != nil {
		return cfg, err
	}
	if err := aiVars(getenv, &cfg); err != nil {
		return cfg, err
	}
	if cfg.EncryptionKey, err = encryptionKeyVar(getenv); err != nil {
		return cfg, err
	}
	if cfg.ElectionInterval, err = durationVar(getenv, "SOCIALOPS_ELECTION_INTERVAL", time.Second); err != nil {
		return cfg, err
	}
	// Above 2 s a holder cut off from the network might not notice before
	// Postgres frees its locks (about 6 s), and takeover would exceed 10 s.
	if cfg.ElectionInterval < 100*time.Millisecond || cfg.ElectionInterval > 2*time.Second {
		return cfg, &ConfigError{"SOCIALOPS_ELECTION_INTERVAL", fmt.Sprintf("%q must be between 100ms and 2s", cfg.ElectionInterval)}
	}
	return cfg, nil
}

// loadTokenConfig is the configuration of `token mint`, which needs no
// database: only SOCIALOPS_JWT_SECRET (and the log level).
func loadTokenConfig(lookupEnv func(string) (string, bool)) (Config, error) {
	getenv := func(k string) string { v, _ := lookupEnv(k); return v }
	cfg := Config{LogLevel: slog.LevelInfo}
	if v := strings.TrimSpace(getenv("SOCIALOPS_LOG_LEVEL")); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return cfg, &ConfigError{"SOCIALOPS_LOG_LEVEL", fmt.Sprintf("%q is not one of debug, info, warn, error", v)}
		}
	}
	var err error
	if cfg.JWTSecret, err = jwtSecretVar(getenv); err != nil {
		return cfg, err
	}
	cfg.PublicURL = strings.TrimSpace(getenv("SOCIALOPS_PUBLIC_URL"))
	if cfg.PublicURL == "" {
		addr := strings.TrimSpace(getenv("SOCIALOPS_HTTP_ADDR"))
		if addr == "" {
			addr = "127.0.0.1:8080"
		}
		if strings.HasPrefix(addr, ":") || strings.HasPrefix(addr, "0.0.0.0:") {
			addr = "127.0.0.1:" + addr[strings.LastIndex(addr, ":")+1:]
		}
		cfg.PublicURL = "http://" + addr
	}
	return cfg, nil
}

// jwtSecretVar reads SOCIALOPS_JWT_SECRET: optional, at least 32 bytes when
// set. Errors never quote the value.
func jwtSecretVar(getenv func(string) string) ([]byte, error) {
	v := strings.TrimSpace(getenv("SOCIALOPS_JWT_SECRET"))
	if v == "" {
		return nil, nil
	}
	if len(v) < 32 {
		return nil, &ConfigError{"SOCIALOPS_JWT_SECRET", fmt.Sprintf("must be at least 32 bytes, got %d (generate one with: openssl rand -base64 48)", len(v))}
	}
	return []byte(v), nil
}

// encryptionKeyVar reads SOCIALOPS_ENCRYPTION_KEY: optional, the standard
// base64 of exactly 32 bytes when set. Errors never quote the value.
func encryptionKeyVar(getenv func(string) string) ([]byte, error) {
	v := strings.TrimSpace(getenv("SOCIALOPS_ENCRYPTION_KEY"))
	if v == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(key) != 32 {
		return nil, &ConfigError{"SOCIALOPS_ENCRYPTION_KEY", "must be the standard base64 of exactly 32 bytes (generate one with: openssl rand -base64 32)"}
	}
	return key, nil
}

// trustedProxiesVar reads SOCIALOPS_TRUSTED_PROXIES: comma-separated IP
// addresses or CIDRs of the proxies whose X-Forwarded-For names the client.
func trustedProxiesVar(getenv func(string) string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(getenv("SOCIALOPS_TRUSTED_PROXIES"), ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			return nil, &ConfigError{"SOCIALOPS_TRUSTED_PROXIES", fmt.Sprintf("%q is not an IP address or CIDR", p)}
		}
		out = append(out, p)
	}
	return out, nil
}

func intVar(getenv func(string) string, name string, def, min, max int64) (int64, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		return 0, &ConfigError{name, fmt.Sprintf("%q is not an integer between %d and %d", v, min, max)}
	}
	return n, nil
}

func durationVar(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, &ConfigError{name, fmt.Sprintf("%q is not a positive duration such as 30s or 5m", v)}
	}
	return d, nil
}

func deliveryVars(getenv func(string) string, cfg *Config) error {
	var err error
	if cfg.ReplyFeeMicroUSD, err = intVar(getenv, "SOCIALOPS_REPLY_FEE_MICRO_USD", 200, 0, 1_000_000_000); err != nil {
		return err
	}
	if cfg.DeliveryMaxAttempts, err = intVar(getenv, "SOCIALOPS_DELIVERY_MAX_ATTEMPTS", 5, 1, 100); err != nil {
		return err
	}
	if cfg.DeliveryMaxUnresolved, err = intVar(getenv, "SOCIALOPS_DELIVERY_MAX_RESOLVE_FAILURES", 5, 1, 1000); err != nil {
		return err
	}
	if cfg.DeliveryConcurrency, err = intVar(getenv, "SOCIALOPS_DELIVERY_CONCURRENCY", 8, 1, 256); err != nil {
		return err
	}
	durations := []struct {
		name string
		dst  *time.Duration
		def  time.Duration
	}{
		{"SOCIALOPS_DELIVERY_TIMEOUT", &cfg.DeliveryTimeout, 10 * time.Second},
		{"SOCIALOPS_DELIVERY_LEASE", &cfg.DeliveryLease, 30 * time.Second},
		{"SOCIALOPS_DELIVERY_BACKOFF", &cfg.DeliveryBackoff, time.Second},
		{"SOCIALOPS_DELIVERY_STUCK_AFTER", &cfg.DeliveryStuckAfter, time.Minute},
		{"SOCIALOPS_DELIVERY_SWEEP_INTERVAL", &cfg.DeliverySweepInterval, 15 * time.Second},
	}
	for _, d := range durations {
		if *d.dst, err = durationVar(getenv, d.name, d.def); err != nil {
			return err
		}
	}
	cfg.TelegramAPIURL = "https://api.telegram.org"
	if v := strings.TrimSpace(getenv("SOCIALOPS_TELEGRAM_API_URL")); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &ConfigError{"SOCIALOPS_TELEGRAM_API_URL", fmt.Sprintf("%q is not an http(s) base URL", v)}
		}
		cfg.TelegramAPIURL = strings.TrimRight(v, "/")
	}
	cfg.WeComAPIURL = "https://qyapi.weixin.qq.com"
	if v := strings.TrimSpace(getenv("SOCIALOPS_WECOM_API_URL")); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &ConfigError{"SOCIALOPS_WECOM_API_URL", fmt.Sprintf("%q is not an http(s) base URL", v)}
		}
		cfg.WeComAPIURL = strings.TrimRight(v, "/")
	}
	return nil
}

// weComMaxAgeVar reads SOCIALOPS_WECOM_MAX_AGE: default 5m; "0" turns the
// timestamp check off (returned as -1), which replaying published vectors needs.
func weComMaxAgeVar(getenv func(string) string) (time.Duration, error) {
	const name = "SOCIALOPS_WECOM_MAX_AGE"
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return 5 * time.Minute, nil
	}
	d, err := time.ParseDuration(v)
	if v == "0" || (err == nil && d == 0) {
		return -1, nil
	}
	if err != nil || d < 0 {
		return 0, &ConfigError{name, fmt.Sprintf("%q is not a duration such as 5m (0 turns the check off)", v)}
	}
	return d, nil
}
