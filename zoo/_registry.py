"""Model registry: name → recipe + family, from recipe folders; no TensorFlow import.

Recipe folders, in order: the built-in ``recipes/`` (shipped in the wheel as
``zoo/_recipes``), every folder in ``$ZOO_RECIPES_PATH`` (``os.pathsep``-separated)
and every folder passed to :func:`add_recipes`. A name declared twice, a file name that is
not a valid model name (``My-Model.toml``) or a reserved one (``compare.toml``) fails
loudly; hidden files (``.x.toml``) are skipped.

Listing reads file names only (and, to filter by tag, the TOML of each recipe), so it
imports neither pydantic nor the families. A recipe is fully validated (schema, family,
params, I/O contract) the first time its model is used (:meth:`Registry.get`), and
errors then name the file, the key path and the fix.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from zoo._recipe_base import check_model_name, non_finite, read_toml
from zoo.errors import (
    DuplicateModelError,
    OverrideError,
    RecipeError,
    UnknownModelError,
    ZooError,
    closest,
    did_you_mean,
)

if TYPE_CHECKING:
    from zoo._family import Family, Params
    from zoo._recipe import InputSpec, OutputSpec, Recipe

ENV_VAR = "ZOO_RECIPES_PATH"


class Entry(NamedTuple):
    """A registered model: its recipe, where it came from and its validated params.

    Immutable. (A named tuple rather than a dataclass: ``dataclasses`` pulls in
    ``inspect``, a tenth of the start-up time of ``zoo list``.)
    """

    name: str
    source: Path
    recipe: Recipe
    family: Family
    params: Params
    outputs: dict[str, OutputSpec]

    def resolve(self, overrides: dict[str, Any]) -> tuple[Params, dict[str, OutputSpec]]:
        """Merge ``overrides`` into the recipe params and validate them.

        Returns:
            The validated params and the output specs they imply.

        Raises:
            OverrideError: naming the key, what was received and what was expected.
        """
        params, _, outputs = self.resolve_io(overrides)
        return params, outputs

    def inputs_for(self, params: Params) -> dict[str, InputSpec]:
        """The recipe inputs a model built with ``params`` reads (all, or its part's)."""
        if self.family.part_inputs is None:
            return dict(self.recipe.inputs)
        wanted = self.family.part_inputs(params)
        return {k: v for k, v in self.recipe.inputs.items() if k in wanted}

    def resolve_io(
        self, overrides: dict[str, Any]
    ) -> tuple[Params, dict[str, InputSpec], dict[str, OutputSpec]]:
        """Like :meth:`resolve`, also giving the inputs the model reads.

        An override ``part="..."`` of a family with parts (e.g. a dual encoder's
        ``image_tower``) keeps only the recipe inputs that part reads.

        Returns:
            The validated params, the input specs and the output specs they imply.

        Raises:
            OverrideError: naming the key, what was received and what was expected.
        """
        if not overrides:
            return self.params, self.inputs_for(self.params), self.outputs
        from pydantic import ValidationError

        from zoo._family import SpecProblem
        from zoo._recipe import located_problems

        allowed = self.family.params.model_fields
        for key in overrides:
            if key not in allowed:
                raise OverrideError(
                    f"{self.name}: unknown parameter {key!r} for family {self.family.name!r}; "
                    f"expected one of: {', '.join(sorted(allowed))}.{did_you_mean(key, allowed)}"
                )
        bad = non_finite(overrides)
        if bad:
            raise OverrideError(
                f"{self.name}: invalid override\n  "
                + "\n  ".join(f"{k}: {m}" for k, m in bad)
                + "\n  Fix the value passed to zoo.get(...) / --set."
            )
        merged = {**self.recipe.params, **overrides}
        try:
            params = self.family.params.model_validate(merged)
        except ValidationError as exc:
            lines = [f"{k}: {m}" for k, m in located_problems(exc, self.family.params, merged)]
            raise OverrideError(
                f"{self.name}: invalid override\n  "
                + "\n  ".join(lines)
                + "\n  Fix the value passed to zoo.get(...) / --set."
            ) from None
        inputs = self.inputs_for(params)
        try:
            shapes = self.family.outputs(params, inputs)
        except SpecProblem as exc:
            raise OverrideError(f"{self.name}: with overrides {overrides}: {exc}") from None
        return params, inputs, _output_specs(self.recipe, shapes)


def _output_specs(recipe: Recipe, shapes: dict[str, list[int]]) -> dict[str, OutputSpec]:
    """Output specs for the family's output shapes.

    An override may name outputs the recipe lacks (``part="encoder"`` gives ``latent``);
    those get a plain float32 spec.
    """
    from zoo._recipe import OutputSpec

    return {
        name: recipe.outputs[name].model_copy(update={"shape": shape})
        if name in recipe.outputs
        else OutputSpec(shape=shape)
        for name, shape in shapes.items()
    }


def load_entry(path: Path) -> Entry:
    """Load and fully validate one recipe file (schema, family, params, I/O contract).

    Raises:
        RecipeError: naming the file, the key path, what was received and the fix.
    """
    from pydantic import ValidationError

    from zoo._family import SpecProblem, family_names, find_family
    from zoo._recipe import located_problems, parse_recipe

    name = path.stem
    check_model_name(name, path)
    raw = read_toml(path)
    recipe = parse_recipe(raw, path)
    family = find_family(recipe.family)
    if family is None:
        known = family_names()
        raise RecipeError(
            path,
            [
                (
                    "family",
                    f"unknown family {recipe.family!r}; expected one of: "
                    f"{', '.join(known)}.{did_you_mean(recipe.family, known)}",
                )
            ],
        )
    try:
        params = family.params.model_validate(recipe.params)
    except ValidationError as exc:
        raise RecipeError(
            path, located_problems(exc, family.params, recipe.params, "params")
        ) from None
    inputs = dict(recipe.inputs)
    if family.part_inputs is not None:
        reads = family.part_inputs(params)
        unread = sorted(set(inputs) - set(reads))
        if unread:
            raise RecipeError(
                path,
                [
                    (
                        f"inputs.{unread[0]}",
                        f"the model this recipe builds reads only {sorted(reads)}, received "
                        f"also {unread}; remove those input tables (a part built by override, "
                        'e.g. part="image_tower", keeps the inputs it reads by itself).',
                    )
                ],
            )
    try:
        shapes = family.outputs(params, inputs)
    except SpecProblem as exc:
        raise RecipeError(path, [(exc.key, exc.message)]) from None
    problems = []
    for out_name in sorted(set(shapes) | set(recipe.outputs)):
        if out_name not in recipe.outputs:
            problems.append((f"outputs.{out_name}", "missing; the family produces this output."))
        elif out_name not in shapes:
            problems.append(
                (
                    f"outputs.{out_name}",
                    f"the family produces no such output; expected one of {sorted(shapes)}.",
                )
            )
        elif recipe.outputs[out_name].shape != shapes[out_name]:
            problems.append(
                (
                    f"outputs.{out_name}.shape",
                    f"expected {shapes[out_name]} from the params, received "
                    f"{recipe.outputs[out_name].shape}.",
                )
            )
    if problems:
        raise RecipeError(path, problems)
    return Entry(name, path, recipe, family, params, _output_specs(recipe, shapes))


def builtin_recipe_dir() -> Path:
    """The folder of built-in recipes: ``zoo/_recipes`` in a wheel, ``recipes/`` in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_recipes", here.parent / "recipes"):
        if candidate.is_dir():
            return candidate
    raise ZooError(f"built-in recipes not found next to {here}; reinstall zoo.")


class _Slot:
    """A recipe file found in a folder; validated into an :class:`Entry` on first use."""

    __slots__ = ("entry", "source", "tags")

    def __init__(self, source: Path) -> None:
        self.source = source
        self.entry: Entry | None = None
        self.tags: tuple[str, ...] | None = None


class Registry:
    """All models from the recipe folders: listed by file name, validated on first use."""

    def __init__(self) -> None:
        self._extra_dirs: list[Path] = []
        self._entries: dict[str, _Slot] | None = None
        self._env_seen: str | None = None

    def dirs(self) -> list[Path]:
        """Recipe folders in lookup order."""
        env = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
        return [builtin_recipe_dir(), *env, *self._extra_dirs]

    def add_dir(self, path: str | os.PathLike[str]) -> list[str]:
        """Add a user recipe folder; validates its recipes at once. Returns the names added."""
        folder = Path(path).expanduser().resolve()
        if not folder.is_dir():
            raise ZooError(
                f"add_recipes: {str(path)!r} is not a folder; expected a folder of *.toml "
                "recipe files."
            )
        before = set(self._slots())
        self._extra_dirs.append(folder)
        try:
            added = sorted(set(self._rescan()) - before)
            for name in added:
                self.get(name)
        except ZooError:
            self._extra_dirs.pop()
            self._rescan()
            raise
        return added

    def entries(self) -> dict[str, Entry]:
        """Name → validated entry for every registered model (validates them all)."""
        return {name: self.get(name) for name in self._slots()}

    def _slots(self) -> dict[str, _Slot]:
        """Name → recipe file (and its entry once validated); rescanned when folders change."""
        if self._entries is None or os.environ.get(ENV_VAR, "") != self._env_seen:
            return self._rescan()
        return self._entries

    def _rescan(self) -> dict[str, _Slot]:
        """Find the recipe files again, keeping what was validated of files already known."""
        self._env_seen = os.environ.get(ENV_VAR, "")
        old, self._entries = self._entries or {}, None
        slots: dict[str, _Slot] = {}
        for folder in self.dirs():
            if not folder.is_dir():
                raise ZooError(
                    f"recipe folder {str(folder)!r} (from {ENV_VAR} or add_recipes) does not "
                    "exist; fix the path or remove it."
                )
            for path in sorted(folder.glob("*.toml")):
                name = path.stem
                if name.startswith("."):
                    continue  # hidden files (e.g. macOS' ._x.toml) are not recipes
                check_model_name(name, path)
                if name in slots:
                    raise DuplicateModelError(
                        f"model {name!r} is declared twice: {slots[name].source} "
                        f"and {path}; rename one of the files (file name = model name)."
                    )
                known = old.get(name)
                slots[name] = known if known and known.source == path else _Slot(path)
        self._entries = slots
        return slots

    def get(self, name: str) -> Entry:
        """The validated entry for ``name``, or an :class:`UnknownModelError` with close names.

        Raises:
            UnknownModelError: no recipe file has this name.
            RecipeError: the recipe is invalid (validated on first use).
        """
        slots = self._slots()
        if not isinstance(name, str) or name not in slots:
            hint = closest(str(name), slots)
            msg = f"unknown model {name!r}."
            msg += (" Did you mean " + " or ".join(repr(h) for h in hint) + "?") if hint else ""
            msg += " Run `zoo list` to see all names."
            raise UnknownModelError(msg)
        slot = slots[name]
        if slot.entry is None:
            slot.entry = load_entry(slot.source)
        return slot.entry

    def names(self, pattern: str | None = None, tag: str | None = None) -> list[str]:
        """Sorted names, filtered by a shell pattern and/or a tag.

        Without ``tag`` no recipe is read. With it, each recipe's TOML is read for its
        ``tags`` (not validated); a recipe that is not valid TOML raises its
        :class:`RecipeError`, since whether it has the tag cannot be known.
        """
        slots = self._slots()
        return sorted(
            n
            for n, slot in slots.items()
            if (pattern is None or fnmatch.fnmatchcase(n, pattern))
            and (tag is None or tag in _tags(slot))
        )


def _tags(slot: _Slot) -> tuple[str, ...]:
    """A recipe's tags as written (validated ones once its entry is loaded)."""
    if slot.entry is not None:
        return tuple(slot.entry.recipe.tags)
    if slot.tags is None:
        raw = read_toml(slot.source).get("tags")
        slot.tags = tuple(t for t in raw if isinstance(t, str)) if isinstance(raw, list) else ()
    return slot.tags


REGISTRY = Registry()


def describe_entry(
    entry: Entry,
    params: Params,
    outputs: dict[str, OutputSpec],
    inputs: dict[str, InputSpec] | None = None,
) -> dict[str, Any]:
    """Plain-data description of a model (what ``zoo.info`` returns)."""

    def spec(s: InputSpec | OutputSpec) -> dict[str, Any]:
        return s.model_dump(exclude_defaults=False)

    return {
        "name": entry.name,
        "family": entry.family.name,
        "description": entry.recipe.description,
        "tags": list(entry.recipe.tags),
        "inputs": {k: spec(v) for k, v in (inputs or entry.inputs_for(params)).items()},
        "outputs": {k: spec(v) for k, v in outputs.items()},
        "params": params.model_dump(),
        "formats": list(entry.recipe.export.formats),
        "train": entry.recipe.train.model_dump(),
        "source": str(entry.source),
    }
