"""Lambda-mode cold start, locally: time from process start to the first token answered
through the Lambda Runtime API. Serves a minimal Runtime API on loopback (what the Lambda
service gives a function in AWS_LAMBDA_RUNTIME_API), spawns the function command, hands it
one API Gateway v2 token request event, and stops the clock when the function posts a
response whose statusCode is 200. Prints the median in ms over the runs.

This is the function's own init plus one invocation, without Lambda's image pull, sandbox
creation or network: a lower bound on a real cold start, not a measurement of one.

usage: lambda_first_token.py --runs N --event FILE --client-id ID --client-secret S -- CMD...
"""
import argparse
import base64
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time

PREFIX = "/2018-06-01/runtime"


def one(cmd, event, timeout=60.0):
    state = {"handed": False, "done": threading.Event(), "at": None, "status": None, "error": None}

    class Runtime(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def reply(self, code, body=b"", headers=()):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path != f"{PREFIX}/invocation/next":
                return self.reply(404)
            if state["handed"]:
                # The next invocation never comes: hold the poll until the run ends.
                state["done"].wait(timeout)
                return self.reply(500)
            state["handed"] = True
            deadline = int(time.time() * 1000) + 60_000
            self.reply(200, event, [
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Aws-Request-Id", "bench-1"),
                ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:000000000000:function:bench"),
            ])

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == f"{PREFIX}/invocation/bench-1/response":
                state["at"] = time.perf_counter()
                try:
                    state["status"] = json.loads(body).get("statusCode")
                except ValueError:
                    state["error"] = f"not JSON: {body[:200]!r}"
            else:
                state["error"] = f"{self.path}: {body[:500].decode(errors='replace')}"
            self.reply(202)
            state["done"].set()

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass  # the function is killed mid-poll at the end of each run

    server = Server(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": "eu-west-1",
    })
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        if not state["done"].wait(timeout):
            raise SystemExit(f"no response within {timeout} s (exit code {proc.poll()})")
        if state["error"] or state["status"] != 200:
            raise SystemExit(f"the function answered {state['status']}: {state['error']}")
        return (state["at"] - t0) * 1000
    finally:
        proc.terminate()
        proc.wait()
        server.shutdown()
        server.server_close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--event", required=True, help="an API Gateway v2 event for POST /oauth2/token")
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    event = json.load(open(a.event))
    event.setdefault("headers", {})["authorization"] = "Basic " + base64.b64encode(
        f"{a.client_id}:{a.client_secret}".encode()).decode()
    body = json.dumps(event).encode()
    times = [one(cmd, body) for _ in range(a.runs)]
    print(f"lambda_first_token_ms median={statistics.median(times):.1f} min={min(times):.1f} max={max(times):.1f} runs={a.runs}")


if __name__ == "__main__":
    sys.exit(main())
