"""A scripted Sentinel for system tests: answers SENTINEL get-master-addr-by-name with whatever
the test sets (a real Sentinel cannot be made to name a replica, or to disagree with the others, on
demand), accepts AUTH, PING, HELLO-less clients and SUBSCRIBE, and can publish a +switch-master to
its subscribers. One thread, raw sockets."""
import socket
import threading


def _parse(buf):
    """One RESP array of bulk strings from buf: (args, rest), or (None, buf) when incomplete."""
    if not buf.startswith(b"*"):
        return None, buf
    end = buf.find(b"\r\n")
    if end < 0:
        return None, buf
    n, pos, args = int(buf[1:end]), end + 2, []
    for _ in range(n):
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return None, buf
        size = int(buf[pos + 1:end])
        if len(buf) < end + 2 + size + 2:
            return None, buf
        args.append(buf[end + 2:end + 2 + size].decode())
        pos = end + 2 + size + 2
    return args, buf[pos:]


def _bulk(s):
    b = s.encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)


class FakeSentinel:
    def __init__(self, master="mymaster"):
        self.master = master
        self.answer = None      # (host, port) it names, or None (it does not know the master)
        self.password = None    # AUTH wanted
        self.asked = 0          # get-master-addr-by-name questions answered
        self.subscribers = []
        self.conns = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.closed:
                c.close()
                return
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _reply(self, args, c, state):
        cmd = args[0].upper()
        if cmd == "AUTH":
            ok = self.password is not None and args[-1] == self.password
            return b"+OK\r\n" if ok else b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        if self.password is not None and not state.get("authed"):
            return b"-NOAUTH Authentication required.\r\n"
        if cmd == "PING":
            return b"+PONG\r\n"
        if cmd == "SUBSCRIBE":
            with self.lock:
                self.subscribers.append(c)
            return b"".join(b"*3\r\n" + _bulk("subscribe") + _bulk(ch) + b":%d\r\n" % (i + 1)
                            for i, ch in enumerate(args[1:]))
        if cmd == "SENTINEL" and len(args) == 3 and args[1].lower() == "get-master-addr-by-name":
            with self.lock:
                self.asked += 1
                answer = self.answer
            if args[2] != self.master or answer is None:
                return b"*-1\r\n"
            return b"*2\r\n" + _bulk(answer[0]) + _bulk(str(answer[1]))
        return b"-ERR unknown command\r\n"

    def _serve(self, c):
        buf, state = b"", {}
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    return
                buf += data
                while True:
                    args, buf = _parse(buf)
                    if args is None:
                        break
                    out = self._reply(args, c, state)
                    if args[0].upper() == "AUTH" and out.startswith(b"+OK"):
                        state["authed"] = True
                    c.sendall(out)
        except OSError:
            return
        finally:
            with self.lock:
                if c in self.subscribers:
                    self.subscribers.remove(c)
            c.close()

    def switch_master(self, old, new):
        """Publishes +switch-master <master> <old ip> <old port> <new ip> <new port> to subscribers."""
        payload = f"{self.master} {old[0]} {old[1]} {new[0]} {new[1]}"
        msg = b"*3\r\n" + _bulk("message") + _bulk("+switch-master") + _bulk(payload)
        with self.lock:
            subs = list(self.subscribers)
        for c in subs:
            try:
                c.sendall(msg)
            except OSError:
                pass
        return len(subs)

    def close(self):
        """Stops listening and drops every connection (the proxy sees the Sentinel go)."""
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; the port stops listening
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
