"""Port-forward streams through the Kubernetes API, and a local listener that grpcio and httpx can dial.

One stream = one websocket to ``pods/{name}/portforward?ports=P`` with subprotocol ``v4.channel.k8s.io``:
every message is ``[channel] + payload``; channel 0 carries the port's bytes both ways, channel 1 carries
kubelet's error text (e.g. containerd's "connection refused"); each channel opens with a 3-byte
``[channel, port lo, port hi]`` frame. There is no half-close in this protocol, so each TCP connection gets its
own stream (as ``kubectl port-forward`` does).

Who does what:
- ``websocket-client`` (a dependency of ``kubernetes``) does the HTTP upgrade, TLS to the API server,
  proxies, and the frame format (``ABNF`` to build masked frames, ``frame_buffer`` to parse them);
- ``kubernetes.stream.ws_client`` builds the ``wss://`` URL and the proxy options from the ApiClient's
  configuration, whose ``auth_settings()`` gives the Authorization header (and runs any token refresh hook);
- this module pumps bytes itself: one thread per connection, non-blocking sockets, an epoll ``selectors``
  loop (no ``select()`` fd limit at 1024), bounded buffers (back-pressure instead of unbounded queues), and
  deadlines on opening. A pump that dies closes its local socket, so the client reads EOF instead of hanging.

The kubernetes client's own ``portforward``/``PortForward`` is not used: its ``select()`` raises at fds >= 1024
and its thread dies silently, it buffers without bound, and it has no connect timeout.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import ssl
import struct
import threading
import time
import weakref
from typing import Any, Callable

import certifi
from kubernetes.stream import ws_client
from websocket import (
    ABNF,
    WebSocket,
    WebSocketBadStatusException,
    WebSocketException,
    WebSocketTimeoutException,
)
from websocket._abnf import continuous_frame, frame_buffer

from probes.errors import (
    ClusterForbidden,
    ClusterNotFound,
    ClusterUnauthorized,
    ForwardError,
    ForwardOpenTimeout,
    ProbeError,
)
from probes.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = ["CHANNEL_PROTOCOL", "ForwardStream", "open_stream", "PortForwarder"]

# The only subprotocol we offer: binary frames, kubelet's and the API server's oldest common dialect.
CHANNEL_PROTOCOL = "v4.channel.k8s.io"
# Bytes read from the local client per frame (kubelet's own copy buffer is 32 KiB too).
_READ_CHUNK = 32 * 1024
# Bytes buffered per direction before we stop reading the other side: back-pressure, not unbounded queues.
_HIGH_WATER = 256 * 1024
# How often an idle pump without a wake-up socket looks at the stop flag.
_POLL = 0.1
# How often an idle forward's accept loop looks at its stop flag (close() wakes it at once anyway).
_ACCEPT_POLL = 1.0
# An idle pump with a wake-up socket sleeps until its grace period ends or it is woken, but at most this long (a
# safety net: hundreds of lingering pumps each polling every _POLL cost real CPU at a thousand streams).
_IDLE_WAIT = 1.0
# After one side has ended, how long the other may still deliver before the connection is closed.
CLOSE_GRACE = 1.0
# How long check() waits after the port frames for kubelet's error frame (a refused dial comes back in one
# round trip; a port that accepts sends nothing). Capped by timeouts.read.
CHECK_SETTLE = 0.3

_DATA, _ERROR = 0, 1


class _NeedMore(Exception):
    """The frame parser ran out of buffered bytes."""


class _FrameReader:
    """websocket-client's frame parser fed from a buffer instead of a blocking socket."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._frames = frame_buffer(self._take, skip_utf8_validation=True)
        self._continued = continuous_frame(fire_cont_frame=False, skip_utf8_validation=True)

    def _take(self, size: int) -> bytes:
        if not self._buffer:
            raise _NeedMore
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        return chunk

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Complete messages (opcode, payload) found after adding ``data``."""
        self._buffer += data
        messages = []
        while True:
            try:
                frame = self._frames.recv_frame()
            except _NeedMore:
                return messages
            if frame.opcode in (ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY, ABNF.OPCODE_CONT):
                self._continued.validate(frame)
                self._continued.add(frame)
                if self._continued.is_fire(frame):
                    opcode, whole = self._continued.extract(frame)
                    messages.append((opcode, bytes(whole.data)))
            else:
                messages.append((frame.opcode, bytes(frame.data)))


def _frame(payload: bytes, opcode: int = ABNF.OPCODE_BINARY) -> bytes:
    return ABNF.create_frame(payload, opcode).format()


class ForwardStream:
    """One open port-forward stream to one pod port, right after kubelet's two port frames.

    Attributes:
        namespace, pod, port: where it leads.
        sock: the (TLS) socket to the API server, positioned at the next websocket frame.
    """

    def __init__(self, ws: WebSocket, namespace: str, pod: str, port: int) -> None:
        self._ws = ws
        self.namespace = namespace
        self.pod = pod
        self.port = port
        self.sock = ws.sock

    def __repr__(self) -> str:
        return f"ForwardStream(pod={self.namespace}/{self.pod}, port={self.port})"

    def where(self) -> str:
        return f"pod {self.namespace}/{self.pod} port {self.port}"

    def wait_error(self, timeout: float) -> str | None:
        """Read for up to ``timeout`` seconds and return kubelet's error text if one arrives (None if data
        arrives or nothing does). Meant for :meth:`PortForwarder.check` on a fresh stream."""
        deadline = time.monotonic() + timeout
        text = b""
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                opcode, data = self._ws.recv_data()
            except (socket.timeout, WebSocketTimeoutException):
                break
            except (WebSocketException, OSError):
                break  # the stream ended: whatever error text came is the verdict
            if opcode == ABNF.OPCODE_CLOSE:
                break
            if opcode == ABNF.OPCODE_BINARY and data[:1] == bytes([_ERROR]):
                text += data[1:]
            elif opcode == ABNF.OPCODE_BINARY and data[:1] == bytes([_DATA]) and len(data) > 1:
                return None
        return text.decode(errors="replace") or None

    def close(self) -> None:
        """Send a close frame if the socket takes it at once, then close the socket."""
        try:
            self.sock.settimeout(0.2)
            self.sock.sendall(_frame(struct.pack("!H", 1000), ABNF.OPCODE_CLOSE))
        except (OSError, ValueError):
            pass
        try:
            self.sock.close()
        except OSError:
            pass


# --- opening a stream -----------------------------------------------------------------------------------------


def _ssl_options(configuration) -> dict[str, Any]:
    """The TLS options kubernetes.stream.ws_client.create_websocket derives from the configuration."""
    if configuration.verify_ssl:
        options: dict[str, Any] = {
            "cert_reqs": ssl.CERT_REQUIRED,
            "ca_certs": configuration.ssl_ca_cert or certifi.where(),
        }
        if configuration.assert_hostname is not None:
            options["check_hostname"] = configuration.assert_hostname
    else:
        options = {"cert_reqs": ssl.CERT_NONE}
    if configuration.cert_file:
        options["certfile"] = configuration.cert_file
    if configuration.key_file:
        options["keyfile"] = configuration.key_file
    if getattr(configuration, "tls_server_name", None):
        options["server_hostname"] = configuration.tls_server_name
    return options


def _build_ssl_context(options: dict[str, Any]) -> ssl.SSLContext:
    """The SSLContext websocket-client's ``_wrap_sni_socket`` would build from ``options``, built once.
    Failures raise WebSocketException with websocket-client's own words, as they would from ``connect``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog is not None:
        context.keylog_filename = keylog
    cert_reqs = options.get("cert_reqs", ssl.CERT_REQUIRED)
    if cert_reqs != ssl.CERT_NONE:
        try:
            context.load_verify_locations(cafile=options["ca_certs"])
        except (FileNotFoundError, ssl.SSLError, ValueError) as exc:
            raise WebSocketException(f"SSL CA certificate loading failed: {exc}") from None
    if options.get("certfile"):
        try:
            context.load_cert_chain(options["certfile"], options.get("keyfile"))
        except (FileNotFoundError, ValueError, ssl.SSLError) as exc:
            raise WebSocketException(f"SSL client certificate loading failed: {exc}") from None
    if cert_reqs == ssl.CERT_NONE and not options.get("check_hostname", False):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        check_hostname = options.get("check_hostname", True)
        if check_hostname and cert_reqs == ssl.CERT_NONE:
            raise WebSocketException("SSL certificate verification configuration failed: check_hostname cannot "
                                     "be enabled when cert_reqs is CERT_NONE")
        context.check_hostname = check_hostname
        context.verify_mode = cert_reqs
    return context


