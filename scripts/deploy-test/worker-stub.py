#!/usr/bin/env python3
"""Stand-ins for workers on devices this machine does not have (an NPU computing in FP16), for the role's verify step.

Usage: worker-stub.py FIXTURE CASES_JSON. For each case it serves, on its own 127.0.0.1 port, the two routes the
role's verify step reads: GET /health (one model, on the case's device) and POST /v2/models/<model>/infer (the
release fixture's expected output, changed as the case says). It prints "<case> <port>" per case, then serves
until killed. Only the verify logic is under test here; the real worker is tested in the container.

Answers: exact (the reference); fp16 (off by 0.3% + 5e-4: outside the FP32 row, inside the FP16 one, the size of
error an FP16 device may make); zeros; shuffled (the right numbers in the wrong places).
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def answer(expected, kind):
    if kind == "exact":
        return list(expected)
    if kind == "fp16":
        return [x * 1.003 + 5e-4 for x in expected]
    if kind == "zeros":
        return [0.0] * len(expected)
    if kind == "shuffled":
        return list(expected[1:]) + list(expected[:1])
    raise ValueError(f"unknown answer {kind}")


def serve(fixture, case):
    model = {
        "name": fixture["model"],
        "version": "1",
        "state": case.get("state", "ready"),
        "ready": case.get("state", "ready") == "ready",
        "backend": case["backend"],
        "device": case["device"],
        "preferred_device": "NPU",
        "fallback": case["device"] != "NPU",
        "fallback_chain": [],
        "error": None,
    }
    for key in ("precision", "self_test", "reason"):
        if key in case:
            model[key] = case[key]
    health = {
        "status": "healthy" if case["device"].startswith("NPU") else "degraded",
        "service": "npu-worker",
        "version": case["version"],
        "capabilities": {"device": case["device"], "available": case["device"].startswith("NPU")},
        "models": [model],
        "load": {"active": 0, "queued": 0, "capacity": 1, "queue_capacity": 1},
        "uptime_seconds": 1,
    }
    expected = fixture["expected"]
    infer = {
        "model_name": fixture["model"],
        "outputs": [
            {
                "name": expected["name"],
                "shape": expected["shape"],
                "datatype": "FP32",
                "data": answer(expected["data"], case["answer"]),
            }
        ],
    }

    class Handler(BaseHTTPRequestHandler):
        def reply(self, body):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.reply(health) if self.path == "/health" else self.send_error(404)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.reply(infer) if self.path == f"/v2/models/{fixture['model']}/infer" else self.send_error(404)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def main():
    fixture = json.load(open(sys.argv[1]))
    for case in json.load(open(sys.argv[2])):
        print(case["name"], serve(fixture, case), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
