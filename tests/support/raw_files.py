"""RAW files and EXIF blocks for tests: see `pixseek.evaluation.dng` (shared with the benchmarks)."""

from pixseek.evaluation.dng import camera_exif, dng, exif_ifds

__all__ = ["camera_exif", "dng", "exif_ifds"]
