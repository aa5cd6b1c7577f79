#!/usr/bin/python3
"""Writes the seed corpus of fuzz_decode into corpus/decode/.

Each file is one input: a first byte choosing the protocol version (0: 3.1, 1: 3.1.1, 2: 5.0;
+0x80 also sets a 128-byte maximum packet size), then a stream of packets. The seeds are valid
packets of every type in every version, a few streams of several packets, and near-misses that
each break one rule, so the fuzzer starts next to every branch of the decoder.

Run with /usr/bin/python3 from anywhere; it replaces the directory's contents.
"""
import os
import shutil

V31, V311, V5 = 0, 1, 2
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "decode")


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def u16(n):
    return n.to_bytes(2, "big")


def u32(n):
    return n.to_bytes(4, "big")


def s(text):
    data = text.encode() if isinstance(text, str) else text
    return u16(len(data)) + data


def props(*items):
    body = b"".join(items)
    return varint(len(body)) + body


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect(version, flags=0x02, keep_alive=60, client_id="c", properties=b"", tail=b""):
    if version == V31:
        head = s("MQIsdp") + b"\x03"
    else:
        head = s("MQTT") + (b"\x05" if version == V5 else b"\x04")
    body = head + bytes([flags]) + u16(keep_alive)
    if version == V5:
        body += properties or props()
    return packet(0x10, body + s(client_id) + tail)


# Properties by identifier.
def p_byte(pid, v):
    return bytes([pid, v])


def p_u16(pid, v):
    return bytes([pid]) + u16(v)


def p_u32(pid, v):
    return bytes([pid]) + u32(v)


def p_str(pid, v):
    return bytes([pid]) + s(v)


def p_user(k, v):
    return b"\x26" + s(k) + s(v)


def p_subid(v):
    return b"\x0b" + varint(v)


seeds = {}


def seed(name, version, *packets):
    seeds[name] = bytes([version]) + b"".join(packets)


# ---- valid packets, every type and version ----
for ver, tag in ((V31, "v31"), (V311, "v311"), (V5, "v5")):
    seed(f"connect_min_{tag}", ver, connect(ver))
    seed(f"connect_full_{tag}", ver,
         connect(ver, flags=0xEE, client_id="dev-1",
                 properties=props(p_u32(0x11, 3600), p_str(0x15, "SCRAM"), p_str(0x16, b"\x00\x01"),
                                  p_byte(0x17, 0), p_byte(0x19, 1), p_u16(0x21, 20),
                                  p_u16(0x22, 10), p_user("k", "v"), p_u32(0x27, 65536)),
                 tail=(props(p_byte(0x01, 1), p_u32(0x02, 60), p_str(0x03, "text"),
                             p_str(0x08, "r/t"), p_str(0x09, b"\xca\xfe"), p_u32(0x18, 5),
                             p_user("a", "b")) if ver == V5 else b"")
                 + s("will/t") + s(b"bye\x00") + s("user") + s(b"pw\xff")))
    if ver == V5:
        seed(f"connack_{tag}", ver,
             packet(0x20, b"\x01\x00" + props(p_u32(0x11, 1), p_str(0x12, "auto"), p_u16(0x13, 30),
                                              p_str(0x1F, "ok"), p_u16(0x21, 100), p_byte(0x24, 1),
                                              p_byte(0x25, 0), p_u32(0x27, 1024), p_byte(0x28, 1),
                                              p_byte(0x29, 1), p_byte(0x2A, 0), p_user("x", "y"))))
    else:
        seed(f"connack_{tag}", ver, packet(0x20, b"\x01\x00"), packet(0x20, b"\x00\x05"))
    pprops = props(p_byte(0x01, 1), p_u32(0x02, 30), p_str(0x03, "json"), p_str(0x08, "reply"),
                   p_str(0x09, b"\x01"), p_subid(7), p_subid(300), p_u16(0x23, 2),
                   p_user("k", "v")) if ver == V5 else b""
    seed(f"publish_qos0_{tag}", ver, packet(0x30, s("a/b") + (props() if ver == V5 else b"") + b"hello"))
    seed(f"publish_qos1_{tag}", ver, packet(0x3B, s("sensors/t") + u16(7) + pprops + b"21.5"))
    seed(f"publish_qos2_{tag}", ver, packet(0x34, s("$SYS/x") + u16(0xFFFF) + pprops + bytes(200)))
    for first in (0x40, 0x50, 0x62, 0x70):
        seed(f"ack_{first:02x}_{tag}", ver, packet(first, u16(9)))
    sub_props = props(p_subid(16384), p_user("k", "v")) if ver == V5 else b""
    opt = 0x2E if ver == V5 else 0x02
    seed(f"subscribe_{tag}", ver,
         packet(0x82, u16(1) + sub_props + s("a/+") + bytes([opt]) + s("b/#") + b"\x01"
                + s("$share/g/c/+/d") + b"\x00" + s("bad/#/x") + b"\x00"))
    seed(f"suback_{tag}", ver,
         packet(0x90, u16(1) + (props(p_str(0x1F, "r")) if ver == V5 else b"") + b"\x00\x01\x02\x80"))
    seed(f"unsubscribe_{tag}", ver,
         packet(0xA2, u16(2) + (props(p_user("k", "v")) if ver == V5 else b"") + s("a/+") + s("b")))
    seed(f"unsuback_{tag}", ver,
         packet(0xB0, u16(2) + (props() + b"\x00\x11" if ver == V5 else b"")))
    seed(f"ping_disconnect_{tag}", ver, packet(0xC0, b""), packet(0xD0, b""), packet(0xE0, b""))

