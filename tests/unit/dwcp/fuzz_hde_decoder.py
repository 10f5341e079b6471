"""Coverage-guided fuzzing of the HDE decoder with atheris (optional; not collected by pytest).

Run: .venv/bin/python tests/unit/dwcp/fuzz_hde_decoder.py [-runs=100000]
Without atheris installed it says so and exits 0. Any exception other than HdeProtocolError, or a
hang, is a finding.
"""

from __future__ import annotations

import sys

from novacron.dwcp.hde import HdeDecoder, HdeEncoder, HdeProtocolError

try:
    import atheris  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - optional tool
    atheris = None

_enc = HdeEncoder(chunk_size=1024, dict_capacity=8, frame_bytes=4096, mode="always")
SEED = b"".join(_enc.encode(bytes(range(256)) * 40 + bytes(3000)) + _enc.flush())
# a framing="qemu" (version 2, RAW records) stream: a ram section with two pages and a zero page
_qenc = HdeEncoder(framing="qemu", dict_capacity=8, frame_bytes=4096, mode="always")
_ram = b"\x01\x00\x00\x00\x02\x03ram" + bytes(4) + b"\x00\x00\x00\x04" + (0x10).to_bytes(8, "big")
_ram += b"\x02\x00\x00\x00\x02" + (0x08).to_bytes(8, "big") + b"\x06pc.ram" + bytes(range(256)) * 16
_ram += (0x1000 | 0x28).to_bytes(8, "big") + bytes(range(255, -1, -1)) * 16 + (0x2000 | 0x22).to_bytes(8, "big") + b"\x00"
SEED_QEMU = b"".join(_qenc.encode(_ram + (0x10).to_bytes(8, "big")) + _qenc.flush())


def test_one_input(data: bytes) -> None:
    # a third of the inputs are mutations of a valid stream, so the fuzzer gets past preamble and crc
    seed = {b"\x00": SEED, b"\x01": SEED_QEMU}.get(data[:1])
    stream = seed[: len(seed) // 2] + data if seed else data
    dec = HdeDecoder(max_output=1 << 20)
    try:
        for i in range(0, len(stream), 97):
            dec.feed(stream[i : i + 97])
            while dec.has_backlog:
                dec.feed(b"")
        dec.close()
    except HdeProtocolError:
        pass


def main() -> int:
    if atheris is None:
        print("atheris not installed; skipping HDE decoder fuzzing")
        return 0
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
