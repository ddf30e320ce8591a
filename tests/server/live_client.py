#!/usr/bin/python3
"""Hostile live clients for the evstored black-box tests (tests/server_hostile_live_test.cpp).

Raw sockets, the WebSocket framing by hand (RFC 6455: client frames masked),
so a client can do what a library would not: never read, never answer a ping,
send frames in the same write as the upgrade request. Prints one line per
milestone on stdout, flushed at once. Arguments after PORT PATH: see each mode.

  live_client.py flood PORT PATH MAX [TOKEN]
      WebSocket: sends a 1000-byte text message (not an ack) up to MAX times,
      never reading (large, so that the server's receive buffer fills soon
      after it stops reading). Prints "BLOCKED <sent>" once a send has waited 1 s (the server
      stopped reading) and then holds the connection until killed, or
      "ALLSENT <sent>".
  live_client.py ackflood PORT PATH MAX TOKEN
      WebSocket: sends {"ack":0} up to MAX times without reading (stops at the
      first send that waits 1 s), prints "SENT <n>", then resets the connection
      (SO_LINGER 0) and prints "RESET".
  live_client.py noread PORT PATH
      WebSocket with a small receive buffer that never reads; prints "PAUSED"
      and holds until killed. Prints "CLOSED" if the server ends it (checked
      without reading data: only EOF or reset is seen once the buffer is full).
  live_client.py ssenoread PORT PATH
      The same for a Server-Sent Events request (Accept: text/event-stream).
  live_client.py silent PORT PATH
      WebSocket that reads raw bytes but never answers a ping; prints "OPEN",
      then "CLOSED <ms>" when the server closes it (or "OPEN <ms>" after 20 s).
  live_client.py upgradeframe PORT PATH TEXT
      Sends the upgrade request and one text message TEXT in one write; prints
      "MSG <text>" for each text message received, until one contains "error"
      or 5 s pass.
  live_client.py ssestorm PORT PATH N
      N times: a Server-Sent Events request, read its response header, close.
      Prints "DONE <n>".
"""
import os
import socket
import struct
import sys
import time


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def connect(port, rcvbuf=None, sndbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if sndbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    s.connect(("127.0.0.1", port))
    return s


def upgrade_request(path, token=None):
    auth = "Authorization: Bearer %s\r\n" % token if token else ""
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
            % (path, auth)).encode()


def read_head(s):
    head = b""
    while b"\r\n\r\n" not in head:
        data = s.recv(1)  # byte by byte: leave what follows unread
        if not data:
            raise SystemExit("closed during the handshake")
        head += data
    return head


def handshake(s, path, token=None):
    s.sendall(upgrade_request(path, token))
    head = read_head(s)
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        out("REJECTED " + head.split(b"\r\n", 1)[0].decode())
        sys.exit(4)


def frame(text):
    payload = text.encode()
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, 0x80 | n)
    else:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frame(s, pending):
    """One server frame: (opcode, payload, rest); None at EOF."""
    def need(n):
        nonlocal pending
        while len(pending) < n:
            data = s.recv(65536)
            if not data:
                return False
            pending += data
        return True
    if not need(2):
        return None
    op, n = pending[0] & 0x0F, pending[1] & 0x7F
    at = 2
    if n == 126:
        if not need(4):
            return None
        n, at = struct.unpack("!H", pending[2:4])[0], 4
    elif n == 127:
        if not need(10):
            return None
        n, at = struct.unpack("!Q", pending[2:10])[0], 10
    if not need(at + n):
        return None
    return op, pending[at:at + n], pending[at + n:]


def send_until_blocked(s, data, limit):
    """Sends `data` up to `limit` times; returns (sent, blocked)."""
    s.settimeout(1.0)
    sent = 0
    try:
        while sent < limit:
            s.sendall(data)
            sent += 1
    except socket.timeout:
        return sent, True
    except OSError:
        return sent, False
    return sent, False


def hold(s):
    s.settimeout(None)
    try:
        while True:
            time.sleep(3600)
    finally:
        s.close()


def wait_closed(s, seconds):
    """Waits for EOF or reset without consuming data the server sent (peek)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s.settimeout(0.05)
        try:
            data = s.recv(1, socket.MSG_PEEK)
            if not data:
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
        time.sleep(0.05)  # data pending: the buffer is full, the peer may still close
    return False


def main():
    mode, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    args = sys.argv[4:]
    if mode == "flood":
        s = connect(port, rcvbuf=4096)
        handshake(s, path, args[1] if len(args) > 1 else None)
        sent, blocked = send_until_blocked(s, frame("x" * 1000), int(args[0]))
        out(("BLOCKED %d" if blocked else "ALLSENT %d") % sent)
        hold(s)
    elif mode == "ackflood":
        s = connect(port, rcvbuf=4096)
        handshake(s, path, args[1])
        sent, _ = send_until_blocked(s, frame('{"ack":0}'), int(args[0]))
        out("SENT %d" % sent)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        out("RESET")
    elif mode == "noread":
        s = connect(port, rcvbuf=4096)
        handshake(s, path)
        out("PAUSED")
        if wait_closed(s, 3600):
            out("CLOSED")
        hold(s)
    elif mode == "ssenoread":
        s = connect(port, rcvbuf=4096)
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n" % path).encode())
        out("PAUSED")
        if wait_closed(s, 3600):
            out("CLOSED")
        hold(s)
    elif mode == "silent":
        s = connect(port)
        handshake(s, path)
        out("OPEN")
        start = time.monotonic()
        s.settimeout(20)
        closed = False
        try:
            while True:
                data = s.recv(65536)  # pings arrive here and are never answered
                if not data:
                    closed = True
                    break
        except socket.timeout:
            pass
        except OSError:
            closed = True
        out(("CLOSED %d" if closed else "OPEN %d") % int((time.monotonic() - start) * 1000))
    elif mode == "upgradeframe":
        s = connect(port)
        s.sendall(upgrade_request(path) + frame(args[0]))
        head = read_head(s)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            out("REJECTED " + head.split(b"\r\n", 1)[0].decode())
            sys.exit(4)
        s.settimeout(5)
        pending = b""
        try:
            while True:
                got = read_frame(s, pending)
                if got is None:
                    out("CLOSED")
                    break
                op, payload, pending = got
                if op == 1:
                    text = payload.decode()
                    out("MSG " + text)
                    if "error" in text:
                        break
        except socket.timeout:
            out("TIMEOUT")
    elif mode == "ssestorm":
        n = int(args[0])
        for _ in range(n):
            s = connect(port)
            s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n" % path).encode())
            head = read_head(s)
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                out("STATUS " + head.split(b"\r\n", 1)[0].decode())
                sys.exit(4)
            s.close()
        out("DONE %d" % n)
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
