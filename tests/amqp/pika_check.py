"""Checks Callboard's AMQP 0-9-1 gateway with pika (the RabbitMQ Python client).

Usage: CALLBOARD_PASSWORD=... [CALLBOARD_USER=...] pika_check.py before|reader|after HOST PORT

before: publisher confirms, consume with acks, nack with requeue (redelivered), fanout and topic exchanges,
        dead-lettering (a TTL queue with a dead-letter exchange and no consumer: the message arrives in the
        dead-letter queue after the TTL, with x-death), and leaves 3 persistent messages in the durable queue 'pika-durable' (and 1 in the non-durable 'pika-temp').
        Also leaves one message in 'pika-ro' for the reader phase. Run as the admin.
reader: run as a user with only `read` on the default stream: guest/guest and a wrong password are refused, the
        message in 'pika-ro' is read, a publish and a queue declaration are refused with 403.
after:  (after a broker restart) the durable queue still holds exactly those 3 messages with their properties;
        the non-durable queue is gone.
Prints 'pika-check PHASE ok' and exits 0 on success; any failure raises.
"""

import os
import sys
import time

import pika


def credentials():
    """The user (CALLBOARD_USER, default admin) and password (CALLBOARD_PASSWORD, required) to log in with."""
    password = os.environ.get("CALLBOARD_PASSWORD")
    if not password:
        sys.exit("set CALLBOARD_PASSWORD (and CALLBOARD_USER unless it is admin) to the broker's credentials")
    return pika.PlainCredentials(os.environ.get("CALLBOARD_USER", "admin"), password)


def connect(host, port):
    params = pika.ConnectionParameters(host=host, port=port, credentials=credentials(),
                                       heartbeat=30, blocked_connection_timeout=10)
    return pika.BlockingConnection(params)


def drain(ch, queue, limit=100):
    out = []
    for _ in range(limit):
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            break
        out.append(body)
    return out


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def dead_letter(ch):
    ch.queue_declare("pika-dlq")
    ch.queue_declare("pika-delay", arguments={"x-message-ttl": 300, "x-dead-letter-exchange": "",
                                              "x-dead-letter-routing-key": "pika-dlq"})
    started = time.monotonic()
    ch.basic_publish("", "pika-delay", b"delayed", pika.BasicProperties(content_type="text/plain",
                                                                        headers={"trace": "t1"}))
    for method, props, body in ch.consume("pika-dlq", inactivity_timeout=10):
        assert method is not None, "nothing dead-lettered within 10 s"
        waited = time.monotonic() - started
        ch.basic_ack(method.delivery_tag)
        break
    ch.cancel()
    assert body == b"delayed", body
    assert waited >= 0.25, f"dead-lettered after {waited:.3f} s, before the TTL"
    assert method.routing_key == "pika-dlq" and method.exchange == "", method
    assert props.content_type == "text/plain", props
    headers = props.headers
    assert text(headers["trace"]) == "t1", headers
    death = headers["x-death"][0]
    assert text(death["queue"]) == "pika-delay" and text(death["reason"]) == "expired", death
    assert death["count"] == 1 and text(death["exchange"]) == "", death
    assert [text(k) for k in death["routing-keys"]] == ["pika-delay"], death
    assert text(headers["x-first-death-queue"]) == "pika-delay", headers
    assert text(headers["x-first-death-reason"]) == "expired", headers
    q = ch.queue_declare("pika-delay", passive=True)
    assert q.method.message_count == 0, q.method.message_count


