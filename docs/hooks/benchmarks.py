"""mkdocs hook: put the latest benchmark results (benchmarks/results/) on the Benchmarks page.

The page holds the marker `<!-- benchmark-results -->`; it is replaced with the table of
`benchmarks/results/results.md` and the plot `benchmarks/results/results.png`, which is
served as `assets/benchmarks/results.png`. Missing results are said so on the page.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

MARKER = "<!-- benchmark-results -->"
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
PLOT_URI = "assets/benchmarks/results.png"


def on_files(files: Files, config: Any) -> Files:
    plot = RESULTS / "results.png"
    if plot.is_file():
        files.append(
            File.generated(config, PLOT_URI, abs_src_path=str(plot))  # served, never copied back
        )
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    if MARKER not in markdown:
        return markdown
    depth = page.file.src_uri.count("/")
    plot_link = "../" * depth + PLOT_URI
    parts: list[str] = []
    table = RESULTS / "results.md"
    if table.is_file():
        text = table.read_text(encoding="utf-8")
        text = re.sub(r"^# .*\n+", "", text, count=1)  # the page has its own title
        # Links to the plot next to the table point to where the site serves it.
        text = re.sub(r"\]\((?:\./)?results\.png\)", f"]({plot_link})", text)
        parts.append(text.strip())
    else:
        parts.append("*No results yet: run the benchmarks to produce them.*")
    if (RESULTS / "results.png").is_file() and plot_link not in parts[0]:
        parts.append(f"![Benchmark results]({plot_link})")
    return markdown.replace(MARKER, "\n\n".join(parts))
