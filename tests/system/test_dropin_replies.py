"""Replies byte for byte: scripts of commands run against Redis directly and then through the proxy
(each on an empty database) must give the same RESP bytes, for every command family, errors
included, in RESP2 and in RESP3 (after HELLO 3: maps, sets, doubles, nulls, verbatim strings).
The comparison is on the wire, so any reshaping by the proxy shows."""
import socket

import pytest

from resp3 import encode, read_raw


def run(port, script, pipelined, proto=2):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    if proto == 3:
        s.sendall(encode(["HELLO", "3"]))
        assert read_raw(f).startswith(b"%7\r\n")
    replies = []
    if pipelined:
        s.sendall(b"".join(encode(c) for c in script))
        replies = [read_raw(f) for _ in script]
    else:
        for c in script:
            s.sendall(encode(c))
            replies.append(read_raw(f))
    s.close()
    return replies


SCRIPTS = {
    "strings": [["SET", "s", "v"], ["GET", "s"], ["APPEND", "s", "x"], ["GETRANGE", "s", "0", "-1"],
                ["SETRANGE", "s", "1", "YY"], ["GET", "s"], ["STRLEN", "s"], ["INCR", "n"], ["INCRBY", "n", "10"],
                ["DECRBY", "n", "3"], ["INCRBYFLOAT", "f", "2.5"], ["GET", "f"], ["SETNX", "s", "z"],
                ["MSET", "a", "1", "b", "2"], ["MGET", "a", "b", "nope", "s"], ["MSETNX", "a", "9", "c", "3"],
                ["GETDEL", "a"], ["GET", "a"], ["SET", "e", "v", "EX", "100"], ["GETEX", "e", "PERSIST"],
                ["TTL", "e"], ["SET", "s", "new", "GET"], ["LCS", "s", "b"], ["INCR", "s"], ["GET", "missing"]],
    "keys": [["SET", "k1", "v"], ["SET", "k2", "v"], ["EXISTS", "k1", "k2", "k3"], ["TYPE", "k1"],
             ["EXPIRE", "k1", "100"], ["PERSIST", "k1"], ["TTL", "k1"], ["PTTL", "nokey"], ["RENAME", "k1", "k3"],
             ["RENAMENX", "k2", "k3"], ["COPY", "k3", "k4"], ["DEL", "k2", "k9"], ["UNLINK", "k4"],
             ["TOUCH", "k3", "k5"], ["KEYS", "k*"], ["DBSIZE"], ["SCAN", "0", "MATCH", "k*", "COUNT", "100"],
             ["OBJECT", "ENCODING", "k3"], ["DUMP", "nokey"], ["EXPIRETIME", "k3"], ["RANDOMKEY"]],
    "hashes": [["HSET", "h", "f1", "1", "f2", "2"], ["HGET", "h", "f1"], ["HGETALL", "h"], ["HMGET", "h", "f1", "x"],
               ["HINCRBY", "h", "f1", "5"], ["HINCRBYFLOAT", "h", "f2", "0.5"], ["HKEYS", "h"], ["HVALS", "h"],
               ["HLEN", "h"], ["HEXISTS", "h", "f1"], ["HDEL", "h", "f1"], ["HSETNX", "h", "f2", "x"],
               ["HSTRLEN", "h", "f2"], ["HSCAN", "h", "0"], ["GET", "h"], ["MGET", "h"]],
    "lists": [["RPUSH", "l", "a", "b", "c"], ["LPUSH", "l", "z"], ["LRANGE", "l", "0", "-1"], ["LLEN", "l"],
              ["LINDEX", "l", "1"], ["LSET", "l", "0", "y"], ["LINSERT", "l", "BEFORE", "b", "q"], ["LPOS", "l", "b"],
              ["LREM", "l", "1", "q"], ["LTRIM", "l", "0", "2"], ["LPOP", "l"], ["RPOP", "l", "2"],
              ["LMOVE", "l", "l2", "LEFT", "RIGHT"], ["RPOPLPUSH", "l2", "l3"], ["LMPOP", "2", "l", "l3", "LEFT"],
              ["BLPOP", "l3", "0.05"], ["LPOP", "nolist"]],
    "sets": [["SADD", "s1", "a", "b", "c"], ["SADD", "s2", "b", "c", "d"], ["SCARD", "s1"], ["SISMEMBER", "s1", "a"],
             ["SMISMEMBER", "s1", "a", "z"], ["SINTER", "s1", "s2"], ["SINTERCARD", "2", "s1", "s2"],
             ["SDIFFSTORE", "s3", "s1", "s2"], ["SMEMBERS", "s3"], ["SMOVE", "s1", "s2", "a"], ["SREM", "s2", "a"],
             ["SUNIONSTORE", "s4", "s1", "s2"], ["SCARD", "s4"]],
    "zsets": [["ZADD", "z", "1", "a", "2", "b", "3", "c"], ["ZSCORE", "z", "b"], ["ZINCRBY", "z", "1.5", "a"],
              ["ZRANGE", "z", "0", "-1", "WITHSCORES"], ["ZRANK", "z", "c"], ["ZREVRANGE", "z", "0", "0"],
              ["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "0", "2"], ["ZCOUNT", "z", "1", "2"],
              ["ZPOPMIN", "z"], ["ZMSCORE", "z", "b", "x"], ["ZUNIONSTORE", "z2", "1", "z"], ["ZCARD", "z2"],
              ["ZMPOP", "1", "z2", "MAX"], ["BZPOPMIN", "z", "0.05"], ["ZREM", "z", "c"]],
    "streams": [["XADD", "st", "1-1", "f", "v"], ["XADD", "st", "2-1", "f", "w"], ["XLEN", "st"],
                ["XRANGE", "st", "-", "+"], ["XREVRANGE", "st", "+", "-", "COUNT", "1"],
                ["XGROUP", "CREATE", "st", "g", "0"], ["XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "st", ">"],
                ["XPENDING", "st", "g"], ["XACK", "st", "g", "1-1"], ["XREAD", "COUNT", "5", "STREAMS", "st", "0"],
                ["XDEL", "st", "1-1"], ["XTRIM", "st", "MAXLEN", "0"]],
    "scripts_and_tx": [["EVAL", "return {1, 'two', redis.call('SET', KEYS[1], ARGV[1])}", "1", "ek", "ev"],
                       ["GET", "ek"], ["EVAL", "return redis.error_reply('MYERR oops')", "0"],
                       ["SCRIPT", "LOAD", "return 7"], ["EVALSHA", "91ee4d8e7df3f5ff1ba2d1ed1b7cd4a1e2f1a2b3", "0"],
                       ["MULTI"], ["SET", "t", "1"], ["INCR", "t"], ["GET", "t"], ["EXEC"], ["GET", "t"],
                       ["MULTI"], ["SET", "t"], ["EXEC"], ["DISCARD"], ["WATCH", "t"], ["UNWATCH"]],
    "misc": [["PING"], ["PING", "hi"], ["ECHO", "e"], ["SELECT", "0"], ["NOSUCHCOMMAND", "x"], ["GET"],
             ["SET", "k"], ["PUBLISH", "ch", "m"], ["PFADD", "hll", "a", "b"], ["PFCOUNT", "hll"],
             ["SETBIT", "bits", "7", "1"], ["BITCOUNT", "bits"], ["BITPOS", "bits", "1"],
             ["GEOADD", "g", "13.361389", "38.115556", "Palermo"], ["GEODIST", "g", "Palermo", "Palermo"],
             ["CONFIG", "GET", "maxmemory"], ["COMMAND", "COUNT"], ["COMMAND", "INFO", "get", "nosuch"],
             ["COMMAND", "GETKEYS", "SET", "a", "b"], ["MEMORY", "USAGE", "nokey"], ["TYPE", "g"],
             # nested deeper than hiredis's reader goes (7 levels): a Lua table, and COMMAND DOCS
             ["EVAL", "return {{{{{{{{{{{{1, 'deep'}}}}}}}}}}}}", "0"], ["COMMAND", "DOCS", "get", "set"]],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
@pytest.mark.parametrize("pipelined", [False, True], ids=["one-by-one", "pipelined"])
@pytest.mark.parametrize("proto", [2, 3], ids=["resp2", "resp3"])
def test_replies_are_redis_s_own_bytes(pair, name, pipelined, proto):
    r, p = pair
    script = SCRIPTS[name]
    c = r.client()
    c.flushall()
    direct = run(r.port, script, pipelined, proto)
    c.flushall()
    proxied = run(p.port, script, pipelined, proto)
    for cmd, want, got in zip(script, direct, proxied):
        if cmd[0] in ("RANDOMKEY", "SCRIPT") or cmd[:2] == ["OBJECT", "ENCODING"]:
            continue  # the same kind of answer; its bytes may differ run to run
        assert got == want, f"{cmd}: Redis {want!r}, proxy {got!r}"
    assert p.info("backend")["backend_disconnects"] == 0   # no reply cost the shared link
