"""The invoice registry the IVR's authenticity check (发票真伪鉴别) looks invoices up in."""

from __future__ import annotations

import enum
from datetime import date

from sqlalchemy import BigInteger, Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base


class InvoiceStatus(enum.StrEnum):
    NORMAL = "normal"
    VOID = "void"          # 作废
    RED = "red"            # 已红冲


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("code", "number", name="uq_invoices_code_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # empty for fully digitalised e-invoices (数电发票: a 20-digit number, no code)
    code: Mapped[str] = mapped_column(String(12), nullable=False, default="")
    number: Mapped[str] = mapped_column(String(20), nullable=False)
    amount_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)  # total incl. tax
    issued_on: Mapped[date] = mapped_column(Date, nullable=False)
    seller_tin: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=InvoiceStatus.NORMAL)
