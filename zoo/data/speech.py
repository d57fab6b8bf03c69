"""Spoken digit words ("zero" … "nine"), synthesized offline with espeak-ng.

This audio is **synthetic**: every clip is made by a speech synthesizer (espeak-ng, a
formant synthesizer), not recorded from people. It is clean, noise-free and far more
regular than real speech; use it to test and smoke-train audio models offline, not to
estimate how they do on recordings.

:func:`spoken_digits` runs ``espeak-ng -v VOICE -s SPEED -p PITCH --stdout WORD`` (a
22,050 Hz 16-bit mono WAV) for every digit word, voice, speed (words per minute) and
pitch (0–99) of a grid, then per clip: resamples to ``sample_rate`` (polyphase,
``scipy.signal.resample_poly``; 16 kHz is 320/441 of 22,050 Hz), trims leading and
trailing silence (samples below 1% of the peak), peak-normalises to 1.0 and centres the
word in exactly ``seconds`` of audio (zero padding; a longer word keeps its middle). The
same grid always gives the same arrays; they are cached in an ``.npz`` under
``$ZOO_CACHE_DIR/speech`` (default ``~/.cache/zoo/speech``), keyed by the grid, the output
format and the espeak-ng version.

espeak-ng is a system package (``apt-get install espeak-ng``); resampling needs SciPy,
which scikit-learn brings (``pip install "zoo[data]"``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.data._sources import DIGIT_WORDS
from zoo.errors import ZooError
from zoo.fsync import fsync_one

if TYPE_CHECKING:
    import numpy as np

#: The synthesizer executable.
ESPEAK = "espeak-ng"
#: How to install it, named in errors.
INSTALL_HINT = "apt-get install espeak-ng (Debian/Ubuntu; the package is espeak-ng elsewhere too)"
#: Label ``i`` is the word ``CLASS_NAMES[i]``.
CLASS_NAMES: tuple[str, ...] = DIGIT_WORDS
#: Default grid: 10 words × 4 voices × 3 speeds × 3 pitches = 360 clips. Voices are
#: espeak-ng voice names, optionally ``+variant`` (``espeak-ng --voices=variant``).
DEFAULT_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-us+f3")
DEFAULT_SPEEDS = (120, 160, 200)
DEFAULT_PITCHES = (25, 50, 75)
#: espeak-ng's accepted ranges for ``-s`` (words per minute) and ``-p``.
SPEED_RANGE = (80, 450)
PITCH_RANGE = (0, 99)
#: Samples below this share of the clip's peak count as silence when trimming.
SILENCE = 0.01
#: Cache environment variable, and the cache folder without it.
CACHE_ENV = "ZOO_CACHE_DIR"
DEFAULT_CACHE = Path("~/.cache/zoo")
#: Bump when the processing changes, so old cache files are not reused.
FORMAT_VERSION = 1
#: espeak-ng processes at once.
WORKERS = 4


@dataclass(frozen=True)
class SpokenDigits:
    """Synthetic spoken digit words.

    Attributes:
        waveforms: float32 ``[n, samples]`` in [-1, 1], each clip's peak at 1.0.
        labels: int64 ``[n]``: the digit, ``CLASS_NAMES[label]``.
        words: The word spoken in each clip (``n`` strings), e.g. for audio–text pairs.
        settings: ``(voice, speed, pitch)`` each clip was synthesized with.
        sample_rate: Samples per second.
        source: Synthesizer and version, grid and cache file, for records.
    """

    waveforms: Any
    labels: Any
    words: list[str]
    settings: list[tuple[str, int, int]]
    sample_rate: int
    source: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> dict[str, int]:
        """Clips per word."""
        return {w: int((self.labels == i).sum()) for i, w in enumerate(CLASS_NAMES)}


def spoken_digits(
    *,
    voices: Sequence[str] = DEFAULT_VOICES,
    speeds: Sequence[int] = DEFAULT_SPEEDS,
    pitches: Sequence[int] = DEFAULT_PITCHES,
    sample_rate: int = 16000,
    seconds: float = 1.0,
    cache: bool = True,
) -> SpokenDigits:
    """Every digit word in every voice, speed and pitch of the grid, as fixed-length clips.

    Clips are ordered voice, speed, pitch, word (the ten words of one setting are
    consecutive), so labels are balanced: ``len(voices) * len(speeds) * len(pitches)`` clips
    per word.

    Args:
        voices: espeak-ng voices (``espeak-ng --voices=en``), ``+variant`` allowed.
        speeds: Speaking rates in words per minute, 80–450.
        pitches: Pitches, 0–99 (50 is the voice's default).
        sample_rate: Output samples per second.
        seconds: Clip length; every clip has ``round(seconds * sample_rate)`` samples.
        cache: Read and write the arrays in the cache folder (see the module docs).

    Returns:
        The clips with labels, words and settings.

    Raises:
        ZooError: espeak-ng or SciPy is missing (the message names the install
            command), an argument is invalid, or espeak-ng fails on a voice.

    Example:
        >>> data = spoken_digits(voices=["en-us"], speeds=[160], pitches=[50])  # doctest: +SKIP
        >>> data.waveforms.shape, data.words[:2]  # doctest: +SKIP
        ((10, 16000), ['zero', 'one'])
    """
    import numpy as np

    grid = _check_args(voices, speeds, pitches, sample_rate, seconds)
    exe = _espeak()
    version = _version(exe)
    _check_variants(exe, grid["voices"])
    length = round(seconds * sample_rate)
    settings = [(v, s, p) for v in grid["voices"] for s in grid["speeds"] for p in grid["pitches"]]
    jobs = [(setting, w) for setting in settings for w in range(len(CLASS_NAMES))]
    key = _cache_key({**grid, "sample_rate": sample_rate, "samples": length}, version)
    path = _cache_dir() / f"spoken_digits-{key[:20]}.npz"
    waves = _read_cache(path, len(jobs), length) if cache else None
    if waves is None:
        resample = _resampler()

        def make(job: tuple[tuple[str, int, int], int]) -> np.ndarray:
            return _clip(exe, job[0], job[1], sample_rate, length, resample)

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            clips = list(pool.map(make, jobs))
        waves = np.stack(clips).astype(np.float32)
        if cache:
            _write_cache(path, waves)
    labels = np.array([w for _, w in jobs], dtype=np.int64)
    return SpokenDigits(
        waveforms=waves,
        labels=labels,
        words=[CLASS_NAMES[w] for _, w in jobs],
        settings=[s for s, _ in jobs],
        sample_rate=sample_rate,
        source={
            "synthesizer": version,
            "synthetic": True,
            **grid,
            "seconds": seconds,
            "cache": str(path) if cache else None,
        },
    )


def _check_args(
    voices: Sequence[str],
    speeds: Sequence[int],
    pitches: Sequence[int],
    sample_rate: int,
    seconds: float,
) -> dict[str, list[Any]]:
    """The grid as lists, after checking every value."""
    if isinstance(voices, str) or not voices or not all(isinstance(v, str) and v for v in voices):
        raise ZooError(
            f"spoken_digits: voices must be a non-empty list of espeak-ng voice names, "
            f"received {voices!r}; e.g. ['en-us', 'en-gb+f3'] (see espeak-ng --voices=en)."
        )
    for name, values, (low, high) in (
        ("speeds", speeds, SPEED_RANGE),
        ("pitches", pitches, PITCH_RANGE),
    ):
        ok = not isinstance(values, str) and len(values) > 0
        ok = ok and all(
            isinstance(x, int) and not isinstance(x, bool) and low <= x <= high for x in values
        )
        if not ok:
            raise ZooError(
                f"spoken_digits: {name} must be a non-empty list of integers in "
                f"[{low}, {high}], received {values!r}."
            )
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1000:
        raise ZooError(
            f"spoken_digits: sample_rate must be an integer >= 1000 Hz, received {sample_rate!r}."
        )
    if not isinstance(seconds, (int, float)) or not 0.1 <= seconds <= 10:
        raise ZooError(
            f"spoken_digits: seconds must be a number in [0.1, 10], received {seconds!r}."
        )
    return {"voices": list(voices), "speeds": list(speeds), "pitches": list(pitches)}


def _espeak() -> str:
    exe = shutil.which(ESPEAK)
    if exe is None:
        raise ZooError(
            f"spoken_digits: the speech synthesizer {ESPEAK!r} is not on PATH; it makes the "
            f"spoken digit clips. Install it: {INSTALL_HINT}."
        )
    return exe


def _version(exe: str) -> str:
    """``espeak-ng --version`` without the data path, e.g. ``eSpeak NG ... 1.51``."""
    out = _run([exe, "--version"], "espeak-ng --version").decode("utf-8", "replace")
    return out.split("Data at:")[0].strip()


def _check_variants(exe: str, voices: list[str]) -> None:
    """espeak-ng ignores an unknown ``+variant`` silently; refuse it here."""
    wanted = {v.split("+", 1)[1] for v in voices if "+" in v}
    if not wanted:
        return
    listing = _run([exe, "--voices=variant"], "espeak-ng --voices=variant").decode()
    known = {
        parts[4].split("/", 1)[1]
        for parts in (line.split() for line in listing.splitlines()[1:])
        if len(parts) >= 5 and parts[4].startswith("!v/")
    }
    unknown = sorted(wanted - known)
    if unknown:
        raise ZooError(
            f"spoken_digits: unknown espeak-ng voice variant(s) {unknown}; expected names from "
            f"`espeak-ng --voices=variant` (e.g. f3, m3), received voices {voices}."
        )


def _run(cmd: list[str], what: str) -> bytes:
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ZooError(f"{what} could not run: {exc}. Check the install: {INSTALL_HINT}.") from exc
    if done.returncode != 0 or not done.stdout:
        err = done.stderr.decode("utf-8", "replace").strip() or f"exit code {done.returncode}"
        raise ZooError(f"{what} failed: {err}")
    return done.stdout


def _resampler() -> Any:
    try:
        from scipy.signal import resample_poly
    except ImportError as exc:
        raise ZooError(
            'spoken_digits: resampling needs SciPy; install it: pip install "zoo[data]" '
            "(scikit-learn brings SciPy) or pip install scipy."
        ) from exc
    return resample_poly


def _clip(
    exe: str,
    setting: tuple[str, int, int],
    word: int,
    sample_rate: int,
    length: int,
    resample: Any,
) -> np.ndarray:
    """Synthesize one word and shape it: resampled, trimmed, normalised, centred."""
    import numpy as np

    voice, speed, pitch = setting
    text = CLASS_NAMES[word]
    cmd = [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text]
    what = f"espeak-ng voice {voice!r} (speed {speed}, pitch {pitch}) saying {text!r}"
    pcm, rate = parse_wav(_run(cmd, what), what)
    if rate != sample_rate:
        g = gcd(sample_rate, rate)
        pcm = resample(pcm, sample_rate // g, rate // g)
    loud = np.flatnonzero(np.abs(pcm) >= SILENCE * np.abs(pcm).max(initial=0.0))
    if loud.size == 0:
        raise ZooError(f"{what} gave a silent clip; try another voice.")
    pcm = pcm[loud[0] : loud[-1] + 1]
    pcm = pcm / np.abs(pcm).max()
    if len(pcm) > length:  # keep the middle
        start = (len(pcm) - length) // 2
        return pcm[start : start + length]
    left = (length - len(pcm)) // 2
    return np.pad(pcm, (left, length - len(pcm) - left))


def parse_wav(data: bytes, what: str = "WAV data") -> tuple[np.ndarray, int]:
    r"""16-bit PCM mono WAV bytes → float64 samples in [-1, 1) and the sample rate.

    espeak-ng writing to a pipe leaves the RIFF and data sizes at a placeholder, so the
    samples are read to the end of the bytes, not to the declared size.

    Raises:
        ZooError: not a 16-bit PCM mono WAV.

    Example:
        >>> import struct
        >>> fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
        >>> wav = (b"RIFF" + b"\0" * 4 + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
        ...        + b"data" + b"\xff" * 4 + struct.pack("<hh", 16384, -32768))
        >>> parse_wav(wav)
        (array([ 0.5, -1. ]), 16000)
    """
    import numpy as np

    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ZooError(f"{what}: expected a RIFF/WAVE file, received {data[:12]!r}.")
    pos, rate = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = pos + 8
        if chunk == b"fmt ":
            kind, channels, rate = (
                int.from_bytes(data[body : body + 2], "little"),
                int.from_bytes(data[body + 2 : body + 4], "little"),
                int.from_bytes(data[body + 4 : body + 8], "little"),
            )
            bits = int.from_bytes(data[body + 14 : body + 16], "little")
            if (kind, channels, bits) != (1, 1, 16):
                raise ZooError(
                    f"{what}: expected 16-bit PCM mono, received format {kind}, "
                    f"{channels} channel(s), {bits} bits."
                )
        elif chunk == b"data":
            if rate is None:
                raise ZooError(f"{what}: the data chunk comes before the fmt chunk.")
            end = body + (len(data) - body) // 2 * 2
            return np.frombuffer(data[body:end], "<i2").astype(np.float64) / 32768.0, rate
        pos = body + size + (size & 1)
    raise ZooError(f"{what}: no data chunk found.")


def _cache_dir() -> Path:
    base = os.environ.get(CACHE_ENV)
    return (Path(base) if base else DEFAULT_CACHE.expanduser()) / "speech"


def _cache_key(grid: dict[str, Any], version: str) -> str:
    blob = {"grid": grid, "words": list(CLASS_NAMES), "espeak": version, "v": FORMAT_VERSION}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def _read_cache(path: Path, rows: int, length: int) -> np.ndarray | None:
    """The cached waveforms, or ``None`` if absent, unreadable or of the wrong shape."""
    import numpy as np

    try:
        with np.load(path) as f:
            waves = f["waveforms"]
    except (OSError, KeyError, ValueError):
        return None
    if waves.shape != (rows, length) or waves.dtype != np.float32:
        return None
    return waves


def _write_cache(path: Path, waves: np.ndarray) -> None:
    """Write atomically (temporary file, fsync, ``os.replace``); a failure only warns."""
    import numpy as np

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, waveforms=waves)
            fsync_one(Path(tmp))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        import warnings

        warnings.warn(
            f"spoken_digits: could not write the cache file {path} ({exc}); the clips will be "
            f"synthesized again next time. Set {CACHE_ENV} to a writable folder.",
            stacklevel=3,
        )
