"""CIFAR-10 and IMDB from the Keras dataset cache, read in the files' own formats.

The files are the ones ``keras.datasets.cifar10.load_data()`` and
``keras.datasets.imdb.load_data()`` download into ``$KERAS_HOME/datasets`` (default
``~/.keras/datasets``). They are read here directly (with the same restricted unpickler
Keras uses: only NumPy arrays may be rebuilt), so a copy placed there by hand works offline
and nothing is fetched unless ``download=True``: then ``keras.utils.get_file`` downloads
and checks them (SHA-256) into the same cache. A missing file is an error that names the
URL and the folder to put it in. NumPy is imported only when called.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
#: Keras's cache names: the extraction folder ``get_file`` makes and the archive it keeps.
CIFAR10_DIR = "cifar-10-batches-py-target"
CIFAR10_ARCHIVES = ("cifar-10-python.tar.gz", f"{CIFAR10_DIR}_archive")
CIFAR10_INNER = "cifar-10-batches-py"
CIFAR10_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

IMDB_BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
IMDB_FILE = "imdb.npz"
IMDB_SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
IMDB_INDEX = "imdb_word_index.json"
IMDB_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"
IMDB_CLASSES = ("negative", "positive")

#: The only globals a dataset pickle may name: what rebuilding a NumPy array needs.
_ALLOWED = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }
)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")


def datasets_dir() -> Path:
    """The Keras dataset cache: ``$KERAS_HOME/datasets``, default ``~/.keras/datasets``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def cifar10_status() -> str:
    """Where the CIFAR-10 files are, or ``"missing"`` (cheap: no file is read)."""
    folder = _cifar10_folder()
    if folder is not None:
        return str(folder)
    archive = _cifar10_archive()
    return str(archive) if archive is not None else "missing"


def imdb_status() -> str:
    """Where the IMDB files are, or ``"missing"``."""
    here = datasets_dir()
    ok = (here / IMDB_FILE).is_file() and (here / IMDB_INDEX).is_file()
    return str(here) if ok else "missing"


def load_cifar10(*, download: bool) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
    """CIFAR-10 from the cache: images uint8 ``[n, 32, 32, 3]``, labels int64 ``[n]``.

    Returns:
        ``x_train, y_train, x_test, y_test`` and a record of the files (folder, SHA-256
        of their bytes).

    Raises:
        ZooError: the files are missing (naming the URL and folder) or malformed.
    """
    import numpy as np

    folder = _cifar10_folder()
    if folder is None and _cifar10_archive() is not None:
        folder = _extract_cifar10(_cifar10_archive())  # type: ignore[arg-type]
    if folder is None:
        folder = _download_cifar10() if download else None
    if folder is None:
        raise ZooError(_missing("cifar10", CIFAR10_URL, CIFAR10_ARCHIVES[0]))
    digest = hashlib.sha256()
    parts: dict[str, tuple[Any, Any]] = {}
    for name in CIFAR10_FILES:
        raw = (folder / name).read_bytes()
        digest.update(raw)
        parts[name] = _cifar_batch(raw, folder / name)
    train = [parts[n] for n in CIFAR10_FILES[:-1]]
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    x_test, y_test = parts["test_batch"]
    record = {"files": str(folder), "sha256": digest.hexdigest()}
    return x_train, y_train, x_test, y_test, record


def load_imdb(*, download: bool) -> tuple[list[str], Any, list[str], Any, dict[str, Any]]:
    """IMDB reviews as text (decoded with the word index) and their 0/1 labels.

    Returns:
        ``texts_train, y_train, texts_test, y_test`` and a record of the files.

    Raises:
        ZooError: the files are missing (naming the URLs and folder) or malformed.
    """
    import numpy as np

    here = datasets_dir()
    npz, index = here / IMDB_FILE, here / IMDB_INDEX
    if not (npz.is_file() and index.is_file()) and download:
        _download_imdb()
    missing = [p.name for p in (npz, index) if not p.is_file()]
    if missing:
        urls = " and ".join(IMDB_BASE + m for m in missing)
        raise ZooError(_missing("imdb", urls, " and ".join(missing)))
    raw, raw_index = npz.read_bytes(), index.read_bytes()
    arrays = _load_npz(raw, npz)
    try:
        words = {int(i): str(w) for w, i in json.loads(raw_index).items()}
    except (ValueError, AttributeError) as exc:
        raise ZooError(
            f"{index}: not a JSON object of word → index ({exc}); expected the file from "
            f"{IMDB_BASE}{IMDB_INDEX}. Delete it and download it again."
        ) from None
    texts = {}
    for split in ("train", "test"):
        texts[split] = [
            " ".join(words[w] for w in seq if w in words) for seq in arrays[f"x_{split}"]
        ]
    digest = hashlib.sha256(raw + raw_index).hexdigest()
    record = {"files": str(here), "sha256": digest}
    y_train = np.asarray(arrays["y_train"], dtype=np.int64)
    y_test = np.asarray(arrays["y_test"], dtype=np.int64)
    return texts["train"], y_train, texts["test"], y_test, record


