"""Hostile recipe files: each is refused with a zoo error naming the file, the key and the fix.

Adds to the corpus of ``test_recipes.MALFORMED``: TOML syntax errors, unknown keys and wrong
types at every level, absurd sizes, non-finite numbers, encodings, NUL bytes, huge and deeply
nested files, path-like and reserved model names. Absurd parameter counts are refused by
``zoo.get`` before any weight is allocated. A property-based test (hypothesis) mutates every
built-in recipe and checks that nothing but :class:`zoo.ZooError` escapes loading.
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

import pytest
import tomllib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_recipes import GOOD, MALFORMED, mutate

import zoo
from zoo import DuplicateModelError, RecipeError, ZooError
from zoo._recipe_base import MAX_RECIPE_BYTES, parse_overrides
from zoo._registry import ENV_VAR, REGISTRY, describe_entry, load_entry
from zoo.errors import ModelTooLargeError

IMAGE = '[inputs.image]\nshape = [24, 24, 3]\ndtype = "float32"\nrange = [0.0, 255.0]\n'
TOKENS = '[inputs.tokens]\nshape = [8]\ndtype = "int32"\nrange = [0, 50]\n'
OUTPUT = "[outputs.probabilities]\nshape = [2]\n"
EXPORT = '[export]\nformats = ["keras", "saved_model"]\n'


def top(line: str, text: str = GOOD) -> str:
    """``text`` with ``line`` as its first statement (a top-level key)."""
    return line + "\n" + text


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


# (case id, recipe text or bytes, key path expected in the message, other expected fragments)
HOSTILE: list[tuple[str, str | bytes, str, list[str]]] = [
    # --- TOML syntax, encodings, bytes
    (
        "unclosed_string",
        mutate('"A user recipe."', '"A user recipe.'),
        "<top level>",
        ["not valid TOML", "line 3", "Fix the syntax"],
    ),
    (
        "duplicate_key",
        mutate("lstm_units = 4", "lstm_units = 4\nlstm_units = 8"),
        "<top level>",
        ["not valid TOML", "Fix the syntax"],
    ),
    (
        "duplicate_input_table",
        GOOD + "\n" + IMAGE,
        "<top level>",
        ["not valid TOML", "Fix the syntax"],
    ),
    (
        "duplicate_input_dotted_and_table",
        top("inputs.image.dtype = 'uint8'"),
        "<top level>",
        ["not valid TOML", "Fix the syntax"],
    ),
    ("bad_table_header", mutate("[export]", "[export"), "<top level>", ["not valid TOML"]),
    (
        "table_header_with_space_key",
        mutate("[export]", "[exp ort]"),
        "<top level>",
        ["not valid TOML"],
    ),
    (
        "invalid_escape",
        mutate('"A user recipe."', r'"A \q recipe."'),
        "<top level>",
        ["not valid TOML", "line 3"],
    ),
    ("key_without_value", GOOD + "\nnum_layers =\n", "<top level>", ["not valid TOML"]),
    ("value_without_key", GOOD + "\n= 3\n", "<top level>", ["not valid TOML"]),
    (
        "unclosed_array",
        mutate("shape = [24, 24, 3]", "shape = [24, 24, 3"),
        "<top level>",
        ["not valid TOML"],
    ),
    (
        "invalid_date",
        GOOD + "\n[train]\ndata = 2024-13-45\n",
        "<top level>",
        ["not valid TOML"],
    ),
    (
        "nul_byte",
        mutate('"A user recipe."', '"A user\x00recipe."').encode(),
        "<top level>",
        ["NUL byte at line 3", "remove the NUL byte"],
    ),
    (
        "non_utf8_byte",
        mutate('"A user recipe."', '"A user recipe.__"').encode().replace(b"__", b"\xff\xfe"),
        "<top level>",
        ["not UTF-8", "0xff", "line 3", "save the file as UTF-8"],
    ),
    (
        "latin1_file",
        mutate('"A user recipe."', '"Café recipe."').encode("latin-1"),
        "<top level>",
        ["not UTF-8", "0xe9", "line 3"],
    ),
    ("utf16_file", GOOD.encode("utf-16"), "<top level>", ["not UTF-8", "line 1"]),
    (
        "nested_arrays_beyond_recursion",
        mutate("num_classes = 2", f"num_classes = 2\nconv = {nested(5000)}"),
        "<top level>",
        ["nested too deeply", "at most 16 levels"],
    ),
    (
        "nested_inline_tables",
        mutate("num_classes = 2", "num_classes = 2\ndeep = " + "{a = " * 40 + "1" + "}" * 40),
        "params.deep.a.a",
        ["nested more than 16 levels", "flatten it"],
    ),
    (
        "nested_arrays_in_param",
        mutate("conv_filters = [4]", f"conv_filters = {nested(20)}"),
        "params.conv_filters.0.0",
        ["nested more than 16 levels"],
    ),
    # --- unknown keys at every level
    (
        "unknown_top_table",
        GOOD + "\n[training]\nepochs = 3\n",
        "training",
        ["unknown key 'training'", "Did you mean 'train'"],
    ),
    (
        "unknown_output_key",
        mutate(OUTPUT, OUTPUT + 'activaton = "softmax"\n'),
        "outputs.probabilities.activaton",
        ["unknown key 'activaton'", "task"],
    ),
    (
        "unknown_train_key",
        GOOD + "\n[train]\nepoch = 3\n",
        "train.epoch",
        ["unknown key 'epoch'", "Did you mean 'epochs'"],
    ),
    (
        "unknown_key_long_name",
        top("x" * 5000 + " = 1"),
        "x" * 77 + "...",
        ["unknown key", "expected one of"],
    ),
    # --- wrong types at every level
    ("description_int", mutate('"A user recipe."', "5"), "description", ["5 (int)", "string"]),
    ("tags_string", mutate('["image", "user"]', '"image"'), "tags", ["'image' (str)", "list"]),
    (
        "inputs_not_a_table",
        top("inputs = 3", GOOD.replace(IMAGE, "").replace(TOKENS, "")),
        "inputs",
        ["3 (int)", "dictionary"],
    ),
    (
        "outputs_an_array",
        top('outputs = ["probabilities"]', GOOD.replace(OUTPUT, "")),
        "outputs",
        ["['probabilities'] (list)", "dictionary"],
    ),
    (
        "input_spec_a_list",
        mutate(IMAGE, "[inputs]\nimage = [24, 24, 3]\n"),
        "inputs.image",
        ["[24, 24, 3] (list)", "InputSpec"],
    ),
    (
        "shape_float",
        mutate("shape = [24, 24, 3]", "shape = [24.0, 24, 3]"),
        "inputs.image.shape.0",
        ["24.0 (float)", "integer"],
    ),
    ("shape_bool", mutate("shape = [8]", "shape = [true]"), "inputs.tokens.shape.0", ["True"]),
    ("dtype_int", mutate('dtype = "int32"', "dtype = 32"), "inputs.tokens.dtype", ["32 (int)"]),
    (
        "range_strings",
        mutate("range = [0, 50]", 'range = ["0", "50"]'),
        "inputs.tokens.range.0",
        ["'0' (str)", "number"],
    ),
    (
        "output_task_unknown",
        mutate(OUTPUT, OUTPUT + 'task = "regression"\n'),
        "outputs.probabilities.task",
        ["'regression' (str)", "'classification'"],
    ),
    (
        "formats_string",
        mutate('formats = ["keras", "saved_model"]', 'formats = "keras"'),
        "export.formats",
        ["'keras' (str)", "list"],
    ),
    (
        "export_a_string",
        top('export = "all"', GOOD.replace(EXPORT, "")),
        "export",
        ["'all' (str)", "ExportSpec"],
    ),
    (
        "params_an_array",
        top("params = [1]", GOOD[: GOOD.index("[params]")]),
        "params",
        ["[1] (list)", "dictionary"],
    ),
    (
        "param_int_for_list",
        mutate("conv_filters = [4]", "conv_filters = 4"),
        "params.conv_filters",
        ["4 (int)", "list"],
    ),
    (
        "train_epochs_string",
        GOOD + '\n[train]\nepochs = "10"\n',
        "train.epochs",
        ["'10' (str)", "integer"],
    ),
    (
        "description_terminal_escape",
        mutate('"A user recipe."', '"A user recipe.\\u001b[2J"'),
        "description",
        ["control character '\\x1b' at position 14", "remove it"],
    ),
    (
        "description_too_long",
        mutate('"A user recipe."', '"' + "long " * 500 + '"'),
        "description",
        ["at most 2000 characters"],
    ),
    # --- zero, negative, absurd sizes
    ("shape_zero", mutate("shape = [8]", "shape = [0]"), "inputs.tokens.shape.0", ["0 (int)"]),
    (
        "shape_huge_integer",
        mutate("shape = [8]", f"shape = [{2**70}]"),
        "inputs.tokens.shape.0",
        ["less than or equal to 16777216", "1180591620717411303424 (int)"],
    ),
    (
        "shape_too_many_values",
        mutate("shape = [24, 24, 3]", "shape = [4096, 4096, 4096]"),
        "inputs.image.shape",
        ["6.87e+10 values per example", "limit of 268435456", "use a smaller shape"],
    ),
    (
        "shape_rank_nine",
        mutate("shape = [8]", "shape = [1, 1, 1, 1, 1, 1, 1, 1, 1]"),
        "inputs.tokens.shape",
        ["at most 8 items"],
    ),
    ("shape_empty", mutate("shape = [8]", "shape = []"), "inputs.tokens.shape", ["at least 1"]),
    (
        "output_shape_huge",
        mutate(OUTPUT, f"[outputs.probabilities]\nshape = [{2**40}]\n"),
        "outputs.probabilities.shape.0",
        ["less than or equal to 16777216"],
    ),
    (
        "vocab_zero",
        mutate("vocab_size = 50", "vocab_size = 0"),
        "params.vocab_size",
        ["0 (int)", "greater than or equal to 1"],
    ),
    ("units_negative", mutate("lstm_units = 4", "lstm_units = -4"), "params.lstm_units", ["-4"]),
    (
        "num_classes_huge_integer",
        mutate("num_classes = 2", f"num_classes = {2**70}"),
        "outputs.probabilities.shape",
        [f"expected [{2**70}]", "received [2]"],
    ),
    (
        "kernel_larger_than_image",
        mutate("num_classes = 2", f"num_classes = 2\nkernel_size = {2**70}"),
        "inputs.image.shape",
        ["too small for 1 conv blocks", "use a larger image"],
    ),
    (
        "epochs_huge_integer",
        GOOD + f"\n[train]\nepochs = {2**70}\n",
        "train.epochs",
        ["less than or equal to 1000000"],
    ),
    (
        "batch_size_zero",
        GOOD + "\n[train]\nbatch_size = 0\n",
        "train.batch_size",
        ["0 (int)", "greater than or equal to 1"],
    ),
    # --- NaN and infinities
    (
        "range_inf",
        mutate("range = [0.0, 255.0]", "range = [0.0, inf]"),
        "inputs.image.range.1",
        ["finite number", "inf (float)"],
    ),
    (
        "range_minus_inf",
        mutate("range = [0.0, 255.0]", "range = [-inf, 1.0]"),
        "inputs.image.range.0",
        ["finite number"],
    ),
    (
        "range_nan",
        mutate("range = [0.0, 255.0]", "range = [nan, 1.0]"),
        "inputs.image.range.0",
        ["finite number"],
    ),
    (
        "range_overflowing_float",
        mutate("range = [0.0, 255.0]", "range = [0.0, 1e400]"),
        "inputs.image.range.1",
        ["finite number"],
    ),
    (
        "range_beyond_float32",
        mutate("range = [0.0, 255.0]", "range = [0.0, 1e300]"),
        "inputs.image.range",
        ["does not fit dtype float32", "use a range the dtype can hold"],
    ),
    (
        "range_beyond_int32",
        mutate("range = [0, 50]", f"range = [0, {2**40}]"),
        "inputs.tokens.range",
        ["does not fit dtype int32", "2.14748e+09"],
    ),
    (
        "range_beyond_uint8",
        mutate('dtype = "float32"\nrange = [0.0, 255.0]', 'dtype = "uint8"\nrange = [0, 300]'),
        "inputs.image.range",
        ["does not fit dtype uint8", "[0, 256]"],
    ),
    (
        "param_nan",
        mutate("num_classes = 2", "num_classes = 2\nimage_scale = nan"),
        "params.image_scale",
        ["nan is not a finite number", "use a finite value"],
    ),
    (
        "train_learning_rate_inf",
        GOOD + "\n[train]\nlearning_rate = inf\n",
        "train.learning_rate",
        ["finite number"],
    ),
    # --- missing inputs and outputs
    (
        "no_inputs",
        GOOD.replace(IMAGE, "").replace(TOKENS, ""),
        "inputs",
        ["required key is missing", "add it"],
    ),
    (
        "empty_inputs",
        top("inputs = {}", GOOD.replace(IMAGE, "").replace(TOKENS, "")),
        "inputs",
        ["at least 1 item"],
    ),
    (
        "empty_outputs",
        top("outputs = {}", GOOD.replace(OUTPUT, "")),
        "outputs",
        ["at least 1 item"],
    ),
    (
        "input_without_shape",
        mutate("shape = [8]\n", ""),
        "inputs.tokens.shape",
        ["required key is missing"],
    ),
    (
        "output_without_shape",
        mutate(OUTPUT, "[outputs.probabilities]\ntask = 'classification'\n"),
        "outputs.probabilities.shape",
        ["required key is missing"],
    ),
    (
        "no_description",
        mutate('description = "A user recipe."\n', ""),
        "description",
        ["required key"],
    ),
    # --- name clashes and names
    (
        "input_and_output_same_name",
        mutate(OUTPUT, OUTPUT + "[outputs.image]\nshape = [2]\n"),
        "outputs.image",
        ["names both an input and an output", "rename the output"],
    ),
    (
        "repeated_tags",
        mutate('["image", "user"]', '["image", "user", "image"]'),
        "tags",
        ["must not repeat", "['image']"],
    ),
    (
        "family_path_like",
        mutate('"cnn_lstm_fusion"', '"../cnn_lstm_fusion"'),
        "family",
        ["received '../cnn_lstm_fusion' (str)", "expected a name of lowercase ASCII letters"],
    ),
    (
        "input_name_unicode_lookalike",
        mutate("[inputs.image]", '[inputs."\u0456mage"]'),
        "inputs.\u0456mage",
        ["received '\u0456mage' (str) (it holds the non-ASCII '\u0456', U+0456)"],
    ),
    (
        "tag_too_long",
        mutate('"user"', '"' + "t" * 65 + '"'),
        "tags.1",
        ["at most 64 characters"],
    ),
]


def test_corpus_has_at_least_sixty_cases():
    ids = [case[0] for case in MALFORMED + HOSTILE]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 60, len(ids)


@pytest.mark.parametrize(
    ("content", "key", "fragments"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_hostile_recipe_names_file_key_and_fix(tmp_path, content, key, fragments):
    path = tmp_path / "user_model.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(RecipeError) as exc:
        load_entry(path)
    message = str(exc.value)
    assert f"{path}: {key}" in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert len(message) < 2000, message


def test_huge_file_is_refused_by_size_before_parsing(tmp_path, monkeypatch):
    path = tmp_path / "user_model.toml"
    with path.open("wb") as fh:  # 20 MB: a valid recipe and then a comment
        fh.write(GOOD.encode())
        fh.write(b"#" + b"x" * (20 * 2**20) + b"\n")

    def no_parser():
        raise AssertionError("the TOML parser was reached")

    monkeypatch.setattr("zoo._recipe_base._tomllib", no_parser)
    with pytest.raises(RecipeError) as exc:
        load_entry(path)
    message = str(exc.value)
    assert f"{path}: <top level>: the file has {path.stat().st_size} bytes" in message
    assert f"limit of {MAX_RECIPE_BYTES} bytes" in message


def test_a_file_at_the_size_limit_is_read(tmp_path):
    path = tmp_path / "user_model.toml"
    padding = MAX_RECIPE_BYTES - len(GOOD.encode()) - 2
    path.write_text(GOOD + "#" + "x" * padding + "\n")
    assert path.stat().st_size == MAX_RECIPE_BYTES
    assert load_entry(path).name == "user_model"


@pytest.mark.parametrize("kind", ["device", "folder", "dangling_link"])
def test_a_recipe_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    path = tmp_path / "user_model.toml"
    if kind == "device":  # endless: reading it would never finish
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to(tmp_path / "missing.toml")
    with pytest.raises(RecipeError) as exc:
        load_entry(path)
    expected = "cannot read the file" if kind == "dangling_link" else "not a regular file"
    assert f"{path}: <top level>: {expected}" in str(exc.value)


BAD_FILE_NAMES = [
    ("compare", "reserved"),
    ("-x", "not a valid model name"),
    ("--help", "not a valid model name"),
    (".hidden", "not a valid model name"),
    ("1model", "not a valid model name"),
    ("my.model", "not a valid model name"),
    ("my model", "not a valid model name"),
    ("My_Model", "not a valid model name"),
    ("m\u043edel", "not a valid model name"),  # Cyrillic o
    ("model\n", "not a valid model name"),  # re.match(...$) accepted a trailing newline
    ("a" * 65, "more than the limit of 64"),
    ("..", "not a valid model name"),
]


@pytest.mark.parametrize(
    ("stem", "why"), BAD_FILE_NAMES, ids=[repr(s)[:20] for s, _ in BAD_FILE_NAMES]
)
def test_bad_model_names_are_refused(tmp_path, stem, why):
    path = tmp_path / f"{stem}.toml"
    path.write_text(GOOD)
    with pytest.raises(RecipeError) as exc:
        load_entry(path)
    message = str(exc.value)
    assert f"{path}: <top level>:" in message and why in message, message
    assert "rename the file" in message, message


def test_reserved_name_is_refused_in_listing_and_add_recipes(tmp_path, monkeypatch):
    (tmp_path / "compare.toml").write_text(GOOD)
    before = zoo.list()
    with pytest.raises(RecipeError, match=r"compare\.toml: <top level>: model name 'compare'"):
        zoo.add_recipes(tmp_path)
    assert zoo.list() == before
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(RecipeError, match="zoo bench compare RUN_A RUN_B"):
        zoo.list()


def test_hidden_files_are_not_listed_and_cannot_be_loaded(tmp_path, monkeypatch):
    (tmp_path / "user_model.toml").write_text(GOOD)
    (tmp_path / "._user_model.toml").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert "user_model" in zoo.list() and not [n for n in zoo.list() if n.startswith(".")]
    with pytest.raises(RecipeError, match="not a valid model name"):
        load_entry(tmp_path / "._user_model.toml")


def test_same_model_in_two_user_folders_fails_naming_both(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "user_model.toml").write_text(GOOD)
    monkeypatch.setenv(ENV_VAR, f"{first}{os.pathsep}{second}")
    with pytest.raises(DuplicateModelError) as exc:
        zoo.list()
    message = str(exc.value)
    assert str(first / "user_model.toml") in message and str(second / "user_model.toml") in message
    assert "rename one of the files" in message


def test_path_like_model_names_are_unknown():
    for name in ("../cnn_lstm_fusion_tiny", "recipes/cnn_lstm_fusion_tiny", "-x", ""):
        with pytest.raises(zoo.UnknownModelError):
            REGISTRY.get(name)


def test_set_values_are_parsed_safely():
    assert parse_overrides(["num_classes=5\nextra = 1"]) == {"num_classes": "5\nextra = 1"}
    assert parse_overrides(["dropout=nan"])["dropout"] != 0.0  # refused later: not finite
    with pytest.raises(ZooError, match="nests arrays or tables too deeply"):
        parse_overrides([f"conv_filters={nested(5000)}"])
    with pytest.raises(ZooError, match="above the limit of 1048576"):
        parse_overrides(["description=" + "x" * (MAX_RECIPE_BYTES + 1)])


def test_non_finite_override_is_refused():
    with pytest.raises(zoo.OverrideError, match=r"dropout: nan is not a finite number"):
        zoo.info("cnn_lstm_fusion_tiny", dropout=math.nan)


# ----------------------------------------------------------- absurd sizes, before allocation

HUGE_PARAMS = mutate("vocab_size = 50", "vocab_size = 1000000000").replace(
    "embedding_dim = 4", "embedding_dim = 1000"
)


def test_absurd_model_is_refused_before_allocation(tmp_path):
    import keras

    (tmp_path / "huge_model.toml").write_text(HUGE_PARAMS.replace("[0, 50]", "[0, 5000]"))
    zoo.add_recipes(tmp_path)
    with pytest.raises(ModelTooLargeError) as exc:
        zoo.get("huge_model")
    message = str(exc.value)
    assert str(tmp_path / "huge_model.toml") in message
    assert "about 1e+12 parameters (4e+03 GB as float32)" in message, message
    assert "limit of 2e+09" in message and "ZOO_MAX_PARAMS=N" in message
    assert "text_embedding/embeddings 1e+12" in message, message
    # the refused model's deferred variables are gone: leaving a stateless scope (which
    # initializes pending variables) must not try to allocate them
    with keras.StatelessScope():
        pass


def test_absurd_overrides_are_refused_with_the_estimate():
    with pytest.raises(ModelTooLargeError) as exc:
        zoo.get("cnn_lstm_fusion_tiny", dense_units=10**7, lstm_units=10**6)
    message = str(exc.value)
    assert "overrides {'dense_units': 10000000, 'lstm_units': 1000000}" in message
    assert "about 1.4e+13 parameters" in message, message
    with pytest.raises(ModelTooLargeError, match=r"about 9\.44e\+21 parameters"):
        zoo.get("cnn_lstm_fusion_tiny", vocab_size=2**70)


def test_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("ZOO_MAX_PARAMS", "1000")
    with pytest.raises(ModelTooLargeError, match=r"about 3\.05e\+04 parameters.*limit of 1e\+03"):
        zoo.get("cnn_lstm_fusion_tiny", num_classes=2)
    for bad in ("lots", "-5", "0", "1.5", "inf"):
        monkeypatch.setenv("ZOO_MAX_PARAMS", bad)
        with pytest.raises(ZooError, match=rf"ZOO_MAX_PARAMS={bad!r}: expected a positive whole"):
            zoo.get("cnn_lstm_fusion_tiny", num_classes=2)
    monkeypatch.setenv("ZOO_MAX_PARAMS", "5e4")
    assert zoo.get("cnn_lstm_fusion_tiny", num_classes=2).count_params() <= 50_000


def test_a_build_running_out_of_memory_is_refused(tmp_path):
    """A family constant sized by the params (not a weight) that cannot be allocated."""

    class OomParams(zoo.Params):
        size: int = 1

    def outputs(params, inputs):
        return {"y": [1]}

    @zoo.register_family("hostile_test_oom", params=OomParams, outputs=outputs)
    def build(params, inputs, name):
        raise MemoryError(f"Unable to allocate {params.size} TiB for an array")

    recipe = 'family = "hostile_test_oom"\ndescription = "x"\n[inputs.x]\nshape = [1]\n'
    (tmp_path / "oom_model.toml").write_text(recipe + "[outputs.y]\nshape = [1]\n")
    zoo.add_recipes(tmp_path)
    with pytest.raises(ModelTooLargeError) as exc:
        zoo.get("oom_model", size=4)
    message = str(exc.value)
    assert "oom_model (recipe " in message and "ran out of memory" in message, message
    assert "Unable to allocate 4 TiB" in message and "lower it" in message, message


def test_dry_build_leaves_weights_and_names_unchanged():
    """A checked build (overrides) equals an unchecked one (built-in recipe as is)."""
    plain = zoo.get("cnn_lstm_fusion_tiny", seed=0)
    num_classes = zoo.info("cnn_lstm_fusion_tiny")["params"]["num_classes"]
    checked = zoo.get("cnn_lstm_fusion_tiny", seed=0, num_classes=num_classes, dropout=0.0)
    assert [w.path for w in checked.weights] == [w.path for w in plain.weights]
    for a, b in zip(checked.get_weights(), plain.get_weights(), strict=True):
        assert (a == b).all()


# ------------------------------------------------------------- property-based mutations

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.toml"))
SEEDS = [p.read_text() for p in RECIPES]
HOSTILE_VALUES = st.sampled_from(
    [
        0,
        -1,
        1,
        2**31,
        2**63,
        2**70,
        -(2**70),
        0.0,
        -0.5,
        1e308,
        math.nan,
        math.inf,
        -math.inf,
        True,
        "",
        "x",
        "../etc/passwd",
        "\u0456mage",
        "\x1b[2J",
        "a" * 300,
        [],
        [0],
        [2**40, 2**40],
        [[1]],
        ["image"],
        {},
        {"shape": [1]},
        {"zzz": 1},
    ]
).map(copy.deepcopy)  # drawn lists and tables are mutated further


#: Same-type extremes for numbers (a recipe that still parses, with an absurd value).
INT_EXTREMES = [0, -1, 1, 2, 2**31, 2**63, 2**70, 10**12]
FLOAT_EXTREMES = [0.0, -0.0, -1.0, 1e-300, 5e-324, 1e308, math.nan, math.inf, -math.inf]
#: Every parameter name of the built-in recipes, to draw overrides from.
PARAM_NAMES = sorted(
    {key for text in SEEDS for key in tomllib.loads(text).get("params", {})} | {"part", "zzz"}
)


def _toml_key(key: str) -> str:
    return json.dumps(key, ensure_ascii=False)


def _toml_value(value) -> str:
    """A minimal TOML writer (inline tables) for the mutated recipes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def _to_toml(data: dict) -> str:
    return "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in data.items())


