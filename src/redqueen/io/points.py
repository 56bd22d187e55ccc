"""Numeric items (rows of features) from tables, arrays and image folders.

:func:`read_points` returns :class:`Points`: a float64 array ``(n, d)``, a short description and, for a
table, the columns read, from

* a CSV file (``.csv``, ``.tsv``; pyarrow's reader) or a Parquet file: its numeric columns
  (``columns`` picks and orders them; other columns are skipped and named in the description);
* a ``.npy`` array: ``(n, d)`` rows as they are (embeddings), ``(n, ...)`` flattened per item (images);
* a ``.npz`` archive: its only array, or the one named ``key``;
* a folder of PNG / JPEG images (Pillow, the optional extra ``images``): one row per image, pixels
  scaled to [0, 1]; every image must have the same size and colour mode.

Bad input raises :class:`~redqueen.io.texts.ReadError` (one line, the fix included): a missing
file, a ragged or non-numeric CSV, missing or non-finite values, an object array, images of mixed
sizes or modes, an empty input. ``.npy`` files are memory-mapped, so only the rows asked for are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from redqueen.io.texts import ReadError, _check_exists

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
ARRAY_SUFFIXES = (".npy", ".npz")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class Points(NamedTuple):
    """What :func:`read_points` read: ``x`` ``(m, d)``, ``n_items`` in the input, a one-line ``detail``, and
    ``columns`` (a table's columns, in the order of ``x``'s; None for arrays and images)."""

    x: np.ndarray
    n_items: int
    detail: str
    columns: tuple[str, ...] | None = None


def _finite(x: np.ndarray, path: Path, what: str) -> np.ndarray:
    if x.dtype.kind not in "biuf":
        raise ReadError(f"{path}: {what} has dtype {x.dtype}, not numbers; save a numeric array")
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] == 0:
        raise ReadError(f"{path}: {what} has no rows; give a non-empty input")
    bad = ~np.isfinite(x)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ReadError(f"{path}: {what} has {int(bad.sum())} NaN or infinite value(s) (first in row {row}); "
                        "drop or fill them")
    return x.reshape(x.shape[0], -1)


def _table(path: Path, columns: list[str] | None) -> tuple[np.ndarray, str, tuple[str, ...]]:
    import pyarrow as pa

    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            import pyarrow.csv as pcsv

            delim = "\t" if path.suffix.lower() == ".tsv" else ","
            table = pcsv.read_csv(path, parse_options=pcsv.ParseOptions(delimiter=delim))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as e:
        msg = str(e).splitlines()[0][:200]
        hint = ("every row needs the same number of fields as the header" if "columns" in msg
                else "give a well-formed CSV or Parquet file")
        raise ReadError(f"{path}: cannot read the table ({msg}); {hint}") from None
    if table.num_rows == 0:
        raise ReadError(f"{path}: the table has no rows; give a non-empty table")
    numeric = [f.name for f in table.schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
               or pa.types.is_boolean(f.type)]
    if columns:
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise ReadError(f"{path}: no column(s) {', '.join(missing)} (columns: {', '.join(table.column_names)}); "
                            "fix --columns")
        wrong = [c for c in columns if c not in numeric]
        if wrong:
            raise ReadError(f"{path}: column(s) {', '.join(wrong)} are not numeric; pick numeric --columns")
        picked = list(columns)
    else:
        picked = numeric
    if not picked:
        raise ReadError(f"{path}: no numeric columns (columns: {', '.join(table.column_names)}); "
                        "give a table of numbers")
    for c in picked:
        nulls = table.column(c).null_count
        if nulls:
            raise ReadError(f"{path}: column {c!r} has {nulls} empty cell(s); fill or drop them")
    x = np.column_stack([table.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in picked])
    skipped = [c for c in table.column_names if c not in picked]
    desc = (f"table, {len(picked)} numeric columns" + (f" (skipped: {', '.join(skipped[:5])})" if skipped else "")
            + f"; columns: {', '.join(picked)}")
    return _finite(x, path, "the table"), desc, tuple(picked)


def _array(path: Path, key: str | None) -> tuple[np.ndarray, str]:
    try:
        if path.suffix.lower() == ".npy":
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            what = "the array"
        else:
            with np.load(path, allow_pickle=False) as z:
                names = list(z.files)
                if key is None and len(names) != 1:
                    raise ReadError(f"{path}: holds arrays {', '.join(names) or '(none)'}; pass --field NAME to pick one")
                if key is not None and key not in names:
                    raise ReadError(f"{path}: has no array {key!r} (arrays: {', '.join(names)}); fix --field")
                name = key or names[0]
                arr = z[name]
                what = f"array {name!r}"
    except ReadError:
        raise
    except ValueError as e:  # a damaged header, or object arrays (they need pickle, which is never allowed)
        if "pickle" in str(e) or "Python objects" in str(e):
            raise ReadError(f"{path}: not a plain numeric array (it holds Python objects); save numbers with "
                            "numpy.save") from None
        raise ReadError(f"{path}: not a numpy file ({str(e).splitlines()[0][:120]}); save it with numpy.save") from None
    except (OSError, EOFError) as e:
        raise ReadError(f"{path}: not a numpy file ({str(e).splitlines()[0][:120]}); save it with numpy.save") from None
    if arr.ndim < 1:
        raise ReadError(f"{path}: {what} is a scalar; save an array of shape (items, features)")
    shape = "x".join(map(str, arr.shape[1:])) or "1"
    kind = "embeddings" if arr.ndim == 2 else ("values" if arr.ndim == 1 else "images")
    return arr, f"{kind}, {shape} per item"


def _images(path: Path) -> tuple[np.ndarray, str]:
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ReadError(f"{path}: a folder without PNG or JPEG images; give images, or arrays as .npy")
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ReadError(f"{path}: reading images needs Pillow; pip install 'redqueen[images]' "
                        "(or save them as a .npy array)") from None
    rows, first = [], None
    for f in files:
        try:
            with Image.open(f) as im:
                im.load()
                a = np.asarray(im)
                mode = im.mode
        except (UnidentifiedImageError, OSError) as e:
            raise ReadError(f"{f}: not a readable image ({str(e).splitlines()[0][:100]}); remove or re-save it") from None
        if first is None:
            first = (f, a.shape, mode)
        elif (a.shape, mode) != first[1:]:
            raise ReadError(f"{path}: images of mixed sizes or modes ({first[0].name} is {first[2]} {first[1]}, "
                            f"{f.name} is {mode} {a.shape}); resize them to one size")
        rows.append(a.reshape(-1))
    x = np.stack(rows).astype(np.float64)
    if np.issubdtype(rows[0].dtype, np.integer):
        x /= float(np.iinfo(rows[0].dtype).max)
    return x, f"images, {first[2]} {'x'.join(map(str, first[1]))}"


def read_points(path: str | Path, *, columns: list[str] | None = None, key: str | None = None,
                max_rows: int | None = None, rng: np.random.Generator | None = None) -> Points:
    """The rows of ``path`` as :class:`Points` (``x`` float64 ``(m, d)``, items in the input, description, columns).

    With ``max_rows`` and more rows than that, ``x`` is a uniformly random subset of ``max_rows``
    rows (in input order), drawn with ``rng`` (required then). Raises :class:`ReadError`.
    """
    path = Path(path)
    _check_exists(path)
    suffix = path.suffix.lower()
    picked = None
    if path.is_dir():
        x, desc = _images(path)
    elif suffix in TABLE_SUFFIXES:
        x, desc, picked = _table(path, columns)
    elif suffix in ARRAY_SUFFIXES:
        x, desc = _array(path, key)
    else:
        raise ReadError(f"{path}: unknown kind of file; give .csv/.tsv/.parquet, .npy/.npz, a folder of images, "
                        "or text (see --kind)")
    n = x.shape[0]
    if max_rows is not None and n > max_rows:
        if rng is None:
            raise ValueError("read_points with max_rows below the number of rows needs an rng")
        x = x[np.sort(rng.choice(n, max_rows, replace=False))]
    return Points(_finite(np.asarray(x), path, "the data"), n, desc, picked)
