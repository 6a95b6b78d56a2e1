"""Where provisioning writes: a mounted boot partition, or the FAT partition inside an image.

An image is edited with mtools at the partition's byte offset (``mcopy -i FILE.img@@OFFSET``):
no root, no loop device, no mount.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path, PurePosixPath
from typing import Protocol

from edge.provision.errors import InvalidInputError, ProvisionError

_LOG = logging.getLogger(__name__)

SECTOR = 512
_MBR_FAT_TYPES = frozenset({0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E, 0xEF})
_GPT_FAT_TYPES = frozenset(
    {"ebd0a0a2-b9e5-4433-87c0-68b6b72699c7", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"}
)
_COMPRESSED = {b"\xfd7zXZ\x00": "xz -dk", b"\x1f\x8b": "gunzip -k", b"PK\x03\x04": "unzip"}
_REQUIRED = ("config.txt", "cmdline.txt")


class BootTarget(Protocol):
    """Read and write files by path relative to the boot partition's root."""

    description: str

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        ...

    def write(self, name: str, data: bytes) -> None:
        """Create or replace the file (parent directories are created)."""
        ...


def _require_boot_files(target: BootTarget, source: str) -> None:
    missing = [name for name in _REQUIRED if target.read(name) is None]
    if missing:
        raise InvalidInputError(
            source,
            f"{target.description} has no {' or '.join(missing)}: this is not a Raspberry Pi OS "
            "boot partition (flash Raspberry Pi OS Lite 64-bit first)",
        )


class DirTarget:
    """A mounted boot partition, e.g. /media/$USER/bootfs."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise InvalidInputError(
                "--boot-dir", f"{root}: no such directory (mount the card first)"
            )
        self.root = root
        self.description = f"boot directory {root}"
        _require_boot_files(self, "--boot-dir")

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        path = self.root / name
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ProvisionError(f"cannot read {path}: {exc.strerror}") from None

    def write(self, name: str, data: bytes) -> None:
        """Write via a temporary file and rename, so a pulled card never has half a file."""
        path = self.root / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.edge-tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:
            raise ProvisionError(f"cannot write {path}: {exc.strerror}") from None


def _partitions_mbr(head: bytes) -> list[tuple[int, int]]:
    """(partition type, start LBA) for the four primary MBR entries in use."""
    found = []
    for index in range(4):
        entry = head[446 + 16 * index : 462 + 16 * index]
        ptype = entry[4]
        (start,) = struct.unpack_from("<I", entry, 8)
        if ptype and start:
            found.append((ptype, start))
    return found


def _uuid_le(raw: bytes) -> str:
    a, b, c = struct.unpack_from("<IHH", raw)
    rest = raw[8:16].hex()
    return f"{a:08x}-{b:04x}-{c:04x}-{rest[:4]}-{rest[4:]}"


def _read_at(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as fh:
        fh.seek(offset)
        return fh.read(size)


def _gpt_starts(image: Path) -> list[int]:
    """Start LBAs of FAT-typed (basic data / EFI) GPT partitions, in table order."""
    header = _read_at(image, SECTOR, SECTOR)
    if header[:8] != b"EFI PART":
        return []
    entries_lba, count, size = struct.unpack_from("<QII", header, 72)
    table = _read_at(image, entries_lba * SECTOR, count * size)
    starts = []
    for index in range(count):
        entry = table[index * size : (index + 1) * size]
        if len(entry) >= 48 and _uuid_le(entry[:16]) in _GPT_FAT_TYPES:
            starts.append(struct.unpack_from("<Q", entry, 32)[0])
    return starts


def _looks_fat(boot_sector: bytes) -> bool:
    return (
        len(boot_sector) == SECTOR
        and boot_sector[510:512] == b"\x55\xaa"
        and (b"FAT" in boot_sector[54:62] or b"FAT32" in boot_sector[82:90])
    )


def find_fat_offset(image: Path) -> int:
    """Byte offset of the first FAT partition in ``image`` (MBR or GPT)."""
    head = _read_at(image, 0, SECTOR)
    for magic, tool in _COMPRESSED.items():
        if head.startswith(magic):
            raise InvalidInputError(
                "--image", f"{image} is compressed; decompress it first ({tool} {image.name})"
            )
    if len(head) < SECTOR or head[510:512] != b"\x55\xaa":
        raise InvalidInputError(
            "--image", f"{image} has no partition table: pass a whole-disk .img, not a partition"
        )
    entries = _partitions_mbr(head)
    if any(ptype == 0xEE for ptype, _ in entries):
        starts = _gpt_starts(image)
    else:
        starts = [start for ptype, start in entries if ptype in _MBR_FAT_TYPES]
    for start in starts:
        if _looks_fat(_read_at(image, start * SECTOR, SECTOR)):
            return start * SECTOR
    raise InvalidInputError(
        "--image",
        f"{image} has no FAT boot partition: is it a Raspberry Pi OS image? "
        "(the first partition should be FAT32, label bootfs)",
    )


class ImageTarget:
    """The FAT boot partition inside a disk image, edited with mtools."""

    def __init__(self, image: Path) -> None:
        if not image.is_file():
            raise InvalidInputError("--image", f"{image}: no such file")
        if not os.access(image, os.R_OK | os.W_OK):
            raise InvalidInputError("--image", f"{image}: must be readable and writable by you")
        missing = [tool for tool in ("mcopy", "mmd", "mdir") if shutil.which(tool) is None]
        if missing:
            raise ProvisionError("mtools is not installed (apt-get install mtools)")
        self.image = image
        self.offset = find_fat_offset(image)
        self.description = f"FAT partition of {image} at byte offset {self.offset}"
        _require_boot_files(self, "--image")

    def _mtools(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "MTOOLSRC": os.devnull}
        cmd = [args[0], "-i", f"{self.image}@@{self.offset}", *args[1:]]
        result = subprocess.run(cmd, capture_output=True, env=env, check=False, timeout=120)
        if check and result.returncode != 0:
            detail = result.stderr.decode(errors="replace").strip()
            raise ProvisionError(f"{' '.join(cmd)} failed: {detail}")
        return result

    def _exists(self, name: str) -> bool:
        return self._mtools("mdir", "-b", f"::/{name}", check=False).returncode == 0

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        if not self._exists(name):
            return None
        with tempfile.TemporaryDirectory(prefix="edge-provision-") as tmp:
            local = Path(tmp) / "file"
            self._mtools("mcopy", "-n", f"::/{name}", str(local))
            return local.read_bytes()

    def write(self, name: str, data: bytes) -> None:
        """Create or replace the file, creating parent directories with mmd."""
        parent = PurePosixPath(name).parent
        built = PurePosixPath()
        for part in parent.parts:
            built /= part
            if not self._exists(str(built)):
                self._mtools("mmd", f"::/{built}")
        with tempfile.TemporaryDirectory(prefix="edge-provision-") as tmp:
            local = Path(tmp) / "file"
            local.write_bytes(data)
            self._mtools("mcopy", "-o", "-n", str(local), f"::/{name}")
