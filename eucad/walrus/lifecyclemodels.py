"""The table of buckets' lifecycle configurations (eucad.walrus.lifecyclerules).

One row per bucket that has a configuration: its rules as JSON, as
``Rule.toDict`` gives them.  Kept apart from ``walrus_buckets`` so that the
expiration pass finds the buckets it has work in without reading every
bucket.
"""

from sqlalchemy import JSON, Float, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from eucad.common.db import Base
from eucad.walrus.models import _byteOrdered


class LifecycleConfiguration(Base):
    __tablename__ = "walrus_lifecycle"

    bucket: Mapped[str] = mapped_column(
        _byteOrdered(255), ForeignKey("walrus_buckets.name", ondelete="CASCADE"),
        primary_key=True)
    rules: Mapped[list] = mapped_column(JSON)
    updated: Mapped[float] = mapped_column(Float)
