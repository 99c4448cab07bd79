"""Run the loctocat benchmarks and write benchmarks/results/ (results.json, .md, .png).

`python3 benchmarks/run.py [--quick]` (or `make bench`). Builds benchmarks/.venv (loctocat 2
from this checkout, Authlib, MSAL, matplotlib, pyinstrument) and benchmarks/.venv-loctocat1
(loctocat 1.0.3 from PyPI) on first use. See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCENARIOS = HERE / "scenarios"
RESULTS = HERE / "results"
VENV = HERE / ".venv"
VENV1 = HERE / ".venv-loctocat1"
PY = VENV / "bin" / "python"
PY1 = VENV1 / "bin" / "python"
CODE = re.compile(r"\b[A-Z]{4}-[A-Z]{4}\b")

# name -> (interpreter, script)
SINGLE = {
    "loctocat 2": (PY, "loctocat2.py"),
    "loctocat 2 (default SSL ctx)": (PY, "loctocat2_default_ssl.py"),
    "loctocat 1.0.3": (PY1, "loctocat1.py"),
    "httpx floor": (PY, "httpx_floor.py"),
    "urllib (stdlib)": (PY, "urllib_floor.py"),
    "Authlib httpx": (PY, "authlib_httpx.py"),
    "MSAL": (PY, "msal_client.py"),
}
FLOOR = "httpx floor"


def ensure_venvs() -> None:
    pip = [str(PY), "-m", "pip", "install", "--quiet"]
    if not PY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        deps = ["authlib", "msal", "matplotlib", "pyinstrument", "sniffio", "-e", f"{ROOT}[redis]"]
        subprocess.run([*pip, *deps], check=True)
    elif subprocess.run([str(PY), "-c", "import redis"], capture_output=True).returncode:
        # A venv made before the Redis scale run: add redis-py to it.
        subprocess.run([*pip, "-e", f"{ROOT}[redis]"], check=True)
    if not PY1.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV1)], check=True)
        pip = [str(PY1), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "loctocat==1.0.3"], check=True)


def versions(python: Path, names: list[str]) -> dict[str, str]:
    code = (
        "import json, sys, importlib.metadata as m\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    run = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True)
    return dict(json.loads(run.stdout))


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    libs = ["loctocat", "httpx", "httpcore", "anyio", "authlib", "msal", "requests", "rich"]
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions(PY, libs),
        "versions_loctocat1_venv": versions(PY1, ["loctocat", "requests", "oauthlib", "halo"]),
    }


class Server:
    """benchmarks/server.py (the fake server) or fast_server.py in its own process, so the
    client's CPU is measured alone."""

    def __init__(self, interval: int, approve_after: float, script: str = "server.py") -> None:
        self.proc = subprocess.Popen(
            [
                str(PY),
                str(HERE / script),
                "--interval",
                str(interval),
                "--approve-after",
                str(approve_after),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        assert line[0] == "READY", line
        self.base_url = line[1]

    def command(self, text: str) -> str:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline()

    def stats(self) -> dict[str, Any]:
        return dict(json.loads(self.command("stats")))

    def reset(self) -> None:
        self.command("reset")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=30)


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "0"}


