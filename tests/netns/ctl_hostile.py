#!/usr/bin/env python3
"""Hostile and careless clients of ctsyncd's control socket, for
test_control.sh.  Each mode connects, prints one line when its damage is
in place, then holds its connections until it is killed.

  fill PATH         connect (non-blocking) until the listen backlog is full;
                    prints the number of connections made
  idle PATH N       make N connections and send nothing; prints how many
                    connected
  flood PATH N TYPE [BODY]
                    one connection: send N request frames of TYPE (with a
                    one-byte BODY if given) as fast as the daemon takes
                    them, never read a reply; prints the number of frames
                    the socket took within 5 s

Frames are in host byte order (ctsync/ctl.h): u32 len, u16 type, u16 flags.
"""
import errno
import select
import signal
import socket
import struct
import sys
import time


def connect_nb(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
    except BlockingIOError:
        s.close()
        return None
    return s


def hold(conns):
    # Until the test kills us (SIGTERM: the connections close with us).
    while conns:
        signal.pause()


def main():
    mode, path = sys.argv[1], sys.argv[2]
    conns = []
    if mode in ("fill", "idle"):
        # fill: until the backlog refuses; idle: that many at most
        limit = int(sys.argv[3]) if mode == "idle" else None
        while limit is None or len(conns) < limit:
            s = connect_nb(path)
            if s is None:
                break
            conns.append(s)
        print(len(conns), flush=True)
    elif mode == "flood":
        n, rtype = int(sys.argv[3]), int(sys.argv[4])
        body = bytes([int(sys.argv[5])]) if len(sys.argv) > 5 else b""
        frame = struct.pack("=IHH", 8 + len(body), rtype, 0) + body
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.setblocking(False)
        conns.append(s)
        data = frame * n
        off = 0
        end = time.monotonic() + 5
        while off < len(data) and time.monotonic() < end:
            try:
                off += s.send(data[off:])
            except BlockingIOError:
                select.select([], [s], [], 0.1)
            except OSError as e:
                if e.errno in (errno.EPIPE, errno.ECONNRESET):
                    break
                raise
        print(off // len(frame), flush=True)
    else:
        sys.exit("unknown mode " + mode)
    hold(conns)


main()
