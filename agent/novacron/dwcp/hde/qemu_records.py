"""Splits QEMU's pre-copy migration stream into raw runs and page bodies keyed by guest address (sans-I/O).

Why: HDE's fixed chunk grid cannot see pages in QEMU's stream, because every 4 KiB page follows a
header of 8 bytes (+ the ramblock name when the block changes), so pages sit at a different phase
on every resend. Cut at the records instead and each page body arrives whole, with the address that
names its previous version: exactly the delta base a rewritten page needs.

Format (QEMU 10, migration/savevm.c and migration/ram.c; no multifd, no XBZRLE):
    section header   START 0x01 | FULL 0x04: type u8, section_id be32, idstr_len u8, idstr,
                     instance_id be32, version_id be32;  PART 0x02 | END 0x03: type u8, section_id be32
    ram records      be64 (page_offset | flags); unless flags & CONTINUE: idstr_len u8, idstr (the block);
                     PAGE 0x08: 4096 bytes follow; ZERO 0x02: one byte (0) follows;
                     EOS 0x10 ends the section's records, a footer (0x7e, section_id be32) follows;
                     MULTIFD_FLUSH 0x200: nothing follows. Everything else (MEM_SIZE, XBZRLE, HOOK): not parsed.

Tokenisation only decides how well HDE compresses, never what the decoder outputs (raw runs and page
bodies concatenate back to the input whatever the cut), so the parser is heuristic: it scans with
bytes.find for the "ram" section's PART/END headers (the id comes from the START header whose idstr is
"ram"), parses records while they look valid and drops back to scanning on anything unexpected.
Runs of 9-byte ZERO|CONTINUE records, most of a first pass, are skipped with one regex match.
"""

from __future__ import annotations

import re
from typing import Final

PAGE_SIZE: Final = 4096
RAW: Final = -1  # token key of a raw run

FLAG_ZERO: Final = 0x02
FLAG_MEM_SIZE: Final = 0x04
FLAG_PAGE: Final = 0x08
FLAG_EOS: Final = 0x10
FLAG_CONTINUE: Final = 0x20
FLAG_XBZRLE: Final = 0x40
FLAG_HOOK: Final = 0x80
FLAG_MULTIFD_FLUSH: Final = 0x200
_FLAGS_MASK: Final = PAGE_SIZE - 1

SECTION_START: Final = 0x01
SECTION_PART: Final = 0x02
SECTION_END: Final = 0x03

_RAM_IDSTR: Final = b"\x03ram"  # idstr_len + idstr of the RAM section in its START header
_SCAN_KEEP: Final = 16  # bytes kept back while scanning, so a header split across feeds is found
_MAX_BLOCKS: Final = PAGE_SIZE  # block index lives in the key's low 12 bits (the offset's flag bits)
_ZERO_RUN = re.compile(rb"(?:.{6}[\x00\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0]\x22\x00)+", re.S)
_BLOCK_NAME = re.compile(rb"[\x21-\x7e]+")

# (key, raw, page): `raw` bytes that precede a 4 KiB `page` body (usually its record header) and the
# page's key, page offset | block index; or (RAW, raw, b"") for raw bytes alone
Token = tuple[int, bytes, bytes]


