"""Time from process start to the first token served, for any command that starts a token
server: spawns it, polls the token endpoint every 0.5 ms, prints the median in ms.

usage: first_token.py --runs N --port P --path /oauth2/token --client-id ID --client-secret S -- CMD...
"""
import argparse
import base64
import http.client
import os
import statistics
import subprocess
import sys
import time


def one(cmd, port, path, auth, body):
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ)
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited with {proc.returncode} before serving a token")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("POST", path, body, {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"})
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    return (time.perf_counter() - t0) * 1000
                raise SystemExit(f"the server answered {resp.status}")
            except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
                time.sleep(0.0005)
    finally:
        proc.terminate()
        proc.wait()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/oauth2/token")
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--body", default="grant_type=client_credentials&scope=read")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    auth = "Basic " + base64.b64encode(f"{a.client_id}:{a.client_secret}".encode()).decode()
    times = [one(cmd, a.port, a.path, auth, a.body) for _ in range(a.runs)]
    print(f"first_token_ms median={statistics.median(times):.1f} min={min(times):.1f} max={max(times):.1f} runs={a.runs}")


if __name__ == "__main__":
    sys.exit(main())
