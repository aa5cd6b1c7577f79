"""MQTT wire format for tests: build packets from values and read values back from bytes.

Nothing here touches a socket. Builders return complete packets (fixed header included) so a
test can send them as they are, or take them apart to make a malformed variant. Properties are
given as a list of (id, value) pairs, in the order they should appear on the wire, so a test
can also write a duplicate or an out-of-order property on purpose.

Protocol levels: V31 = 3 ("MQIsdp"), V311 = 4, V5 = 5.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence, Tuple, Union

V31 = 3
V311 = 4
V5 = 5

# Control packet types (high nibble of the first byte).
CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14
AUTH = 15

PACKET_NAMES = {
    CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK",
    PUBREC: "PUBREC", PUBREL: "PUBREL", PUBCOMP: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE",
    SUBACK: "SUBACK", UNSUBSCRIBE: "UNSUBSCRIBE", UNSUBACK: "UNSUBACK", PINGREQ: "PINGREQ",
    PINGRESP: "PINGRESP", DISCONNECT: "DISCONNECT", AUTH: "AUTH",
}


class Prop:
    """MQTT 5.0 property identifiers (spec 2.2.2.2)."""
    PAYLOAD_FORMAT_INDICATOR = 0x01
    MESSAGE_EXPIRY_INTERVAL = 0x02
    CONTENT_TYPE = 0x03
    RESPONSE_TOPIC = 0x08
    CORRELATION_DATA = 0x09
    SUBSCRIPTION_IDENTIFIER = 0x0B
    SESSION_EXPIRY_INTERVAL = 0x11
    ASSIGNED_CLIENT_IDENTIFIER = 0x12
    SERVER_KEEP_ALIVE = 0x13
    AUTHENTICATION_METHOD = 0x15
    AUTHENTICATION_DATA = 0x16
    REQUEST_PROBLEM_INFORMATION = 0x17
    WILL_DELAY_INTERVAL = 0x18
    REQUEST_RESPONSE_INFORMATION = 0x19
    RESPONSE_INFORMATION = 0x1A
    SERVER_REFERENCE = 0x1C
    REASON_STRING = 0x1F
    RECEIVE_MAXIMUM = 0x21
    TOPIC_ALIAS_MAXIMUM = 0x22
    TOPIC_ALIAS = 0x23
    MAXIMUM_QOS = 0x24
    RETAIN_AVAILABLE = 0x25
    USER_PROPERTY = 0x26
    MAXIMUM_PACKET_SIZE = 0x27
    WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
    SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
    SHARED_SUBSCRIPTION_AVAILABLE = 0x2A


_BYTE, _U16, _U32, _VARINT, _UTF8, _BINARY, _PAIR = range(7)

_PROPERTY_TYPES = {
    Prop.PAYLOAD_FORMAT_INDICATOR: _BYTE,
    Prop.MESSAGE_EXPIRY_INTERVAL: _U32,
    Prop.CONTENT_TYPE: _UTF8,
    Prop.RESPONSE_TOPIC: _UTF8,
    Prop.CORRELATION_DATA: _BINARY,
    Prop.SUBSCRIPTION_IDENTIFIER: _VARINT,
    Prop.SESSION_EXPIRY_INTERVAL: _U32,
    Prop.ASSIGNED_CLIENT_IDENTIFIER: _UTF8,
    Prop.SERVER_KEEP_ALIVE: _U16,
    Prop.AUTHENTICATION_METHOD: _UTF8,
    Prop.AUTHENTICATION_DATA: _BINARY,
    Prop.REQUEST_PROBLEM_INFORMATION: _BYTE,
    Prop.WILL_DELAY_INTERVAL: _U32,
    Prop.REQUEST_RESPONSE_INFORMATION: _BYTE,
    Prop.RESPONSE_INFORMATION: _UTF8,
    Prop.SERVER_REFERENCE: _UTF8,
    Prop.REASON_STRING: _UTF8,
    Prop.RECEIVE_MAXIMUM: _U16,
    Prop.TOPIC_ALIAS_MAXIMUM: _U16,
    Prop.TOPIC_ALIAS: _U16,
    Prop.MAXIMUM_QOS: _BYTE,
    Prop.RETAIN_AVAILABLE: _BYTE,
    Prop.USER_PROPERTY: _PAIR,
    Prop.MAXIMUM_PACKET_SIZE: _U32,
    Prop.WILDCARD_SUBSCRIPTION_AVAILABLE: _BYTE,
    Prop.SUBSCRIPTION_IDENTIFIER_AVAILABLE: _BYTE,
    Prop.SHARED_SUBSCRIPTION_AVAILABLE: _BYTE,
}

PropertyList = Sequence[Tuple[int, object]]
Text = Union[str, bytes]


# ---------------------------------------------------------------------------------------------
# Primitive encodings (spec 1.5)

def h(text: str) -> bytes:
    """Bytes from hex written the way the spec and these tests write it: "20 02 00 00"."""
    return bytes.fromhex(text.replace(" ", "").replace("\n", ""))


def hexdump(data: bytes) -> str:
    """The reverse of h(): "20 02 00 00", upper case, so failures read like the expectations."""
    return " ".join(f"{b:02X}" for b in data)


def u16(value: int) -> bytes:
    return struct.pack("!H", value)


def u32(value: int) -> bytes:
    return struct.pack("!I", value)


def varint(value: int) -> bytes:
    """Variable Byte Integer (spec 1.5.5): 7 bits per byte, high bit means 'more follows'."""
    if not 0 <= value <= 268_435_455:
        raise ValueError(f"varint out of range: {value}")
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def decode_varint(data: bytes, offset: int = 0) -> Tuple[int, int]:
    """Returns (value, offset just past it). Raises ValueError if it is cut short or too long."""
    value, multiplier = 0, 1
    for i in range(4):
        if offset + i >= len(data):
            raise ValueError("varint cut short")
        byte = data[offset + i]
        value += (byte & 0x7F) * multiplier
        if not byte & 0x80:
            return value, offset + i + 1
        multiplier *= 128
    raise ValueError("varint longer than 4 bytes")


def _as_bytes(text: Text) -> bytes:
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


def utf8(text: Text) -> bytes:
    """UTF-8 Encoded String (spec 1.5.4): two-byte length, then the bytes. Bytes pass as they
    are, so a test can send invalid UTF-8 on purpose."""
    raw = _as_bytes(text)
    return u16(len(raw)) + raw


def binary(data: Text) -> bytes:
    """Binary Data (spec 1.5.6): two-byte length, then the bytes."""
    raw = _as_bytes(data)
    return u16(len(raw)) + raw


def packet(first_byte: int, body: bytes) -> bytes:
    """A whole control packet: first byte, Remaining Length, body."""
    return bytes([first_byte]) + varint(len(body)) + body


# ---------------------------------------------------------------------------------------------
# Properties (spec 2.2.2)

def encode_property(prop_id: int, value: object) -> bytes:
    kind = _PROPERTY_TYPES[prop_id]
    if kind == _BYTE:
        body = bytes([value])
    elif kind == _U16:
        body = u16(value)
    elif kind == _U32:
        body = u32(value)
    elif kind == _VARINT:
        body = varint(value)
    elif kind == _UTF8:
        body = utf8(value)
    elif kind == _BINARY:
        body = binary(value)
    else:
        key, val = value
        body = utf8(key) + utf8(val)
    return varint(prop_id) + body


def properties(props: Optional[PropertyList] = None) -> bytes:
    """Property Length followed by the properties, in the order given."""
    encoded = b"".join(encode_property(pid, val) for pid, val in (props or ()))
    return varint(len(encoded)) + encoded


def decode_properties(data: bytes, offset: int = 0) -> Tuple[list, int]:
    """Reads a property block (length included). Returns ([(id, value)...], offset past it).
    Strings come back as str, binary data as bytes, user properties as (key, value)."""
    length, offset = decode_varint(data, offset)
    end = offset + length
    if end > len(data):
        raise ValueError("property block runs past the packet")
    found = []
    while offset < end:
        prop_id, offset = decode_varint(data, offset)
        kind = _PROPERTY_TYPES.get(prop_id)
        if kind is None:
            raise ValueError(f"unknown property id 0x{prop_id:02X}")
        if kind == _BYTE:
            value, offset = data[offset], offset + 1
        elif kind == _U16:
            value, offset = struct.unpack_from("!H", data, offset)[0], offset + 2
        elif kind == _U32:
            value, offset = struct.unpack_from("!I", data, offset)[0], offset + 4
        elif kind == _VARINT:
            value, offset = decode_varint(data, offset)
        elif kind in (_UTF8, _BINARY):
            raw, offset = _read_prefixed(data, offset)
            value = raw.decode("utf-8") if kind == _UTF8 else raw
        else:
            key, offset = _read_prefixed(data, offset)
            val, offset = _read_prefixed(data, offset)
            value = (key.decode("utf-8"), val.decode("utf-8"))
        found.append((prop_id, value))
    if offset != end:
        raise ValueError("property block length does not match its contents")
    return found, end


def _read_prefixed(data: bytes, offset: int) -> Tuple[bytes, int]:
    (length,) = struct.unpack_from("!H", data, offset)
    start = offset + 2
    if start + length > len(data):
        raise ValueError("length-prefixed field runs past the packet")
    return data[start:start + length], start + length


def prop_value(props: PropertyList, prop_id: int, default=None):
    """The first value of a property in a decoded list, or default."""
    for pid, value in props:
        if pid == prop_id:
            return value
    return default


def prop_values(props: PropertyList, prop_id: int) -> list:
    """Every value of a property that may repeat (user property, subscription identifier)."""
    return [value for pid, value in props if pid == prop_id]


# ---------------------------------------------------------------------------------------------
# Packet builders

@dataclass
class Will:
    topic: Text
    payload: Text
    qos: int = 0
    retain: bool = False
    properties: PropertyList = field(default_factory=list)  # 5.0 only


def connect(client_id: Text = "", version: int = V311, clean: bool = True, keepalive: int = 60,
            will: Optional[Will] = None, username: Optional[Text] = None,
            password: Optional[Text] = None, props: Optional[PropertyList] = None,
            protocol_name: Optional[Text] = None, flags: Optional[int] = None) -> bytes:
    """CONNECT (spec 3.1). `version` is the protocol level byte (3, 4 or 5, or anything else to
    test refusals); `flags` replaces the computed Connect Flags byte when given."""
    if protocol_name is None:
        protocol_name = "MQIsdp" if version == V31 else "MQTT"
    computed = 0
    if clean:
        computed |= 0x02
    if will is not None:
        computed |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
    if password is not None:
        computed |= 0x40
    if username is not None:
        computed |= 0x80
    body = utf8(protocol_name) + bytes([version, computed if flags is None else flags])
    body += u16(keepalive)
    if version == V5:
        body += properties(props)
    body += utf8(client_id)
    if will is not None:
        if version == V5:
            body += properties(will.properties)
        body += utf8(will.topic) + binary(will.payload)
    if username is not None:
        body += utf8(username)
    if password is not None:
        body += binary(password)
    return packet(0x10, body)


def publish(topic: Text, payload: Text = b"", qos: int = 0, packet_id: Optional[int] = None,
            retain: bool = False, dup: bool = False, version: int = V311,
            props: Optional[PropertyList] = None) -> bytes:
    """PUBLISH (spec 3.3). A QoS > 0 publish needs a packet_id."""
    first = 0x30 | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = utf8(topic)
    if qos > 0:
        if packet_id is None:
            raise ValueError("QoS > 0 publish needs a packet id")
        body += u16(packet_id)
    if version == V5:
        body += properties(props)
    return packet(first, body + _as_bytes(payload))


def puback(packet_id: int) -> bytes:
    return packet(0x40, u16(packet_id))


def pubrec(packet_id: int) -> bytes:
    return packet(0x50, u16(packet_id))


def pubrel(packet_id: int) -> bytes:
    return packet(0x62, u16(packet_id))


def pubcomp(packet_id: int) -> bytes:
    return packet(0x70, u16(packet_id))


def subscribe_options(qos: int = 0, no_local: bool = False, retain_as_published: bool = False,
                      retain_handling: int = 0) -> int:
    """The 5.0 Subscription Options byte (spec 3.8.3.1); in 3.1.1 only the QoS bits exist."""
    return (qos | (0x04 if no_local else 0) | (0x08 if retain_as_published else 0)
            | (retain_handling << 4))


def subscribe(packet_id: int, filters: Iterable[Tuple[Text, int]], version: int = V311,
              props: Optional[PropertyList] = None) -> bytes:
    """SUBSCRIBE (spec 3.8): filters are (topic filter, options byte or QoS)."""
    body = u16(packet_id)
    if version == V5:
        body += properties(props)
    for topic_filter, options in filters:
        body += utf8(topic_filter) + bytes([options])
    return packet(0x82, body)


def unsubscribe(packet_id: int, filters: Iterable[Text], version: int = V311) -> bytes:
    body = u16(packet_id)
    if version == V5:
        body += properties()
    for topic_filter in filters:
        body += utf8(topic_filter)
    return packet(0xA2, body)


def pingreq() -> bytes:
    return h("C0 00")


def disconnect(version: int = V311, reason: Optional[int] = None,
               props: Optional[PropertyList] = None) -> bytes:
    """DISCONNECT; in 5.0 with a reason code (and properties) when given."""
    if version != V5 or (reason is None and not props):
        return h("E0 00")
    body = bytes([reason or 0])
    if props:
        body += properties(props)
    return packet(0xE0, body)


def auth(reason: int, props: Optional[PropertyList] = None) -> bytes:
    """AUTH (5.0 only, spec 3.15): reason code and properties."""
    return packet(0xF0, bytes([reason]) + properties(props))


# ---------------------------------------------------------------------------------------------
# Reading packets back

@dataclass
class Packet:
    """One control packet as received: first byte split into type and flags, and the body."""
    first_byte: int
    body: bytes

    @property
    def type(self) -> int:
        return self.first_byte >> 4

    @property
    def flags(self) -> int:
        return self.first_byte & 0x0F

    @property
    def name(self) -> str:
        return PACKET_NAMES.get(self.type, f"type {self.type}")

    def raw(self) -> bytes:
        return packet(self.first_byte, self.body)

    def __str__(self) -> str:
        return f"{self.name} [{hexdump(self.raw())}]"


@dataclass
class ConnAck:
    session_present: bool
    reason: int
    props: list


def parse_connack(pkt: Packet, version: int) -> ConnAck:
    assert pkt.type == CONNACK, f"expected CONNACK, got {pkt}"
    props = []
    if version == V5 and len(pkt.body) > 2:
        props, _ = decode_properties(pkt.body, 2)
    return ConnAck(session_present=bool(pkt.body[0] & 0x01), reason=pkt.body[1], props=props)


@dataclass
class Auth:
    reason: int
    props: list


def parse_auth(pkt: Packet) -> Auth:
    assert pkt.type == AUTH, f"expected AUTH, got {pkt}"
    if not pkt.body:
        return Auth(reason=0, props=[])
    props, _ = decode_properties(pkt.body, 1) if len(pkt.body) > 1 else ([], 1)
    return Auth(reason=pkt.body[0], props=props)


@dataclass
class Publish:
    topic: bytes
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    packet_id: Optional[int]
    props: list

    @property
    def topic_str(self) -> str:
        return self.topic.decode("utf-8")


def parse_publish(pkt: Packet, version: int) -> Publish:
    assert pkt.type == PUBLISH, f"expected PUBLISH, got {pkt}"
    qos = (pkt.flags >> 1) & 0x03
    topic, offset = _read_prefixed(pkt.body, 0)
    packet_id = None
    if qos > 0:
        (packet_id,) = struct.unpack_from("!H", pkt.body, offset)
        offset += 2
    props = []
    if version == V5:
        props, offset = decode_properties(pkt.body, offset)
    return Publish(topic=topic, payload=pkt.body[offset:], qos=qos, retain=bool(pkt.flags & 1),
                   dup=bool(pkt.flags & 8), packet_id=packet_id, props=props)


def parse_ack_reasons(pkt: Packet, version: int) -> list:
    """Reason codes of a SUBACK or UNSUBACK (3.1.1 UNSUBACK has none: returns [])."""
    offset = 2
    if version == V5:
        _, offset = decode_properties(pkt.body, offset)
    return list(pkt.body[offset:])