# 5.0-only shapes: short acks, DISCONNECT and AUTH with reason codes and properties.
seed("ack_reason_v5", V5, packet(0x40, u16(1) + b"\x10"), packet(0x62, u16(1) + b"\x92"),
     packet(0x50, u16(1) + b"\x87" + props(p_str(0x1F, "acl"), p_user("a", "b"))))
seed("disconnect_v5", V5, packet(0xE0, b"\x04"),
     packet(0xE0, b"\x9d" + props(p_u32(0x11, 0), p_str(0x1C, "b:1883"), p_str(0x1F, "move"))))
seed("auth_v5", V5, packet(0xF0, b""), packet(0xF0, b"\x19"),
     packet(0xF0, b"\x18" + props(p_str(0x15, "SCRAM-SHA-256"), p_str(0x16, b"\x00\x01"))))
seed("publish_alias_v5", V5, packet(0x30, s("") + props(p_u16(0x23, 3)) + b"aliased"))

# ---- streams of several packets ----
seed("session_v311", V311, connect(V311), packet(0x82, u16(1) + s("a/#") + b"\x01"),
     packet(0x32, s("a/b") + u16(2) + b"x"), packet(0x40, u16(2)), packet(0xC0, b""),
     packet(0xE0, b""))
seed("session_v5", V5, connect(V5), packet(0x82, u16(1) + props() + s("a/#") + b"\x01"),
     packet(0x34, s("a/b") + u16(2) + props(p_u32(0x02, 5)) + b"x"), packet(0x62, u16(2)),
     packet(0xE0, b"\x00"))
seed("big_payload_limit_v5", V5 | 0x80, packet(0x30, s("t") + props() + bytes(300)))
seed("nonminimal_length_v311", V311, b"\x30\x86\x00" + s("a/b") + b"x")

# ---- near misses, one broken rule each ----
seed("bad_protocol_name", V311, packet(0x10, s("MQTX") + b"\x04\x02\x00\x3c" + s("c")))
seed("bad_protocol_level", V311, packet(0x10, s("MQTT") + b"\x06\x02\x00\x3c" + s("c")))
seed("connect_reserved_flag", V311, connect(V311, flags=0x03))
seed("connect_will_qos3", V311, connect(V311, flags=0x1E, tail=s("w") + s("m")))
seed("connect_password_only_v311", V311, connect(V311, flags=0x42, tail=s("pw")))
seed("connect_auth_data_only_v5", V5, connect(V5, properties=props(p_str(0x16, "x"))))
seed("publish_qos3", V311, packet(0x36, s("a") + u16(1)))
seed("publish_dup_qos0", V311, packet(0x38, s("a")))
seed("publish_wildcard", V311, packet(0x30, s("a/+")))
seed("publish_bad_utf8", V311, packet(0x30, s(b"a\xed\xa0\x80")))
seed("publish_nul", V5, packet(0x30, s(b"a\x00b") + props()))
seed("publish_empty_topic_v311", V311, packet(0x30, s("") + b"x"))
seed("publish_id_zero", V5, packet(0x32, s("a") + u16(0) + props()))
seed("publish_dup_property", V5, packet(0x30, s("a") + props(p_u16(0x23, 1), p_u16(0x23, 2))))
seed("publish_foreign_property", V5, packet(0x30, s("a") + props(p_u32(0x11, 1))))
seed("publish_pfi_2", V5, packet(0x30, s("a") + props(p_byte(0x01, 2))))
seed("publish_props_overflow", V5, packet(0x30, s("a") + b"\x09\x01\x01"))
seed("publish_props_nonminimal", V5, packet(0x30, s("a") + b"\x80\x00"))
seed("subscribe_flags", V311, packet(0x80, u16(1) + s("a") + b"\x00"))
seed("subscribe_empty", V5, packet(0x82, u16(1) + props()))
seed("subscribe_options_reserved", V5, packet(0x82, u16(1) + props() + s("a") + b"\xC0"))
seed("subscribe_retain_handling_3", V5, packet(0x82, u16(1) + props() + s("a") + b"\x30"))
seed("subscribe_two_subids", V5, packet(0x82, u16(1) + props(p_subid(1), p_subid(2)) + s("a") + b"\x00"))
seed("subscribe_subid_zero", V5, packet(0x82, u16(1) + props(p_subid(0)) + s("a") + b"\x00"))
seed("unsubscribe_empty", V311, packet(0xA2, u16(1)))
seed("connack_reserved", V311, packet(0x20, b"\x02\x00"))
seed("connack_receive_max_0", V5, packet(0x20, b"\x00\x00" + props(p_u16(0x21, 0))))
seed("suback_reserved_code", V311, packet(0x90, u16(1) + b"\x03"))
seed("ping_with_body", V311, packet(0xC0, b"\x00"))
seed("auth_in_v311", V311, packet(0xF0, b""))
seed("type_zero", V5, b"\x00\x00")
seed("length_five_bytes", V5, b"\x30\xff\xff\xff\xff\x7f")
seed("truncated_packet", V311, packet(0x30, s("a/b") + b"payload")[:-3])

shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(OUT)
for name, data in sorted(seeds.items()):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {OUT}")
