"""A small blocking facade over paho-mqtt 1.6 for tests.

paho runs its network loop on its own thread and reports through callbacks; this wrapper turns
each callback into an event the test waits for with a deadline: connect() returns the CONNACK,
subscribe() the SUBACK codes, publish() returns once the broker acknowledged, and messages land
in a queue that next_message() reads. Every wait raises AssertionError when its deadline passes.
The network thread is stopped by close(); use the client as a context manager so it always is.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from support import mqtt_bytes as mb

DEFAULT_TIMEOUT = 5.0


def paho_properties(packet_type: int, **values) -> Optional[Properties]:
    """paho Properties from keyword arguments named as paho names them, e.g.
    paho_properties(PacketTypes.PUBLISH, MessageExpiryInterval=5). None when empty."""
    if not values:
        return None
    props = Properties(packet_type)
    for name, value in values.items():
        setattr(props, name, value)
    return props


def prop(message: mqtt.MQTTMessage, name: str, default=None):
    """A property of a received 5.0 message by paho's name, or default when absent."""
    props = getattr(message, "properties", None)
    return getattr(props, name, default) if props is not None else default


@dataclass
class ConnectResult:
    session_present: bool
    reason: int
    properties: Optional[Properties]


def _code(value) -> int:
    """paho gives 5.0 reason codes as ReasonCodes objects and 3.1.1 codes as ints."""
    return value.value if hasattr(value, "value") else int(value)


