"""A Modbus TCP server written with pymodbus (Python), a peer Millwright did not write.

Its registers hold the values of a JSON spec, encoded here with Python's `struct` rather than
with Millwright's codec, so a decoder and an encoder cannot share a mistake. Each entry:
`{"table": "holding"|"input"|"coil"|"discrete", "address": N, "type": T, "order": O,
"value": V}` with T one of u16 i16 u32 i32 u64 i64 f32 f64 string bool and O one of ABCD
(big-endian), CDAB (words swapped), BADC (bytes swapped in each word), DCBA (little-endian);
a string is ASCII in `length` registers, NUL-padded. Unit id 1. Prints `PORT <n>` once it
listens on 127.0.0.1 and stops when its standard input closes.

    modbus_server.py SPEC.json
"""

import asyncio
import json
import logging
import struct
import sys
from pathlib import Path

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

FORMATS = {"u16": ">H", "i16": ">h", "u32": ">I", "i32": ">i", "u64": ">Q", "i64": ">q",
           "f32": ">f", "f64": ">d"}
SIZE = 400


def words(entry):
    """The registers of one entry, as a device with that word order would hold them."""
    if entry["type"] == "string":
        raw = entry["value"].encode("ascii").ljust(2 * entry["length"], b"\0")
    else:
        raw = struct.pack(FORMATS[entry["type"]], entry["value"])
    order = entry.get("order", "ABCD")
    if order in ("BADC", "DCBA"):
        raw = b"".join(raw[i:i + 2][::-1] for i in range(0, len(raw), 2))
    regs = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]
    # Strings read left to right whatever the order; numbers swap their words.
    if order in ("CDAB", "DCBA") and entry["type"] != "string":
        regs.reverse()
    return regs


async def main():
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    spec = json.loads(Path(sys.argv[1]).read_text())
    tables = {"holding": [0] * SIZE, "input": [0] * SIZE,
              "coil": [False] * SIZE, "discrete": [False] * SIZE}
    for entry in spec:
        table, at = tables[entry["table"]], entry["address"]
        if entry["table"] in ("coil", "discrete"):
            table[at] = bool(entry["value"])
        else:
            regs = words(entry)
            table[at:at + len(regs)] = regs
    device = SimDevice(id=1, simdata=(
        [SimData(0, values=tables["coil"], datatype=DataType.BITS)],
        [SimData(0, values=tables["discrete"], datatype=DataType.BITS)],
        [SimData(0, values=tables["holding"], datatype=DataType.REGISTERS)],
        [SimData(0, values=tables["input"], datatype=DataType.REGISTERS)],
    ))
    server = ModbusTcpServer(device, address=("127.0.0.1", 0))
    task = asyncio.create_task(server.serve_forever())
    while not getattr(server, "transport", None):
        await asyncio.sleep(0.05)
    print(f"PORT {server.transport.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