def _paths(value, prefix=()):
    """Every key path inside parsed TOML (tables and arrays)."""
    yield prefix
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for k, v in items:
        yield from _paths(v, (*prefix, k))


@st.composite
def mutated_recipes(draw):
    text = draw(st.sampled_from(SEEDS))
    kind = draw(st.sampled_from(["value", "value", "value", "bytes"]))
    if kind == "bytes":
        raw = bytearray(text.encode())
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(raw) - 1))
            op = draw(st.sampled_from(["flip", "delete", "insert"]))
            byte = draw(st.integers(0, 255))
            if op == "flip":
                raw[at] ^= 1 << (byte % 8)
            elif op == "delete":
                del raw[at]
            else:
                raw.insert(at, byte)
        return bytes(raw)
    data = tomllib.loads(text)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["replace", "extreme", "extreme", "delete", "insert"]))
        old = parent[path[-1]]
        if op == "extreme" and isinstance(old, (int, float)) and not isinstance(old, bool):
            pool = INT_EXTREMES if isinstance(old, int) else FLOAT_EXTREMES
            parent[path[-1]] = draw(st.sampled_from(pool))
        elif op in ("replace", "extreme"):
            parent[path[-1]] = draw(HOSTILE_VALUES)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["zzz", "shapes", "Image", "0", "", "params"]))] = draw(
                HOSTILE_VALUES
            )
        else:
            parent.append(draw(HOSTILE_VALUES))
    return _to_toml(data).encode()


@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    content=mutated_recipes(),
    overrides=st.dictionaries(
        st.sampled_from(PARAM_NAMES),
        st.one_of(HOSTILE_VALUES, st.sampled_from(INT_EXTREMES + FLOAT_EXTREMES)),
        max_size=2,
    ),
)
def test_mutated_recipes_raise_only_zoo_errors(tmp_path, content, overrides):
    path = tmp_path / "user_model.toml"
    path.write_bytes(content)
    try:
        entry = load_entry(path)
    except ZooError as exc:
        assert str(path) in str(exc)
        return
    params, inputs, outputs = entry.resolve_io({})
    describe_entry(entry, params, outputs, inputs)
    try:
        params, inputs, outputs = entry.resolve_io(overrides)
    except ZooError:
        return
    describe_entry(entry, params, outputs, inputs)
