"""A team's stack on one machine without containers, for examples/team.yaml: what can run so, each on its own
loopback port, started and stopped together. PostgreSQL and Redis are the machine's own (as the tests use them).

    python deploy/team/stack.py up        # start what is not running, print the environment team.yaml reads
    python deploy/team/stack.py env       # print it again (eval "$(python deploy/team/stack.py env)")
    python deploy/team/stack.py seed      # only the databases and the sample table (for deploy/compose/'s stack)
    python deploy/team/stack.py status    # each service: up or down, and where
    python deploy/team/stack.py stop NAME # stop one service (s3, mlflow, pushgateway, prometheus, lineage, git)
    python deploy/team/stack.py down      # stop every service this script started

  s3           moto's S3-compatible server (in memory), the bucket `team`: extracts, the DVC remote (dvc/), MLflow's
               artifacts (mlflow/) and the inference log (inference-log/)
  mlflow       `mlflow server`: PostgreSQL backend store (<prefix>_mlflow), artifacts served by the server from S3
  pushgateway  Debian's prometheus-pushgateway; prometheus: Debian's prometheus scraping it and the model server
  lineage      an OpenLineage HTTP receiver (deploy/team/lineage_receiver.py; compose runs Marquez instead)
  git          `git daemon` serving the deployment repo deploy.git (push enabled), a remote that is not a path
The warehouse is the PostgreSQL database <prefix>_warehouse, seeded with the sample customers when it has no
table; Feast's SQL registry is <prefix>_feast. Ports, the database prefix, the state folder and the rows come from
TEAM_* variables (TEAM_S3_PORT, TEAM_MLFLOW_PORT, TEAM_PUSHGATEWAY_PORT, TEAM_PROMETHEUS_PORT, TEAM_LINEAGE_PORT,
TEAM_GIT_PORT, TEAM_SERVING_PORT, TEAM_DB_PREFIX, TEAM_STACK_DIR, TEAM_ROWS, TEAM_PG). With Docker, use
deploy/compose/compose.yaml instead (MinIO, Marquez and its web UI, Grafana with the dashboard)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from common.serving.local_server import alive

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "team"
PORTS = {  # the default port of each service, and its TEAM_<NAME>_PORT override
    "s3": 9000,
    "mlflow": 5000,
    "pushgateway": 9091,
    "prometheus": 9090,
    "lineage": 5002,
    "git": 9418,
    "serving": 8085,
}


@dataclass(frozen=True)
class Stack:
    folder: Path
    ports: dict[str, int]
    prefix: str
    pg: str  # the server's URL without a database: postgresql+psycopg://user@host:port
    rows: int

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Stack:
        env = os.environ if environ is None else environ
        ports = {name: int(env.get(f"TEAM_{name.upper()}_PORT", port)) for name, port in PORTS.items()}
        folder = Path(env.get("TEAM_STACK_DIR", ROOT / "var" / "team-stack")).resolve()
        pg = env.get("TEAM_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
        return cls(folder, ports, env.get("TEAM_DB_PREFIX", "team"), pg, int(env.get("TEAM_ROWS", "10000")))

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def database(self, name: str) -> str:
        return f"{self.pg}/{self.prefix}_{name}"

    def environment(self) -> dict[str, str]:
        """What examples/team.yaml reads. No secret of a real team is here: moto takes any key."""
        return {
            "WAREHOUSE_URL": self.database("warehouse"),
            "S3_BUCKET": BUCKET,
            "S3_ENDPOINT_URL": self.url("s3"),
            "DVC_REMOTE_URL": f"s3://{BUCKET}/dvc",
            "DVC_S3_ENDPOINT_URL": self.url("s3"),
            "AWS_ACCESS_KEY_ID": "team",
            "AWS_SECRET_ACCESS_KEY": "team-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "MLFLOW_TRACKING_URI": self.url("mlflow"),
            "FEAST_REGISTRY_URL": self.database("feast"),
            "REDIS_CONNECTION": "127.0.0.1:6379",
            "PUSHGATEWAY_URL": self.url("pushgateway"),
            "PROMETHEUS_URL": self.url("prometheus"),
            "MARQUEZ_URL": self.url("lineage"),
            "GITOPS_REPO_URL": f"git://127.0.0.1:{self.ports['git']}/deploy.git",
            "SERVING_PORT": str(self.ports["serving"]),
        }


def commands(stack: Stack) -> dict[str, list[str]]:
    """How each service starts."""
    bin_dir, p, f = Path(sys.executable).parent, stack.ports, stack.folder
    return {
        "s3": [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(p["s3"])],
        "mlflow": [
            str(bin_dir / "mlflow"),
            "server",
            "--backend-store-uri",
            stack.database("mlflow").replace("+psycopg", "+psycopg2"),
            "--artifacts-destination",
            f"s3://{BUCKET}/mlflow",
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(p["mlflow"]),
            "--workers",
            "1",
        ],
        "pushgateway": [
            _binary("prometheus-pushgateway"),
            f"--web.listen-address=127.0.0.1:{p['pushgateway']}",
        ],
        "prometheus": [
            _binary("prometheus"),
            f"--config.file={f / 'prometheus.yml'}",
            f"--storage.tsdb.path={f / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{p['prometheus']}",
        ],
        "lineage": [
            sys.executable,
            str(ROOT / "deploy" / "team" / "lineage_receiver.py"),
            "--port",
            str(p["lineage"]),
            "--out",
            str(f / "lineage" / "events.jsonl"),
        ],
        "git": [
            "git",
            "daemon",
            "--reuseaddr",
            f"--base-path={f / 'git'}",
            "--export-all",
            "--enable=receive-pack",
            "--listen=127.0.0.1",
            f"--port={p['git']}",
            str(f / "git"),
        ],
    }


def _binary(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} is not installed: apt-get install {name} (.ci/run installs it)")
    return found


def prometheus_config(stack: Stack) -> str:
    """Prometheus scrapes the Pushgateway (the pipelines' and drift figures) and the model server."""
    pushgateway, server = (f"127.0.0.1:{stack.ports[n]}" for n in ("pushgateway", "serving"))
    return (
        "global: {scrape_interval: 2s, evaluation_interval: 2s}\n"
        "scrape_configs:\n"
        f"  - {{job_name: pushgateway, honor_labels: true, static_configs: [{{targets: ['{pushgateway}']}}]}}\n"
        f"  - {{job_name: model-server, static_configs: [{{targets: ['{server}']}}]}}\n"
    )


def up(stack: Stack) -> None:
    """Start every service not running yet, then the bucket, the databases, the sample table and the repo."""
    stack.folder.mkdir(parents=True, exist_ok=True)
    (stack.folder / "prometheus.yml").write_text(prometheus_config(stack))
    _databases(stack)
    _deploy_repo(stack)
    env = {**os.environ, **stack.environment(), "MLFLOW_S3_ENDPOINT_URL": stack.url("s3")}
    pids = _pids(stack)
    for name, cmd in commands(stack).items():
        if name in pids and alive(pids[name]):
            continue
        with (stack.folder / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        pids[name] = proc.pid
        _write_pids(stack, pids)
        _wait_port(name, stack.ports[name], proc)
        if name == "s3":
            _bucket(stack)
    _seed(stack)


def _databases(stack: Stack) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(f"{stack.pg}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            have = {r[0] for r in conn.execute(text("SELECT datname FROM pg_database"))}
            for name in ("warehouse", "mlflow", "feast"):
                if f"{stack.prefix}_{name}" not in have:
                    conn.execute(text(f'CREATE DATABASE "{stack.prefix}_{name}"'))
    finally:
        admin.dispose()


def _deploy_repo(stack: Stack) -> None:
    repo = stack.folder / "git" / "deploy.git"
    if not repo.exists():
        subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(repo)], check=True)


def _bucket(stack: Stack) -> None:
    import boto3

    env = stack.environment()
    s3 = boto3.client(
        "s3",
        endpoint_url=stack.url("s3"),
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    if BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=BUCKET)


def _seed(stack: Stack) -> None:
    """The sample customers in the team's warehouse, when it has no customers table yet."""
    from sqlalchemy import create_engine, inspect

    engine = create_engine(stack.database("warehouse"))
    try:
        present = inspect(engine).has_table("customers")
    finally:
        engine.dispose()
    if not present:
        cmd = [sys.executable, "-m", "common.data.sample_data", "--rows", str(stack.rows)]
        subprocess.run(
            [*cmd, "--set", f"warehouse.url={stack.database('warehouse')}"],
            cwd=ROOT,
            check=True,
            env={**os.environ, "MLOPS_WORKSPACE": str(stack.folder / "seed-workspace")},
            stdout=subprocess.DEVNULL,
        )


def stop(stack: Stack, name: str) -> bool:
    """Stop one service (its whole process group); False when it was not running."""
    pids = _pids(stack)
    pid = pids.pop(name, None)
    if pid is None or not alive(pid):
        _write_pids(stack, pids)
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive(pid):
        os.killpg(pid, signal.SIGKILL)
    _write_pids(stack, pids)
    return True


def down(stack: Stack) -> list[str]:
    return [name for name in list(_pids(stack)) if stop(stack, name)]


def status(stack: Stack) -> dict[str, str]:
    pids = _pids(stack)
    return {
        name: f"{'up' if name in pids and alive(pids[name]) else 'down'} 127.0.0.1:{stack.ports[name]}"
        for name in commands(stack)
    }


def _pids(stack: Stack) -> dict[str, int]:
    path = stack.folder / "pids.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _write_pids(stack: Stack, pids: dict[str, int]) -> None:
    stack.folder.mkdir(parents=True, exist_ok=True)
    (stack.folder / "pids.json").write_text(json.dumps(pids, indent=2))


def _wait_port(name: str, port: int, proc: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited {proc.returncode} at start: see its log beside pids.json")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise SystemExit(f"{name} did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["up", "env", "seed", "status", "stop", "down"])
    parser.add_argument("name", nargs="?", help="stop: the service")
    args = parser.parse_args(argv)
    stack = Stack.from_env()
    if args.action == "up":
        up(stack)
    if args.action == "seed":
        _databases(stack)
        _seed(stack)
        print(f"seeded {stack.database('warehouse')}")
    if args.action in ("up", "env"):
        print("\n".join(f"export {k}={v}" for k, v in stack.environment().items()))
    elif args.action == "status":
        print(json.dumps(status(stack), indent=2))
    elif args.action == "stop":
        if args.name not in commands(stack):
            parser.error(f"stop needs one of: {', '.join(commands(stack))}")
        print(f"{args.name}: {'stopped' if stop(stack, args.name) else 'was not running'}")
    elif args.action == "down":
        print(f"stopped: {', '.join(down(stack)) or 'nothing was running'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
