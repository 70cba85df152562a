"""The read model's figures (issue: scale to zero that holds in use), measured with the real
auth server binary, a real PostgreSQL (its own statistics and connection log are the
witness, not our counters), moto's S3, and a minimal Lambda Runtime API on loopback
(bench/lambda_first_token.py). Each figure is printed next to what the database mode does
under the same load, in the same run.

1. Cold start to the first token in Lambda mode, p50 over --runs starts: the database mode
   with PostgreSQL up, then the read model with PostgreSQL stopped.
2. Database work under load: --tokens tokens over --seconds from --clients clients, against
   `authserver serve` in each mode, counted from PostgreSQL's own log (`log_statement=all`
   and `log_connections=on`).
3. Propagation: a secret added through one instance's admin API, polled for on another
   instance's token endpoint (default 5 s cache), --changes times: p50, p99, max.
4. --big clients: the sealed snapshot's size, what one GET of it costs against one GET of
   a per-client object, and cold start to the first token with that many clients.
5. `authdomain cost` of a domain with 20 clients: idle and busy months.

usage: bench/read_model.py --authserver BIN --authdomain BIN [--runs 10] [--tokens 10000]
                           [--seconds 60] [--clients 20] [--changes 40] [--big 10000]
"""
import argparse
import base64
import concurrent.futures
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import lambda_first_token  # noqa: E402

REGION = "eu-west-1"
ISSUER = "https://bench.example.com"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


