#!/usr/bin/env python3
"""Reads Kafka topics from the beginning with confluent-kafka (a client nobody here wrote)
and prints one JSON line per record: topic, partition, offset, key, headers, value.

    kafka_read.py BOOTSTRAP TOPIC [TOPIC ...] [--max-seconds S]

Stops when every assigned partition has reached its end (or after --max-seconds, exit 3).
A fresh consumer group each run, no offsets committed.
"""
import argparse
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("topics", nargs="+")
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args()
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": f"reader-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "log_level": 3,
        }
    )
    consumer.subscribe(args.topics)
    deadline = time.monotonic() + args.max_seconds
    at_end = set()
    out = sys.stdout
    while time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        assigned = {(p.topic, p.partition) for p in consumer.assignment()}
        if msg is None:
            if assigned and assigned <= at_end:
                break
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                at_end.add((msg.topic(), msg.partition()))
                if assigned and assigned <= at_end:
                    break
                continue
            print(f"kafka_read: {msg.error()}", file=sys.stderr)
            continue
        at_end.discard((msg.topic(), msg.partition()))
        key = msg.key()
        value = msg.value()
        record = {
            "topic": msg.topic(),
            "partition": msg.partition(),
            "offset": msg.offset(),
            "key": key.decode("utf-8", "replace") if key is not None else None,
            "headers": {k: (v.decode("utf-8", "replace") if v is not None else None) for k, v in (msg.headers() or [])},
            "value": value.decode("utf-8", "replace") if value is not None else None,
        }
        out.write(json.dumps(record) + "\n")
    else:
        consumer.close()
        print("kafka_read: time is up before every partition reached its end", file=sys.stderr)
        return 3
    consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