def first_prompt(server: Server, python: Path, script: str) -> float | str:
    """Process start -> user code on the terminal (stdout or stderr), in a fresh process: the
    seconds it took, or the last line the process printed when no code came."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(python), str(SCENARIOS / script), server.base_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env(),
    )
    assert proc.stdout is not None
    seen = b""
    try:
        while chunk := proc.stdout.read1(4096):
            seen += chunk
            if CODE.search(seen.decode(errors="replace")):
                return time.perf_counter() - start
    finally:
        proc.kill()
        proc.wait()
    return "".join(seen.decode(errors="replace").strip().splitlines()[-1:])


def first_prompts(server: Server, reps: int) -> dict[str, dict[str, Any]]:
    """Every client's first prompt, `reps` rounds of one fresh process each, the clients in
    turn within a round: they see the same machine. (Measured one client's runs after the
    other's, the floor's median moved by a tenth between two runs with the load of the moment,
    and with it every ratio.) A client that shows no code is not run again."""
    times: dict[str, list[float]] = {name: [] for name in SINGLE}
    errors: dict[str, list[str]] = {}
    for round_ in range(reps):
        print(f"first prompt: round {round_ + 1} of {reps}...", flush=True)
        for name, (python, script) in SINGLE.items():
            if name in errors:
                continue
            took = first_prompt(server, python, script)
            if isinstance(took, str):
                errors[name] = [took]
            else:
                times[name].append(took)
    return {
        name: {"median": statistics.median(runs), "runs": runs} if runs else {"error": errors[name]}
        for name, runs in times.items()
    }


def import_time(reps: int) -> dict[str, Any]:
    walls: list[float] = []
    cumulative: list[int] = []
    for _ in range(reps):
        run = subprocess.run(
            [str(PY), "-X", "importtime", "-c", "import loctocat"],
            capture_output=True,
            text=True,
        )
        last = [ln for ln in run.stderr.splitlines() if ln.rstrip().endswith("| loctocat")]
        cumulative.append(int(last[-1].split("|")[1]))
        start = time.perf_counter()
        subprocess.run([str(PY), "-c", "import loctocat"], check=True)
        walls.append(time.perf_counter() - start)
    bare = []
    for _ in range(reps):
        start = time.perf_counter()
        subprocess.run([str(PY), "-c", "pass"], check=True)
        bare.append(time.perf_counter() - start)
    return {
        "importtime_cumulative_us_median": statistics.median(cumulative),
        "python_import_loctocat_wall_median": statistics.median(walls),
        "python_pass_wall_median": statistics.median(bare),
    }


STORED_SETUP = """
import sys
from datetime import UTC, datetime, timedelta
from loctocat import Token
from loctocat.store import FileTokenStore, token_key

key = token_key("https://auth.example.com/token", "bench", ("repo",), None)
expires = datetime.now(UTC) + timedelta(days=1)
FileTokenStore(sys.argv[1]).save(key, Token("bench-token", expires_at=expires))
"""


# gh's own stored token (hosts.yml, as `gh auth login --insecure-storage` keeps it).
GH_HOSTS = "github.com:\n    oauth_token: gho_bench-token\n    user: bench\n"


def stored_token(reps: int) -> dict[str, Any]:
    """The stored-token path as a whole process: `loctocat token`, `git-credential get` and
    `kubectl-credential` with a valid stored token, side by side with `python -c pass` (the same
    interpreter) and, where installed, gh's own `auth token` / `auth git-credential get` and
    git's `credential-store get`; run in turn so that each ratio is taken within one round."""
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="loctocat-bench-"))
    home.chmod(0o700)
    tokens, config, request = home / "tokens.json", home / "config.toml", home / "git-request"
    config.write_text("")
    request.write_text("protocol=https\nhost=git.example.com\n\n")
    environ = dict(
        os.environ, HOME=str(home), XDG_CACHE_HOME=str(home / "cache"), LOCTOCAT_CONFIG=str(config)
    )
    environ.pop("LOCTOCAT_STORE", None)
    environ["KUBERNETES_EXEC_INFO"] = json.dumps(
        {"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1", "spec": {}}
    )
    (home / "gh").mkdir()
    (home / "gh" / "hosts.yml").write_text(GH_HOSTS)
    environ["GH_CONFIG_DIR"] = str(home / "gh")
    gh_request = home / "gh-request"
    gh_request.write_text("protocol=https\nhost=github.com\n\n")
    store_file = home / "git-credentials"
    store_file.write_text("https://oauth2:bench-token@git.example.com\n")
    subprocess.run([str(PY), "-c", STORED_SETUP, str(tokens)], check=True, env=environ)
    selection = [
        "--auth-url", "https://auth.example.com/device", "--token-url",
        "https://auth.example.com/token", "--client-id", "bench", "--scope", "repo",
        "--store", str(tokens),
    ]  # fmt: skip
    git = [*selection, "--host", "git.example.com", "--username", "oauth2", "get"]
    loctocat = [str(PY), "-m", "loctocat"]
    commands = {
        "python -c pass": ([str(PY), "-c", "pass"], None),
        "loctocat token": ([*loctocat, "token", *selection], None),
        "loctocat git-credential get": ([*loctocat, "git-credential", *git], request),
        "loctocat kubectl-credential": (
            [*loctocat, "kubectl-credential", *selection, "--access-token"],
            None,
        ),
    }
    others = {
        "gh auth token": (["gh", "auth", "token"], None),
        "gh auth git-credential get": (["gh", "auth", "git-credential", "get"], gh_request),
        "git credential-store get": (
            ["git", "credential-store", "--file", str(store_file), "get"],
            request,
        ),
    }
    for name, (argv, stdin) in others.items():
        if shutil.which(argv[0]):
            commands[name] = ([str(shutil.which(argv[0])), *argv[1:]], stdin)
    walls: dict[str, list[float]] = {name: [] for name in commands}
    full: list[float] = []
    index = home / "cache" / "loctocat" / "token-index.json"
    for round_ in range(reps + 1):
        for name, (argv, stdin) in commands.items():
            start = time.perf_counter()
            with open(stdin or os.devnull) as given:
                done = subprocess.run(argv, stdin=given, env=environ, capture_output=True)
            if round_:  # the first round fills the index: not counted
                walls[name].append(time.perf_counter() - start)
            assert b"token" in done.stdout or name == "python -c pass", (name, done.stderr)
    # The same command without the index: what every run cost before the stored-token path.
    for _ in range(reps):
        index.unlink(missing_ok=True)
        start = time.perf_counter()
        subprocess.run(commands["loctocat token"][0], env=environ, capture_output=True, check=True)
        full.append(time.perf_counter() - start)
    bare = statistics.median(walls["python -c pass"])
    rows = {name: statistics.median(values) for name, values in walls.items()}
    rows["loctocat token (full path, no index)"] = statistics.median(full)
    return {
        "median_s": rows,
        "vs_python": {name: value / bare for name, value in rows.items()},
        "spread_s": {name: [min(v), max(v)] for name, v in walls.items()},
    }