class QemuRecordSplitter:
    """feed() bytes in any pieces, get tokens whose bytes concatenate to exactly what was fed.

    A token is (key, raw, page): the raw bytes before one 4 KiB page body (its record header, or
    anything not understood) and the page, key = page offset in its ramblock | block index
    (first-seen order, < 4096); or (RAW, raw, b"") for raw bytes with no page after them. One
    token per page, not two, because the encoder loops over tokens in Python. Bytes that may still
    begin a record are held back until the next feed(); flush() releases them as raw.
    """

    def __init__(self) -> None:
        self.section_id: bytes | None = None  # be32 id of the "ram" section, once its START was seen
        self.blocks: dict[bytes, int] = {}
        self.page_bytes = 0  # bytes handed out as page bodies (for stats and tests)
        self.fed_bytes = 0
        self._pending = b""  # bytes not yet parsed past (at most one record, or _SCAN_KEEP bytes)
        self._released = 0  # leading bytes of _pending that flush() already handed out as raw
        self._records = False  # True: parsing ram records; False: scanning for a ram section header
        self._block = -1  # index of the block CONTINUE records refer to
        self._header: re.Pattern[bytes] | None = None  # matches the ram section's PART/END header

    @property
    def raw_bytes(self) -> int:
        """Bytes handed out as raw runs."""
        return self.fed_bytes - self.page_bytes - len(self._pending) + self._released

    def feed(self, data: bytes) -> list[Token]:
        self.fed_bytes += len(data)
        buf = self._pending + data if self._pending else bytes(data)
        tokens: list[Token] = []
        raw_start = pos = 0
        end = len(buf)
        while True:
            if not self._records:
                found = self._scan(buf, pos)
                if found < 0:
                    pos = max(pos, end - _SCAN_KEEP)
                    break
                pos, self._records = found, True  # CONTINUE may refer to the previous section's block
                continue
            if end - pos > 8 and buf[pos + 7] == 0x22:  # ZERO|CONTINUE: skip the whole run at once
                m = _ZERO_RUN.match(buf, pos)
                if m is not None:
                    pos = m.end()
            if end - pos < 8:
                break
            head = int.from_bytes(buf[pos : pos + 8], "big")
            flags = head & _FLAGS_MASK
            p = pos + 8
            if flags & FLAG_CONTINUE:
                block = self._block
                if block < 0:
                    self._records = False
                    continue
            elif flags & (FLAG_PAGE | FLAG_ZERO):
                if end - p < 1 or end - p < 1 + buf[p]:
                    break
                n = buf[p]
                block = self._block_index(buf[p + 1 : p + 1 + n])
                if block < 0:
                    self._records = False
                    continue
                self._block = block
                p += 1 + n
            else:
                block = -1
            kind = flags & ~FLAG_CONTINUE
            if kind == FLAG_PAGE:
                if end - p < PAGE_SIZE:
                    break
                tokens.append(((head ^ flags) | block, buf[raw_start:p], buf[p : p + PAGE_SIZE]))
                self.page_bytes += PAGE_SIZE
                pos = raw_start = p + PAGE_SIZE
            elif kind == FLAG_ZERO:
                if end - p < 1:
                    break
                pos = p + 1
            elif kind == FLAG_EOS and head == FLAG_EOS:
                pos, self._records = p, False  # the footer and whatever follows are scanned
            elif kind == FLAG_MULTIFD_FLUSH and head == FLAG_MULTIFD_FLUSH:
                pos = p
            else:
                self._records = False  # not a record we know: scan from here (these bytes go raw)
        if pos > raw_start:
            tokens.append((RAW, buf[raw_start:pos], b""))
        self._pending = buf[pos:]
        if self._released:
            drop = min(self._released, pos)
            self._released -= drop
            tokens = self._drop(tokens, drop)
        return tokens

    def flush(self) -> list[Token]:
        """Hand out held-back bytes as raw. They are still parsed when the next bytes arrive (a page
        cut by a flush then goes out raw), so the parser keeps its place in the stream."""
        rest = self._pending[self._released :]
        self._released = len(self._pending)
        return [(RAW, rest, b"")] if rest else []

    # -- internals -----------------------------------------------------------------------------
    def _drop(self, tokens: list[Token], n: int) -> list[Token]:
        """tokens without their first n bytes (flushed already); a page cut by that turns raw."""
        i = 0
        while n and i < len(tokens):
            key, raw, page = tokens[i]
            if len(raw) >= n:  # the flushed bytes end in this raw part: the page (if any) is whole
                if len(raw) > n or key != RAW:
                    tokens[i] = (key, raw[n:], page)
                else:
                    i += 1
                break
            n -= len(raw)
            if key != RAW:
                self.page_bytes -= PAGE_SIZE
                if len(page) > n:
                    tokens[i] = (RAW, page[n:], b"")
                    break
                n -= len(page)
            i += 1
        return tokens[i:]

    def _scan(self, buf: bytes, pos: int) -> int:
        """Position just after the next ram PART/END section header at or after pos, or -1."""
        if self._header is None:
            at = buf.find(_RAM_IDSTR, pos + 5)
            while at >= 0:
                if buf[at - 5] == SECTION_START:
                    self.section_id = sid = buf[at - 4 : at]
                    self._header = re.compile(rb"[\x02\x03]" + re.escape(sid))  # PART or END
                    pos = at + len(_RAM_IDSTR)
                    break
                at = buf.find(_RAM_IDSTR, at + 1)
            else:
                return -1
        m = self._header.search(buf, pos)
        return m.end() if m is not None else -1

    def _block_index(self, name: bytes) -> int:
        idx = self.blocks.get(name)
        if idx is not None:
            return idx
        if len(self.blocks) >= _MAX_BLOCKS or not _BLOCK_NAME.fullmatch(name):
            return -1
        self.blocks[name] = idx = len(self.blocks)
        return idx