def before(host, port):
    conn = connect(host, port)
    ch = conn.channel()
    ch.confirm_delivery()

    # Confirms and consume with acks.
    ch.queue_declare("pika-work")
    for i in range(10):
        ch.basic_publish("", "pika-work", f"w{i}".encode(), pika.BasicProperties(delivery_mode=2), mandatory=True)
    received = []
    for method, props, body in ch.consume("pika-work", inactivity_timeout=5):
        assert method is not None, "timed out waiting for deliveries"
        received.append(body)
        ch.basic_ack(method.delivery_tag)
        if len(received) == 10:
            break
    ch.cancel()
    assert received == [f"w{i}".encode() for i in range(10)], received

    # Nack with requeue: delivered again, flagged redelivered.
    ch.basic_publish("", "pika-work", b"again")
    method, props, body = ch.basic_get("pika-work")
    assert body == b"again" and not method.redelivered
    ch.basic_nack(method.delivery_tag, requeue=True)
    method, props, body = ch.basic_get("pika-work")
    assert body == b"again" and method.redelivered, (body, method)
    ch.basic_ack(method.delivery_tag)

    # Unroutable mandatory publish is returned (pika raises UnroutableError under confirms).
    try:
        ch.basic_publish("", "no-such-queue", b"lost", mandatory=True)
        raise AssertionError("an unroutable mandatory message was not returned")
    except pika.exceptions.UnroutableError:
        pass

    # Fanout and topic exchanges.
    ch.exchange_declare("pika-fan", exchange_type="fanout")
    ch.exchange_declare("pika-topic", exchange_type="topic")
    for q in ("pika-f1", "pika-f2", "pika-t1", "pika-t2"):
        ch.queue_declare(q)
    ch.queue_bind("pika-f1", "pika-fan")
    ch.queue_bind("pika-f2", "pika-fan")
    ch.queue_bind("pika-t1", "pika-topic", routing_key="stock.*.nyse")
    ch.queue_bind("pika-t2", "pika-topic", routing_key="stock.#")
    ch.basic_publish("pika-fan", "ignored", b"fan")
    ch.basic_publish("pika-topic", "stock.ibm.nyse", b"ibm")
    ch.basic_publish("pika-topic", "stock.sap.xetra.eu", b"sap")
    assert drain(ch, "pika-f1") == [b"fan"]
    assert drain(ch, "pika-f2") == [b"fan"]
    assert drain(ch, "pika-t1") == [b"ibm"]
    assert drain(ch, "pika-t2") == [b"ibm", b"sap"]

    dead_letter(ch)

    # Durable messages for the restart check.
    ch.queue_declare("pika-durable", durable=True)
    ch.queue_declare("pika-temp", durable=False)
    for i in range(3):
        props = pika.BasicProperties(delivery_mode=2, content_type="text/plain", headers={"n": i, "kind": "durable"})
        ch.basic_publish("", "pika-durable", f"d{i}".encode(), props)
    ch.basic_publish("", "pika-temp", b"temp")
    ch.queue_declare("pika-ro")
    ch.basic_publish("", "pika-ro", b"for-reader")
    conn.close()
    print("pika-check before ok")


def refused_login(host, port, user, password):
    params = pika.ConnectionParameters(host=host, port=port, credentials=pika.PlainCredentials(user, password),
                                       connection_attempts=1)
    try:
        pika.BlockingConnection(params).close()
    except pika.exceptions.AMQPConnectionError:
        return
    raise AssertionError(f"{user} logged in with a wrong password")


def reader(host, port):
    refused_login(host, port, "guest", "guest")
    refused_login(host, port, os.environ.get("CALLBOARD_USER", "admin"), "not-the-password")
    conn = connect(host, port)
    ch = conn.channel()
    method, props, body = ch.basic_get("pika-ro", auto_ack=True)
    assert body == b"for-reader", body
    ch.confirm_delivery()
    try:
        ch.basic_publish("", "pika-ro", b"not allowed")
        raise AssertionError("a read-only user published")
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 403, e
    ch = conn.channel()
    try:
        ch.queue_declare("pika-reader-own")
        raise AssertionError("a read-only user declared a queue")
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 403, e
    conn.close()
    print("pika-check reader ok")


def after(host, port):
    conn = connect(host, port)
    ch = conn.channel()
    q = ch.queue_declare("pika-durable", durable=True, passive=True)
    assert q.method.message_count == 3, q.method.message_count
    for i in range(3):
        method, props, body = ch.basic_get("pika-durable")
        assert body == f"d{i}".encode(), body
        assert props.content_type == "text/plain" and props.delivery_mode == 2
        assert props.headers == {"n": i, "kind": b"durable"} or props.headers == {"n": i, "kind": "durable"}, props.headers
        ch.basic_ack(method.delivery_tag)
    try:
        ch.queue_declare("pika-temp", passive=True)
        raise AssertionError("the non-durable queue survived a restart")
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 404, e
    conn.close()
    print("pika-check after ok")


if __name__ == "__main__":
    phase, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    {"before": before, "reader": reader, "after": after}[phase](host, port)
