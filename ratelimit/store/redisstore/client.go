package redisstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClientConfig says how to reach Redis.
type ClientConfig struct {
	// URL is redis://[user:password@]host:port[/db] or rediss:// for TLS.
	// The schemes redis+cluster:// and rediss+cluster:// select Cluster mode
	// (host:port is any node, e.g. an ElastiCache configuration endpoint).
	URL string
	// Cluster selects Cluster mode with a plain redis:// or rediss:// URL.
	Cluster bool
	// CAFile is a PEM bundle that signs the server certificate, for a
	// private CA; public CAs such as ElastiCache's need none.
	CAFile string
	// Timeout bounds each read and write; decisions also carry a deadline.
	Timeout time.Duration
}

// NewClient builds a client from cfg without connecting. Errors never echo
// the URL, which may carry a password.
func NewClient(cfg ClientConfig) (redis.UniversalClient, error) {
	raw, cluster, err := splitClusterScheme(cfg.URL)
	if err != nil {
		return nil, err
	}
	cluster = cluster || cfg.Cluster
	var tlsConfig *tls.Config
	if strings.HasPrefix(raw, "rediss://") {
		tlsConfig, err = tlsFor(raw, cfg.CAFile)
		if err != nil {
			return nil, err
		}
	} else if cfg.CAFile != "" {
		return nil, errors.New("a CA file is set but the URL is not rediss://; use rediss:// to enable TLS")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 100 * time.Millisecond
	}
	opt := &redis.UniversalOptions{IsClusterMode: cluster}
	if cluster {
		parsed, err := redis.ParseClusterURL(raw)
		if err != nil {
			return nil, redactParseError(err)
		}
		opt.Addrs, opt.Username, opt.Password, opt.PoolSize = parsed.Addrs, parsed.Username, parsed.Password, parsed.PoolSize
	} else {
		parsed, err := redis.ParseURL(raw)
		if err != nil {
			return nil, redactParseError(err)
		}
		opt.Addrs, opt.Username, opt.Password, opt.PoolSize = []string{parsed.Addr}, parsed.Username, parsed.Password, parsed.PoolSize
		opt.DB = parsed.DB
	}
	// The gateway owns timeouts and retries; the URL's credentials, database,
	// extra cluster addresses and pool_size are kept.
	opt.TLSConfig = tlsConfig
	opt.DialTimeout = dialTimeout
	opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = timeout, timeout, timeout
	opt.ContextTimeoutEnabled = true
	// A retried script may already have run, so go-redis does not retry;
	// the limiter's store-down policy and probe take over instead. One dial
	// attempt makes a refused connection fail at once, not at the deadline.
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	return redis.NewUniversalClient(opt), nil
}

// dialTimeout caps connection setup; a decision's own deadline is shorter.
const dialTimeout = 2 * time.Second

func splitClusterScheme(raw string) (string, bool, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", false, errors.New("not a valid URL; expected redis://[user:password@]host:port[/db] (or rediss://, redis+cluster://, rediss+cluster://)")
	}
	switch u.Scheme {
	case "redis", "rediss":
		return raw, false, nil
	case "redis+cluster", "rediss+cluster":
		return strings.TrimSuffix(u.Scheme, "+cluster") + raw[len(u.Scheme):], true, nil
	default:
		return "", false, fmt.Errorf("unsupported scheme %q; use redis://, rediss://, redis+cluster:// or rediss+cluster://", u.Scheme)
	}
}

func tlsFor(raw, caFile string) (*tls.Config, error) {
	u, _ := url.Parse(raw) // parsed successfully by splitClusterScheme
	conf := &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return conf, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	conf.RootCAs = pool
	return conf, nil
}

// redactParseError keeps go-redis' reason but drops any quoted URL.
func redactParseError(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "://") {
		return errors.New("invalid URL (check host, port, database number and query options)")
	}
	return errors.New(strings.TrimPrefix(msg, "redis: "))
}
