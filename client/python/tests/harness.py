"""Real processes for the tests: a `keyward agent` over a fresh vault, the
fake Binance venue (internal/fakevenue) and the fake exchange of every
venue (internal/fakeexchange/cmd/fakeexchange). No mocks of the agent.

KEYWARD_BIN names the keyward binary, FAKEVENUE_BIN the fake venue and
FAKEEXCHANGE_BIN the fake exchange (`make test-python` builds them into
bin/); they default to bin/ in the repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Mapping, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CONFORMANCE_DIR = os.path.join(REPO, "protocol", "testdata", "conformance")

# Made up for the tests: not keys to any account.
TEST_PASSPHRASE = "keyward-test-passphrase-python"
TEST_API_KEY = "keyward-test-api-key-python"
TEST_SECRET = "keyward-test-secret-python-0001"


def _binary(env: str, name: str) -> str:
    path = os.environ.get(env) or os.path.join(REPO, "bin", name)
    if not os.access(path, os.X_OK):
        raise RuntimeError(
            "%s: no executable at %s: run `make test-bins` (make test-python does), or set %s" % (name, path, env)
        )
    return path


def keyward_bin() -> str:
    return _binary("KEYWARD_BIN", "keyward")


def fakevenue_bin() -> str:
    return _binary("FAKEVENUE_BIN", "fakevenue")


def fakeexchange_bin() -> str:
    return _binary("FAKEEXCHANGE_BIN", "fakeexchange")


class Agent:
    """A running `keyward agent` on a socket in a fresh temporary directory,
    over a vault initialised with passphrase (cheap Argon2id parameters)."""

    def __init__(self, passphrase: str = TEST_PASSPHRASE) -> None:
        self.bin = keyward_bin()
        # Short: a socket path must fit in 108 bytes.
        self.dir = tempfile.mkdtemp(prefix="kwpy-")
        self.sock = os.path.join(self.dir, "run", "agent.sock")
        self.vault = os.path.join(self.dir, "vault")
        self.passphrase = passphrase
        self.log_path = os.path.join(self.dir, "agent.log")
        self.env = dict(os.environ, KEYWARD_SOCK=self.sock, GORACE="atexit_sleep_ms=10")
        self.cli("init", "--vault", self.vault, "--argon2-memory", "8", "--argon2-time", "1", stdin=passphrase + "\n")
        self._start()

    def start(self) -> None:
        """Starts the agent again after stop(keep=True), on the same socket and vault."""
        self._start()

    def _start(self) -> None:
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.bin, "agent", "--socket", self.sock, "--vault", self.vault],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("keyward agent exited: %s" % self.logs())
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.sock)
                return
            except OSError:
                time.sleep(0.02)
            finally:
                s.close()
        raise RuntimeError("keyward agent did not start listening: %s" % self.logs())

    def cli(self, *args: str, stdin: str = "") -> str:
        """Runs the keyward CLI against this agent; returns its stdout."""
        p = subprocess.run([self.bin, *args], env=self.env, input=stdin.encode(), capture_output=True)
        if p.returncode != 0:
            raise RuntimeError("keyward %s: exit %d: %s" % (args[0], p.returncode, p.stderr.decode(errors="replace")))
        return p.stdout.decode()

    def unlock(self) -> None:
        self.cli("unlock", stdin=self.passphrase + "\n")

    def add_binance(self, name: str, api_key: str, secret: str, hosts: Optional[List[str]] = None) -> None:
        args = ["add", name, "--scheme", "binance", "--api-key", api_key]
        for h in hosts or []:
            args += ["--host", h]
        self.cli(*args, stdin=secret + "\n")

    def add(self, name: str, scheme: str, api_key: str, secret: str, meta: Optional[Mapping[str, str]] = None) -> None:
        """Adds any scheme's credential through the CLI; the secret goes on stdin."""
        args = ["add", name, "--scheme", scheme, "--api-key", api_key]
        for k, v in (meta or {}).items():
            args += ["--meta", "%s=%s" % (k, v)]
        self.cli(*args, stdin=secret + "\n")

    def logs(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, keep: bool = False) -> None:
        """Stops the agent (SIGINT, then SIGKILL); keep=True keeps its
        vault and socket directory for start()."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


class FakeVenue:
    """internal/fakevenue on 127.0.0.1: a fake Binance Spot that verifies
    every signature with its own HMAC. ``url`` is https://127.0.0.1:PORT
    and ``cert`` the self-signed certificate to trust."""

    def __init__(self, api_key: str = TEST_API_KEY, secret: str = TEST_SECRET) -> None:
        self.dir = tempfile.mkdtemp(prefix="kwpy-venue-")
        secret_file = os.path.join(self.dir, "secret")
        with open(os.open(secret_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(secret)
        cert = os.path.join(self.dir, "venue.pem")
        self.proc = subprocess.Popen(
            [fakevenue_bin(), "-cert", cert, "-api-key", api_key, "-secret-file", secret_file],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else b""
        if not line:
            self.proc.wait(5)
            raise RuntimeError("fakevenue did not start (exit %s)" % self.proc.returncode)
        ready = json.loads(line)
        self.url: str = ready["url"]
        self.cert: str = ready["cert"]

    def requests_seen(self) -> List[Dict[str, object]]:
        """The signed requests the venue saw, with its verdict on each."""
        import ssl
        import urllib.request

        ctx = ssl.create_default_context(cafile=self.cert)
        with urllib.request.urlopen(self.url + "/fakevenue/requests", context=ctx, timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


_LOGFMT = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


class FakeExchange:
    """internal/fakeexchange on 127.0.0.1: every venue's host names behind
    one TLS listener with a certificate from its own CA, checking each
    authenticated request with the venue's own rules. accounts are
    {"venue", "api_key", "secret", "passphrase"?, "permissions"?} dicts. A
    credential reaches it with meta connect_to=addr and ca_file=ca_file."""

    def __init__(self, accounts: List[Dict[str, Any]]) -> None:
        self.dir = tempfile.mkdtemp(prefix="kwpy-fx-")
        accounts_file = os.path.join(self.dir, "accounts.json")
        with open(os.open(accounts_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            json.dump(accounts, f)
        self.log_path = os.path.join(self.dir, "fakeexchange.log")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [fakeexchange_bin(), "--accounts", accounts_file],
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else b""
        if not line:
            self.proc.wait(5)
            raise RuntimeError("fakeexchange did not start (exit %s): %s" % (self.proc.returncode, self.logs()))
        ready = json.loads(line)
        self.addr: str = ready["addr"]
        self.ca_file: str = ready["ca_file"]
        self.hosts: List[str] = ready["hosts"]

    def meta(self) -> Dict[str, str]:
        """The credential metadata that points the agent at this exchange."""
        return {"connect_to": self.addr, "ca_file": self.ca_file}

    def logs(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def seen(self) -> List[Dict[str, str]]:
        """The authenticated requests the exchange logged, with its verdict
        ("verified": "true" or "false") on each, in order."""
        out = []
        for line in self.logs().splitlines():
            fields = {k: (json.loads(v) if v.startswith('"') else v) for k, v in _LOGFMT.findall(line)}
            if fields.get("msg") == "fakeexchange: signed request":
                out.append(fields)
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class RecordingProxy:
    """A Unix-socket proxy between a client and the agent that keeps every
    byte each way: ``sent`` (client to agent) and ``received`` (agent to
    client). Point a client at ``sock``."""

    def __init__(self, upstream: str) -> None:
        import threading

        self.upstream = upstream
        self.dir = tempfile.mkdtemp(prefix="kwpy-rec-")
        self.sock = os.path.join(self.dir, "rec.sock")
        self.sent = bytearray()
        self.received = bytearray()
        self._mu = threading.Lock()
        self._conns: List[socket.socket] = []
        self._ln = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._ln.bind(self.sock)
        self._ln.listen(8)
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                down, _ = self._ln.accept()
            except OSError:
                return
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            up.connect(self.upstream)
            with self._mu:
                self._conns += [down, up]
            for src, dst, buf in ((down, up, self.sent), (up, down, self.received)):
                t = threading.Thread(target=self._pump, args=(src, dst, buf), daemon=True)
                t.start()
                self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, buf: bytearray) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self._mu:
                    buf += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def recorded(self) -> bytes:
        """Everything that crossed the proxy, both ways."""
        with self._mu:
            return bytes(self.sent) + bytes(self.received)

    def stop(self) -> None:
        try:
            self._ln.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        except OSError:
            pass
        self._ln.close()
        with self._mu:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        for t in self._threads:
            t.join(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def closed_port() -> int:
    """A loopback TCP port nothing listens on (bound, then released)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def python_has_requests() -> bool:
    try:
        import requests  # noqa: F401
    except ImportError:
        return False
    return True


__all__ = ["Agent", "FakeVenue", "FakeExchange", "RecordingProxy", "closed_port", "CONFORMANCE_DIR", "REPO", "TEST_API_KEY", "TEST_SECRET", "TEST_PASSPHRASE", "sys"]
