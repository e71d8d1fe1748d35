#!/usr/bin/env python3
"""Peak memory of `haul ls` against a peer that answers GET Service with an endless body.

Usage: benches/endless_answer.py [PATH_TO_HAUL [LIMIT_MIB]]
       (defaults: target/release/haul, 2048: the most the peer sends)

Loopback only. The peer streams `<Bucket>` entries (chunked, up to 2 GiB) until the client
hangs up; prints the client's exit code, first stderr line, wall time, peak RSS, and how many
bytes the peer managed to send. Without the client's answer cap, RSS grows with the body.
"""
import os
import resource
import socket
import subprocess
import sys
import threading
import time

haul = sys.argv[1] if len(sys.argv) > 1 else "target/release/haul"
limit = (int(sys.argv[2]) if len(sys.argv) > 2 else 2048) << 20
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
port = srv.getsockname()[1]
sent = [0]

piece = b"<Bucket><Name>b-1250000000</Name><Location>ap-beijing</Location></Bucket>" * 800
chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"


def peer():
    c, _ = srv.accept()
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d:
            return
        buf += d
    try:
        opening = b"<ListAllMyBucketsResult><Buckets>"
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n"
                  + b"%x\r\n" % len(opening) + opening + b"\r\n")
        while sent[0] < limit:
            c.sendall(chunk)
            sent[0] += len(piece)
    except OSError:
        pass


t = threading.Thread(target=peer, daemon=True)
t.start()
env = {"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent",
       "TENCENTCLOUD_SECRET_ID": "AKIDbench", "TENCENTCLOUD_SECRET_KEY": "bench"}
start = time.monotonic()
p = subprocess.run([haul, "--endpoint", f"http://127.0.0.1:{port}", "ls"], env=env,
                   capture_output=True, timeout=120)
elapsed = time.monotonic() - start
t.join(timeout=5)
rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
first = p.stderr.decode(errors="replace").splitlines()[:1]
print(f"exit {p.returncode} in {elapsed:.2f} s, peak RSS {rss_kib / 1024:.1f} MiB, "
      f"peer sent {sent[0] / 2**20:.1f} MiB")
print(first[0] if first else "(no stderr)")