def single_flow(server: Server, python: Path, script: str, reps: int) -> dict[str, Any]:
    """One whole flow: approval-to-token latency, poll lateness, connections opened."""
    out = HERE / "results" / ".flow.json"
    runs: list[dict[str, Any]] = []
    for _ in range(reps):
        server.reset()
        out.unlink(missing_ok=True)
        run = subprocess.run(
            [str(python), str(SCENARIOS / script), server.base_url],
            capture_output=True,
            env={**env(), "BENCH_OUT": str(out)},
            timeout=60,
        )
        if run.returncode != 0 or not out.exists():
            tail = run.stderr.decode(errors="replace").strip().splitlines()[-1:]
            return {"error": tail, "runs": runs}
        client = json.loads(out.read_text())
        stats = server.stats()
        grant = stats["grants"][-1]
        approved = grant["approved_at"]
        polls = grant["poll_times"]
        answering = min(t for t in polls if t >= approved)
        previous = [grant["created_at"], *polls[:-1]]
        late = [t - p - grant["interval"] for t, p in zip(polls, previous, strict=True)]
        runs.append(
            {
                "latency": client["t_token"] - approved,
                "wait_for_poll": answering - approved,
                "delivery": client["t_token"] - answering,
                "lateness": late,
                "polls": len(polls),
                "connections": stats["connections_opened"],
                "cpu": client["cpu"],
            }
        )
    lateness = [x for r in runs for x in r["lateness"]]
    return {
        "latency_median": statistics.median(r["latency"] for r in runs),
        "delivery_median": statistics.median(r["delivery"] for r in runs),
        "lateness_ms": percentiles(lateness),
        "connections": statistics.median(r["connections"] for r in runs),
        "polls": statistics.median(r["polls"] for r in runs),
        "cpu_median": statistics.median(r["cpu"] for r in runs),
        "runs": runs,
    }


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"min": 1000 * ordered[0], "p50": at(0.5), "p99": at(0.99), "max": 1000 * ordered[-1]}


def scale(
    name: str, n: int, target: str, interval: int, server: Server | None, timeout: float
) -> dict[str, Any]:
    out = RESULTS / ".scale.json"
    out.unlink(missing_ok=True)
    if server is not None:
        server.reset()
    script = SCENARIOS / f"scale_{name}.py"
    # The scenario's own deadline: flows start over one interval and poll three times.
    deadline = str(max(90, 6 * interval))
    try:
        subprocess.run(
            [str(PY), str(script), str(n), target, str(interval), str(out), deadline],
            check=True,
            timeout=timeout,
        )
    except (subprocess.TimeoutExpired, subprocess.CalledProcessError) as error:
        return {"error": f"{type(error).__name__} after {timeout:.0f} s"}
    result = json.loads(out.read_text())
    if server is not None:
        stats = server.stats()
        result["requests"] = stats["requests"]
        result["failure_count"] += result["n"] - result["done"] - result["failure_count"]
        result["connections"] = stats["connections_opened"]
        late = []
        for grant in stats["grants"]:
            previous = grant["created_at"]
            for t in grant["poll_times"]:
                late.append(t - previous - interval)
                previous = t
        result["lateness"] = late
    late = result.pop("lateness")
    result["lateness_ms"] = percentiles(late)
    result["cpu_per_request_us"] = 1e6 * result["cpu"] / max(1, result["requests"])
    result["mem_per_flow_kb"] = (result["rss_peak_during"] - result["rss_base"]) / n / 1024
    return result


