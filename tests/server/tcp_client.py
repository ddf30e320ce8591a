#!/usr/bin/python3
"""Raw TCP helpers for the evstored black-box tests (tests/server_test.cpp).

  tcp_client.py slowloris PORT WAIT_SECS
      Connects, sends the start of a request header and never finishes it.
      Prints "CLOSED <ms>" when the server closes the connection (EOF or reset),
      or "OPEN <ms>" if it is still open after WAIT_SECS.
  tcp_client.py hold PORT N SECS
      Opens N connections, prints "HELD" and keeps them idle for SECS seconds
      (or until killed).
  tcp_client.py keepalive PORT WAIT_SECS
      On one connection: a POST whose body arrives 100 ms after its header,
      then two requests pipelined in one send. Prints "STATUS <s1> <s2> <s3>"
      and then, idle, "CLOSED <ms>" when the server closes the connection (or
      "OPEN <ms>" after WAIT_SECS).
  tcp_client.py wspause PORT PATH SECS
      Opens a WebSocket (the handshake by hand, with a small receive buffer),
      prints "PAUSED" and then never reads, for SECS seconds: a subscriber
      that stopped reading.
  tcp_client.py tlsearly PORT CAFILE SIZE
      Over TLS: a POST without a token and a SIZE-byte body, all of it written
      before reading (as Python's http.client does); prints "STATUS <s>", or
      "ERROR <what>" if the connection failed first.
  tcp_client.py storm PORT N
      Opens N connections: a third idle, a third mid-header, a third WebSocket
      subscriptions; then resets them all at once (SO_LINGER 0) and prints
      "RESET".
"""
import socket
import sys
import time


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def slowloris(port, wait):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    start = time.monotonic()
    s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    s.settimeout(0.05)
    while time.monotonic() - start < wait:
        try:
            s.sendall(b"a")  # one byte at a time, never the blank line
        except OSError:
            break
        try:
            data = s.recv(4096)
            if not data:
                break
        except socket.timeout:
            continue
        except OSError:
            break
    ms = int((time.monotonic() - start) * 1000)
    out(("CLOSED %d" if time.monotonic() - start < wait else "OPEN %d") % ms)


def hold(port, n, secs):
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]
    out("HELD")
    time.sleep(secs)
    for s in socks:
        s.close()


def read_response(s, pending):
    """Reads one response with a Content-Length body; returns (status, rest)."""
    while b"\r\n\r\n" not in pending:
        data = s.recv(4096)
        if not data:
            raise SystemExit("connection closed mid-response")
        pending += data
    head, rest = pending.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    while len(rest) < length:
        data = s.recv(4096)
        if not data:
            raise SystemExit("connection closed mid-body")
        rest += data
    return status, rest[length:]


def keepalive(port, wait):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    body = b'{"type":"A","data":{"n":1}}'
    s.sendall(b"POST /streams/ka HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    time.sleep(0.1)
    s.sendall(body)
    first, pending = read_response(s, b"")
    s.sendall(b"GET /streams/ka HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
              b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    second, pending = read_response(s, pending)
    third, pending = read_response(s, pending)
    out("STATUS %d %d %d" % (first, second, third))
    start = time.monotonic()
    s.settimeout(wait)
    try:
        closed = s.recv(1) == b""
    except socket.timeout:
        closed = False
    except OSError:
        closed = True
    out(("CLOSED %d" if closed else "OPEN %d") % int((time.monotonic() - start) * 1000))


def ws_handshake(s, path):
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" % path).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = s.recv(1)  # byte by byte: leave the frames after the handshake unread
        if not data:
            raise SystemExit("closed during the WebSocket handshake")
        head += data
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise SystemExit("handshake refused: " + head.split(b"\r\n", 1)[0].decode())


def wspause(port, path, secs):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    ws_handshake(s, path)
    out("PAUSED")
    time.sleep(secs)
    s.close()


def storm(port, n):
    import struct
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 3 == 1:
            s.sendall(b"POST /streams/storm HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        elif i % 3 == 2:
            ws_handshake(s, "/subscribe?stream=%24all&from=0")
        socks.append(s)
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    out("RESET")


def tlsearly(port, cafile, size):
    import ssl
    ctx = ssl.create_default_context(cafile=cafile)
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        head = ("POST /streams/tls-early HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n" % size).encode()
        s.sendall(head + b"x" * size)
        status, _ = read_response(s, b"")
        out("STATUS %d" % status)
    except (OSError, ssl.SSLError, SystemExit) as e:
        out("ERROR %s" % e)


def main():
    mode = sys.argv[1]
    if mode == "slowloris":
        slowloris(int(sys.argv[2]), float(sys.argv[3]))
    elif mode == "hold":
        hold(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    elif mode == "wspause":
        wspause(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]))
    elif mode == "tlsearly":
        tlsearly(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    elif mode == "storm":
        storm(int(sys.argv[2]), int(sys.argv[3]))
    elif mode == "keepalive":
        keepalive(int(sys.argv[2]), float(sys.argv[3]))
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
