// Command direktiv-server is what Direktiv v0.4's servers are: Go's crypto/tls with Go's own defaults wherever
// Direktiv sets nothing, grpc-go (with the grpc.health.v1 service, SERVING) on the gRPC ports, and net/http on
// the API and UI. The sandbox (sandbox/servers/_go.py) runs it as a child process, one process for many listeners.
//
// The protocol: one JSON object per line on stdin, one JSON answer per line on stdout.
//
//	at start                       ->  {"ready": true, "go": "go1.19.8", "grpc": "1.33.3"}
//	{"listen": {...a listener...}} ->  {"id": 1, "address": "127.0.0.1:40123"}  or  {"error": "..."}
//	{"close": 1}                   ->  {"closed": 1}
//
// A listener (see listenerConfig and tlsSettings) binds 127.0.0.1:0. The program exits 0 when stdin closes (so it
// never outlives its parent) or on SIGTERM, after closing every listener and connection. Private keys arrive on
// stdin only; no answer or error quotes the configuration, and the libraries' own logs are discarded.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/grpclog"
)

// listenerConfig is one listener, as the Python side describes it.
type listenerConfig struct {
	Protocol     string       `json:"protocol"`      // "grpc" or "http" (HTTPS with tls)
	TLS          *tlsSettings `json:"tls"`           // nil: plaintext (h2c gRPC, or HTTP)
	PlaintextToo bool         `json:"plaintext_too"` // http with tls only: the port also answers HTTP/1.1 and h2c
	Status       int          `json:"status"`        // http: the status every request gets
	ServiceName  string       `json:"service_name"`  // grpc: the named health service, besides ""
}

type request struct {
	Listen *listenerConfig `json:"listen"`
	Close  int             `json:"close"`
}

type answer struct {
	Ready   bool   `json:"ready,omitempty"`
	Go      string `json:"go,omitempty"`
	GRPC    string `json:"grpc,omitempty"`
	ID      int    `json:"id,omitempty"`
	Address string `json:"address,omitempty"`
	Closed  int    `json:"closed,omitempty"`
	Error   string `json:"error,omitempty"`
}

// registry holds the running listeners by id; only the main goroutine touches it.
type registry struct {
	next    int
	closers map[int]func()
}

func (r *registry) handle(line []byte) answer {
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		return answer{Error: "the request is not a JSON object of the expected shape"} // never quote the input
	}
	switch {
	case req.Listen != nil:
		return r.listen(req.Listen)
	case req.Close != 0:
		if stop, ok := r.closers[req.Close]; ok {
			stop()
			delete(r.closers, req.Close)
		}
		return answer{Closed: req.Close}
	}
	return answer{Error: "a request needs 'listen' or 'close'"}
}

func (r *registry) listen(cfg *listenerConfig) answer {
	if cfg.PlaintextToo && (cfg.Protocol != "http" || cfg.TLS == nil) {
		return answer{Error: "plaintext_too needs an http listener with tls"}
	}
	config, err := serverTLS(cfg.TLS)
	if err != nil {
		return answer{Error: err.Error()}
	}
	bound, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return answer{Error: fmt.Sprintf("cannot listen on 127.0.0.1: %v", err)}
	}
	ln := closing(bound) // closing it closes its connections too: stopping never waits for a client
	var stop func()
	switch cfg.Protocol {
	case "grpc":
		stop = serveGRPC(ln, config, cfg.TLS != nil && !cfg.TLS.ALPN, cfg.ServiceName)
	case "http":
		stop = serveHTTP(ln, config, cfg)
	default:
		ln.Close()
		return answer{Error: fmt.Sprintf("protocol must be grpc or http, given: %q", cfg.Protocol)}
	}
	r.next++
	r.closers[r.next] = stop
	return answer{ID: r.next, Address: ln.Addr().String()}
}

func (r *registry) closeAll() {
	for id, stop := range r.closers {
		stop()
		delete(r.closers, id)
	}
}

// readLines sends every line of in, then closes lines at EOF (or on a read error).
func readLines(in io.Reader, lines chan<- []byte) {
	defer close(lines)
	reader := bufio.NewReaderSize(in, 64*1024)
	for {
		line, err := reader.ReadBytes('\n')
		if len(line) > 0 {
			lines <- line
		}
		if err != nil {
			return
		}
	}
}

func main() {
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, io.Discard))
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	lines := make(chan []byte)
	go readLines(os.Stdin, lines)
	out := json.NewEncoder(os.Stdout)
	reg := &registry{closers: map[int]func(){}}
	if out.Encode(answer{Ready: true, Go: runtime.Version(), GRPC: grpc.Version}) != nil {
		return
	}
	for {
		select {
		case <-signals:
			reg.closeAll()
			return
		case line, ok := <-lines:
			if !ok {
				reg.closeAll()
				return
			}
			if out.Encode(reg.handle(line)) != nil { // the parent is gone
				reg.closeAll()
				return
			}
		}
	}
}
