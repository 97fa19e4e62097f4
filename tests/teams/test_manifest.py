"""The Teams app package in deploy/teams/ is ready to zip and sideload."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

from bot.commands import HELP

TEAMS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "teams"


def test_manifest_lists_the_bot_commands_within_teams_limits() -> None:
    manifest = json.loads((TEAMS_DIR / "manifest.json").read_text(encoding="utf-8"))
    [bot] = manifest["bots"]
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    [commands] = bot["commandLists"]
    assert len(commands["commands"]) <= 10
    for command in commands["commands"]:
        assert len(command["title"]) <= 32 and len(command["description"]) <= 128
        assert command["title"].split()[0] in HELP  # every listed command exists in the shared parser
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["description"]["short"]) <= 80


def test_icons_have_the_sizes_teams_requires() -> None:
    for name, size in (("color.png", 192), ("outline.png", 32)):
        data = (TEAMS_DIR / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", data[16:24]) == (size, size)


def test_package_zips_flat_with_the_app_id(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("teams_package", TEAMS_DIR / "package.py")
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package)
    out = package.build("11111111-2222-3333-4444-555555555555", tmp_path / "app.zip")
    with zipfile.ZipFile(out) as z:
        assert sorted(z.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert json.loads(z.read("manifest.json"))["bots"][0]["botId"] == "11111111-2222-3333-4444-555555555555"
