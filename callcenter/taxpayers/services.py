"""Taxpayer look-up with PIN check: argon2 hashes, failed attempts limited, then a lock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from callcenter.db import Database
from callcenter.taxpayers.models import TaxFiling, Taxpayer
from ivr.clock import Clock
from ivr.ports import FilingStatus, PinCheck, TaxpayerStatus

MAX_ATTEMPTS = 3
LOCK_MINUTES = 30
_hasher = PasswordHasher()


def hash_pin(pin: str) -> str:
    return _hasher.hash(pin)


class TaxpayerService:
    def __init__(self, db: Database, clock: Clock, max_attempts: int = MAX_ATTEMPTS,
                 lock_minutes: int = LOCK_MINUTES) -> None:
        self.db = db
        self.max_attempts = max_attempts
        self.lock = timedelta(minutes=lock_minutes)
        self.clock = clock

    def verify_pin(self, tin: str, pin: str) -> PinCheck:
        """Check a PIN; ``max_attempts`` wrong PINs in a row lock the query for a while."""
        now = self.clock()
        with self.db.transaction() as session:
            taxpayer = session.scalar(
                select(Taxpayer).where(Taxpayer.tin == tin).with_for_update())
            if taxpayer is None:
                return PinCheck("unknown")
            if taxpayer.locked_until is not None and taxpayer.locked_until > now:
                return PinCheck("locked")
            ok: bool
            try:
                ok = _hasher.verify(taxpayer.pin_hash, pin)
            except (VerificationError, InvalidHashError):
                ok = False
            if ok:
                taxpayer.failed_attempts = 0
                taxpayer.locked_until = None
                return PinCheck("ok", self.max_attempts)
            taxpayer.failed_attempts += 1
            if taxpayer.failed_attempts >= self.max_attempts:
                taxpayer.failed_attempts = 0
                taxpayer.locked_until = now + self.lock
                return PinCheck("locked")
            return PinCheck("wrong_pin", self.max_attempts - taxpayer.failed_attempts)

    def status(self, tin: str) -> TaxpayerStatus | None:
        with self.db.session() as session:
            taxpayer = session.scalar(select(Taxpayer).where(Taxpayer.tin == tin)
                                      .options(selectinload(Taxpayer.filings)))
            if taxpayer is None:
                return None
            filings = tuple(FilingStatus(f.tax, f.period, f.filed, f.unpaid_fen)
                            for f in sorted(taxpayer.filings, key=lambda f: (f.period, f.tax),
                                            reverse=True))
        return TaxpayerStatus(tin, filings, sum(f.unpaid_fen for f in filings))

    def registered(self, tin: str) -> tuple[str, str | None] | None:
        """The taxpayer's name and registered mobile number; None when there is no such TIN."""
        with self.db.session() as session:
            row = session.execute(select(Taxpayer.name, Taxpayer.mobile)
                                  .where(Taxpayer.tin == tin)).first()
        return None if row is None else (row[0], row[1])

    def upsert(self, tin: str, name: str, pin: str,
               filings: list[tuple[str, str, bool, int]], mobile: str | None = None) -> None:
        """Create or replace a taxpayer with its PIN and filings (tax, period, filed, unpaid);
        ``mobile``: the registered mobile number (kept when None)."""
        if not tin.isdigit() or not 15 <= len(tin) <= 20:
            raise ValueError("a TIN the keypad can enter is 15-20 digits")
        if not pin.isdigit() or len(pin) != 6:
            raise ValueError("the PIN is 6 digits")
        with self.db.transaction() as session:
            taxpayer = session.scalar(select(Taxpayer).where(Taxpayer.tin == tin))
            if taxpayer is None:
                taxpayer = Taxpayer(tin=tin, failed_attempts=0)
                session.add(taxpayer)
            else:  # replace the filings: the old rows go first (unique tax + period)
                session.execute(delete(TaxFiling).where(TaxFiling.taxpayer_id == taxpayer.id))
                session.expire(taxpayer, ["filings"])
            taxpayer.name = name
            if mobile is not None:
                taxpayer.mobile = mobile[:32]
            taxpayer.pin_hash = hash_pin(pin)
            taxpayer.failed_attempts = 0
            taxpayer.locked_until = None
            taxpayer.filings = [TaxFiling(tax=t, period=p, filed=f, unpaid_fen=u)
                                for t, p, f, u in filings]


class IvrTaxpayerDirectory:
    """``ivr.ports.TaxpayerDirectory`` over :class:`TaxpayerService`."""

    def __init__(self, service: TaxpayerService) -> None:
        self.service = service

    async def verify_pin(self, tin: str, pin: str) -> PinCheck:
        return await asyncio.to_thread(self.service.verify_pin, tin, pin)

    async def status(self, tin: str) -> TaxpayerStatus | None:
        return await asyncio.to_thread(self.service.status, tin)
