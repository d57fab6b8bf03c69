"""Write a finished fit into its run folder (the files listed in :mod:`zoo.training.run`)."""

from __future__ import annotations

import shutil
from typing import Any

from zoo.training.report import format_report, plot_confusion, plot_curves
from zoo.training.run import METRICS_FILE, MODEL_FILE, RUN_FILE, SCHEMA_VERSION, RunFolder
from zoo.versions import library_versions

#: tf.distribute classes by their public names (MultiWorkerMirroredStrategy is an alias).
PUBLIC_NAMES = {"CollectiveAllReduceStrategy": "MultiWorkerMirroredStrategy"}
#: Distributions whose versions a run records.
LIBRARIES = ("zoo", "tensorflow", "keras", "keras-hub", "numpy", "scikit-learn")


def write(
    run: RunFolder,
    result: Any,
    *,
    call: dict[str, Any],
    overrides: dict[str, Any],
    strategy: Any,
    seconds: dict[str, float],
) -> None:
    """Write model, metrics, report, plots and ``run.json`` into the staging folder."""
    from zoo.training._fit import settings_dict

    model, md = result.model, result.data
    model.save(run.staging / MODEL_FILE)
    shutil.rmtree(run.staging / "checkpoints", ignore_errors=True)
    title = f"{model.name} (test split, {md.counts['test']} rows)"
    report = result.metrics.get("probabilities")
    if isinstance(report, dict) and "confusion_matrix" in report:
        (run.staging / "report.txt").write_text(format_report(report) + "\n", encoding="utf-8")
        plot_confusion(report, run.staging / "confusion_matrix.png", title=title)
    starts = [s["first_epoch"] for s in result.stages[1:]]
    plot_curves(
        result.history, run.staging / "learning_curves.png", title=model.name, stage_starts=starts
    )
    if md.vocabulary:
        (run.staging / "vocabulary.txt").write_text("\n".join(md.vocabulary) + "\n", "utf-8")
    copy_recipe(model, run)
    run.write_json(METRICS_FILE, {"test": result.metrics, "history": result.history})
    run.write_json(
        RUN_FILE,
        {
            "schema_version": SCHEMA_VERSION,
            "model": model_record(model, overrides),
            "settings": settings_dict(result.settings),
            "stages": result.stages,
            "data": {
                "call": call,
                "fingerprint": md.fingerprint,
                "source": md.source,
                "counts": md.counts,
                "class_names": list(md.class_names) if md.class_names else None,
            },
            "strategy": {
                "kind": result.settings.strategy,
                "class": PUBLIC_NAMES.get(type(strategy).__name__, type(strategy).__name__),
                "replicas": int(strategy.num_replicas_in_sync),
            },
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
            "versions": library_versions(LIBRARIES),
            "files": [*sorted(p.name for p in run.staging.iterdir()), RUN_FILE],
        },
    )


def copy_recipe(model: Any, run: RunFolder) -> None:
    """Copy the recipe file a model was built from into the run as ``recipe.toml``."""
    from zoo.registry import REGISTRY, origin

    found = origin(model)
    entry = REGISTRY.get(found.name) if found is not None else None
    if entry is not None and entry.source is not None and entry.source.is_file():
        shutil.copyfile(entry.source, run.staging / "recipe.toml")


def model_record(model: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """``run.json``'s ``model`` entry: name, family, overrides, seed, parameters, params."""
    from zoo.registry import REGISTRY, origin

    found = origin(model)
    entry = REGISTRY.get(found.name) if found is not None else None
    return {
        "name": found.name if found is not None else model.name,
        "registered": found is not None,
        "family": entry.family.name if entry is not None else None,
        "overrides": dict(found.overrides) if found is not None else overrides,
        "seed": found.seed if found is not None else None,
        "parameters": int(model.count_params()),
        "params": _params(found),
    }


def _params(found: Any) -> dict[str, Any] | None:
    """The resolved family parameters of a registered model (plain data)."""
    if found is None:
        return None
    import zoo

    return dict(zoo.info(found.name, **found.overrides)["params"])
