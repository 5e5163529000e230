"""Thumbnails: their SQL rows (`thumbnails`) and their WebP files under `<data_dir>/thumbs/`.

A row per (image, size) records what the file holds and the sha256 of the bytes it was made
from, so a thumbnail is named by content: its ETag never changes while the image does not.
Files are written before the transaction that records them commits (like patch files), and
removed only after the transaction that forgets them commits, so a rollback never leaves a
row without its file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import ForeignKey, Integer, String, delete, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from pixseek.core.db import Base, UTCDateTime, in_chunks, utcnow
from pixseek.index.catalog.images import IdType
from pixseek.media.thumbnailer import VERSION, Thumb


class Thumbnail(Base):
    __tablename__ = "thumbnails"

    image_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    size: Mapped[int] = mapped_column(Integer, primary_key=True)  # longest side asked for
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))  # of the original the thumbnail was made from
    version: Mapped[int] = mapped_column(Integer, default=VERSION)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def etag(self) -> str:
        """A strong ETag: the original's content, the size and how thumbnails are made."""
        return f'"t{self.version}-{self.sha256[:32]}-{self.size}"'


class ThumbnailStore:
    """The WebP files, 1000 images to a folder: `<root>/000042/42123-256.webp`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, image_id: int, size: int) -> Path:
        return self.root / f"{image_id // 1000:06d}" / f"{image_id}-{size}.webp"

    def put(self, image_id: int, thumb: Thumb) -> None:
        target = self.path(image_id, thumb.size)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{image_id}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(thumb.data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, image_id: int, size: int) -> bytes | None:
        try:
            return self.path(image_id, size).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, image_id: int, sizes: Sequence[int]) -> None:
        for size in sizes:
            self.path(image_id, size).unlink(missing_ok=True)


def record_thumbnails(
    session: Session, store: ThumbnailStore, image_id: int, sha256: str, thumbs: Sequence[Thumb]
) -> None:
    """Write an image's thumbnail files and rows (replacing earlier ones of those sizes) in `session`."""
    sizes = [thumb.size for thumb in thumbs]
    session.execute(delete(Thumbnail).where(Thumbnail.image_id == image_id, Thumbnail.size.in_(sizes)))
    for thumb in thumbs:
        store.put(image_id, thumb)
        session.add(
            Thumbnail(
                image_id=image_id,
                size=thumb.size,
                width=thumb.width,
                height=thumb.height,
                bytes=len(thumb.data),
                sha256=sha256,
                version=VERSION,
            )
        )


def forget_thumbnails(session: Session, store: ThumbnailStore, image_ids: Sequence[int]) -> None:
    """Drop the rows of these images now and their files once `session` commits."""
    doomed: list[tuple[int, int]] = []
    for part in in_chunks(list(image_ids)):
        doomed += [
            (int(i), int(s))
            for i, s in session.execute(
                select(Thumbnail.image_id, Thumbnail.size).where(Thumbnail.image_id.in_(part))
            )
        ]
        session.execute(delete(Thumbnail).where(Thumbnail.image_id.in_(part)))
    if not doomed:
        return

    def remove_files(_session: Session) -> None:
        for image_id, size in doomed:
            store.delete(image_id, [size])

    event.listen(session, "after_commit", remove_files, once=True)


def get_thumbnail(session: Session, image_id: int, size: int) -> Thumbnail | None:
    return session.get(Thumbnail, (image_id, size))