# One SSLContext per API client configuration (and its TLS options): loading the CA bundle and the client
# certificate for every stream cost more than the stream itself. A context is never changed once built, so the
# streams of all threads share it. Weak keys: the entry goes with the configuration.
_SSL_CONTEXTS: "weakref.WeakKeyDictionary[Any, tuple[tuple, ssl.SSLContext]]" = weakref.WeakKeyDictionary()
_SSL_CONTEXTS_LOCK = threading.Lock()


def _sslopt(configuration) -> dict[str, Any]:
    """websocket-client's ``sslopt`` for this configuration: a shared, cached context plus the SNI to send."""
    options = _ssl_options(configuration)
    shape = tuple(sorted((k, v) for k, v in options.items() if k != "server_hostname"))
    with _SSL_CONTEXTS_LOCK:
        cached = _SSL_CONTEXTS.get(configuration)
        if cached is None or cached[0] != shape:
            cached = (shape, _build_ssl_context(options))
            _SSL_CONTEXTS[configuration] = cached
    sslopt: dict[str, Any] = {"context": cached[1]}
    if "server_hostname" in options:
        sslopt["server_hostname"] = options["server_hostname"]
    return sslopt


def _status_message(body: bytes | None) -> str:
    if not body:
        return ""
    try:
        return str(json.loads(body).get("message", "")).strip()
    except (ValueError, AttributeError):
        return body.decode(errors="replace").strip()


