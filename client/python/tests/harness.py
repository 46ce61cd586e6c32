"""Real processes for the tests: a `keyward agent` over a fresh vault, and
the fake Binance venue (internal/fakevenue). No mocks of the agent.

KEYWARD_BIN names the keyward binary and FAKEVENUE_BIN the fake venue
(`make test-python` builds both into bin/); they default to bin/ in the
repository.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

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
            "%s: no executable at %s: run `make build` and `go build -o bin/fakevenue ./internal/fakevenue` "
            "(make test-python does both), or set %s" % (name, path, env)
        )
    return path


def keyward_bin() -> str:
    return _binary("KEYWARD_BIN", "keyward")


def fakevenue_bin() -> str:
    return _binary("FAKEVENUE_BIN", "fakevenue")


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


def python_has_requests() -> bool:
    try:
        import requests  # noqa: F401
    except ImportError:
        return False
    return True


__all__ = ["Agent", "FakeVenue", "CONFORMANCE_DIR", "REPO", "TEST_API_KEY", "TEST_SECRET", "TEST_PASSPHRASE", "sys"]
