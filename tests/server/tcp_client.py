#!/usr/bin/python3
"""Raw TCP helpers for the evstored black-box tests (tests/server_test.cpp).

  tcp_client.py slowloris PORT WAIT_SECS
      Connects, sends the start of a request header and never finishes it.
      Prints "CLOSED <ms>" when the server closes the connection (EOF or reset),
      or "OPEN <ms>" if it is still open after WAIT_SECS.
  tcp_client.py hold PORT N SECS
      Opens N connections, prints "HELD" and keeps them idle for SECS seconds
      (or until killed).
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


def main():
    mode = sys.argv[1]
    if mode == "slowloris":
        slowloris(int(sys.argv[2]), float(sys.argv[3]))
    elif mode == "hold":
        hold(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