def _refused_upgrade(exc: WebSocketBadStatusException, where: str) -> ProbeError:
    code = exc.status_code
    message = _status_message(exc.resp_body) or (exc.status_message or "")
    sentence = f"Opening a port-forward to {where} failed with HTTP {code}: {message}".rstrip(": ")
    if code == 401:
        return ClusterUnauthorized(sentence + "; check the kubeconfig's credentials.", status=code, obj=where)
    if code == 403:
        return ClusterForbidden(sentence + "; the role needs create on pods/portforward.", status=code, obj=where)
    if code == 404:
        return ClusterNotFound(sentence, status=code, obj=where)
    return ForwardError(sentence)


def open_stream(api_client, namespace: str, pod: str, port: int, *, timeout: float) -> ForwardStream:
    """Open a port-forward stream and read kubelet's two port frames, all within ``timeout`` seconds.

    Raises ForwardOpenTimeout (deadline), ClusterUnauthorized/ClusterForbidden/ClusterNotFound (401/403/404 on
    the upgrade), ForwardError (anything else, with the server's words).
    """
    configuration = api_client.configuration
    where = f"pod {namespace}/{pod} port {port}"
    deadline = time.monotonic() + timeout
    url = f"{configuration.host.rstrip('/')}/api/v1/namespaces/{namespace}/pods/{pod}/portforward"
    url = ws_client.get_websocket_url(url, [("ports", str(port))])
    auth = configuration.auth_settings().get("BearerToken")
    headers = [f"authorization: {auth['value']}"] if auth and auth.get("value") else []
    options: dict[str, Any] = {"header": headers}
    if configuration.proxy or getattr(configuration, "proxy_headers", None):
        options = ws_client.websocket_proxycare(options, configuration, url, None)
    try:
        sslopt = _sslopt(configuration) if url.startswith("wss:") else {}
    except WebSocketException as exc:
        raise ForwardError(f"Opening a port-forward to {where} failed: {exc}.") from exc
    ws = WebSocket(sslopt=sslopt, skip_utf8_validation=True)
    try:
        ws.connect(url, subprotocols=[CHANNEL_PROTOCOL], timeout=timeout, **options)
        seen: set[int] = set()
        while seen != {_DATA, _ERROR}:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout
            ws.sock.settimeout(left)
            opcode, data = ws.recv_data()
            if opcode == ABNF.OPCODE_CLOSE:
                raise ForwardError(f"The API server closed the port-forward to {where} before it opened.")
            if opcode != ABNF.OPCODE_BINARY or len(data) != 3 or data[0] not in (_DATA, _ERROR):
                raise ForwardError(
                    f"The port-forward to {where} did not start with kubelet's port frames (got {bytes(data[:8])!r})."
                )
            if int.from_bytes(data[1:3], "little") != port:
                raise ForwardError(f"The port-forward to {where} opened port {int.from_bytes(data[1:3], 'little')}.")
            seen.add(data[0])
    except ProbeError:
        ws.shutdown()
        raise
    except WebSocketBadStatusException as exc:
        ws.shutdown()
        raise _refused_upgrade(exc, where) from None
    except (socket.timeout, TimeoutError) as exc:
        ws.shutdown()
        raise ForwardOpenTimeout(timeout, where) from exc
    except WebSocketTimeoutException as exc:
        ws.shutdown()
        raise ForwardOpenTimeout(timeout, where) from exc
    except WebSocketException as exc:
        ws.shutdown()
        raise ForwardError(f"Opening a port-forward to {where} failed: {exc}.") from exc
    except (OSError, ValueError) as exc:
        ws.shutdown()
        raise ForwardError(
            f"Opening a port-forward to {where} failed: could not reach the API server at "
            f"{configuration.host} ({exc})."
        ) from exc
    return ForwardStream(ws, namespace, pod, port)


