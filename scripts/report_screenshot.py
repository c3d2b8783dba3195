"""Screenshot the top of an HTML report in headless Chromium (the picture in docs/figures-and-report.md).

Usage::

    python scripts/report_screenshot.py demo-out/report docs/figures/report-top.png --height 1250

Renders ``index.html`` at 1280 pixels wide with the same Chromium flags as the report's browser test
(``tests/leaderboard/test_lb_report.py``: no network, no GPU, a throw-away profile) and writes the PNG. Needs
``chromium`` or ``chromium-browser`` on PATH (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def screenshot(report: Path, out_png: Path, *, width_px: int = 1280, height_px: int = 1250) -> Path:
    """Render `report` (a report folder or its ``index.html``) and save the top `height_px` rows as `out_png`."""
    index = report / "index.html" if report.is_dir() else report
    if not index.is_file():
        raise SystemExit(f"error: {index}: no report here; write one with `leaderboard report SCORES`")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise SystemExit("error: no chromium/chromium-browser on PATH (apt-get install chromium)")
    out_png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        tmp = Path(profile) / "shot.png"
        cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={tmp}",
               f"--window-size={width_px},{height_px}", index.resolve().as_uri()]  # fmt: skip
        res = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
        if not tmp.is_file():
            raise SystemExit(f"error: chromium wrote no screenshot: {res.stderr.decode(errors='replace')[-500:]}")
        shutil.move(tmp, out_png)
    return out_png


def main(argv: list[str] | None = None) -> int:
    """Command line: REPORT OUT_PNG [--width PX] [--height PX]."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path, help="report folder (or its index.html)")
    ap.add_argument("out_png", type=Path, help="PNG to write")
    ap.add_argument("--width", type=int, default=1280, help="window width in pixels (default 1280)")
    ap.add_argument("--height", type=int, default=1250, help="window height in pixels (default 1250)")
    args = ap.parse_args(argv)
    print(screenshot(args.report, args.out_png, width_px=args.width, height_px=args.height))
    return 0


if __name__ == "__main__":
    sys.exit(main())
