package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The static handler replays the exporter's bytes with nothing else to do:
// the physical limit of a scrape on this machine, through the same net/http
// server. It runs as a child process (this program re-executed with
// -serve-static) rather than in the load generator's process, so that its
// CPU per scrape is read from /proc like the others' and does not include
// the load generator's.

// variant is one response as the exporter sent it.
type variant struct {
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

// notReplayed are the headers a replay leaves out: net/http writes its own
// Date, and Content-Length is set from the body.
var notReplayed = map[string]bool{"Date": true, "Content-Length": true}

// fetchVariant GETs url as Prometheus would, with acceptEncoding.
func fetchVariant(ctx context.Context, url, acceptEncoding string) (variant, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return variant{}, err
	}
	req.Header.Set("Accept", prometheusAccept)
	req.Header.Set("Accept-Encoding", acceptEncoding)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	resp, err := client.Do(req)
	if err != nil {
		return variant{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return variant{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return variant{}, fmt.Errorf("GET %s (Accept-Encoding: %s): %s", url, acceptEncoding, resp.Status)
	}
	h := http.Header{}
	for k, v := range resp.Header {
		if !notReplayed[k] {
			h[k] = v
		}
	}
	return variant{Header: h, Body: body}, nil
}

// saveVariants writes the variants the static child serves.
func saveVariants(dir string, gzip, identity variant) error {
	for name, v := range map[string]variant{"gzip": gzip, "identity": identity} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func loadVariant(path string) (variant, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return variant{}, err
	}
	var v variant
	if err := json.Unmarshal(b, &v); err != nil {
		return variant{}, fmt.Errorf("%s: %w", path, err)
	}
	v.Header.Set("Content-Length", strconv.Itoa(len(v.Body)))
	return v, nil
}

// staticHandler serves the gzip variant to clients that accept gzip and the
// identity variant to the others; it does nothing per request beyond that.
func staticHandler(gzip, identity variant) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := identity
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			v = gzip
		}
		h := w.Header()
		for k, vs := range v.Header {
			h[k] = vs
		}
		_, _ = w.Write(v.Body)
	})
}

// serveStatic is the child's main: it serves dir's variants on addr at
// /metrics until SIGTERM.
func serveStatic(dir, addr string) error {
	gz, err := loadVariant(filepath.Join(dir, "gzip.json"))
	if err != nil {
		return err
	}
	id, err := loadVariant(filepath.Join(dir, "identity.json"))
	if err != nil {
		return err
	}
	if host, _, err := net.SplitHostPort(addr); err != nil || !net.ParseIP(host).IsLoopback() {
		return fmt.Errorf("static handler: %q is not a loopback address", addr)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", staticHandler(gz, id))
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
