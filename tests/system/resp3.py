"""A small RESP3 client for the system tests (Debian's python3-redis speaks RESP2 only): it frames
every RESP3 type on the wire, keeps each reply's exact bytes for comparison with Redis's, decodes
them into Python values when asked, and sets pushes (pub/sub messages, invalidations) apart from
replies, in the order they came."""
import socket

AGGREGATES = {b"*": 1, b"~": 1, b">": 1, b"%": 2, b"|": 2}


def encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_raw(f):
    """One whole RESP2 or RESP3 value from a buffered reader, as the bytes that came."""
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError(f"connection closed mid-reply: {line!r}")
    t = line[:1]
    if t in (b"+", b"-", b":", b"_", b",", b"#", b"("):
        return line
    if t in (b"$", b"!", b"="):
        n = int(line[1:-2])
        return line if n < 0 else line + f.read(n + 2)
    if t in AGGREGATES:
        n = int(line[1:-2])
        count = max(n, 0) * AGGREGATES[t] + (1 if t == b"|" else 0)
        return line + b"".join(read_raw(f) for _ in range(count))
    raise AssertionError(f"unexpected RESP type in {line!r}")


class Push(list):
    """A push frame (>), decoded: ['message', channel, payload], ['invalidate', [keys]] ..."""


class Error(Exception):
    pass


def decode(raw):
    """(value, rest): a Python value for the first RESP value in raw. Maps become dicts, sets
    Python sets (lists when unhashable), doubles floats, booleans bool, nulls None, errors Error."""
    nl = raw.index(b"\r\n")
    t, body, rest = raw[:1], raw[1:nl], raw[nl + 2:]
    if t == b"+":
        return body, rest
    if t == b"-":
        return Error(body.decode()), rest
    if t in (b":", b"("):
        return int(body), rest
    if t == b"_":
        return None, rest
    if t == b",":
        return float(body), rest
    if t == b"#":
        return body == b"t", rest
    if t in (b"$", b"!", b"="):
        n = int(body)
        if n < 0:
            return None, rest
        s = rest[:n]
        if t == b"!":
            return Error(s.decode()), rest[n + 2:]
        return (s[4:] if t == b"=" else s), rest[n + 2:]
    n = int(body)
    if n < 0:
        return None, rest
    items = []
    count = n * AGGREGATES[t] + (1 if t == b"|" else 0)
    for _ in range(count):
        v, rest = decode(rest)
        items.append(v)
    if t == b"%":
        return {items[i]: items[i + 1] for i in range(0, len(items), 2)}, rest
    if t == b"~":
        try:
            return set(items), rest
        except TypeError:
            return items, rest
    if t == b">":
        return Push(items), rest
    if t == b"|":
        return items[-1], rest  # the attribute describes the value; the value is the reply
    return items, rest


def value(raw):
    v, rest = decode(raw)
    assert rest == b"", rest
    return v


class Conn:
    """One connection. call() sends a command and returns its reply's raw bytes, setting pushes
    that come first aside in .pushes."""

    def __init__(self, port, hello=3, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.sock.makefile("rb")
        self.pushes = []
        self.hello = None
        if hello:
            self.hello = self.call("HELLO", str(hello))

    def send(self, *args):
        self.sock.sendall(encode(args))

    def send_many(self, commands):
        self.sock.sendall(b"".join(encode(c) for c in commands))

    def read_any(self):
        """The next frame, push or reply, raw."""
        return read_raw(self.f)

    def read(self):
        """The next reply (raw), setting pushes before it aside."""
        while True:
            raw = read_raw(self.f)
            if raw[:1] == b">":
                self.pushes.append(value(raw))
                continue
            return raw

    def call(self, *args):
        self.send(*args)
        return self.read()

    def get(self, *args):
        """call(), decoded; an error reply raises Error."""
        v = value(self.call(*args))
        if isinstance(v, Error):
            raise v
        return v

    def next_push(self):
        if self.pushes:
            return self.pushes.pop(0)
        raw = read_raw(self.f)
        assert raw[:1] == b">", f"a reply where a push was awaited: {raw!r}"
        return value(raw)

    def close(self):
        self.f.close()  # the socket's file descriptor stays open while its file object does
        self.sock.close()
