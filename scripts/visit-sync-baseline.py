#!/usr/bin/env python3
"""The lip-sync reference for scripts/visit-sync.sh: Chromium's own sync
with no server between sender and receiver.

Serves crates/framechain-serve/assets and scripts/visit-sync-baseline.html
on a loopback port, opens the page in a headless Chromium through
chromedriver, waits for PAIRS flash/click pairs (default 15, at most 60 s)
and prints the same figures as the visit test.

Usage: scripts/visit-sync-baseline.py [PAIRS]
"""
import functools
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAIRS = int(sys.argv[1]) if len(sys.argv) > 1 else 15


class Handler(http.server.SimpleHTTPRequestHandler):
    def translate_path(self, path):
        path = path.split("?", 1)[0]
        if path.startswith("/assets/"):
            return os.path.join(ROOT, "crates/framechain-serve/assets", os.path.basename(path))
        return os.path.join(ROOT, "scripts/visit-sync-baseline.html")

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = free_port()
    driver = subprocess.Popen(["/usr/bin/chromedriver", f"--port={port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def call(method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(request, timeout=60).read())["value"]

    try:
        for _ in range(100):
            try:
                if call("GET", "/status")["ready"]:
                    break
            except OSError:
                time.sleep(0.1)
        options = {"binary": "/usr/lib/chromium/chromium", "args": [
            "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
            "--autoplay-policy=no-user-gesture-required", "--allow-loopback-in-peer-connection"]}
        session = call("POST", "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options}}})["sessionId"]
        call("POST", f"/session/{session}/url", {"url": f"http://127.0.0.1:{server.server_port}/"})
        deadline = time.monotonic() + 60
        summary = None
        while time.monotonic() < deadline:
            time.sleep(1)
            summary = call("POST", f"/session/{session}/execute/sync",
                           {"script": "return window.sync ? window.sync.summary() : null", "args": []})
            if summary and summary["pairs"] >= PAIRS:
                break
        call("DELETE", f"/session/{session}")
        if not summary:
            sys.exit("no flash/click pairs measured")
        o, v, a = summary["offset"], summary["g2gVideo"], summary["g2gAudio"]
        print(f"browser -> browser, no server: sound after picture p50 {o['p50']:.0f} ms, "
              f"|p99| {o['p99']:.0f} ms over {summary['pairs']} pairs; glass to glass video p50 "
              f"{v['p50']:.0f} / p99 {v['p99']:.0f} ms, audio p50 {a['p50']:.0f} / p99 {a['p99']:.0f} ms")
    finally:
        driver.kill()
        server.shutdown()


if __name__ == "__main__":
    main()
