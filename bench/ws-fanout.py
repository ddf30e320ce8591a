#!/usr/bin/python3
"""WebSocket fan-out of evstored: N subscribers on one stream, M appended events.

Starts evstored on a temp directory, opens N WebSocket subscriptions
(/subscribe?stream=fanout, only new events), appends M events over HTTP, and
measures the time until every subscriber has every event (checked in order),
the events delivered per second, and the server's peak RSS (VmHWM).

    bench/ws-fanout.py [--subscribers 1000] [--events 200]

Needs Debian's python3-websockets (tools/setup.sh installs it).
"""
import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.request

import websockets


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


async def subscriber(url, expected, ready, done_times, errors):
    try:
        async with websockets.connect(url, max_size=None) as ws:
            caught_up = json.loads(await ws.recv())
            if not caught_up.get("caughtUp"):
                raise RuntimeError(f"first message is not caughtUp: {caught_up}")
            ready.release()
            next_version = 0
            while next_version < expected:
                msg = json.loads(await ws.recv())
                ev = msg["event"]
                if ev["version"] != next_version:
                    raise RuntimeError(f"expected version {next_version}, got {ev['version']}")
                next_version += 1
            done_times.append(time.monotonic())
    except Exception as e:  # noqa: BLE001 - reported below
        errors.append(repr(e))
        ready.release()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--server", default=os.path.join(os.path.dirname(__file__), "..", "build", "tools", "evstored"))
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="evstored-fanout-")
    proc = subprocess.Popen([args.server, "--data", os.path.join(tmp, "data"), "--listen", "127.0.0.1:0",
                             "--max-connections", str(args.subscribers + 64)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(re.search(r"127\.0\.0\.1:(\d+)", proc.stdout.readline()).group(1))
        base = f"http://127.0.0.1:{port}"
        rss_idle = rss_kib(proc.pid, "VmRSS")
        ready = asyncio.Semaphore(0)
        done_times, errors = [], []
        url = f"ws://127.0.0.1:{port}/subscribe?stream=fanout"
        tasks = [asyncio.create_task(subscriber(url, args.events, ready, done_times, errors))
                 for _ in range(args.subscribers)]
        for _ in range(args.subscribers):
            await ready.acquire()
        rss_connected = rss_kib(proc.pid, "VmRSS")

        def append_all():
            body = json.dumps({"type": "Tick", "data": {"payload": "x" * 100}}).encode()
            for _ in range(args.events):
                req = urllib.request.Request(base + "/streams/fanout", data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
                urllib.request.urlopen(req).read()

        start = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, append_all)
        await asyncio.gather(*tasks)
        elapsed = (max(done_times) if done_times else time.monotonic()) - start
        peak = rss_kib(proc.pid, "VmHWM")
        delivered = len(done_times) * args.events
        print(f"| subscribers | events | seconds | events delivered/s | RSS idle | RSS connected | peak RSS | errors |")
        print(f"|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| {args.subscribers} | {args.events} | {elapsed:.2f} | {delivered / elapsed:,.0f} | "
              f"{rss_idle / 1024:.1f} MB | {rss_connected / 1024:.1f} MB | {peak / 1024:.1f} MB | {len(errors)} |")
        if errors:
            print("first errors:", errors[:3])
            return 1
        return 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        subprocess.run(["rm", "-rf", tmp], check=False)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