# --- the pump -------------------------------------------------------------------------------------------------


class _Registration:
    """Keeps a selector's interest in one socket in sync with what the pump wants."""

    def __init__(self, selector: selectors.BaseSelector, sock: socket.socket) -> None:
        self.selector, self.sock, self.events = selector, sock, 0

    def want(self, events: int) -> None:
        if events == self.events:
            return
        if not events:
            self.selector.unregister(self.sock)
        elif not self.events:
            self.selector.register(self.sock, events)
        else:
            self.selector.modify(self.sock, events)
        self.events = events


class _PumpEnd:
    """How a pump ended: kubelet's error text, and whether the API server cut the stream.

    Attributes:
        error: kubelet's error-channel text, or None.
        cut: the websocket ended without a close frame (TCP EOF or reset from the API server's side) while the
            client was still connected: the bytes the client saw may be only part of what the pod sent.
        delivered: bytes of the pod's data channel delivered to the client.
    """

    __slots__ = ("error", "cut", "delivered")

    def __init__(self, error: str | None, cut: bool, delivered: int) -> None:
        self.error, self.cut, self.delivered = error, cut, delivered


def _pump(local: socket.socket, stream: ForwardStream, stopping: threading.Event, *,
          half_close_grace: float = CLOSE_GRACE, on_cut: Callable[[int], None] | None = None,
          wake: socket.socket | None = None) -> _PumpEnd:
    """Move bytes both ways until both sides end, or one ends and the other does not follow within its grace
    period, or ``stopping`` is set. Returns kubelet's error text if one came, and whether the stream was cut;
    ``on_cut(delivered)`` is called the moment a cut is seen, before the client can read the EOF that follows.

    The protocol cannot tell the pod that the client half-closed, so after the client's EOF the pod's answer is
    still delivered for ``half_close_grace`` seconds (a request sent with SHUT_WR still gets its response);
    after the pod's end, the client reads EOF and has CLOSE_GRACE seconds to close its side.

    A client that resets the connection (an abortive close, as :func:`probes.tls.handshake` does once it has its
    verdict) is gone for good: what it sent before the reset still goes to the pod, then the pump ends at once
    instead of waiting out the grace period for an answer nobody would read.

    ``wake`` (optional) is a socket that becomes readable when ``stopping`` is set, so the pump stops at once
    instead of at its next poll; it is only watched, never read (one byte wakes every pump sharing it)."""
    remote = stream.sock
    local.setblocking(False)
    remote.setblocking(False)
    reader = _FrameReader()
    to_remote, to_local = bytearray(), bytearray()
    error = bytearray()
    local_eof = remote_eof = local_shut = False
    local_gone = False  # the client reset the connection: nobody reads what the pod sends any more
    cut = False  # the API server's side ended without a websocket close frame
    delivered = 0
    grace_until: float | None = None
    read_, write_ = selectors.EVENT_READ, selectors.EVENT_WRITE
    with selectors.DefaultSelector() as selector:
        local_reg, remote_reg = _Registration(selector, local), _Registration(selector, remote)
        if wake is not None:
            selector.register(wake, selectors.EVENT_READ)
        while not stopping.is_set():
            if cut and on_cut is not None:
                on_cut(delivered)
                on_cut = None
            if remote_eof and not to_local and not local_shut:
                try:
                    local.shutdown(socket.SHUT_WR)  # the client reads EOF after the last byte
                except OSError:
                    pass
                local_shut = True
            if local_eof and remote_eof:
                break
            if local_gone:
                if remote_eof or not to_remote:
                    break  # what the client sent before its reset has reached the API server
                grace_until = grace_until or time.monotonic() + CLOSE_GRACE
                if time.monotonic() >= grace_until:
                    break  # the API server does not take it: give up, as after any other end
            if (local_eof and not to_remote) or (remote_eof and not to_local):
                grace = CLOSE_GRACE if remote_eof else half_close_grace
                grace_until = grace_until or time.monotonic() + grace
                if time.monotonic() >= grace_until:
                    break
            read_remote = not remote_eof and len(to_local) < _HIGH_WATER
            local_reg.want((read_ if not local_eof and len(to_remote) < _HIGH_WATER else 0)
                           | (write_ if to_local else 0))
            remote_reg.want((read_ if read_remote else 0) | (write_ if to_remote and not remote_eof else 0))
            pending = read_remote and isinstance(remote, ssl.SSLSocket) and remote.pending() > 0
            wait = 0.0 if pending else _POLL if wake is None else _IDLE_WAIT
            if grace_until is not None and not pending:
                wait = max(0.0, min(wait, grace_until - time.monotonic()))
            ready = {key.fileobj: mask for key, mask in selector.select(wait)}
            if pending:
                ready[remote] = ready.get(remote, 0) | read_

            if ready.get(remote, 0) & read_:
                try:
                    data = remote.recv(65536)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    remote_eof = True
                    cut = cut or not local_eof  # no close frame came first: the stream was dropped
                elif data:
                    for opcode, payload in reader.feed(data):
                        if opcode == ABNF.OPCODE_BINARY and payload[:1] == bytes([_DATA]):
                            if not local_gone:
                                to_local += payload[1:]
                                delivered += len(payload) - 1
                        elif opcode == ABNF.OPCODE_BINARY and payload[:1] == bytes([_ERROR]):
                            error += payload[1:]
                        elif opcode == ABNF.OPCODE_PING:
                            to_remote += _frame(payload, ABNF.OPCODE_PONG)
                        elif opcode == ABNF.OPCODE_CLOSE:
                            remote_eof = True
            if ready.get(local, 0) & read_:
                try:
                    data = local.recv(_READ_CHUNK)
                except BlockingIOError:
                    data = None
                except OSError:
                    # The client reset the connection (an abortive close: it is done with it). Its last bytes,
                    # read before the reset, still go to the pod; nothing goes back.
                    data = None
                    local_eof = local_gone = True
                    to_local.clear()
                if data == b"":
                    local_eof = True
                elif data:
                    to_remote += _frame(bytes([_DATA]) + data)
            if to_remote and not remote_eof and ready.get(remote, 0) & write_:
                try:
                    sent = remote.send(to_remote[:65536])
                    del to_remote[:sent]
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    pass
                except OSError:
                    remote_eof = True
                    cut = cut or not local_eof
                    to_remote.clear()
            if to_local and ready.get(local, 0) & write_:
                try:
                    sent = local.send(to_local[:65536])
                    del to_local[:sent]
                except BlockingIOError:
                    pass
                except OSError:  # the client is gone (reset): as above
                    local_eof = local_gone = True
                    to_local.clear()
            if remote_eof:
                to_remote.clear()
    return _PumpEnd(error.decode(errors="replace") or None, cut, delivered)


