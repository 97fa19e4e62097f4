"""Build the Teams app package: `python deploy/teams/package.py --app-id GUID [--out switchboard-teams.zip]`.

Writes the two icons (stdlib only: zlib + struct) when missing, puts the bot's Microsoft App ID into
manifest.json and zips manifest + icons flat, ready to sideload (Teams → Apps → Upload a custom app).
"""

from __future__ import annotations

import argparse
import json
import struct
import uuid
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
ACCENT = (0x1F, 0x6F, 0xEB)


def png(width: int, height: int, pixel: Callable[[int, int], tuple[int, int, int, int]]) -> bytes:
    """An RGBA PNG; `pixel(x, y)` returns (r, g, b, a)."""
    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def _switch(x: float, y: float) -> bool:
    """Three rails with a knob each, in unit coordinates: a switchboard."""
    for i, knob in enumerate((0.68, 0.32, 0.55)):
        cy = 0.28 + 0.22 * i
        if abs(y - cy) < 0.035 and 0.18 < x < 0.82:
            return True
        if (x - knob) ** 2 + (y - cy) ** 2 < 0.075 ** 2:
            return True
    return False


def color_icon() -> bytes:  # 192x192, full colour
    return png(192, 192, lambda x, y: (255, 255, 255, 255) if _switch(x / 192, y / 192) else (*ACCENT, 255))


def outline_icon() -> bytes:  # 32x32, white on transparent (Teams' rule for outline icons)
    return png(32, 32, lambda x, y: (255, 255, 255, 255) if _switch((x + 0.5) / 32, (y + 0.5) / 32)
               else (0, 0, 0, 0))


def write_icons(force: bool = False) -> None:
    for name, make in (("color.png", color_icon), ("outline.png", outline_icon)):
        path = HERE / name
        if force or not path.exists():
            path.write_bytes(make())


def build(app_id: str, out: Path, package_id: str | None = None) -> Path:
    uuid.UUID(app_id)  # the Microsoft App ID of the Azure Bot registration must be a GUID
    write_icons()
    manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    manifest["id"] = package_id or manifest["id"]
    for bot in manifest["bots"]:
        bot["botId"] = app_id
    manifest["webApplicationInfo"] = {"id": app_id, "resource": f"api://botid-{app_id}"}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        z.write(HERE / "color.png", "color.png")
        z.write(HERE / "outline.png", "outline.png")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app-id", help="the bot's Microsoft App ID (TEAMS_APP_ID)")
    parser.add_argument("--package-id", help="the Teams app id (a GUID; default: the one in manifest.json)")
    parser.add_argument("--out", type=Path, default=Path("switchboard-teams.zip"))
    parser.add_argument("--icons-only", action="store_true", help="only (re)write color.png and outline.png")
    args = parser.parse_args()
    if args.icons_only:
        write_icons(force=True)
        return
    if not args.app_id:
        parser.error("--app-id is required to build the package")
    print(build(args.app_id, args.out, args.package_id))


if __name__ == "__main__":
    main()
