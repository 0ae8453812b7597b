"""A loopback stand-in for an OpenAI-compatible chat server, for tests and the prompting notebook.

It speaks the real `POST /v1/chat/completions` schema over real HTTP on 127.0.0.1 (a free port), but no generative
model can be had offline here, so it answers **from fixtures**: one of a few canned findings sentences, chosen
deterministically from the user message. It counts requests, records the request bodies and can be told to
answer the next requests with error statuses (e.g. 429, 500) to exercise retries.

    with ChatServer() as server:           # server.url == "http://127.0.0.1:PORT/v1"
        server.faults.extend([429])        # the next request gets a 429, then normal answers
        ...
    python tests/chat_server.py --port 8000   # serve until Ctrl-C
"""
from __future__ import annotations
import hashlib, json, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FIXTURE_FINDINGS = [
    "Oval mass with circumscribed margins, equal density and homogeneous internal texture.",
    "Irregular mass with spiculated margins, high density and heterogeneous internal texture.",
    "Round mass with indistinct margins, equal density and mildly heterogeneous internal texture.",
    "Irregular mass with indistinct margins, high density and heterogeneous internal texture.",
]

class ChatServer:
    "An OpenAI-compatible chat-completions server on 127.0.0.1 answering from `answers` (a list or a callable)."
    def __init__(self, answers=FIXTURE_FINDINGS, port: int = 0, delay: float = 0.0):
        self.answers, self.delay = answers, delay
        self.hits = 0            # every POST received, faults included
        self.bodies = []         # the JSON bodies of all POSTs
        self.headers = []        # their headers (dict, lower-case names)
        self.faults = []         # status codes to answer the next requests with, in order
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = None

    def answer(self, body: dict) -> str:
        if callable(self.answers): return self.answers(body)
        user = "".join(m.get("content", "") for m in body["messages"] if m.get("role") == "user")
        return self.answers[int(hashlib.sha256(user.encode()).hexdigest(), 16) % len(self.answers)]

    def start(self) -> "ChatServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True); self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown(); self._httpd.server_close()

    def __enter__(self): return self.start()
    def __exit__(self, *exc): self.stop()

def _handler(server: ChatServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args): pass

        def _send(self, status: int, payload: dict, headers: dict | None = None):
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items(): self.send_header(k, v)
                self.end_headers(); self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError): pass     # the client gave up (a timeout test)

        def do_GET(self):
            if self.path.rstrip("/") == "/v1/models":
                return self._send(200, {"object": "list", "data": [{"id": "fixture-radiologist", "object": "model"}]})
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with server._lock:
                server.hits += 1
                fault = server.faults.pop(0) if server.faults else None
                try: req = json.loads(body)
                except ValueError: req = None
                server.bodies.append(req); server.headers.append({k.lower(): v for k, v in self.headers.items()})
            if self.path != "/v1/chat/completions":
                return self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            if fault is not None:
                return self._send(fault, {"error": {"message": f"injected fault {fault}", "type": "server_error",
                                                    "code": fault}}, {"retry-after-ms": "20"})
            if not isinstance(req, dict) or not isinstance(req.get("messages"), list) or not req.get("model") \
                    or not all(isinstance(m, dict) and "role" in m and "content" in m for m in req["messages"]):
                return self._send(400, {"error": {"message": "expected model and messages [{role, content}]",
                                                  "type": "invalid_request_error"}})
            if server.delay: time.sleep(server.delay)
            text = server.answer(req)
            self._send(200, {
                "id": f"chatcmpl-{server.hits}", "object": "chat.completion", "created": int(time.time()),
                "model": req["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})
    return Handler

if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8000)
    srv = ChatServer(port=ap.parse_args().port).start()
    print(f"serving fixture chat completions at {srv.url}")
    try:
        while True: time.sleep(3600)
    except KeyboardInterrupt: srv.stop()
