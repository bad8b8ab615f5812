"""The AMQP side of Callboard's crash soak (scripts/soak.sh), with pika (the RabbitMQ Python client).

Usage (logging in as CALLBOARD_USER, default admin, with CALLBOARD_PASSWORD):
       soak_amqp.py publish HOST PORT QUEUE
           Declares the durable QUEUE, turns on publisher confirms and publishes persistent messages b"amqp:<i>"
           (i = 0, 1, ...) one at a time; after each confirm it prints i on its own line (flushed). Runs until the
           connection is lost (the broker is killed), then exits 0.
       soak_amqp.py drain HOST PORT QUEUE
           Gets every message of QUEUE (auto-ack) and prints each body on its own line, then 'end'.
       soak_amqp.py delete HOST PORT QUEUE
           Deletes QUEUE (an earlier trial's), then prints 'end'.
"""

import os
import sys

import pika


def credentials():
    """The user (CALLBOARD_USER, default admin) and password (CALLBOARD_PASSWORD, required) to log in with."""
    password = os.environ.get("CALLBOARD_PASSWORD")
    if not password:
        sys.exit("set CALLBOARD_PASSWORD (and CALLBOARD_USER unless it is admin) to the broker's credentials")
    return pika.PlainCredentials(os.environ.get("CALLBOARD_USER", "admin"), password)


def connect(host, port):
    params = pika.ConnectionParameters(host=host, port=int(port), credentials=credentials(),
                                       heartbeat=30, blocked_connection_timeout=10, connection_attempts=1)
    return pika.BlockingConnection(params)


def publish(host, port, queue):
    try:
        conn = connect(host, port)
        ch = conn.channel()
        ch.queue_declare(queue, durable=True)
        ch.confirm_delivery()
        i = 0
        while True:
            ch.basic_publish("", queue, b"amqp:%d" % i, pika.BasicProperties(delivery_mode=2), mandatory=True)
            print(i, flush=True)
            i += 1
    except (pika.exceptions.AMQPError, OSError):
        return


def drain(host, port, queue):
    conn = connect(host, port)
    ch = conn.channel()
    ch.queue_declare(queue, durable=True)
    while True:
        method, _props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            break
        sys.stdout.write(body.decode() + "\n")
    print("end", flush=True)
    conn.close()


def delete(host, port, queue):
    conn = connect(host, port)
    conn.channel().queue_delete(queue)
    print("end", flush=True)
    conn.close()


if __name__ == "__main__":
    mode, host, port, queue = sys.argv[1:5]
    {"publish": publish, "drain": drain, "delete": delete}[mode](host, port, queue)