def redis_info(port: int, section: str) -> dict[str, str]:
    """`INFO section` of the redis-server on `port`, as name -> value (this script runs on the
    system's Python, without redis-py: RESP by hand)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        name = section.encode()
        sock.sendall(b"*2\r\n$4\r\nINFO\r\n$%d\r\n%s\r\n" % (len(name), name))
        reply = b""
        while b"\r\n" not in reply:
            reply += sock.recv(65536)
        header, _, body = reply.partition(b"\r\n")
        size = int(header[1:])
        while len(body) < size + 2:
            body += sock.recv(65536)
    lines = body[:size].decode().splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line and not line.startswith("#"))


def redis_calls(port: int) -> int:
    """Commands the server has run, from `INFO commandstats` (INFO itself not counted)."""
    stats = redis_info(port, "commandstats")
    calls = 0
    for name, value in stats.items():
        if name != "cmdstat_info":
            calls += int(dict(field.split("=") for field in value.split(","))["calls"])
    return calls


def redis_cpu(port: int) -> float:
    stats = redis_info(port, "cpu")
    return float(stats["used_cpu_user"]) + float(stats["used_cpu_sys"])


def redis_scale(n: int, interval: int, workers: int = 2, timeout: float = 240) -> dict[str, Any]:
    """N concurrent `get_token()` flows split across `workers` processes, each with a
    `RedisTokenStore` on one redis-server started here, against the canned in-memory server (the
    benchmark server cannot serve 10,000 flows over loopback: see analysis.md)."""
    import shutil
    import socket
    import tempfile

    executable = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(executable):
        return {"error": "redis-server is missing (apt-get install redis-server)"}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    directory = tempfile.mkdtemp(prefix="loctocat-bench-redis-")
    # Persistence as in production (the append-only file, flushed every second).
    server = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory,
         "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis_info(port, "server")
                break
            except OSError:
                if time.monotonic() > deadline:
                    return {"error": "redis-server did not start"}
                time.sleep(0.05)
        calls, cpu, load_before = redis_calls(port), redis_cpu(port), os.getloadavg()
        outs = [RESULTS / f".scale-redis-{i}.json" for i in range(workers)]
        start_at = time.time() + 3  # every worker's interpreter is up by then
        procs = []
        for i, out in enumerate(outs):
            out.unlink(missing_ok=True)
            share = n // workers + (1 if i < n % workers else 0)
            environ = {
                **env(),
                "BENCH_REDIS_URL": f"redis://127.0.0.1:{port}/0",
                "BENCH_WORKER": str(i),
                "BENCH_START_AT": str(start_at),
            }
            command = [str(PY), str(SCENARIOS / "scale_redis.py"), str(share), "memory"]
            procs.append(subprocess.Popen([*command, str(interval), str(out)], env=environ))
        for proc in procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                for other in procs:
                    other.kill()
                return {"error": f"TimeoutExpired after {timeout:.0f} s"}
        if any(proc.returncode for proc in procs) or not all(out.exists() for out in outs):
            return {"error": "a worker failed"}
        runs = [json.loads(out.read_text()) for out in outs]
        calls, cpu = redis_calls(port) - calls, redis_cpu(port) - cpu
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(directory, ignore_errors=True)
    requests = sum(r["requests"] for r in runs)
    polls = requests - n  # each flow made one device request, then polled
    trips = sum(r["redis_round_trips"] for r in runs)
    return {
        "n": n,
        "workers": workers,
        "done": sum(r["done"] for r in runs),
        "failure_count": sum(r["failure_count"] for r in runs),
        "failures": [f for r in runs for f in r["failures"]][:5],
        "cpu": sum(r["cpu"] for r in runs),
        "wall": max(r["wall"] for r in runs),
        "requests": requests,
        "polls": polls,
        "cpu_per_request_us": 1e6 * sum(r["cpu"] for r in runs) / max(1, requests),
        "lateness_ms": percentiles([late for r in runs for late in r["lateness"]]),
        "maxrss": max(r["maxrss"] for r in runs),
        "mem_per_flow_kb": sum(r["rss_peak_during"] - r["rss_base"] for r in runs) / n / 1024,
        "redis_commands": calls,
        "redis_round_trips": trips,
        "redis_commands_per_poll": calls / max(1, polls),
        "redis_round_trips_per_poll": trips / max(1, polls),
        "redis_cpu_per_poll_us": 1e6 * cpu / max(1, polls),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }


def redis_only(n: int, interval: int) -> None:
    """Redo only the Redis scale run into the existing results.json."""
    results = json.loads((RESULTS / "results.json").read_text())
    print(f"scale with a shared Redis store: N={n}...", flush=True)
    results["scale"]["redis"] = {str(n): redis_scale(n, interval)}
    (RESULTS / "results.json").write_text(json.dumps(results, indent=1))
    subprocess.run([str(PY), str(HERE / "report.py"), str(RESULTS)], check=True)


def median_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in runs if "error" not in r]
    if not good:
        return runs[0]
    keys = ["cpu_per_request_us", "mem_per_flow_kb", "maxrss", "wall", "cpu", "done"]
    merged: dict[str, Any] = {k: statistics.median(r[k] for r in good) for k in keys}
    merged["lateness_ms"] = {
        q: statistics.median(r["lateness_ms"][q] for r in good) for q in good[0]["lateness_ms"]
    }
    merged["failure_count"] = max(r["failure_count"] for r in good)
    if "connections" in good[0]:
        merged["connections"] = statistics.median(r["connections"] for r in good)
    merged["runs"] = len(good)
    return merged


#: The figures of a scale run compared round by round, by their names in `round_ratios()`.
_ROUND_FIGURES: dict[str, Callable[[dict[str, Any]], float]] = {
    "cpu": lambda run: float(run["cpu_per_request_us"]),
    "p99": lambda run: float(run["lateness_ms"]["p99"]),
    "mem": lambda run: float(run["mem_per_flow_kb"]),
}


def round_ratios(
    ours: list[dict[str, Any]], floor: list[dict[str, Any]], floor_again: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """For each round (the same N, run back to back: floor, loctocat, floor again): CPU per
    poll, p99 lateness and memory per flow of loctocat and of the mean of the two floors, their
    ratio, and the second floor's ratio to the first (the machine's own spread)."""
    rows: list[dict[str, Any]] = []
    for mine, before, after in zip(ours, floor, floor_again, strict=True):
        failed = [run["error"] for run in (mine, before, after) if "error" in run]
        if failed:
            rows.append({"error": failed[0]})
            continue
        row: dict[str, Any] = {}
        for name, figure in _ROUND_FIGURES.items():
            loctocat, first, second = figure(mine), figure(before), figure(after)
            base = (first + second) / 2
            row[name] = loctocat / max(base, 1e-3)
            row[f"{name}_figures"] = [loctocat, base]
            row[f"{name}_floor_spread"] = second / max(first, 1e-3)
        rows.append(row)
    return rows


def profile(n: int, interval: int) -> str:
    """pyinstrument over loctocat 2's scale run in memory: where its per-poll CPU goes."""
    text = RESULTS / "profile_scale_loctocat2.txt"
    # A sample every 0.1 ms: pyinstrument samples on the wall clock, and at its default 1 ms a
    # poll's work (~0.2 ms, between long waits) never fills a sample and is counted to
    # `epoll.poll`, which then is all the profile shows.
    cmd = [str(PY), "-m", "pyinstrument", "-i", "0.0001", "-o", str(text)]
    out = RESULTS / ".profile.json"
    subprocess.run(
        [*cmd, str(SCENARIOS / "scale_loctocat2.py"), str(n), "memory", str(interval), str(out)],
        check=True,
    )
    return str(text.relative_to(ROOT))


