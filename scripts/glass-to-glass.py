#!/usr/bin/env python3
"""The browser half of scripts/glass-to-glass.sh: drives two headless
Chromium instances through chromedriver (W3C WebDriver over HTTP, standard
library only). One publishes the publish page's test pattern, the other
watches with the watch page; prints the glass-to-glass latency the watch
page reads from the timestamp code, and the server's end-to-end latency.

Tokens come from PUBLISH_TOKEN and VIEW_TOKEN in the environment (never on a
command line). Bounded: setup waits at most 60 s, the measurement lasts
--warmup + --seconds."""

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

CHROMIUM = "/usr/lib/chromium/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--window-size=1400,1000",
]


class Driver:
    def __init__(self):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.process = subprocess.Popen(
            [CHROMEDRIVER, f"--port={self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while True:
            try:
                if self.request("GET", "/status")["ready"]:
                    return
            except OSError:
                pass
            if time.time() > deadline:
                raise SystemExit("glass-to-glass: chromedriver did not start within 20 s")
            time.sleep(0.1)

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.load(response)["value"]
        except urllib.error.HTTPError as error:
            raise SystemExit(f"glass-to-glass: WebDriver {method} {path}: {error.read().decode()[:500]}")

    def session(self):
        capabilities = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": ARGS},
        }}}
        return Session(self, self.request("POST", "/session", capabilities)["sessionId"])

    def close(self):
        self.process.kill()
        self.process.wait()


class Session:
    def __init__(self, driver, id):
        self.driver, self.id = driver, id

    def call(self, method, rest, body=None):
        return self.driver.request(method, f"/session/{self.id}{rest}", body)

    def navigate(self, url):
        self.call("POST", "/url", {"url": url})

    def find(self, css):
        return self.call("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def click(self, css):
        self.call("POST", f"/element/{self.find(css)}/click", {})

    def type(self, css, text):
        self.call("POST", f"/element/{self.find(css)}/value", {"text": text})

    def js(self, expression):
        return self.call("POST", "/execute/sync", {"script": f"return {expression}", "args": []})

    def close(self):
        try:
            self.call("DELETE", "")
        except SystemExit:
            pass


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-len(ordered) * p // 100) - 1))]


def wait(session, expression, seconds, done):
    deadline = time.time() + seconds
    while True:
        value = session.js(expression)
        if done(value) or time.time() > deadline or value.get("error"):
            return value
        time.sleep(0.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the server, http://IP:PORT")
    parser.add_argument("--stream", default="room1")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5)
    args = parser.parse_args()
    publish_token, view_token = os.environ["PUBLISH_TOKEN"], os.environ["VIEW_TOKEN"]

    driver = Driver()
    sessions = []
    try:
        publisher = driver.session()
        sessions.append(publisher)
        viewer = driver.session()
        sessions.append(viewer)
        publisher.navigate(f"{args.base}/publish?stream={args.stream}")
        publisher.type("#token", publish_token)
        publisher.click("#source option[value=pattern]")
        publisher.click("#start")
        status = wait(publisher, "window.framechainPublish", 30,
                      lambda s: s["state"] == "connected" and s["framesSent"] > 0)
        if status["state"] != "connected":
            raise SystemExit(f"glass-to-glass: the publisher did not connect: {status}")
        viewer.navigate(f"{args.base}/watch?stream={args.stream}")
        viewer.type("#token", view_token)
        viewer.click("#start")
        results = wait(viewer, "{...window.framechainResults, g2gSamples: window.framechainResults.g2gSamples.length}",
                       30, lambda r: r["g2gSamples"] > 0)
        if not results["g2gSamples"]:
            raise SystemExit(f"glass-to-glass: no timestamp code read within 30 s: {results}")
        time.sleep(args.warmup)
        start = viewer.js("window.framechainResults.g2gSamples.length")
        time.sleep(args.seconds)
        results = viewer.js("window.framechainResults")
        status = publisher.js("window.framechainPublish")
    finally:
        for session in sessions:
            session.close()
        driver.close()

    samples = results["g2gSamples"][start:]
    server = (results.get("server") or {})
    e2e = server.get("latency_ms", {}).get("end_to_end", {})
    frames = server.get("frames", {})
    print(f"publisher: {status['width']}x{status['height']} at {status['fps']} fps, "
          f"{status['bitrateKbps']} kbit/s, encoder {status['encoder'] or '?'}, "
          f"limited by {status['qualityLimitation'] or '?'}")
    print(f"viewer: {results['width']}x{results['height']}, {results['framesDecoded']} frames decoded, "
          f"{results['framesDropped']} dropped, decoder {results['decoder'] or '?'}")
    print(f"server: frames in {frames.get('in')}, out {frames.get('out')}, dropped {frames.get('dropped')}, "
          f"rtp {server.get('rtp')}")
    for stage in server.get("latency_ms", {}).get("stages", []):
        print(f"  stage {stage['name']}: p50 {stage['p50']:.1f} ms, p99 {stage['p99']:.1f} ms")
    print(f"glass-to-glass over {args.seconds:.0f} s ({len(samples)} frames, "
          f"{results['codeMisses']} frames without a readable code in all): "
          f"p50 {percentile(samples, 50):.0f} ms, p99 {percentile(samples, 99):.0f} ms")
    print(f"server end-to-end (last 10 s): p50 {e2e.get('p50', float('nan')):.1f} ms, "
          f"p99 {e2e.get('p99', float('nan')):.1f} ms")
    if not samples:
        sys.exit(1)


if __name__ == "__main__":
    main()
