"""The README documents every setting and every CLI command."""

from __future__ import annotations

from pathlib import Path

from search_api.cli import app
from search_api.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented() -> None:
    for name in Settings.model_fields:
        assert f"`GLOSSARY_{name.upper()}`" in README, name
    assert "`GLOSSARY_MODEL`" in README


def test_every_command_is_documented() -> None:
    for command in app.registered_commands:
        name = command.name or (command.callback.__name__ if command.callback else "")
        assert f"`glossary {name}" in README, name
