"""The README stays true: its two commands come first and its recipe example is valid."""

from __future__ import annotations

import re

from conftest import ROOT

from zoo._registry import load_entry

README = (ROOT / "README.md").read_text()


def test_first_section_shows_the_two_commands():
    first_block = README.split("```")[1]
    assert [line.split()[:2] for line in first_block.strip().splitlines()] == [
        ["make", "demo"],
        ["make", "test"],
    ]


def test_recipe_example_is_a_valid_recipe(tmp_path):
    (toml,) = re.findall(r"```toml\n# recipes/(\w+)\.toml\n(.*?)```", README, re.S)
    name, text = toml
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    entry = load_entry(path)
    assert entry.outputs["probabilities"].shape == [5]


def test_every_registered_model_is_in_the_models_table():
    import zoo

    for name in zoo.list():
        assert f"| `{name}` |" in README, name
