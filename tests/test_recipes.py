"""Recipe files: schema validation with located errors, user folders, duplicates."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT

import zoo
from zoo import DuplicateModelError, RecipeError, ZooError
from zoo._registry import ENV_VAR, REGISTRY, load_entry

GOOD = textwrap.dedent(
    """
    family = "cnn_lstm_fusion"
    description = "A user recipe."
    tags = ["image", "user"]

    [inputs.image]
    shape = [24, 24, 3]
    dtype = "float32"
    range = [0.0, 255.0]

    [inputs.tokens]
    shape = [8]
    dtype = "int32"
    range = [0, 50]

    [outputs.probabilities]
    shape = [2]

    [params]
    conv_filters = [4]
    vocab_size = 50
    embedding_dim = 4
    lstm_units = 4
    dense_units = 4
    num_classes = 2

    [export]
    formats = ["keras", "saved_model"]
    """
)


def mutate(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


# (case id, recipe text, key path expected in the message, other expected fragments)
MALFORMED = [
    ("toml_syntax", GOOD + "\nthis is = = not toml\n", "<top level>", ["not valid TOML"]),
    (
        "unknown_top_key",
        GOOD.replace("tags =", 'tagz = ["x"]\ntags ='),
        "tagz",
        ["unknown key 'tagz'", "Did you mean 'tags'"],
    ),
    ("missing_family", mutate('family = "cnn_lstm_fusion"\n', ""), "family", ["required key"]),
    (
        "unknown_family",
        mutate('"cnn_lstm_fusion"', '"cnn_lstm_fuson"'),
        "family",
        ["unknown family 'cnn_lstm_fuson'", "Did you mean 'cnn_lstm_fusion'"],
    ),
    ("family_wrong_type", mutate('"cnn_lstm_fusion"', "3"), "family", ["3 (int)"]),
    ("empty_description", mutate('"A user recipe."', '""'), "description", ["at least 1"]),
    ("tag_not_a_name", mutate('"user"', '"User Tag"'), "tags.1", ["'User Tag' (str)"]),
    (
        "shape_negative",
        mutate("shape = [24, 24, 3]", "shape = [24, -1, 3]"),
        "inputs.image.shape.1",
        ["-1 (int)", "greater than or equal to 1"],
    ),
    ("shape_not_list", mutate("shape = [8]", 'shape = "8"'), "inputs.tokens.shape", ["'8' (str)"]),
    (
        "bad_dtype",
        mutate('dtype = "int32"', 'dtype = "int"'),
        "inputs.tokens.dtype",
        ["'int' (str)", "'float32'"],
    ),
    (
        "unknown_input_key",
        mutate("range = [0, 50]", "range = [0, 50]\nshap = [1]"),
        "inputs.tokens.shap",
        ["unknown key 'shap'", "Did you mean 'shape'"],
    ),
    (
        "range_reversed",
        mutate("range = [0.0, 255.0]", "range = [255.0, 0.0]"),
        "inputs.image.range",
        ["low must be below high"],
    ),
    (
        "range_three_values",
        mutate("range = [0, 50]", "range = [0, 25, 50]"),
        "inputs.tokens.range",
        ["at most 2"],
    ),
    (
        "no_outputs",
        mutate("[outputs.probabilities]\nshape = [2]\n", ""),
        "outputs",
        ["required key"],
    ),
    (
        "unknown_param",
        mutate("lstm_units = 4", "lstm_unit = 4"),
        "params.lstm_unit",
        ["unknown key 'lstm_unit'", "Did you mean 'lstm_units'"],
    ),
    (
        "param_wrong_type",
        mutate("num_classes = 2", 'num_classes = "2"'),
        "params.num_classes",
        ["'2' (str)", "integer"],
    ),
    (
        "param_bool_for_int",
        mutate("dense_units = 4", "dense_units = true"),
        "params.dense_units",
        ["True (bool)"],
    ),
    (
        "param_out_of_range",
        mutate("embedding_dim = 4", "embedding_dim = 0"),
        "params.embedding_dim",
        ["0 (int)"],
    ),
    (
        "param_bad_choice",
        mutate("num_classes = 2", 'num_classes = 2\npooling = "avg"'),
        "params.pooling",
        ["'avg' (str)", "'flatten' or 'gap'"],
    ),
    (
        "output_shape_mismatch",
        mutate("[outputs.probabilities]\nshape = [2]", "[outputs.probabilities]\nshape = [3]"),
        "outputs.probabilities.shape",
        ["expected [2]", "received [3]"],
    ),
    (
        "output_wrong_name",
        mutate("[outputs.probabilities]", "[outputs.probs]"),
        "outputs.probabilities",
        ["missing"],
    ),
    (
        "input_missing_for_family",
        mutate("[inputs.tokens]", "[inputs.text]"),
        "inputs",
        ["['image', 'tokens']", "received ['image', 'text']"],
    ),
    (
        "token_range_beyond_vocab",
        mutate("range = [0, 50]", "range = [0, 500]"),
        "inputs.tokens.range",
        ["vocab_size=50"],
    ),
    (
        "unknown_format",
        mutate('formats = ["keras", "saved_model"]', 'formats = ["kerass"]'),
        "export.formats.0",
        ["'kerass' (str)", "'keras'"],
    ),
    (
        "repeated_format",
        mutate('formats = ["keras", "saved_model"]', 'formats = ["keras", "keras"]'),
        "export.formats",
        ["must not repeat"],
    ),
    (
        "unknown_export_key",
        mutate("[export]", "[export]\nformat = 1"),
        "export.format",
        ["unknown key 'format'", "Did you mean 'formats'"],
    ),
]


def test_at_least_fifteen_malformed_cases():
    assert len(MALFORMED) >= 15


@pytest.mark.parametrize(
    ("text", "key", "fragments"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_recipe_names_file_and_key(tmp_path, text, key, fragments):
    path = tmp_path / "user_model.toml"
    path.write_text(text)
    with pytest.raises(RecipeError) as exc:
        load_entry(path)
    message = str(exc.value)
    assert f"{path}: {key}:" in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_good_user_recipe_loads(tmp_path):
    (tmp_path / "user_model.toml").write_text(GOOD)
    entry = load_entry(tmp_path / "user_model.toml")
    assert entry.name == "user_model"
    assert entry.outputs["probabilities"].shape == [2]


def test_bad_file_name_is_rejected(tmp_path):
    path = tmp_path / "User-Model.toml"
    path.write_text(GOOD)
    with pytest.raises(RecipeError, match="not a valid model name"):
        load_entry(path)


def test_add_recipes_registers_user_folder(tmp_path):
    (tmp_path / "user_model.toml").write_text(GOOD)
    assert zoo.add_recipes(tmp_path) == ["user_model"]
    assert "user_model" in zoo.list()
    assert zoo.list(tag="user") == ["user_model"]
    model = zoo.get("user_model", seed=0)
    assert model.output["probabilities"].shape == (None, 2)


def test_add_recipes_with_bad_recipe_leaves_registry_unchanged(tmp_path):
    (tmp_path / "good_one.toml").write_text(GOOD)
    (tmp_path / "bad_one.toml").write_text(mutate("num_classes = 2", "num_classes = -2"))
    before = zoo.list()
    with pytest.raises(RecipeError, match=r"bad_one\.toml: params\.num_classes"):
        zoo.add_recipes(tmp_path)
    assert zoo.list() == before


def test_add_recipes_rejects_missing_folder(tmp_path):
    with pytest.raises(ZooError, match="is not a folder"):
        zoo.add_recipes(tmp_path / "nope")


def test_duplicate_name_fails_loudly(tmp_path):
    (tmp_path / "cnn_lstm_fusion_tiny.toml").write_text(GOOD)
    with pytest.raises(DuplicateModelError) as exc:
        zoo.add_recipes(tmp_path)
    assert "declared twice" in str(exc.value)
    assert str(tmp_path / "cnn_lstm_fusion_tiny.toml") in str(exc.value)
    assert "cnn_lstm_fusion_tiny" in zoo.list()


def test_env_var_adds_folders(tmp_path, monkeypatch):
    (tmp_path / "user_model.toml").write_text(GOOD)
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert "user_model" in zoo.list()
    monkeypatch.delenv(ENV_VAR)
    assert "user_model" not in zoo.list()


def test_env_var_with_missing_folder_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(ZooError, match="does not exist"):
        zoo.list()


def test_list_filters_by_pattern_and_tag():
    assert zoo.list("*_tiny") == [n for n in zoo.list() if n.endswith("_tiny")]
    assert "cnn_lstm_fusion" in zoo.list(tag="fusion")
    assert zoo.list(tag="no-such-tag") == []


def test_import_and_list_never_import_tensorflow(tmp_path):
    (tmp_path / "user_model.toml").write_text(GOOD)
    code = (
        "import sys, zoo\n"
        "names = zoo.list()\n"
        "info = zoo.info('cnn_lstm_fusion', num_classes=4)\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'onnxruntime', 'ai_edge_litert', 'export')"
        " if m in sys.modules]\n"
        "print(len(names), heavy)\n"
        "assert 'user_model' in names and not heavy, heavy\n"
    )
    env = {**os.environ, ENV_VAR: str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("[]")


def test_builtin_recipes_are_the_top_level_folder():
    assert (
        REGISTRY.dirs()[0] == (ROOT / "recipes").resolve()
        or Path(REGISTRY.dirs()[0]).name == "_recipes"
    )


def test_listing_reads_names_and_use_validates(tmp_path, monkeypatch):
    """A broken recipe does not break listing; using it fails with the located error."""
    (tmp_path / "user_model.toml").write_text(GOOD)
    (tmp_path / "bad_one.toml").write_text(mutate("lstm_units = 4", "lstm_unit = 4"))
    (tmp_path / "not_toml.toml").write_text(GOOD + "\nthis is = = not toml\n")
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert {"user_model", "bad_one", "not_toml"} <= set(zoo.list())
    assert zoo.list("bad_*") == ["bad_one"]
    for use in (zoo.info, lambda name: zoo.get(name, seed=0)):
        with pytest.raises(RecipeError) as exc:
            use("bad_one")
        message = str(exc.value)
        assert f"{tmp_path / 'bad_one.toml'}: params.lstm_unit:" in message, message
        assert "Did you mean 'lstm_units'" in message
    with pytest.raises(RecipeError, match=r"not_toml\.toml: <top level>: not valid TOML"):
        zoo.info("not_toml")
    assert zoo.info("user_model")["tags"] == ["image", "user"]


def test_tag_filter_reads_tags_without_validating(tmp_path, monkeypatch):
    (tmp_path / "bad_one.toml").write_text(mutate("lstm_units = 4", "lstm_unit = 4"))
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert zoo.list(tag="user") == ["bad_one"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "not_toml.toml").write_text(GOOD + "\nthis is = = not toml\n")
    monkeypatch.setenv(ENV_VAR, f"{tmp_path}{os.pathsep}{other}")
    assert "not_toml" in zoo.list()
    with pytest.raises(RecipeError, match=r"not_toml\.toml: <top level>: not valid TOML"):
        zoo.list(tag="user")


def test_listing_imports_no_schema_and_use_imports_one_family():
    code = (
        "import sys, zoo\n"
        "zoo.list(); zoo.list('*fusion*', tag='image')\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'numpy')\n"
        "               or m.startswith('zoo.families'))\n"
        "assert not heavy, heavy\n"
        "zoo.info('cnn_lstm_fusion_tiny')\n"
        "print(sorted(m for m in sys.modules if m.startswith('zoo.families.')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['zoo.families._common', 'zoo.families.cnn_lstm_fusion']"


def test_unknown_family_lists_every_builtin_family(tmp_path):
    path = tmp_path / "user_model.toml"
    path.write_text(mutate('"cnn_lstm_fusion"', '"resnet"'))
    with pytest.raises(RecipeError) as exc:
        load_entry(path)
    for family in ("bert_classifier", "cnn_lstm_fusion", "multimodal_autoencoder"):
        assert family in str(exc.value)


def test_user_family_clashing_with_a_builtin_one_fails_at_registration():
    with pytest.raises(ZooError, match="already registered"):
        zoo.register_family("resnet50_transfer", params=zoo.Params, outputs=lambda p, i: {})(
            lambda p, i, name: None
        )
