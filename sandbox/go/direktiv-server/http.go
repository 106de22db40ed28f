package main

import (
	"bufio"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

var body = []byte("{\"status\":\"ok\"}\n")

// serveHTTP serves the API or UI on ln: every request gets cfg.Status. With config, as Direktiv does,
// ListenAndServeTLS (net/http adds h2 and http/1.1 to NextProtos and answers a plaintext request with its 400
// "Client sent an HTTP request to an HTTPS server."); without ALPN, TLS with no NextProtos and HTTP/1.1 only; with
// cfg.PlaintextToo, a listener that sniffs the first byte sends TLS to crypto/tls and anything else to plaintext
// HTTP/1.1 and h2c. Without config, plaintext HTTP.
func serveHTTP(ln net.Listener, config *tls.Config, cfg *listenerConfig) func() {
	handler := fixedStatus(cfg.Status)
	server := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: ioTimeout,
		ReadTimeout:       ioTimeout, // with WriteTimeout, also the TLS handshake's deadline
		WriteTimeout:      ioTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	withoutHTTP2 := map[string]func(*http.Server, *tls.Conn, http.Handler){}
	switch {
	case config == nil:
		go server.Serve(ln)
	case cfg.PlaintextToo:
		if cfg.TLS.ALPN {
			config.NextProtos = []string{"h2", "http/1.1"}
		} else {
			server.TLSNextProto = withoutHTTP2
		}
		server.TLSConfig = config
		server.Handler = h2c.NewHandler(handler, &http2.Server{IdleTimeout: idleTimeout})
		go server.Serve(newSniffer(ln, config))
	case !cfg.TLS.ALPN:
		server.TLSNextProto = withoutHTTP2
		go server.Serve(tls.NewListener(ln, config))
	default:
		server.TLSConfig = config
		go server.ServeTLS(ln, "", "") // the certificate is in config
	}
	return func() { server.Close() }
}

func fixedStatus(status int) http.Handler {
	if status == 0 {
		status = http.StatusOK
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	})
}

// sniffer is a listener whose connections are TLS (a first byte 0x16, a handshake record, or 0x15, an alert)
// or plaintext. Each connection is sniffed in its own goroutine, within ioTimeout.
type sniffer struct {
	net.Listener
	config *tls.Config
	conns  chan net.Conn
	done   chan struct{}
	start  sync.Once
	stop   sync.Once
}

func newSniffer(ln net.Listener, config *tls.Config) *sniffer {
	return &sniffer{Listener: ln, config: config, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (s *sniffer) Accept() (net.Conn, error) {
	s.start.Do(func() { go s.acceptLoop() }) // started by Serve, after net/http configured config for h2
	select {
	case conn := <-s.conns:
		return conn, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

func (s *sniffer) Close() error {
	err := s.Listener.Close()
	s.stop.Do(func() { close(s.done) })
	return err
}

func (s *sniffer) acceptLoop() {
	for {
		conn, err := s.Listener.Accept()
		if err != nil {
			s.Close()
			return
		}
		go s.sniff(conn)
	}
}

func (s *sniffer) sniff(conn net.Conn) {
	conn.SetReadDeadline(time.Now().Add(ioTimeout))
	reader := bufio.NewReader(conn)
	first, err := reader.Peek(1)
	if err != nil {
		conn.Close()
		return
	}
	conn.SetReadDeadline(time.Time{})
	var sniffed net.Conn = &peekedConn{Conn: conn, reader: reader}
	if first[0] == 0x16 || first[0] == 0x15 {
		sniffed = tls.Server(sniffed, s.config)
	}
	select {
	case s.conns <- sniffed:
	case <-s.done:
		conn.Close()
	}
}

// peekedConn reads through the reader that holds the sniffed byte.
type peekedConn struct {
	net.Conn
	reader *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.reader.Read(p) }
