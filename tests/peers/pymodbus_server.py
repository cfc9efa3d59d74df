"""A Modbus TCP server that is not ours (pymodbus), holding values encoded here with Python's
own struct module, for checking that `edge-agent poll --once` decodes them.

Usage: pymodbus_server.py PORT SPEC...
  SPEC is TYPE:ORDER:VALUE, e.g. f64:CDAB:-1234.5; the values are laid out one after the
  other in holding registers from address 0. Prints "ready" when it accepts connections and
  serves until stdin closes (the test ends) or it is killed.
"""
import asyncio
import struct
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartAsyncTcpServer

FORMATS = {"u16": ">H", "i16": ">h", "u32": ">I", "i32": ">i", "u64": ">Q", "i64": ">q", "f32": ">f", "f64": ">d"}


def registers(kind, order, value):
    """The wire registers of VALUE: big-endian bytes A.. reordered as ORDER names them."""
    number = float(value) if kind.startswith("f") else int(value)
    data = struct.pack(FORMATS[kind], number)
    words = [data[i:i + 2] for i in range(0, len(data), 2)]
    if order in ("BADC", "DCBA"):
        words = [w[::-1] for w in words]
    if order in ("CDAB", "DCBA"):
        words = words[::-1]
    return [int.from_bytes(w, "big") for w in words]


async def main():
    port = int(sys.argv[1])
    values = []
    for spec in sys.argv[2:]:
        kind, order, value = spec.split(":", 2)
        values.extend(registers(kind, order, value))
    # pymodbus reads block address a + 1 for request address a: start the block at 1.
    block = ModbusSequentialDataBlock(1, values + [0])
    context = ModbusServerContext(slaves=ModbusSlaveContext(hr=block), single=True)
    server = asyncio.create_task(StartAsyncTcpServer(context, address=("127.0.0.1", port)))
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.05)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.cancel()


asyncio.run(main())