class PahoClient:
    def __init__(self, host: str, port: int, client_id: str, version: int = mb.V311,
                 clean: bool = True, session_expiry: Optional[int] = None, keepalive: int = 60,
                 connect_props: Optional[Dict[str, object]] = None,
                 tls: Optional[Dict[str, object]] = None, websocket_path: Optional[str] = None,
                 websocket_headers: Optional[Dict[str, str]] = None):
        """`tls`, when given, is passed to paho's tls_set() (ca_certs, certfile, keyfile,
        tls_version, ...): the connection is then TLS, and paho checks the server's name.
        `websocket_path`, when given, makes it MQTT over WebSocket (with `tls`: WSS) to that
        path, with `websocket_headers` added to the upgrade request."""
        self.host, self.port, self.version = host, port, version
        self.client_id = client_id
        self.keepalive = keepalive
        self.clean = clean
        self.connect_props = dict(connect_props or {})
        if session_expiry is not None:
            self.connect_props["SessionExpiryInterval"] = session_expiry
        protocol = mqtt.MQTTv5 if version == mb.V5 else mqtt.MQTTv311
        self.client = mqtt.Client(client_id=client_id,
                                  clean_session=None if version == mb.V5 else clean,
                                  protocol=protocol, reconnect_on_failure=False,
                                  transport="websockets" if websocket_path else "tcp")
        if websocket_path:
            self.client.ws_set_options(path=websocket_path, headers=websocket_headers)
        if tls is not None:
            self.client.tls_set(**tls)
        self.messages: "queue.Queue[mqtt.MQTTMessage]" = queue.Queue()
        self._cond = threading.Condition()
        self._connack: Optional[ConnectResult] = None
        self._subacks: Dict[int, List[int]] = {}
        self._unsubacks: set = set()
        self.disconnect_reason: Optional[int] = None
        self._disconnected = False
        self._loop_started = False

        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)

    # -- callbacks (paho's network thread) --------------------------------------------------

    def _on_connect(self, _client, _userdata, flags, reason, properties=None):
        with self._cond:
            self._connack = ConnectResult(bool(flags.get("session present")), _code(reason),
                                          properties)
            self._cond.notify_all()

    def _on_disconnect(self, _client, _userdata, reason, properties=None):
        with self._cond:
            self.disconnect_reason = _code(reason)
            self._disconnected = True
            self._cond.notify_all()

    def _on_subscribe(self, _client, _userdata, mid, granted, properties=None):
        with self._cond:
            self._subacks[mid] = [_code(g) for g in granted]
            self._cond.notify_all()

    def _on_unsubscribe(self, _client, _userdata, mid, *rest):
        with self._cond:
            self._unsubacks.add(mid)
            self._cond.notify_all()

    def _wait(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.client_id}: no {what} within {timeout}s")
                self._cond.wait(remaining)

    # -- operations -------------------------------------------------------------------------

    def set_will(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False,
                 **props) -> None:
        self.client.will_set(topic, payload, qos, retain,
                             paho_properties(PacketTypes.WILLMESSAGE, **props))

    def connect(self, timeout: float = DEFAULT_TIMEOUT, expect_reason: int = 0) -> ConnectResult:
        with self._cond:
            self._connack = None
            self._disconnected = False
        kwargs = {}
        if self.version == mb.V5:
            kwargs["clean_start"] = self.clean
            kwargs["properties"] = paho_properties(PacketTypes.CONNECT, **self.connect_props)
        self.client.connect(self.host, self.port, self.keepalive, **kwargs)
        if not self._loop_started:
            self.client.loop_start()
            self._loop_started = True
        self._wait(lambda: self._connack is not None, timeout, "CONNACK")
        assert self._connack.reason == expect_reason, \
            f"{self.client_id}: CONNACK reason {self._connack.reason}, expected {expect_reason}"
        return self._connack

    def subscribe(self, topic: str, qos: int = 0, no_local: bool = False,
                  retain_as_published: bool = False, retain_handling: int = 0,
                  subscription_id: Optional[int] = None,
                  timeout: float = DEFAULT_TIMEOUT) -> List[int]:
        """Subscribes and waits for the SUBACK; returns its codes (granted QoS or reasons)."""
        if self.version == mb.V5:
            options = SubscribeOptions(qos=qos, noLocal=no_local,
                                       retainAsPublished=retain_as_published,
                                       retainHandling=retain_handling)
            props = (paho_properties(PacketTypes.SUBSCRIBE,
                                     SubscriptionIdentifier=subscription_id)
                     if subscription_id is not None else None)
            rc, mid = self.client.subscribe(topic, options=options, properties=props)
        else:
            rc, mid = self.client.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"subscribe failed to send: {rc}"
        self._wait(lambda: mid in self._subacks, timeout, f"SUBACK for {topic}")
        return self._subacks[mid]

    def unsubscribe(self, topic: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        rc, mid = self.client.unsubscribe(topic)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        self._wait(lambda: mid in self._unsubacks, timeout, f"UNSUBACK for {topic}")

    def publish(self, topic: str, payload=b"", qos: int = 0, retain: bool = False,
                timeout: float = DEFAULT_TIMEOUT, **props) -> None:
        """Publishes and waits until the exchange for its QoS completed (sent for QoS 0)."""
        info = self.client.publish(topic, payload, qos, retain,
                                   paho_properties(PacketTypes.PUBLISH, **props))
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish to {topic} failed to send: {info.rc}"
        info.wait_for_publish(timeout)
        assert info.is_published(), f"{self.client_id}: publish to {topic} not completed " \
                                    f"within {timeout}s"

    def next_message(self, timeout: float = DEFAULT_TIMEOUT) -> mqtt.MQTTMessage:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.client_id}: no message within {timeout}s") from None

    def receive(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> List[mqtt.MQTTMessage]:
        """Exactly the next `count` messages, all within one deadline."""
        deadline = time.monotonic() + timeout
        got = []
        while len(got) < count:
            remaining = deadline - time.monotonic()
            try:
                got.append(self.messages.get(timeout=max(remaining, 0)))
            except queue.Empty:
                raise AssertionError(
                    f"{self.client_id}: {len(got)} of {count} messages within {timeout}s: "
                    f"{[(m.topic, m.payload) for m in got][:10]}") from None
        return got

    def receive_until(self, topic: str, timeout: float = DEFAULT_TIMEOUT
                      ) -> List[mqtt.MQTTMessage]:
        """Messages up to and including the first on `topic`: with a fence message published
        after the one that must not arrive, this asserts an absence without sleeping."""
        deadline = time.monotonic() + timeout
        got = []
        for _ in range(100_000):
            remaining = deadline - time.monotonic()
            try:
                message = self.messages.get(timeout=max(remaining, 0))
            except queue.Empty:
                raise AssertionError(f"{self.client_id}: fence '{topic}' not received within "
                                     f"{timeout}s; got {[(m.topic, m.payload) for m in got]}"
                                     ) from None
            got.append(message)
            if message.topic == topic:
                return got
        raise AssertionError("too many messages before the fence")

    def publish_many(self, topic: str, payloads, qos: int = 1,
                     timeout: float = DEFAULT_TIMEOUT) -> None:
        """Queues every payload without waiting in between (paho keeps its own inflight
        window), then waits until the last one completed."""
        infos = [self.client.publish(topic, payload, qos) for payload in payloads]
        assert all(info.rc == mqtt.MQTT_ERR_SUCCESS for info in infos)
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(deadline - time.monotonic(), 0.01))
            assert info.is_published(), f"{self.client_id}: publishes to {topic} not " \
                                        f"completed within {timeout}s"

    def expect_no_message_for(self, seconds: float) -> None:
        """Nothing arrives for `seconds`. Only where the absence is bounded by a broker timer
        (e.g. a will delay that must not fire); elsewhere a fence message is quicker."""
        try:
            message = self.messages.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError(f"{self.client_id}: unexpected message {message.topic!r} "
                             f"{message.payload!r}")

    def disconnect(self, reason: Optional[int] = None, timeout: float = DEFAULT_TIMEOUT,
                   **props) -> None:
        """Sends DISCONNECT (5.0: with `reason`) and waits until paho saw the close."""
        kwargs = {}
        if self.version == mb.V5 and reason is not None:
            from paho.mqtt.reasoncodes import ReasonCodes
            kwargs["reasoncode"] = ReasonCodes(PacketTypes.DISCONNECT, identifier=reason)
        if props:
            kwargs["properties"] = paho_properties(PacketTypes.DISCONNECT, **props)
        self.client.disconnect(**kwargs)
        self.wait_disconnected(timeout)

    def wait_disconnected(self, timeout: float = DEFAULT_TIMEOUT) -> Optional[int]:
        """Waits until the connection is gone; returns the reason paho reported."""
        self._wait(lambda: self._disconnected, timeout, "disconnect")
        return self.disconnect_reason

    def close(self) -> None:
        """Disconnects if still connected and stops the network thread."""
        if self._loop_started:
            if not self._disconnected:
                self.client.disconnect()
            self.client.loop_stop()
            self._loop_started = False

    def __enter__(self) -> "PahoClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
