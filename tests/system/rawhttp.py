"""A minimal HTTP/1.1 client over a raw socket, so tests control exactly what is sent (pipelining,
malformed requests) and see exactly what comes back."""
import socket


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body


class Conn:
    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def read_response(self, head=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        length = 0 if head else int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return Response(status, headers, body)

    def is_closed(self, timeout=5):
        """True when the server closed the connection (EOF) with nothing more to read."""
        self.sock.settimeout(timeout)
        try:
            return self.buf == b"" and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


def get(port, path, method="GET", headers=None, version="HTTP/1.1"):
    c = Conn(port)
    h = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    c.send(f"{method} {path} {version}\r\nHost: localhost\r\nConnection: close\r\n{h}\r\n".encode("latin-1"))
    r = c.read_response(head=(method == "HEAD"))
    c.close()
    return r