def _missing(name: str, url: str, files: str) -> str:
    return (
        f"source {name!r}: the dataset is not in the Keras cache {datasets_dir()} and zoo "
        f"does not download unless asked. Download {url} and put it there as {files} "
        f"(KERAS_HOME sets the folder's parent), or pass download=True (option "
        f"download=true) on a machine with internet access."
    )


def _cifar10_folder() -> Path | None:
    here = datasets_dir()
    for folder in (here / CIFAR10_DIR / CIFAR10_INNER, here / CIFAR10_INNER):
        if all((folder / f).is_file() for f in CIFAR10_FILES):
            return folder
    return None


def _cifar10_archive() -> Path | None:
    here = datasets_dir()
    return next((here / a for a in CIFAR10_ARCHIVES if (here / a).is_file()), None)


def _extract_cifar10(archive: Path) -> Path:
    """Unpack ``cifar-10-batches-py/`` from the archive where Keras would (atomically)."""
    target = datasets_dir() / CIFAR10_DIR
    wanted = {f"{CIFAR10_INNER}/{f}" for f in CIFAR10_FILES}
    scratch = Path(tempfile.mkdtemp(prefix=".cifar10-", dir=target.parent))
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.lstrip("./") in wanted]
            if len(members) != len(wanted):
                raise tarfile.TarError(f"it holds no {sorted(wanted)[0]} … files")
            tar.extractall(scratch, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        raise ZooError(
            f"{archive}: cannot unpack CIFAR-10 ({exc}); expected the archive "
            f"{CIFAR10_URL}. Delete it and download it again."
        ) from None
    if target.exists():  # a partial folder from an interrupted run
        shutil.rmtree(target)
    os.replace(scratch, target)
    return target / CIFAR10_INNER


def _cifar_batch(raw: bytes, path: Path) -> tuple[Any, Any]:
    import numpy as np

    try:
        batch = _Unpickler(io.BytesIO(raw), encoding="bytes").load()
        batch = {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}
        data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch["labels"], dtype=np.int64)
        if len(labels) != len(data):
            raise ValueError(f"{len(data)} images but {len(labels)} labels")
    except (pickle.UnpicklingError, KeyError, ValueError, AttributeError, EOFError) as exc:
        raise ZooError(
            f"{path}: not a CIFAR-10 batch ({type(exc).__name__}: {exc}); expected a pickled "
            f"dict with 'data' (uint8 [n, 3072]) and 'labels', as in {CIFAR10_URL}."
        ) from None
    return data.transpose(0, 2, 3, 1), labels


def _load_npz(raw: bytes, path: Path) -> dict[str, Any]:
    """The arrays of an ``.npz``; object arrays rebuilt with the restricted unpickler."""
    import numpy as np

    arrays = {}
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            for member in archive.namelist():
                if member.endswith(".npy"):
                    arrays[member[:-4]] = _read_npy(io.BytesIO(archive.read(member)), np)
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(arrays)
        if missing:
            raise ValueError(f"no {sorted(missing)}")
    except (zipfile.BadZipFile, ValueError, pickle.UnpicklingError, EOFError) as exc:
        raise ZooError(
            f"{path}: not the IMDB archive ({exc}); expected x_train, y_train, x_test, y_test "
            f"as in {IMDB_BASE}{IMDB_FILE}. Delete it and download it again."
        ) from None
    return arrays


def _read_npy(fp: io.BytesIO, np: Any) -> Any:
    try:
        return np.lib.format.read_array(fp, allow_pickle=False)
    except ValueError:  # an object array: its payload is a pickle
        fp.seek(0)
        version = np.lib.format.read_magic(fp)
        if version[0] == 1:
            np.lib.format.read_array_header_1_0(fp)
        else:
            np.lib.format.read_array_header_2_0(fp)
        return _Unpickler(fp).load()


def _download_cifar10() -> Path:
    from keras.utils import get_file

    try:
        get_file(
            fname=CIFAR10_DIR,
            origin=CIFAR10_URL,
            extract=True,
            file_hash=CIFAR10_SHA256,
            cache_dir=str(datasets_dir().parent),
        )
    except Exception as exc:  # network, hash or archive errors: all mean "not available"
        raise ZooError(f"{_missing('cifar10', CIFAR10_URL, CIFAR10_ARCHIVES[0])} ({exc})") from exc
    folder = _cifar10_folder()
    if folder is None:
        raise ZooError(_missing("cifar10", CIFAR10_URL, CIFAR10_ARCHIVES[0]))
    return folder


def _download_imdb() -> None:
    from keras.utils import get_file

    for name, digest in ((IMDB_FILE, IMDB_SHA256), (IMDB_INDEX, IMDB_INDEX_MD5)):
        try:
            get_file(
                fname=name,
                origin=IMDB_BASE + name,
                file_hash=digest,
                cache_dir=str(datasets_dir().parent),
            )
        except Exception as exc:  # network or hash errors: the file is not available
            raise ZooError(f"{_missing('imdb', IMDB_BASE + name, name)} ({exc})") from exc