class PortForwarder:
    """A listener on 127.0.0.1 (ephemeral port); each accepted connection gets its own port-forward stream
    to ``namespace/pod:port`` and a pump thread. Use as a context manager, or call :meth:`close`.

    Attributes:
        address: ``("127.0.0.1", port)`` to dial.
        errors: kubelet's error texts and open failures seen on accepted connections (and by :meth:`check`),
            in order.
        drops: one sentence per accepted connection whose stream the API server dropped mid-stream (the
            websocket ended without a close frame while the client was connected): what that client read may be
            a truncated answer, so observations made through this forwarder are not to be trusted.
    """

    def __init__(self, api_client, namespace: str, pod: str, port: int, *,
                 timeouts: Timeouts = DEFAULT_TIMEOUTS) -> None:
        self._api_client = api_client
        self.namespace, self.pod, self.port = namespace, pod, port
        self._timeouts = timeouts
        self.errors: list[str] = []
        self.drops: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: set[threading.Thread] = set()
        # close() writes one byte here: every pump watches the other end, so all of them stop at once.
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        # close() shuts the listener down, which wakes a blocked accept() at once: the timeout is only a safety net,
        # and a long one, since every open forward's acceptor would otherwise wake many times a second.
        self._listener.settimeout(_ACCEPT_POLL)
        self.address: tuple[str, int] = self._listener.getsockname()
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"forward-accept-{pod}:{port}", daemon=True
        )
        self._acceptor.start()

    def __repr__(self) -> str:
        return f"PortForwarder(pod={self.namespace}/{self.pod}, port={self.port}, address={self.address})"

    def __enter__(self) -> "PortForwarder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open_stream(self) -> ForwardStream:
        """A new stream to the pod port (deadline: timeouts.forward_open)."""
        return open_stream(self._api_client, self.namespace, self.pod, self.port,
                           timeout=self._timeouts.forward_open)

    def check(self) -> None:
        """Open one stream now and wait briefly for kubelet's verdict on the dial; raises ForwardError with
        kubelet's text (e.g. connection refused), ForwardOpenTimeout, or a ClusterError on 401/403/404."""
        stream = self.open_stream()
        try:
            text = stream.wait_error(min(CHECK_SETTLE, self._timeouts.read))
        finally:
            stream.close()
        if text:
            self._record(text)
            raise ForwardError(text)

    def close(self) -> None:
        """Stop accepting, end every pump, close every socket and join every thread."""
        self._stopping.set()
        try:
            self._wake_writer.send(b"\0")  # wakes every pump's selector at once (the poll is the fallback)
        except OSError:
            pass
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() at once (the poll is the fallback)
        except OSError:
            pass
        self._acceptor.join(self._timeouts.forward_open + 2.0)
        self._listener.close()
        # All threads were told to stop at the same moment, so they share one deadline (a pump still opening its
        # stream ends within forward_open).
        deadline = time.monotonic() + self._timeouts.forward_open + 2.0
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            alive = bool(self._threads)
        if not alive:
            self._wake_reader.close()
            self._wake_writer.close()

    def _record_drop(self, delivered: int) -> None:
        if self._stopping.is_set():
            return
        with self._lock:
            self.drops.append(
                f"the API server dropped the port-forward stream to pod {self.namespace}/{self.pod} port "
                f"{self.port} mid-stream (the websocket ended without a close frame after {delivered} bytes "
                "from the pod)")

    def _record(self, text: str) -> None:
        with self._lock:
            self.errors.append(text)

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                      name=f"forward-{self.pod}:{self.port}")
            with self._lock:
                self._threads.add(thread)
            thread.start()

    def _serve(self, local: socket.socket) -> None:
        stream = None
        try:
            stream = self.open_stream()
            if self._stopping.is_set():
                return
            end = _pump(local, stream, self._stopping, half_close_grace=max(CLOSE_GRACE, self._timeouts.read),
                        on_cut=self._record_drop, wake=self._wake_reader)
            if end.error:
                self._record(end.error)
        except ProbeError as exc:
            self._record(str(exc))
        except Exception as exc:  # noqa: BLE001 - a dead pump must close its sockets and say why
            self._record(f"The port-forward pump for pod {self.namespace}/{self.pod} port {self.port} "
                         f"failed: {exc!r}.")
        finally:
            if stream is not None:
                stream.close()
            try:
                local.close()
            except OSError:
                pass
            with self._lock:
                self._threads.discard(threading.current_thread())
