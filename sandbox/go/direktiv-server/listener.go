package main

import (
	"net"
	"sync"
)

// closingListener closes, when it is closed, every connection it accepted that is still open. grpc-go's Stop
// waits for connections still in their handshake (it closes only those whose transport is up), and a connection
// being sniffed would linger: with this, closing a listener ends all of its connections at once.
type closingListener struct {
	net.Listener
	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func closing(ln net.Listener) *closingListener {
	return &closingListener{Listener: ln, conns: map[*trackedConn]struct{}{}}
}

func (l *closingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tracked := &trackedConn{Conn: conn, owner: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		conn.Close()
		return nil, net.ErrClosed
	}
	l.conns[tracked] = struct{}{}
	return tracked, nil
}

func (l *closingListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	conns := l.conns
	l.conns, l.closed = map[*trackedConn]struct{}{}, true
	l.mu.Unlock()
	for conn := range conns {
		conn.Conn.Close()
	}
	return err
}

func (l *closingListener) forget(conn *trackedConn) {
	l.mu.Lock()
	delete(l.conns, conn)
	l.mu.Unlock()
}

// trackedConn leaves its listener's table when it is closed.
type trackedConn struct {
	net.Conn
	owner *closingListener
}

func (c *trackedConn) Close() error {
	c.owner.forget(c)
	return c.Conn.Close()
}
