#!/usr/bin/env python3
"""Write the hand-made seeds of fuzz/corpus/fuzz_rpc_decode and fuzz_rpc_stream.

Each seed is named after what it exercises (schema/rpc.md). Seeds found by the fuzzers
themselves are added with `-merge=1` and keep libFuzzer's hash names; this script never
deletes them. Run from anywhere: python3 fuzz/gen_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


class Raw(bytes):
    """Bytes written as they are (hand-encoded msgpack)."""


class Bin(bytes):
    pass


class F32(float):
    pass


def pack(v):
    """A small canonical msgpack encoder, enough for the seeds."""
    if isinstance(v, Raw):
        return bytes(v)
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v <= 0x7F:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack(">b", v)
        if 0 <= v <= 0xFF:
            return b"\xcc" + struct.pack(">B", v)
        if 0 <= v <= 0xFFFF:
            return b"\xcd" + struct.pack(">H", v)
        if 0 <= v <= 0xFFFFFFFF:
            return b"\xce" + struct.pack(">I", v)
        if v >= 0:
            return b"\xcf" + struct.pack(">Q", v)
        if v >= -128:
            return b"\xd0" + struct.pack(">b", v)
        if v >= -32768:
            return b"\xd1" + struct.pack(">h", v)
        if v >= -(2**31):
            return b"\xd2" + struct.pack(">i", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, F32):
        return b"\xca" + struct.pack(">f", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, Bin):
        return b"\xc4" + bytes([len(v)]) + bytes(v)
    if isinstance(v, (str, bytes)):
        b = v.encode() if isinstance(v, str) else v
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        if len(b) < 256:
            return b"\xd9" + bytes([len(b)]) + b
        return b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(v, list):
        head = bytes([0x90 | len(v)]) if len(v) < 16 else b"\xdc" + struct.pack(">H", len(v))
        return head + b"".join(pack(x) for x in v)
    if isinstance(v, dict):
        head = bytes([0x80 | len(v)]) if len(v) < 16 else b"\xde" + struct.pack(">H", len(v))
        return head + b"".join(pack(k) + pack(x) for k, x in v.items())
    if isinstance(v, tuple):  # a map with any keys, duplicates allowed: ((k, v), ...)
        return bytes([0x80 | len(v)]) + b"".join(pack(k) + pack(x) for k, x in v)
    raise TypeError(type(v))


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


HELLO = [0, 1, "hello", {"protocol": 1, "client": "certbound-proxy"}]
HELLO_OK = [1, 1, None, {"protocol": 1, "server": "certbound-authd", "version": "0.1.0"}]
ERR_404 = [1, 2, {"code": 404, "message": "unknown method"}, None]
INVALIDATE = [2, "invalidate", {"kind": "cert", "ids": ["abc", "def"]}]
AUTHORIZE = [0, 0xFFFFFFFF, "authorize",
             {"api_id": "a1", "fingerprint": "ab12" * 16, "path": "/x", "method": "GET"}]


def nested(levels):
    return Raw(b"\x91" * levels + b"\xc0")


DECODE = {
    "req_hello": pack(HELLO),
    "res_hello": pack(HELLO_OK),
    "res_error_404": pack(ERR_404),
    "notify_invalidate": pack(INVALIDATE),
    "req_authorize_max_msgid": pack(AUTHORIZE),
    "res_all_types": pack([1, 3, None, [
        None, True, False, 0, -1, -128, 65535, 2**64 - 1, -(2**63), F32(1.5), 2.5, "",
        "x" * 40, Bin(b"\x00\x01"), Raw(b"\xd6\x05abcd"), Raw(b"\xc7\x03\x07xyz"), {}, [],
        {"nested": {"k": [1, {"deep": None}]}}]]),
    "depth_32_ok": pack([2, "m", nested(30)]),
    "depth_33_bad": pack([2, "m", nested(31)]),
    "array32_huge": b"\x94\x00\x01\xa1x\xdd\xff\xff\xff\xff",
    "map32_huge": b"\x93\x02\xa1m\xdf\xff\xff\xff\xff",
    "ext32_len_wrap": b"\x93\x02\xa1m\xc9\xff\xff\xff\xff\x01",
    "trailing_byte": pack([2, "m", None]) + b"\xc0",
    "nonstring_keys": pack([0, 5, "m", ((1, 2), (None, True), ([1], "v"))]),
    "dup_key_bad_utf8": pack([2, "m", (("k", 1), ("k", b"\xff\xfe"))]),
    "non_minimal_ints": b"\x94\xd0\x00\xce\x00\x00\x00\x05\xd9\x01m\xc0",
    # fuzz_rpc_decode finding 1: a NUL inside a key ("serv\0" "4") broke the JSON round trip
    "regress_nul_in_key": bytes.fromhex("940101c083a870726f746f636f6c01a6736572760034af6365727"
                                        "4626f756e642d6175746864a776657273696f6ea5302e312e30"),
    "floats_nan_inf": pack([2, "f", [Raw(b"\xca\x7f\x80\x00\x01"),
                                     Raw(b"\xcb\x7f\xf0\x00\x00\x00\x00\x00\x01"),
                                     float("inf"), -0.0]]),
}


def stream(max_sel, chunk_sel, close_at, seed, body):
    """max_sel: 0=16 1=300 2=4096 3=1MiB; chunk_sel: 0..7 = 1,2,3,7,16,64,512,64k."""
    return bytes([max_sel | chunk_sel << 2 | close_at << 5, seed >> 8, seed & 0xFF]) + body


def reqs(n, first=1):
    return b"".join(frame(pack([0, first + i, "authorize", {"n": i}])) for i in range(n))


STREAM = {
    "hello_1byte_chunks": stream(3, 0, 0, 1, frame(pack(HELLO)) + frame(pack(INVALIDATE))),
    "pipelined_20_big_chunks": stream(3, 7, 0, 7, reqs(20)),
    "pipelined_10_chunks_7": stream(2, 3, 0, 99, reqs(10)),
    "mixed_types_chunks_3": stream(2, 2, 0, 1234, frame(pack(HELLO_OK)) + frame(pack(ERR_404))
                                   + frame(pack(INVALIDATE)) + frame(pack(AUTHORIZE))),
    "oversized_for_max16": stream(0, 4, 0, 5, reqs(1) + frame(pack([2, "m", "x" * 30]))),
    "header_4gib": stream(3, 1, 0, 3, reqs(1) + b"\xff\xff\xff\xff\x94\x00"),
    "empty_frame": stream(3, 4, 0, 9, reqs(2) + b"\x00\x00\x00\x00" + reqs(1, 9)),
    "garbage_http": stream(3, 5, 0, 11, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    "bad_payload_then_frames": stream(3, 2, 0, 17, reqs(1) + frame(b"\xc1\xc1") + reqs(2, 5)),
    "eof_inside_frame": stream(3, 1, 0, 23, reqs(2) + frame(pack(HELLO))[:-3]),
    "eof_inside_header": stream(3, 0, 0, 29, reqs(1) + b"\x00\x00"),
    "close_in_on_msg_at_2": stream(3, 3, 2, 31, reqs(4)),
    "max_frame_300_exact": stream(1, 6, 0, 37,
                                  frame(pack([2, "m", "y" * 293]))),
}


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("fuzz_rpc_decode", DECODE)
    write("fuzz_rpc_stream", STREAM)
