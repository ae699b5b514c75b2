"""A live users-api for the tests (and tests/throughput.py): the release binary started on a
free port with a fresh SQLite file in a temporary directory, plus a small HTTP client.

The binary is ``$USERS_API_BIN`` or ``<repo>/target/release/users-api``.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import requests

REPO = Path(__file__).resolve().parents[3]
TCP_PROXY = REPO / "scripts" / "tcp_proxy.py"


def users_api_bin() -> str:
    """The users-api binary to run."""
    path = os.environ.get("USERS_API_BIN") or str(REPO / "target" / "release" / "users-api")
    if not os.access(path, os.X_OK):
        raise RuntimeError(
            f"no users-api binary at {path}: build it (cargo build --release -p users-api) "
            "or set USERS_API_BIN"
        )
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path, algorithm: str = "eddsa") -> Path:
    """``users-api keygen --algorithm ALG --out PATH``."""
    subprocess.run(
        [users_api_bin(), "keygen", "--algorithm", algorithm, "--out", str(path)],
        check=True,
        capture_output=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    return path


class LiveService:
    """One users-api process (``serve``) with its own SQLite file.

    ``env`` adds or overrides variables; by default: development profile, EdDSA with
    ``key_file``, the revocation feed on with a random 40-character token, RUST_LOG=warn.
    """

    def __init__(self, workdir: Path, *, key_file: Optional[Path] = None,
                 env: Optional[Dict[str, str]] = None, name: str = "users-api") -> None:
        self.workdir = workdir
        self.name = name
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.feed_token = secrets.token_hex(20)
        self.db = workdir / f"{name}.sqlite"
        self.log_path = workdir / f"{name}.log"
        self.key_file = key_file
        self.env: Dict[str, str] = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "APP_ENV": "development",
            "DATABASE_URL": str(self.db),
            "PORT": str(self.port),
            "REVOCATION_FEED_TOKEN": self.feed_token,
            "RUST_LOG": "warn",
        }
        if key_file is not None:
            self.env.update({"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": str(key_file)})
        self.env.update(env or {})
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 30.0) -> "LiveService":
        """Starts ``users-api serve`` and waits for ``GET /ready``."""
        assert self.proc is None, "already running"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [users_api_bin(), "serve"], env=self.env, cwd=self.workdir,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise RuntimeError(f"{self.name} exited with {code} at start:\n{self.log_tail()}")
            try:
                if requests.get(self.base_url + "/ready", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} not ready within {timeout} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 45.0) -> float:
        """SIGTERM, then waits for the exit; the seconds it took."""
        if self.proc is None:
            return 0.0
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        return time.monotonic() - began

    def restart(self, **env: str) -> float:
        """Stops, changes the environment, starts again (same port and database); the
        seconds the stop took."""
        took = self.stop()
        self.env.update(env)
        self.start()
        return took

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        """Runs a users-api command with the service's environment (so its database)."""
        return subprocess.run(
            [users_api_bin(), *args], input=stdin, text=True, capture_output=True,
            env=self.env, cwd=self.workdir, check=True,
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class Api:
    """The users service's HTTP API, as the tests use it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        # No idle keep-alive connection: the service waits for those when it stops.
        self.http.headers["Connection"] = "close"

    def call(self, method: str, path: str, *, token: Optional[str] = None,
             json: Any = None, expect: Optional[int] = 200) -> Dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.http.request(method, self.base_url + path, headers=headers,
                                     json=json, timeout=10)
        if expect is not None:
            assert response.status_code == expect, (method, path, response.status_code,
                                                    response.text)
        return response.json()

    def register(self) -> Dict[str, Any]:
        """A fresh user: id, username, email, password, token, refresh_token."""
        name = "u" + uuid.uuid4().hex[:12]
        user = {"username": name, "email": f"{name}@example.com", "password": "pw-" + name}
        body = self.call("POST", "/auth/register", json=user, expect=201)
        user["token"], user["refresh_token"] = body["auth_token"], body["refresh_token"]
        user["id"] = self.call("GET", "/auth/status", token=user["token"])["data"]["id"]
        return user

    def login(self, email: str, password: str) -> Tuple[str, str]:
        body = self.call("POST", "/auth/login", json={"email": email, "password": password})
        return body["auth_token"], body["refresh_token"]

    def sessions(self, token: str) -> List[Dict[str, Any]]:
        return self.call("GET", "/auth/sessions", token=token)["data"]["sessions"]


def flips_within(verify_fn, *, since: Optional[float] = None, period: float = 0.05,
                 give_up: float = 10.0) -> Tuple[float, BaseException]:
    """Calls ``verify_fn`` every ``period`` seconds until it raises. Returns the seconds
    from ``since`` (a ``time.monotonic()``; default: now) to the start of the call that
    raised, and its error. Fails when it still succeeds ``give_up`` seconds later."""
    began = time.monotonic() if since is None else since
    while True:
        called = time.monotonic()
        try:
            verify_fn()
        except Exception as e:  # noqa: BLE001 - the caller checks the type
            return called - began, e
        if called - began > give_up:
            raise AssertionError(f"still accepted after {give_up} s")
        time.sleep(period)
