"""Invoice registry: look-up for the IVR (``ivr.ports.InvoiceRegistry``) and demo data."""

from __future__ import annotations

import asyncio
from datetime import date

from sqlalchemy import select

from callcenter.db import Database
from callcenter.invoices.models import Invoice, InvoiceStatus
from ivr.ports import InvoiceCheck


class InvoiceService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def check(self, code: str, number: str, amount_fen: int) -> InvoiceCheck:
        with self.db.session() as session:
            invoice = session.scalar(
                select(Invoice).where(Invoice.code == code, Invoice.number == number))
        if invoice is None:
            return InvoiceCheck(found=False)
        return InvoiceCheck(found=True, amount_matches=invoice.amount_fen == amount_fen,
                            status=invoice.status, issued_on=invoice.issued_on)

    def add(self, code: str, number: str, amount_fen: int, issued_on: date,
            seller_tin: str = "", status: InvoiceStatus = InvoiceStatus.NORMAL) -> Invoice:
        if not number.isdigit() or (code and not code.isdigit()):
            raise ValueError("invoice code and number are digits")
        if amount_fen <= 0:
            raise ValueError("invoice amount must be positive")
        with self.db.transaction() as session:
            invoice = session.scalar(
                select(Invoice).where(Invoice.code == code, Invoice.number == number))
            if invoice is None:
                invoice = Invoice(code=code, number=number)
                session.add(invoice)
            invoice.amount_fen = amount_fen
            invoice.issued_on = issued_on
            invoice.seller_tin = seller_tin
            invoice.status = str(status)
        return invoice


class IvrInvoiceRegistry:
    """``ivr.ports.InvoiceRegistry`` over :class:`InvoiceService` (database work in a thread)."""

    def __init__(self, service: InvoiceService) -> None:
        self.service = service

    async def check(self, code: str, number: str, amount_fen: int) -> InvoiceCheck:
        return await asyncio.to_thread(self.service.check, code, number, amount_fen)
