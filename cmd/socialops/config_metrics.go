package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

const defaultMetricsAddr = "127.0.0.1:9464"

// metricsAddrVar reads SOCIALOPS_METRICS_ADDR: unset is the default
// (loopback, port 9464), set to the empty string turns metrics off, anything
// else must be host:port and differ from SOCIALOPS_HTTP_ADDR (the metrics
// are not on the API's listener, so they need no token).
func metricsAddrVar(lookupEnv func(string) (string, bool), cfg *Config) error {
	v, set := lookupEnv("SOCIALOPS_METRICS_ADDR")
	if !set {
		return nil
	}
	v = strings.TrimSpace(v)
	if v == "" {
		cfg.MetricsAddr = ""
		return nil
	}
	_, port, err := net.SplitHostPort(v)
	if p, perr := strconv.Atoi(port); err != nil || perr != nil || p < 0 || p > 65535 {
		return &ConfigError{"SOCIALOPS_METRICS_ADDR", fmt.Sprintf("%q is not host:port (or empty to turn metrics off)", v)}
	}
	if v == cfg.HTTPAddr {
		return &ConfigError{"SOCIALOPS_METRICS_ADDR", fmt.Sprintf("%q is also SOCIALOPS_HTTP_ADDR; metrics need a listen address of their own", v)}
	}
	cfg.MetricsAddr = v
	return nil
}
