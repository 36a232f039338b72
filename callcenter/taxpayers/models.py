"""Taxpayers for the IVR's comprehensive query (综合查询): PIN (argon2 hash), filing status."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import Base, UtcDateTime


class Taxpayer(Base):
    __tablename__ = "taxpayers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tin: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    pin_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    failed_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # the mobile number registered for the taxpayer: the only one the status query by text
    # answers (migration 0009; callcenter/sms)
    mobile: Mapped[str | None] = mapped_column(String(32))

    filings: Mapped[list[TaxFiling]] = relationship(
        back_populates="taxpayer", order_by="TaxFiling.id", cascade="all, delete-orphan")


class TaxFiling(Base):
    __tablename__ = "tax_filings"
    __table_args__ = (UniqueConstraint("taxpayer_id", "tax", "period",
                                       name="uq_tax_filings_taxpayer_tax_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    taxpayer_id: Mapped[int] = mapped_column(
        ForeignKey("taxpayers.id", ondelete="CASCADE"), nullable=False, index=True)
    tax: Mapped[str] = mapped_column(String(16), nullable=False)      # vat, cit, iit, ...
    period: Mapped[str] = mapped_column(String(7), nullable=False)    # YYYY-MM
    filed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    unpaid_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)

    taxpayer: Mapped[Taxpayer] = relationship(back_populates="filings")
