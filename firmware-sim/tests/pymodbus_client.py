"""A Modbus master not written here: reads the simulator with pymodbus and decodes values.

Usage: pymodbus_client.py tcp HOST PORT < spec.json
       pymodbus_client.py rtu DEVICE BAUD < spec.json

The spec (JSON on stdin) lists register-map entries to read, unmapped addresses to probe and
setpoint writes to make. Values are decoded here, independently of the simulator: with
pymodbus's own decoder for big- and little-endian word orders (ABCD, CDAB) and with `struct`
for the byte-swapped ones (BADC, DCBA). Prints one JSON object with the results.
"""

import json
import struct
import sys

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.framer import FramerType

TYPES = {  # name: (registers, struct format)
    "u16": (1, ">H"), "i16": (1, ">h"), "u32": (2, ">I"), "i32": (2, ">i"),
    "f32": (2, ">f"), "f64": (4, ">d"),
}


def decode(client, regs, ty, order):
    """Registers to the raw number, as the order table in firmware-sim/README.md says."""
    if order in ("ABCD", "CDAB"):
        dt = {
            "u16": client.DATATYPE.UINT16, "i16": client.DATATYPE.INT16,
            "u32": client.DATATYPE.UINT32, "i32": client.DATATYPE.INT32,
            "f32": client.DATATYPE.FLOAT32, "f64": client.DATATYPE.FLOAT64,
        }[ty]
        word_order = "big" if order == "ABCD" else "little"
        return client.convert_from_registers(list(regs), dt, word_order=word_order)
    words = list(regs)
    if order == "DCBA":
        words.reverse()
    raw = b"".join(struct.pack("<H", w) for w in words)  # "<H": each register byte-swapped
    return struct.unpack(TYPES[ty][1], raw)[0]


def read(client, table, address, count, unit):
    fn = {
        "holding": client.read_holding_registers, "input": client.read_input_registers,
        "coil": client.read_coils, "discrete": client.read_discrete_inputs,
    }[table]
    return fn(address, count=count, slave=unit)


def main():
    kind = sys.argv[1]
    if kind == "tcp":
        client = ModbusTcpClient(sys.argv[2], port=int(sys.argv[3]), timeout=2, retries=0)
    else:
        client = ModbusSerialClient(
            sys.argv[2], framer=FramerType.RTU, baudrate=int(sys.argv[3]), timeout=2, retries=0
        )
    if not client.connect():
        print(json.dumps({"error": "cannot connect"}))
        return 1
    spec = json.load(sys.stdin)
    out = {"values": [], "unmapped": [], "writes": []}
    for entry in spec.get("reads", []):
        bits = entry["table"] in ("coil", "discrete")
        count = 1 if bits else TYPES[entry["type"]][0]
        rr = read(client, entry["table"], entry["address"], count, entry["unit"])
        result = {"unit": entry["unit"], "table": entry["table"], "address": entry["address"]}
        if rr.isError():
            result["exception"] = getattr(rr, "exception_code", -1)
        elif bits:
            result["value"] = 1.0 if rr.bits[0] else 0.0
        else:
            raw = decode(client, rr.registers, entry["type"], entry["order"])
            result["value"] = raw * entry["scale"] + entry["offset"]
        out["values"].append(result)
    for probe in spec.get("unmapped", []):
        rr = read(client, probe["table"], probe["address"], probe.get("count", 1), probe["unit"])
        out["unmapped"].append(getattr(rr, "exception_code", None) if rr.isError() else None)
    for write in spec.get("writes", []):
        wr = client.write_registers(write["address"], write["values"], slave=write["unit"])
        rr = read(client, "holding", write["address"], len(write["values"]), write["unit"])
        out["writes"].append({
            "ok": not wr.isError(),
            "read_back": None if rr.isError() else list(rr.registers),
        })
    client.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
