"""Run deploy/nginx/txserver.conf locally, unchanged but for its ports and paths.

    python deploy/nginx/nginx_local.py FOLDER --listen 8080 --replica 8081 --replica 8082
    nginx -c FOLDER/nginx.conf -p FOLDER -g 'daemon off;'

writes FOLDER/nginx.conf: a main configuration that keeps every file nginx writes (pid, logs,
cache, temporary bodies) inside FOLDER, listens on 127.0.0.1 only, and includes the shipped
txserver.conf with the replica list, the listen address and the cache path replaced. The tests
(tests/test_nginx_replicas.py) and bench/replicas.py run nginx this way.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
from pathlib import Path

SHIPPED = Path(__file__).resolve().parent / "txserver.conf"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def binary() -> str | None:
    """nginx on PATH, or where Debian puts it (/usr/sbin is not on every PATH)."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


def _replace_once(pattern: str, replacement: str, text: str) -> str:
    replaced, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if count != 1:
        raise ValueError(f"{SHIPPED.name}: expected one match of {pattern!r}, found {count}")
    return replaced


def render(folder: Path, listen: int, replicas: list[int]) -> Path:
    """Write FOLDER/txserver.conf and FOLDER/nginx.conf; return the latter."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = SHIPPED.read_text()
    options = re.search(r"^\s*server 127\.0\.0\.1:\d+ (.*);$", text, re.MULTILINE)
    if options is None:
        raise ValueError(f"{SHIPPED.name}: no replica line (server 127.0.0.1:PORT ...;)")
    servers = "".join(f"    server 127.0.0.1:{port} {options.group(1)};\n" for port in replicas)
    text = _replace_once(r"(?:^\s*server 127\.0\.0\.1:\d+ .*;\n)+", servers, text)
    text = _replace_once(r"/var/cache/nginx/txserver", str(folder / "cache"), text)
    text = _replace_once(r"listen 80;", f"listen 127.0.0.1:{listen};", text)
    (folder / "txserver.conf").write_text(text)
    temp = "".join(f"    {kind}_temp_path {folder / kind};\n" for kind in TEMP_PATHS)
    main = ("user root;\n" if os.geteuid() == 0 else "") + (  # workers may write FOLDER
        f"worker_processes 1;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        f"http {{\n    access_log {folder / 'access.log'};\n{temp}"
        f"    include {folder / 'txserver.conf'};\n}}\n")
    path = folder / "nginx.conf"
    path.write_text(main)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--listen", type=int, default=8080)
    parser.add_argument("--replica", type=int, action="append", required=True,
                        help="a replica's port on 127.0.0.1 (repeat for each)")
    args = parser.parse_args()
    print(render(args.folder, args.listen, args.replica))


if __name__ == "__main__":
    main()
