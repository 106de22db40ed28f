package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
)

const (
	handshakeTimeout = 10 * time.Second // TLS handshake and HTTP/2 preface of a new connection (grpc-go: 120 s)
	ioTimeout        = 10 * time.Second // net/http: reading a request, writing a response
	idleTimeout      = 60 * time.Second // a connection without streams or requests is closed after this
)

// serveGRPC serves grpc.health.v1 (SERVING for "" and service) on ln, as Direktiv's gRPC servers are built:
// grpc.Creds(credentials.NewTLS(config)) when config is set (grpc-go adds "h2" to NextProtos), insecure otherwise.
// withoutALPN serves the same TLS but negotiates no ALPN, which credentials.NewTLS cannot.
func serveGRPC(ln net.Listener, config *tls.Config, withoutALPN bool, service string) func() {
	options := []grpc.ServerOption{
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: idleTimeout}),
	}
	switch {
	case config != nil && withoutALPN:
		options = append(options, grpc.Creds(noALPN{config}))
	case config != nil:
		options = append(options, grpc.Creds(credentials.NewTLS(config)))
	}
	server := grpc.NewServer(options...)
	status := health.NewServer()
	status.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if service != "" {
		status.SetServingStatus(service, healthpb.HealthCheckResponse_SERVING)
	}
	healthpb.RegisterHealthServer(server, status)
	go server.Serve(ln)
	return server.Stop
}

// noALPN is server-side TLS transport credentials that leave NextProtos as they are (empty: no ALPN).
type noALPN struct{ config *tls.Config }

func (c noALPN) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn := tls.Server(raw, c.config)
	if err := conn.Handshake(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	info := credentials.TLSInfo{
		State:          conn.ConnectionState(),
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
	}
	return conn, info, nil
}

func (c noALPN) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("noALPN is server-side only")
}

func (c noALPN) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls", SecurityVersion: "1.2"}
}

func (c noALPN) Clone() credentials.TransportCredentials { return noALPN{c.config.Clone()} }

func (c noALPN) OverrideServerName(string) error { return nil }
