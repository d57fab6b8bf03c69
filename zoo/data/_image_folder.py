"""Image folders: one subfolder per class, listed by ``keras.utils.image_dataset_from_directory``.

Class names are the subfolders, sorted; labels are inferred from them. The images are
decoded later, per split, with the same operations Keras uses (``zoo.data._pipeline``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

#: Image file types an image folder may hold (those Keras reads).
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
#: Keras colour mode of each channel count.
COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}


def folder_classes(path: Path) -> tuple[str, ...]:
    """Class names of an image folder: its subfolders, sorted (as Keras infers them)."""
    return tuple(sorted(p.name for p in path.iterdir() if p.is_dir()))


def images_in(folder: Path) -> list[Path]:
    """The image files under a folder, at any depth."""
    return [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]


def index_folder(
    path: Path, image: tuple[tuple[int, int], int]
) -> tuple[tuple[str, ...], list[str], list[int], str]:
    """Class names, image paths, their labels and a SHA-256 of names and contents.

    Raises:
        ZooError: no images in class subfolders, or a channel count Keras cannot decode to.
    """
    if not any(images_in(path / c) for c in folder_classes(path)):
        raise ZooError(
            f"image folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)}) in class "
            "subfolders; expected one subfolder per class with images in it."
        )
    listed = list_image_folder(path, image)
    names, paths = tuple(listed.class_names), [str(p) for p in listed.file_paths]
    labels = [names.index(Path(p).relative_to(path).parts[0]) for p in paths]
    digest = hashlib.sha256()
    for p in paths:
        digest.update(Path(p).relative_to(path).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(Path(p).read_bytes()).digest())
    return names, paths, labels, digest.hexdigest()


def list_image_folder(path: Path, image: tuple[tuple[int, int], int]) -> Any:
    """``keras.utils.image_dataset_from_directory`` over the folder (lazy: lists files only).

    Raises:
        ZooError: the model's channel count has no Keras colour mode.
    """
    import keras

    size, channels = image
    if channels not in COLOR_MODES:
        raise ZooError(
            f"image folder {path}: the model's image input has {channels} channels; expected "
            "1 (grayscale), 3 (rgb) or 4 (rgba), the colour modes images are decoded in."
        )
    try:
        return keras.utils.image_dataset_from_directory(
            path,
            labels="inferred",
            label_mode="int",
            color_mode=COLOR_MODES[channels],
            image_size=size,
            batch_size=None,
            shuffle=False,
            verbose=False,
        )
    except ValueError as exc:
        raise ZooError(
            f"image folder {path}: {exc}; expected one subfolder per class holding images."
        ) from None
