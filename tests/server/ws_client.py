#!/usr/bin/python3
"""A scripted WebSocket client for the evstored black-box tests (tests/server_test.cpp).

Uses the third-party `websockets` package (Debian: python3-websockets); run it
with /usr/bin/python3. Prints one line per event on stdout, flushed at once, so
the test can act (append over HTTP) while the connection is open:

  OPEN                          the handshake succeeded
  MSG <json text>               a text message from the server
  SENT <n>                      a message of n bytes was sent
  MARK <text>                   a `mark=` step ran
  CLOSE <code> <reason>         the server closed the connection (code or "none")
  REJECTED <status>             the handshake was refused with an HTTP status
  TIMEOUT <step>                a step did not finish within --timeout seconds
  DONE                          every step finished; the client then closes with 1000

Steps (run in order):
  until=<key>     read messages until one is a JSON object containing <key>
  events=<n>      read until n {"event": ...} messages have arrived on this connection
  send=<text>     send <text> as a text message
  sendbytes=<n>   send a text message of n 'x' characters
  mark=<text>     print MARK <text>
  wait_close      read (and print) messages until the server closes; prints CLOSE
  quiet=<secs>    read for <secs> seconds and fail (print EXTRA) if any event arrives

Exit status: 0 when every step finished, 3 on timeout, 4 on a refused
handshake, 5 when the server closed before the steps finished, 6 on EXTRA.
"""
import argparse
import asyncio
import json
import ssl
import sys

import websockets


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def close_code(exc):
    rcvd = getattr(exc, "rcvd", None)
    if rcvd is not None:
        return str(rcvd.code), rcvd.reason
    code = getattr(exc, "code", None)
    return (str(code) if code is not None else "none"), getattr(exc, "reason", "")


async def run(args):
    headers = [tuple(h.split(":", 1)) for h in args.header]
    headers = [(k.strip(), v.strip()) for k, v in headers]
    try:
        tls = ssl.create_default_context(cafile=args.cafile) if args.url.startswith("wss://") else None
        ws = await asyncio.wait_for(
            websockets.connect(args.url, extra_headers=headers, max_size=None, open_timeout=None,
                               close_timeout=2, ping_interval=None, ssl=tls),
            args.timeout)
    except websockets.exceptions.InvalidStatusCode as e:
        out("REJECTED %d" % e.status_code)
        return 4
    out("OPEN")
    events = 0
    step = ""
    try:
        for step in args.steps:
            name, _, value = step.partition("=")
            if name == "until":
                while True:
                    text = await asyncio.wait_for(ws.recv(), args.timeout)
                    out("MSG " + text)
                    msg = json.loads(text)
                    if "event" in msg:
                        events += 1
                    if isinstance(msg, dict) and value in msg:
                        break
            elif name == "events":
                while events < int(value):
                    text = await asyncio.wait_for(ws.recv(), args.timeout)
                    out("MSG " + text)
                    if "event" in json.loads(text):
                        events += 1
            elif name == "send":
                await ws.send(value)
                out("SENT %d" % len(value))
            elif name == "sendbytes":
                await ws.send("x" * int(value))
                out("SENT %s" % value)
            elif name == "mark":
                out("MARK " + value)
            elif name == "quiet":
                loop = asyncio.get_running_loop()
                end = loop.time() + float(value)
                while loop.time() < end:
                    try:
                        text = await asyncio.wait_for(ws.recv(), max(0.01, end - loop.time()))
                    except asyncio.TimeoutError:
                        break
                    out("MSG " + text)
                    if "event" in json.loads(text):
                        out("EXTRA")
                        return 6
            elif name == "wait_close":
                while True:
                    text = await asyncio.wait_for(ws.recv(), args.timeout)
                    out("MSG " + text)
            else:
                raise SystemExit("unknown step " + step)
    except asyncio.TimeoutError:
        out("TIMEOUT " + step)
        await ws.close()
        return 3
    except websockets.exceptions.ConnectionClosed as e:
        code, reason = close_code(e)
        out("CLOSE %s %s" % (code, reason))
        return 0 if step == "wait_close" else 5
    out("DONE")
    await ws.close()
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("steps", nargs="*")
    p.add_argument("--header", action="append", default=[], help="Name: value (repeatable)")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--cafile", help="trust this PEM certificate (wss:// URLs)")
    args = p.parse_intermixed_args()
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
