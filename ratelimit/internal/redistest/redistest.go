// Package redistest starts real redis-server processes on free loopback
// ports for tests and benchmarks: single nodes (optionally TLS with AUTH)
// and small clusters. Every process is stopped by Close or the test cleanup.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// InstallHint is the error text when the Redis binaries are missing.
const InstallHint = "redis-server and redis-cli are needed (CI installs them): apt-get install -y redis-server"

// Options select how a server is started.
type Options struct {
	// Password turns on AUTH (requirepass).
	Password string
	// TLS serves TLS only, with a certificate from a CA made for this server.
	TLS bool

	clusterEnabled bool
}

// Server is one running redis-server.
type Server struct {
	Addr     string // 127.0.0.1:port
	Port     int
	Password string
	TLS      *TLSFiles // nil without TLS

	dir  string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start launches a server on a free port and waits until it answers.
func Start(opt Options) (*Server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New(InstallHint)
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort(opt.clusterEnabled)
		if err != nil {
			return nil, err
		}
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port, Password: opt.Password, dir: dir}
		if opt.TLS {
			if s.TLS, err = writeTLSFiles(dir); err != nil {
				return nil, err
			}
		}
		s.args = s.buildArgs(opt)
		if lastErr = s.launch(); lastErr == nil {
			return s, nil
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// New starts a server for t and stops it when t ends; it fails t with the
// install hint when Redis is missing.
func New(t testing.TB, opt Options) *Server {
	t.Helper()
	s, err := Start(opt)
	if err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *Server) buildArgs(opt Options) []string {
	args := []string{
		"--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--protected-mode", "no", "--loglevel", "warning",
		"--logfile", filepath.Join(s.dir, "redis-"+strconv.Itoa(s.Port)+".log"),
	}
	if opt.TLS {
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(s.Port),
			"--tls-cert-file", s.TLS.CertFile, "--tls-key-file", s.TLS.KeyFile,
			"--tls-ca-cert-file", s.TLS.CAFile, "--tls-auth-clients", "no")
	} else {
		args = append(args, "--port", strconv.Itoa(s.Port))
	}
	if opt.Password != "" {
		args = append(args, "--requirepass", opt.Password)
	}
	if opt.clusterEnabled {
		args = append(args, "--cluster-enabled", "yes", "--cluster-node-timeout", "5000",
			"--cluster-config-file", filepath.Join(s.dir, "nodes-"+strconv.Itoa(s.Port)+".conf"))
	}
	return args
}

func (s *Server) launch() error {
	cmd := exec.Command("redis-server", s.args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no orphans if the test binary dies
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	client := s.Client()
	defer client.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on port %d exited at start; log: %s", s.Port, s.logTail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		info, err := client.Info(ctx, "server").Result()
		cancel()
		// Another test's server may have taken the port first; only our
		// own process counts as started.
		if err == nil && strings.Contains(info, "process_id:"+strconv.Itoa(cmd.Process.Pid)+"\r\n") {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("redis-server on port %d did not answer within 10s; log: %s", s.Port, s.logTail())
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis-"+strconv.Itoa(s.Port)+".log"))
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return strings.TrimSpace(string(b))
}

// Client returns a new go-redis client for this server.
func (s *Server) Client() *redis.Client {
	opt := &redis.Options{Addr: s.Addr, Password: s.Password, DialTimeout: time.Second}
	if s.TLS != nil {
		opt.TLSConfig = s.TLS.ClientConfig()
	}
	return redis.NewClient(opt)
}

// URL is the redis:// or rediss:// URL of this server, with the password.
func (s *Server) URL() string {
	scheme := "redis"
	if s.TLS != nil {
		scheme = "rediss"
	}
	auth := ""
	if s.Password != "" {
		auth = ":" + s.Password + "@"
	}
	return scheme + "://" + auth + s.Addr
}

// Stop terminates the server and waits for it to exit; data is lost.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Restart stops the server if it runs and starts it again on the same port.
func (s *Server) Restart() error {
	s.Stop()
	return s.launch()
}

// Close stops the server and removes its files.
func (s *Server) Close() {
	s.Stop()
	os.RemoveAll(s.dir)
}

// freePort finds a loopback port that is free now; a cluster node also needs
// port+10000 for its bus.
func freePort(withBus bool) (int, error) {
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !withBus {
			return port, nil
		}
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return port, nil
	}
	return 0, errors.New("no free port pair for a cluster node")
}