# Over loopback every request costs httpx's client about 1 ms of CPU here (its connection
# pool and sockets): 10,000 flows polling every 5 s (2,000 requests/s) would need more than the
# machine's 2 cores for the client alone, the floor's too. Every 20 s (500 requests/s) is at the
# edge: once a client falls behind (a busy neighbour, a collector pause), requests queue in
# httpcore's pool, each then costs more and it never recovers, so most runs collapsed for both
# clients. Every 40 s (250 requests/s) both finish: still 10,000 logins waiting at once.
LOOPBACK_INTERVALS = {10_000: 40}


def loopback(results: dict[str, Any], sizes: list[int], interval: int) -> None:
    results["scale"]["loopback_intervals"] = {}
    for n in sizes:
        every = LOOPBACK_INTERVALS.get(n, interval)
        results["scale"]["loopback_intervals"][str(n)] = every
        # fast_server.py: the threaded fake server cannot serve 2,000 requests/s.
        server = Server(interval=every, approve_after=2.5 * every, script="fast_server.py")
        try:
            for name in ("loctocat2", "floor"):
                print(f"scale over loopback: {name} N={n} (every {every} s)...", flush=True)
                run = scale(name, n, server.base_url, every, server, 60 + 8 * every)
                results["scale"]["loopback"].setdefault(name, {})[str(n)] = median_runs([run])
        finally:
            server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument(
        "--loopback-only",
        action="store_true",
        help="redo only the loopback scale runs into the existing results.json",
    )
    parser.add_argument(
        "--redis-only",
        type=int,
        metavar="N",
        help="redo only the Redis scale run, with N flows, into the existing results.json",
    )
    args = parser.parse_args()
    ensure_venvs()
    RESULTS.mkdir(exist_ok=True)
    if args.redis_only:
        redis_only(
            args.redis_only, json.loads((RESULTS / "results.json").read_text())["scale"]["interval"]
        )
        return
    if args.loopback_only:
        results = json.loads((RESULTS / "results.json").read_text())
        loopback(results, [100, 1000, 10_000], results["scale"]["interval"])
        (RESULTS / "results.json").write_text(json.dumps(results, indent=1))
        subprocess.run([str(PY), str(HERE / "report.py"), str(RESULTS)], check=True)
        return
    reps_prompt, reps_flow = (3, 1) if args.quick else (12, 3)
    sizes = [100, 1000] if args.quick else [100, 1000, 10_000]
    started = time.monotonic()
    results: dict[str, Any] = {"quick": args.quick, "machine": machine()}
    results["load_before"] = os.getloadavg()

    print("import time...", flush=True)
    results["import"] = import_time(5 if args.quick else 10)
    print("stored-token path...", flush=True)
    results["stored_token"] = stored_token(5 if args.quick else 20)

    server = Server(interval=1, approve_after=2.5)
    try:
        results["first_prompt"] = first_prompts(server, reps_prompt)
        results["flow"] = {}
        for name, (python, script) in SINGLE.items():
            print(f"single flow: {name}...", flush=True)
            results["flow"][name] = single_flow(server, python, script, reps_flow)
    finally:
        server.close()

    interval = 5
    results["scale"] = {"interval": interval, "memory": {}, "loopback": {}}
    # Each round runs the floor, loctocat and the floor again, each in a fresh process (run
    # one after the other in one process, the ratio swings with what the first run left
    # behind). loctocat is held against the mean of the two floors around it, so that a
    # machine speeding up or slowing down during the round moves both sides alike; the
    # floor against itself shows how far the machine alone moves a ratio.
    rounds = 1 if args.quick else 3
    results["scale"]["rounds"] = {}
    for n in sizes:
        runs: dict[str, list[dict[str, Any]]] = {"floor": [], "loctocat2": [], "floor again": []}
        for round_ in range(rounds):
            for name, done in runs.items():
                print(f"scale in memory: {name} N={n}, round {round_ + 1}...", flush=True)
                script = name.removesuffix(" again")
                done.append(scale(script, n, "memory", interval, None, 240))
        memory = results["scale"]["memory"]
        memory.setdefault("floor", {})[str(n)] = median_runs(runs["floor"] + runs["floor again"])
        memory.setdefault("loctocat2", {})[str(n)] = median_runs(runs["loctocat2"])
        results["scale"]["rounds"][str(n)] = round_ratios(
            runs["loctocat2"], runs["floor"], runs["floor again"]
        )
    loopback(results, sizes, interval)
    redis_n = 1000 if args.quick else 10_000
    print(f"scale with a shared Redis store: N={redis_n}...", flush=True)
    results["scale"]["redis"] = {str(redis_n): redis_scale(redis_n, interval)}
    print("profile...", flush=True)
    results["profile"] = profile(1000, interval)
    results["load_after"] = os.getloadavg()
    results["duration_s"] = time.monotonic() - started
    for stray in RESULTS.glob(".*.json"):
        stray.unlink()
    (RESULTS / "results.json").write_text(json.dumps(results, indent=1))
    # matplotlib lives in the benchmarks venv, not in whatever Python runs this script.
    subprocess.run([str(PY), str(HERE / "report.py"), str(RESULTS)], check=True)
    print(f"done in {results['duration_s']:.0f} s: see {RESULTS.relative_to(ROOT)}/results.md")


if __name__ == "__main__":
    main()
