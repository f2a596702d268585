"""Benchmark: the built Linux bundle's sizes, and how long it takes to put its window on screen.

Run on demand (not part of the default suite), after ``python build_installer.py``:

    python -m tests.bench.bench_bundle [--runs 5]

Start-up: from launching ``dist/threadline/threadline --db DEMO`` (a database holding the demo
data) until its main window "Threadline" is mapped on a private Xvfb display, polled with
``xwininfo`` every 10 ms; the app is then terminated. It prints every run and the median. The
first run reads the bundle from disk; later runs find it in the file cache, as a user's second
start would. Needs Xvfb and xwininfo (Debian: ``xvfb x11-utils``) and Qt's X11 libraries
(``libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0``).

Sizes: every installer found under ``dist/``, per platform (Linux ``.tar.gz`` and AppImage,
Windows ``-setup.exe``, macOS ``.dmg``, and the bundle folders), and the wheel (built here,
offline). A ``dist/`` copied from the installers workflow's artifacts is measured the same way.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "dist" / "threadline"
PIP_WHEEL = (sys.executable, "-m", "pip", "wheel")


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


# What build_installer.py leaves under dist/ on each platform.
INSTALLERS = (
    ("Linux", "Threadline-*-linux-*.tar.gz"),
    ("Linux", "Threadline-*.AppImage"),
    ("Windows", "Threadline-*-windows-*-setup.exe"),
    ("macOS", "Threadline-*-macos-*.dmg"),
)


def installer_sizes(dist: Path) -> list[tuple[str, str, int]]:
    """(platform, name, bytes) of each installer and bundle folder under ``dist``."""
    found = [
        (system, path.name, _size(path))
        for system, pattern in INSTALLERS
        for path in sorted(dist.glob(pattern))
    ]
    if (dist / "Threadline.app").is_dir():
        found.append(("macOS", "Threadline.app (folder)", _size(dist / "Threadline.app")))
    if (dist / "threadline").is_dir():
        system = "Windows" if (dist / "threadline" / "threadline-cli.exe").exists() else "Linux"
        found.append((system, "threadline/ (bundle folder)", _size(dist / "threadline")))
    return found


def _wheel_size(tmp: Path) -> int:
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("app", "connectors", "ui", "resources"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp / "wheel"
    subprocess.run(
        [*PIP_WHEEL, str(src), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True,
    )
    return _size(next(out.glob("*.whl")))


def _window_mapped(display: str) -> bool:
    tree = subprocess.run(
        ["xwininfo", "-root", "-tree"],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return any('"Threadline' in line and "x" in line for line in tree.splitlines())


def _start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    for number in range(90, 120):
        # (a server that was just stopped may leave its lock or socket for a moment: a new
        # one on that display would quit, and the app would fail to connect)
        if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        display = f":{number}"
        server = subprocess.Popen(
            ["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(500):  # up to 5 s for the server to answer
            ready = subprocess.run(
                ["xwininfo", "-root"],
                env={**os.environ, "DISPLAY": display},
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                time.sleep(0.05)
                if server.poll() is None:  # (it answered, and it is this one)
                    return server, display
                break
            if server.poll() is not None:
                break
            time.sleep(0.01)
        server.terminate()
        server.wait()
    raise SystemExit("could not start Xvfb")


def start_times(runs: int, tmp: Path) -> list[float]:
    exe = BUNDLE / "threadline"
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env["THREADLINE_HOME"] = str(tmp / "home")
    db = tmp / "demo.db"
    subprocess.run([str(exe), "--db", str(db), "demo"], env=env, check=True, capture_output=True)
    server, display = _start_xvfb()
    env["DISPLAY"] = display
    times: list[float] = []
    errors = tmp / "stderr.txt"
    try:
        for _ in range(runs):
            started = time.perf_counter()
            with errors.open("wb") as sink:
                app = subprocess.Popen([str(exe), "--db", str(db)], env=env, stderr=sink)
            try:
                while not _window_mapped(display):
                    if app.poll() is not None:
                        said = errors.read_text(errors="replace").strip().splitlines()[-3:]
                        raise SystemExit(
                            f"the app exited with {app.returncode} before showing: "
                            + " / ".join(said)
                        )
                    if time.perf_counter() - started > 120:
                        raise SystemExit("no window after 120 s")
                    time.sleep(0.01)
                times.append(time.perf_counter() - started)
            finally:
                app.terminate()
                app.wait(timeout=30)
    finally:
        server.terminate()
        server.wait()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sizes = installer_sizes(ROOT / "dist")
    if not sizes:
        raise SystemExit("nothing under dist/: run python build_installer.py first")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for system, item, size in sizes:
            print(f"{system}: {item}: {size / 1e6:.1f} MB")
        print(f"wheel: {_wheel_size(tmp) / 1e3:.0f} kB")
        if not (BUNDLE / "threadline").is_file() or sys.platform != "linux":
            print("start to window: measured on the Linux bundle only (none here)")
            return 0
        times = start_times(args.runs, tmp)
    print("start to window: " + ", ".join(f"{t:.2f} s" for t in times))
    print(f"median of {len(times)}: {statistics.median(times):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
