"""Write results.md and results.png from results.json: `python report.py benchmarks/results`."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

FLOOR = "httpx floor"


def ratio(value: float | None, floor: float | None) -> str:
    if value is None or not floor:
        return "-"
    return f"{value / floor:.2f}x"


def write_report(results: dict[str, Any], out: Path) -> None:
    m = results["machine"]
    lines = [
        "# loctocat benchmark results",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']} ({m['platform']}).",
        f"Versions: {m['versions']}; loctocat 1 venv: {m['versions_loctocat1_venv']}.",
        f"Load average (1/5/15 min) before: {results['load_before']}, after: "
        f"{results['load_after']} (other jobs shared the machine: timings are noisy).",
        f"Run took {results['duration_s']:.0f} s{' (--quick)' if results['quick'] else ''}.",
        "",
        "## 1-3. One flow (fake server in its own process, loopback HTTP, interval 1 s)",
        "",
        "| client | first prompt (s) | vs floor | approval→token (s) | delivery (ms) "
        "| poll lateness p50 / p99 / max (ms) | min (ms) | connections | polls |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    fp, fl = results["first_prompt"], results["flow"]
    floor_prompt = fp[FLOOR].get("median")
    for name in fp:
        p, f = fp[name], fl.get(name, {})
        if "error" in p and "median" not in p:
            lines.append(f"| {name} | failed: {p['error']} | | | | | | | |")
            continue
        late = f.get("lateness_ms", {})
        if "latency_median" not in f:
            flow_cells = f"flow failed: {f.get('error')} | | | | |"
        else:
            flow_cells = (
                f"{f['latency_median']:.3f} | {1000 * f['delivery_median']:.1f} | "
                f"{late['p50']:.1f} / {late['p99']:.1f} / {late['max']:.1f} | {late['min']:.1f} | "
                f"{f['connections']:g} | {f['polls']:g}"
            )
        lines.append(
            f"| {name} | {p['median']:.3f} | {ratio(p['median'], floor_prompt)} | {flow_cells} |"
        )
    imp = results["import"]
    lines += [
        "",
        f"`import loctocat`: {imp['importtime_cumulative_us_median'] / 1000:.1f} ms cumulative "
        f"(`-X importtime`), process `python -c 'import loctocat'` "
        f"{imp['python_import_loctocat_wall_median']:.3f} s vs `python -c pass` "
        f"{imp['python_pass_wall_median']:.3f} s (medians).",
        "",
    ]
    stored = results.get("stored_token")
    if stored:
        lines += [
            "## Stored-token path: a valid stored token, as a whole process",
            "",
            "Each command run in turn with the others, 20 rounds after one that fills "
            "loctocat's index; gh's and git's own helpers beside them, where installed.",
            "",
            "| command | wall (s, median) | min / max (s) | vs `python -c pass` |",
            "|---|---|---|---|",
        ]
        for name, seconds in stored["median_s"].items():
            low, high = stored["spread_s"].get(name, ["-", "-"])
            spread = f"{low:.3f} / {high:.3f}" if isinstance(low, float) else "-"
            lines.append(
                f"| {name} | {seconds:.3f} | {spread} | {stored['vs_python'][name]:.2f}x |"
            )
        lines.append("")
    s = results["scale"]
    lines += [
        f"## 4-5. N concurrent async flows, one shared AsyncClient (interval {s['interval']} s, "
        "starts spread over one interval)",
        "",
        "In memory: a canned transport in the client's process (the client's cost alone). Over "
        "loopback: benchmarks/fast_server.py in its own process"
        + "".join(
            f"; at N={n} the flows poll every {every} s"
            for n, every in s.get("loopback_intervals", {}).items()
            if every != s["interval"]
        )
        + ". Each figure is the median of the rounds below.",
        "",
        "| transport | client | N | CPU/request (µs) | vs floor | memory/flow (KiB) "
        "| peak RSS (MiB) | lateness p50 / p99 (ms) | done | connections |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for transport in ("memory", "loopback"):
        for name, by_n in s[transport].items():
            for n, r in by_n.items():
                if "error" in r:
                    lines.append(f"| {transport} | {name} | {n} | {r['error']} | | | | | | |")
                    continue
                floor = s[transport].get("floor", {}).get(n, {}).get("cpu_per_request_us")
                late = r["lateness_ms"]
                lines.append(
                    f"| {transport} | {name} | {n} | {r['cpu_per_request_us']:.0f} | "
                    f"{ratio(r['cpu_per_request_us'], floor)} | {r['mem_per_flow_kb']:.1f} | "
                    f"{r['maxrss'] / 2**20:.0f} | {late['p50']:.1f} / {late['p99']:.1f} | "
                    f"{r['done']:g}/{n} | {r.get('connections', '-')} |"
                )
    lines += rounds_table(s)
    lines += redis_table(s)
    lines += ["", f"Profile of loctocat 2 at N=1000 in memory: `{results['profile']}`.", ""]
    (out / "results.md").write_text("\n".join(lines))
    plot(results, out / "results.png")


def rounds_table(s: dict[str, Any]) -> list[str]:
    """loctocat against the floor round by round (in memory, each run a fresh process), with
    the floor against itself: how far the machine alone moves a ratio."""
    by_n = s.get("rounds")
    if not by_n:
        return []
    lines = [
        "",
        "### Round by round, in memory: loctocat / floor",
        "",
        "Each round runs the floor, loctocat and the floor again, each in a fresh process. "
        "loctocat's figure is set against the mean of the two floors around it; *floor again "
        "/ floor* is what the machine alone does to a ratio between two runs of the same code.",
        "",
        "| N | round | CPU/poll (µs) | ratio | floor again / floor | p99 lateness (ms) | ratio "
        "| floor again / floor | memory/flow (KiB) | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, rounds in by_n.items():
        for number, r in enumerate(rounds, 1):
            if "error" in r:
                lines.append(f"| {n} | {number} | {r['error']} | | | | | | | |")
                continue
            cpu, p99, mem = r["cpu_figures"], r["p99_figures"], r["mem_figures"]
            lines.append(
                f"| {n} | {number} | {cpu[0]:.0f} / {cpu[1]:.0f} | {r['cpu']:.2f}x | "
                f"{r['cpu_floor_spread']:.2f}x | {p99[0]:.1f} / {p99[1]:.1f} | {r['p99']:.2f}x | "
                f"{r['p99_floor_spread']:.2f}x | {mem[0]:.2f} / {mem[1]:.2f} | {r['mem']:.2f}x |"
            )
    lines += [
        "",
        "Over the rounds (median of loctocat / floor; floor again / floor, lowest–highest):",
        "",
    ]
    for n, rounds in by_n.items():
        good = [r for r in rounds if "error" not in r]
        if not good:
            continue
        parts = []
        for key, label in (("cpu", "CPU/poll"), ("p99", "p99 lateness"), ("mem", "memory/flow")):
            spread = [r[f"{key}_floor_spread"] for r in good]
            parts.append(
                f"{label} {statistics.median(r[key] for r in good):.2f}x "
                f"(floor again / floor {min(spread):.2f}–{max(spread):.2f}x)"
            )
        lines.append(f"- N={n}: " + "; ".join(parts) + ".")
    return lines


def redis_table(s: dict[str, Any]) -> list[str]:
    """The Redis scale run: flows split across worker processes sharing one Redis store."""
    by_n = s.get("redis")
    if not by_n:
        return []
    lines = [
        "",
        "### N concurrent `get_token()` logins across worker processes sharing a `RedisTokenStore`",
        "",
        "The canned in-memory server as above, one redis-server on loopback (append-only file, "
        "flushed every second). Each flow is a login of its own, holding its lock in Redis from "
        "before its device request to after its token is saved. *Per poll*: per token-endpoint "
        "request. *Commands*: from Redis's `INFO commandstats`, counting those its Lua scripts "
        "run; *round trips*: requests the clients sent (a pipeline is one).",
        "",
        "| N | processes | CPU/request (µs) | memory/flow (KiB) | lateness p50 / p99 (ms) "
        "| done | Redis commands/poll | Redis round trips/poll | Redis CPU/poll (µs) "
        "| load before / after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, r in by_n.items():
        if "error" in r:
            lines.append(f"| {n} | {r['error']} | | | | | | | | |")
            continue
        late = r["lateness_ms"]
        load = " / ".join(f"{r[k][0]:.2f}" for k in ("load_before", "load_after") if k in r)
        lines.append(
            f"| {n} | {r['workers']} | {r['cpu_per_request_us']:.0f} | "
            f"{r['mem_per_flow_kb']:.1f} | {late['p50']:.1f} / {late['p99']:.1f} | "
            f"{r['done']:g}/{n} | {r['redis_commands_per_poll']:.2f} | "
            f"{r['redis_round_trips_per_poll']:.2f} | {r['redis_cpu_per_poll_us']:.0f} | "
            f"{load or '-'} |"
        )
    return lines


def plot(results: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    fp = {k: v["median"] for k, v in results["first_prompt"].items() if "median" in v}
    axes[0].barh(list(fp), list(fp.values()))
    axes[0].set_xlabel("seconds (median)")
    axes[0].set_title("Time to first prompt")
    s = results["scale"]
    for transport, style in (("memory", "-o"), ("loopback", "--s")):
        for name, by_n in s[transport].items():
            good = {int(n): r for n, r in by_n.items() if "error" not in r}
            ns = sorted(good)
            label = f"{name} ({transport})"
            axes[1].plot(ns, [good[n]["cpu_per_request_us"] for n in ns], style, label=label)
            axes[2].plot(ns, [good[n]["maxrss"] / 2**20 for n in ns], style, label=label)
    axes[1].set(xscale="log", xlabel="concurrent flows", ylabel="CPU µs per request")
    axes[1].set_title("CPU per poll")
    axes[2].set(xscale="log", xlabel="concurrent flows", ylabel="peak RSS (MiB)")
    axes[2].set_title("Memory")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    write_report(json.loads((folder / "results.json").read_text()), folder)
