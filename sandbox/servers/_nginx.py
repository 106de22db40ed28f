"""The ingress-nginx controller of Direktiv's chart line v0.5.10 to v0.7.x, run as the real nginx.

ingress-nginx renders one nginx ``server`` per Ingress host and a catch-all default server, with its ConfigMap's
defaults (controller v1.1.0, the ingress-nginx chart 4.0.13 that Direktiv's chart 0.1.x depends on): TLS 1.2 and
1.3, its ECDHE/DHE AEAD cipher list, HSTS ``max-age=15724800; includeSubDomains`` on TLS hosts, ``308`` from
plain HTTP to https for every host with TLS (``ssl-redirect``), and its self-signed "Kubernetes Ingress
Controller Fake Certificate" for any name it has no certificate for, or whose secret is missing. :class:`NginxIngress`
writes that configuration and runs ``nginx`` on it. Where nginx is not installed :class:`NginxIngressImitation`
(Envoy's listener, :mod:`sandbox.servers._envoy`, with nginx's answers) stands in.

The listening sockets are opened here and handed to nginx (its ``NGINX`` environment variable, the binary-upgrade
inheritance), so the ports are known before nginx starts and no other process can take them. nginx reads
certificates and keys from files only: they live in a private temporary directory (mode 0700) that ``stop()``
removes.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Mapping

from sandbox.servers._envoy import LoadBalancer
from sandbox.servers._listeners import DEFAULT_IO_TIMEOUT, _Base
from sandbox.servers._tls import ServerTLS, TLSPolicy

__all__ = ["INGRESS_NGINX_CIPHERS", "INGRESS_NGINX_HSTS", "INGRESS_NGINX_POLICY", "NGINX_PLAINTEXT_REPLY",
           "NginxError", "NginxIngress", "NginxIngressImitation", "nginx_available"]

# ingress-nginx v1.1.0 internal/ingress/controller/config/config.go: sslCiphers, sslProtocols, hstsMaxAge.
INGRESS_NGINX_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                         "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                         "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384")
INGRESS_NGINX_HSTS = "max-age=15724800; includeSubDomains"
INGRESS_NGINX_POLICY = TLSPolicy(min_version="TLSv1.2", ciphers=INGRESS_NGINX_CIPHERS, security_level=1,
                                 alpn=("h2", "http/1.1"))
# nginx's answers to plaintext on an ssl listener (ngx_http_special_response.c): an HTTP/1 request gets the "497"
# page rendered as 400; the HTTP/2 cleartext preface ("PRI * HTTP/2.0") fails the request line: a plain 400.
NGINX_PLAINTEXT_REPLY = (
    b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: 248\r\n"
    b"Connection: close\r\n\r\n"
    b"<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n"
    b"<center><h1>400 Bad Request</h1></center>\r\n<center>The plain HTTP request was sent to HTTPS port</center>\r\n"
    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
NGINX_BAD_REQUEST_REPLY = (
    b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: 150\r\n"
    b"Connection: close\r\n\r\n"
    b"<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n"
    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_READY_TIMEOUT = 10.0  # a cold nginx starts in milliseconds; a busy machine may take a while
_STOP_TIMEOUT = 5.0
_BODY = "direktiv"


class NginxError(RuntimeError):
    """nginx could not be started (its own words included)."""


def nginx_available() -> bool:
    """Whether an ``nginx`` binary is on PATH (or in /usr/sbin, where Debian puts it)."""
    return _nginx_binary() is not None


def _nginx_binary() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class NginxIngress(_Base):
    """The real nginx configured as ingress-nginx configures itself for the chart's two Ingresses.

    ``tls_by_host``: the certificate of each Ingress host with ``spec.tls`` (None for a host whose secret is
    missing: it gets the fake certificate, and is still redirected, as ingress-nginx does); ``plain_hosts``:
    Ingress hosts without ``spec.tls`` (served on both ports, the TLS one with the fake certificate); ``fake``: the
    controller's default certificate; ``hsts``: the Strict-Transport-Security value on TLS hosts (None: ``hsts:
    "false"`` in the ConfigMap); ``redirect``: plain HTTP to a TLS host is redirected (``ssl-redirect``);
    ``policy``: protocols and ciphers (the ConfigMap's ``ssl-protocols`` and ``ssl-ciphers``); ``catch_all``: the
    Ingresses' rules name no host, so the default server serves them (with the fake certificate, no redirect).
    ``address``/``https_address`` is the TLS port, ``http_address`` the plain one."""

    def __init__(self, tls_by_host: Mapping[str, ServerTLS | None], fake: ServerTLS, *,
                 plain_hosts: tuple[str, ...] = (), hsts: str | None = INGRESS_NGINX_HSTS, redirect: bool = True,
                 policy: TLSPolicy = INGRESS_NGINX_POLICY, catch_all: bool = False) -> None:
        binary = _nginx_binary()
        if binary is None:
            raise NginxError("nginx is not installed (apt-get install nginx-light)")
        self._dir = Path(tempfile.mkdtemp(prefix="sandbox-nginx-"))
        os.chmod(self._dir, 0o700)
        self._socks = [_listening_socket(), _listening_socket()]
        self._proc: subprocess.Popen | None = None
        try:
            https, http = (s.getsockname() for s in self._socks)
            self.address = self.https_address = https
            self.http_address = http
            config = self._config(tls_by_host, plain_hosts, fake, hsts=hsts, redirect=redirect, policy=policy,
                                  catch_all=catch_all)
            (self._dir / "nginx.conf").write_text(config)
            fds = [s.fileno() for s in self._socks]
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NGINX": "".join(f"{fd};" for fd in fds)}
            self._log = open(self._dir / "stderr.log", "wb")
            self._proc = subprocess.Popen(
                [binary, "-p", str(self._dir), "-c", str(self._dir / "nginx.conf"), "-e", str(self._dir / "error.log")],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, pass_fds=fds, env=env,
                start_new_session=True)
            self._wait_ready()
        except BaseException:
            self._close()
            raise

    def _file(self, name: str, data: bytes) -> str:
        path = self._dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return str(path)

    def _certificate(self, label: str, tls: ServerTLS) -> str:
        cert = self._file(f"{label}.crt", tls.cert_pem)
        key = self._file(f"{label}.key", tls.key.bytes())
        return f"    ssl_certificate {cert};\n    ssl_certificate_key {key};\n"

    def _config(self, tls_by_host: Mapping[str, ServerTLS | None], plain_hosts: tuple[str, ...], fake: ServerTLS, *,
                hsts: str | None, redirect: bool, policy: TLSPolicy, catch_all: bool) -> str:
        (https_host, https_port), (http_host, http_port) = self.https_address, self.http_address
        protocols = {"TLSv1": "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3", "TLSv1.1": "TLSv1.1 TLSv1.2 TLSv1.3",
                     "TLSv1.2": "TLSv1.2 TLSv1.3"}[policy.min_version]
        d = self._dir
        ciphers = policy.ciphers + (f":@SECLEVEL={policy.security_level}" if policy.security_level != 1 else "")
        head = (
            "worker_processes 1;\n"
            f"pid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            "  access_log off;\n  server_tokens on;\n"
            f"  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n"
            f"  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n"
            f"  ssl_protocols {protocols};\n  ssl_ciphers '{ciphers}';\n  ssl_prefer_server_ciphers on;\n"
            "  ssl_session_cache shared:SSL:10m;\n  ssl_session_timeout 10m;\n  ssl_session_tickets off;\n"
            "  ssl_buffer_size 4k;\n  ssl_ecdh_curve auto;\n"
            "  default_type text/html;\n"
        )
        listen_tls = f"  listen {https_host}:{https_port} ssl http2"
        listen_plain = f"  listen {http_host}:{http_port}"
        default_certificate = self._certificate("default", fake)
        servers = [
            # The default server: the fake certificate, and the default backend's 404 for unknown hosts (or the
            # Ingresses' backends, when their rules name no host).
            "server {\n" f"{listen_tls} default_server;\n" f"{listen_plain} default_server;\n"
            "    server_name _;\n" + default_certificate +
            (f"    location / {{ return 200 '{_BODY}'; }}\n}}\n" if catch_all else
             "    location / { return 404 'default backend - 404'; }\n}\n")
        ]
        for host in plain_hosts:
            servers.append("server {\n" f"{listen_tls};\n" f"{listen_plain};\n" f"    server_name {host};\n"
                           + default_certificate + f"    location / {{ return 200 '{_BODY}'; }}\n}}\n")
        for index, (host, tls) in enumerate(tls_by_host.items()):
            hsts_line = f"    add_header Strict-Transport-Security \"{hsts}\" always;\n" if hsts else ""
            redirect_line = "    if ($scheme = http) { return 308 https://$host$request_uri; }\n" if redirect else ""
            servers.append(
                "server {\n" f"{listen_tls};\n" f"{listen_plain};\n" f"    server_name {host};\n"
                + (self._certificate(f"host-{index}", tls) if tls else default_certificate) + redirect_line
                + "    location / {\n" + hsts_line + f"      return 200 '{_BODY}';\n    }}\n}}\n")
        return head + "".join("  " + block.replace("\n", "\n  ").rstrip() + "\n" for block in servers) + "}\n"

    def _wait_ready(self) -> None:
        """Until nginx answers on its plain port (the sockets already listen, so a connect proves nothing)."""
        deadline = time.monotonic() + _READY_TIMEOUT
        while True:
            if self._proc.poll() is not None:
                raise NginxError(f"nginx exited with status {self._proc.returncode}: {self._errors()}")
            try:
                with socket.create_connection(self.http_address, timeout=0.5) as sock:
                    sock.sendall(b"GET / HTTP/1.0\r\nHost: ready\r\n\r\n")
                    if sock.recv(16).startswith(b"HTTP/"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise NginxError(f"nginx did not answer within {_READY_TIMEOUT:.0f}s: {self._errors()}")
            time.sleep(0.02)

    def _errors(self) -> str:
        words = []
        for name in ("stderr.log", "error.log"):
            try:
                words.append((self._dir / name).read_text(errors="replace").strip())
            except OSError:
                pass
        return " ".join(w for w in words if w)[-500:] or "no message"

    def _close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # nginx's fast shutdown, master and worker
                proc.wait(_STOP_TIMEOUT)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(_STOP_TIMEOUT)
        for sock in self._socks:
            sock.close()
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()
        shutil.rmtree(self._dir, ignore_errors=True)


class NginxIngressImitation(LoadBalancer):
    """Where nginx is not installed: Envoy's listener with ingress-nginx's choices (the fake certificate as
    default, its protocols and ciphers, HSTS, ``308`` redirects, nginx's 400 for plaintext on the TLS port)."""

    def __init__(self, tls_by_host: Mapping[str, ServerTLS | None], fake: ServerTLS, *,
                 plain_hosts: tuple[str, ...] = (), hsts: str | None = INGRESS_NGINX_HSTS, redirect: bool = True,
                 policy: TLSPolicy = INGRESS_NGINX_POLICY, catch_all: bool = False,
                 io_timeout: float = DEFAULT_IO_TIMEOUT) -> None:
        # Envoy's listener redirects every host or none: with plain hosts only, none.
        redirect = redirect and bool(tls_by_host)
        super().__init__({host: tls or fake for host, tls in tls_by_host.items()}, fake, redirect=redirect,
                         hsts=hsts, policy=policy, server="nginx", redirect_status=308,
                         plaintext_reply=_plaintext_reply, body=_BODY.encode(), io_timeout=io_timeout)


def _plaintext_reply(head: bytes) -> bytes:
    return NGINX_BAD_REQUEST_REPLY if head.startswith(b"PRI * HTTP/2.0") else NGINX_PLAINTEXT_REPLY
