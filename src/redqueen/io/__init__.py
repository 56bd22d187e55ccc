"""Reading users' files: text (lines, JSONL, folders, saved datasets), tables, arrays and images."""

from redqueen.io.points import Points, read_points
from redqueen.io.sets import KINDS, PointSet, TextSet, detect_kind, file_digest, read_set, read_text_set
from redqueen.io.texts import ReadError, is_hf_dataset, iter_texts, tokenize

__all__ = ["KINDS", "PointSet", "Points", "ReadError", "TextSet", "detect_kind", "file_digest", "is_hf_dataset", "iter_texts",
           "read_points", "read_set", "read_text_set", "tokenize"]