class Postgres:
    """A PostgreSQL server of its own, logging every connection."""

    def __init__(self, work):
        bins = sorted(d for d in os.listdir("/usr/lib/postgresql") if d.isdigit())
        env_bin = os.environ.get("AUTHDOMAIN_PG_BIN")
        self.bin = env_bin or f"/usr/lib/postgresql/{bins[-1]}/bin"
        self.dir = os.path.join(work, "pg")
        os.makedirs(self.dir)
        self.as_user = []
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres")
            os.chmod(work, 0o755)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.log = os.path.join(self.dir, "postgres.log")
        subprocess.run(self.as_user + [f"{self.bin}/initdb", "-D", f"{self.dir}/data", "-U", "postgres",
                                       "--auth=trust", "-E", "UTF8", "--locale=C"],
                       check=True, stdout=subprocess.DEVNULL)
        self.start()

    def start(self):
        subprocess.run(self.as_user + [f"{self.bin}/pg_ctl", "-D", f"{self.dir}/data", "-w", "-l", self.log,
                                       "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                                             "-c log_connections=on -c log_statement=all "
                                             "-c log_line_prefix='db=%d app=%a '", "start"],
                       check=True, stdout=subprocess.DEVNULL)

    def stop(self):
        subprocess.run(self.as_user + [f"{self.bin}/pg_ctl", "-D", f"{self.dir}/data", "-w", "-m", "fast", "stop"],
                       check=True, stdout=subprocess.DEVNULL)

    def sql(self, query, db="postgres"):
        out = subprocess.run([f"{self.bin}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                              "-d", db, "-At", "-c", query], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def url(self, db):
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def activity(self, db):
        """(statements run, connections made) on `db` so far, from PostgreSQL's own log
        (`log_statement=all`, `log_connections=on`), leaving out this script's psql."""
        time.sleep(0.5)
        statements = made = 0
        with open(self.log, errors="replace") as f:
            for line in f:
                # Simple queries log `statement:`, the extended protocol (sqlx) `execute`.
                if (line.startswith(f"db={db} ") and " app=psql " not in line
                        and ("LOG:  statement:" in line or "LOG:  execute" in line)):
                    statements += 1
                if "connection authorized" in line and f"database={db}" in line:
                    made += 1
        return statements, made


def http(method, url, data=None, headers=None, auth=None):
    headers = dict(headers or {})
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    body = None
    if isinstance(data, dict):
        body = urllib.parse.urlencode(data).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Domain:
    def __init__(self, binary, pg, moto, bucket, db):
        self.binary = binary
        self.kek = base64.b64encode(secrets.token_bytes(32)).decode()
        self.base_env = dict(os.environ)
        self.base_env.update({
            "AUTHSERVER_DATABASE_URL": pg.url(db),
            "AUTHSERVER_KEK": self.kek,
            "AUTHSERVER_ISSUER": ISSUER,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": moto,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "RUST_LOG": "error",
        })
        self.read_model = f"s3://{bucket}/read-model"

    def env(self, read_model=True, **extra):
        e = dict(self.base_env)
        if read_model:
            e["AUTHSERVER_READ_MODEL"] = self.read_model
        e.update(extra)
        return e

    def cli(self, *args, read_model=True):
        out = subprocess.run([self.binary, *args], env=self.env(read_model), capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"authserver {' '.join(args)}: {out.stderr}")
        return out.stdout

    def serve(self, read_model=True, cache_ttl=None):
        port = free_port()
        extra = {"AUTHSERVER_ISSUER": ISSUER}
        if cache_ttl is not None:
            extra["AUTHSERVER_CACHE_TTL"] = str(cache_ttl)
        p = subprocess.Popen([self.binary, "serve", "--listen", f"127.0.0.1:{port}"],
                             env=self.env(read_model, **extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port)
        return p, f"http://127.0.0.1:{port}"


def cold_starts(binary, env, event, runs):
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return [lambda_first_token.one([binary], event) for _ in range(runs)]
    finally:
        os.environ.clear()
        os.environ.update(saved)


def token_event(client_id, secret):
    event = json.load(open(os.path.join(ROOT, "authserver/tests/fixtures/lambda/token-request.json")))
    event["headers"]["authorization"] = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return json.dumps(event).encode()


def load(base, clients, tokens, seconds):
    """`tokens` token requests spread evenly over `seconds`, one thread per client."""
    per = tokens // len(clients)
    interval = seconds / per
    failures = []

    def run(cred):
        start = time.perf_counter()
        for i in range(per):
            status, body = http("POST", f"{base}/oauth2/token", {"grant_type": "client_credentials"}, auth=cred)
            if status != 200:
                failures.append((status, body[:200]))
            delay = start + (i + 1) * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(len(clients)) as ex:
        list(ex.map(run, clients))
    return per * len(clients), time.perf_counter() - started, failures


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--authserver", required=True)
    ap.add_argument("--authdomain", required=True)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--tokens", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--changes", type=int, default=40)
    ap.add_argument("--big", type=int, default=10_000)
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="authdomain-rm-bench-")
    procs = []
    try:
        moto_port = free_port()
        procs.append(subprocess.Popen([sys.executable, os.path.join(ROOT, "tests/moto_server.py"), "-H", "127.0.0.1",
                                       "-p", str(moto_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(moto_port)
        moto = f"http://127.0.0.1:{moto_port}"
        s3 = boto3.client("s3", endpoint_url=moto, region_name=REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
        pg = Postgres(work)
        print(f"machine: {os.cpu_count()} cores, {os.uname().machine}; PostgreSQL {pg.sql('SHOW server_version')}; "
              f"binary {a.authserver}")

        # --- a domain with --clients clients -------------------------------------------------
        pg.sql("CREATE DATABASE bench")
        s3.create_bucket(Bucket="bench-read-model", CreateBucketConfiguration={"LocationConstraint": REGION})
        d = Domain(a.authserver, pg, moto, "bench-read-model", "bench")
        d.cli("migrate")
        d.cli("resource-servers", "create", "--identifier", "https://api.example.com", "--scope", "read")
        creds = []
        for i in range(a.clients):
            c = json.loads(d.cli("clients", "create", "--name", f"bench-{i}", "--scope", "read", "--json"))
            creds.append((c["client_id"], c["client_secret"]))
        admin = json.loads(d.cli("admin-client", "create", "--json"))
        status = json.loads(d.cli("publish"))
        assert not status["behind"], status

        # 1. Cold start.
        event = token_event(*creds[0])
        db_mode = cold_starts(a.authserver, d.env(read_model=False), event, a.runs)
        pg.stop()
        rm_mode = cold_starts(a.authserver, d.env(read_model=True, AUTHSERVER_DATABASE_URL=pg.url("bench")),
                              event, a.runs)
        pg.start()
        print("\n## 1. Lambda mode, process start to the first token "
              f"({a.runs} starts, {a.clients} clients)\n")
        print("| mode | PostgreSQL | p50 ms | min | max |\n|---|---|---:|---:|---:|")
        print(f"| database | running | {statistics.median(db_mode):.1f} | {min(db_mode):.1f} | {max(db_mode):.1f} |")
        print(f"| read model (S3) | **stopped** | {statistics.median(rm_mode):.1f} | {min(rm_mode):.1f} | "
              f"{max(rm_mode):.1f} |")

        # 2. Database work under load.
        print(f"\n## 2. Database work under load: {a.tokens} tokens over {a.seconds:.0f} s from "
              f"{a.clients} clients (`authserver serve`, counted by PostgreSQL)\n")
        print("| mode | tokens | non-200 | wall s | statements run | connections opened |\n"
              "|---|---:|---:|---:|---:|---:|")
        for read_model in (False, True):
            server, base = d.serve(read_model=read_model)
            procs.append(server)
            time.sleep(1.5)
            x0, c0 = pg.activity("bench")
            n, wall, failures = load(base, creds, a.tokens, a.seconds)
            x1, c1 = pg.activity("bench")
            server.terminate()
            server.wait()
            print(f"| {'read model' if read_model else 'database'} | {n} | {len(failures)} | {wall:.1f} | "
                  f"{x1 - x0} | {c1 - c0} |")

        # 3. Propagation between instances (default 5 s cache).
        a_proc, a_base = d.serve()
        b_proc, b_base = d.serve()
        procs += [a_proc, b_proc]
        status, body = http("POST", f"{a_base}/oauth2/token", {"grant_type": "client_credentials"},
                            auth=(admin["client_id"], admin["client_secret"]))
        admin_token = json.loads(body)["access_token"]
        target = creds[-1][0]
        delays = []
        for _ in range(a.changes):
            status, body = http("POST", f"{a_base}/admin/v1/clients/{target}/secrets",
                                headers={"Authorization": f"Bearer {admin_token}"})
            assert status == 201, body
            new = json.loads(body)
            t0 = time.perf_counter()
            while True:
                status, _ = http("POST", f"{b_base}/oauth2/token", {"grant_type": "client_credentials"},
                                 auth=(target, new["client_secret"]))
                if status == 200:
                    break
                if time.perf_counter() - t0 > 30:
                    raise SystemExit("a change did not reach the other instance in 30 s")
                time.sleep(0.02)
            delays.append(time.perf_counter() - t0)
            # Back to one secret for the next round.
            client = json.loads(http("GET", f"{a_base}/admin/v1/clients/{target}",
                                     headers={"Authorization": f"Bearer {admin_token}"})[1])
            for s in client["secrets"]:
                if s["secret_id"] != new["secret_id"]:
                    http("DELETE", f"{a_base}/admin/v1/clients/{target}/secrets/{s['secret_id']}",
                         headers={"Authorization": f"Bearer {admin_token}"})
        a_proc.terminate()
        b_proc.terminate()
        print(f"\n## 3. A change through one instance's admin API seen by another's token endpoint "
              f"({a.changes} changes, 5 s cache)\n")
        print(f"p50 {pct(delays, 50):.2f} s, p99 {pct(delays, 99):.2f} s, max {max(delays):.2f} s")

        # 4. Many clients.
        pg.sql("CREATE DATABASE big")
        s3.create_bucket(Bucket="bench-big", CreateBucketConfiguration={"LocationConstraint": REGION})
        big = Domain(a.authserver, pg, moto, "bench-big", "big")
        big.cli("migrate")
        big.cli("resource-servers", "create", "--identifier", "https://api.example.com", "--scope", "read",
                "--scope", "write")
        # Clients written straight into the database (registering 10,000 through the API
        # would publish 10,000 times), with the server's secret hashing: HMAC-SHA-256 under
        # a key derived from the KEK.
        kek = base64.b64decode(big.kek)
        pepper = hmac.new(kek, b"authdomain/client-secret-pepper/v1", hashlib.sha256).digest()
        secret = secrets.token_urlsafe(32)
        digest = hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()
        now = int(time.time())
        # Every client a random secret of its own (as registered ones are: the hashes do
        # not compress); client-04242's is `secret`.
        rows = os.path.join(work, "clients.sql")
        with open(rows, "w") as f:
            f.write("BEGIN;\n")
            for i in range(a.big):
                cid = f"client-{i:05d}"
                f.write("INSERT INTO clients (client_id, name, auth_method, grant_types, allowed_scopes, "
                        "default_scopes, created_at, updated_at) VALUES "
                        f"('{cid}', 'Client {i}', 'client_secret_basic', '[\"client_credentials\"]', "
                        f"'[\"read\",\"write\"]', '[]', {now}, {now});\n")
                h = digest if i == 4242 else secrets.token_hex(32)
                f.write("INSERT INTO client_secrets (secret_id, client_id, secret_hash, created_at, seq) VALUES "
                        f"('s-{i:05d}', '{cid}', '\\x{h}', {now}, 1);\n")
            f.write("COMMIT;\n")
        subprocess.run([f"{pg.bin}/psql", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-d", "big",
                        "-q", "-f", rows], check=True, stdout=subprocess.DEVNULL)
        published = json.loads(big.cli("publish"))
        size = s3.head_object(Bucket="bench-big", Key="read-model/snapshot")["ContentLength"]
        pg.stop()
        big_starts = cold_starts(a.authserver, big.env(), token_event("client-04242", secret), a.runs)
        pg.start()
        # One GET of the snapshot against one GET of a per-client object (the other design:
        # an object per client, the JSON of one client as the snapshot holds it).
        per_client = json.dumps({"id": "client-04242", "name": "Client 4242", "method": "client_secret_basic",
                                 "grants": ["client_credentials"], "scopes": ["read", "write"], "created": now,
                                 "updated": now, "secrets": [{"id": "s-04242", "hash": base64.b64encode(
                                     bytes.fromhex(digest)).decode(), "created": now}]}).encode()
        s3.put_object(Bucket="bench-big", Key="per-client/client-04242", Body=per_client)

        def get_ms(key):
            times = []
            for _ in range(20):
                t = time.perf_counter()
                s3.get_object(Bucket="bench-big", Key=key)["Body"].read()
                times.append((time.perf_counter() - t) * 1000)
            return statistics.median(times)

        print(f"\n## 4. {a.big} clients\n")
        print(f"sealed snapshot (version {published['version']}): {size / 1e6:.2f} MB, "
              f"{size / a.big:.0f} bytes per client")
        print(f"Lambda mode, start to first token with PostgreSQL stopped: p50 {statistics.median(big_starts):.1f} ms "
              f"(min {min(big_starts):.1f}, max {max(big_starts):.1f}, {a.runs} starts)")
        print("| design | objects | bytes of one | GET of one, ms (moto, median of 20) |\n|---|---:|---:|---:|")
        print(f"| one snapshot | 1 | {size} | {get_ms('read-model/snapshot'):.1f} |")
        print(f"| an object per client | {a.big} | {len(per_client)} | {get_ms('per-client/client-04242'):.1f} |")

        # 5. Cost.
        spec = os.path.join(work, "busy.yaml")
        with open(spec, "w") as f:
            f.write("apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: busy\nspec:\n"
                    "  region: us-east-1\n  resourceServers:\n    - identifier: https://api.example.com\n"
                    "      scopes: [{name: read}]\n")
        cost = json.loads(subprocess.run([a.authdomain, "cost", "-f", spec, "--output", "json"], check=True,
                                         capture_output=True, text=True).stdout)
        print("\n## 5. `authdomain cost`, the default domain (clients registered through the API or "
              "the operator keep no Secrets Manager secret)\n")
        print(f"idle: ${cost['idle_monthly_usd']:.2f}/month; " + ", ".join(
            f"{int(b['tokens']):,} tokens: ${b['monthly_usd']:.2f}/month" for b in cost["busy"]) +
              f"; per million tokens ${cost['per_million_tokens']['usd']:.2f}; one database wake "
              f"${cost['wakes']['usd_per_wake']:.4f} ({cost['wakes']['awake_seconds']} s awake)")
    finally:
        for p in procs:
            p.terminate()
        try:
            pg.stop()
        except Exception:
            pass
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
