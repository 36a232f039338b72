"""Appointment booking: halls, free slots, bookings with a confirmation number."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from callcenter.bookings.models import Booking, BookingSlot, ServiceHall
from callcenter.db import Database
from ivr.clock import Clock
from ivr.ports import BookingConfirmation, Hall, Slot


class BookingService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def halls(self) -> list[Hall]:
        with self.db.session() as session:
            rows = session.scalars(select(ServiceHall)
                                   .order_by(ServiceHall.position, ServiceHall.id)).all()
            return [Hall(h.id, h.prompt) for h in rows]

    def free_slots(self, hall_id: int, after: datetime, limit: int = 3) -> list[Slot]:
        with self.db.session() as session:
            rows = session.scalars(
                select(BookingSlot)
                .where(BookingSlot.hall_id == hall_id, BookingSlot.starts_at > after,
                       BookingSlot.booked < BookingSlot.capacity)
                .order_by(BookingSlot.starts_at).limit(limit)).all()
            return [Slot(s.id, s.starts_at) for s in rows]

    def book(self, slot_id: int, caller: str, linkedid: str) -> BookingConfirmation | None:
        """Take one place of the slot (atomically); None when it is full or unknown."""
        for _ in range(5):
            number = f"{secrets.randbelow(10**8):08d}"
            try:
                with self.db.transaction() as session:
                    taken = session.execute(
                        update(BookingSlot)
                        .where(BookingSlot.id == slot_id,
                               BookingSlot.booked < BookingSlot.capacity)
                        .values(booked=BookingSlot.booked + 1))
                    if taken.rowcount != 1:  # type: ignore[attr-defined]
                        return None
                    slot = session.get(BookingSlot, slot_id)
                    assert slot is not None
                    session.add(Booking(confirmation_no=number, slot_id=slot_id,
                                        caller=caller[:64], linkedid=linkedid[:64],
                                        created_at=self.clock(), status="booked"))
                    return BookingConfirmation(number, slot.hall_id, slot.starts_at)
            except IntegrityError:
                continue  # confirmation number collision: draw again
        raise RuntimeError("could not draw a unique confirmation number")

    def get(self, confirmation_no: str) -> Booking | None:
        with self.db.session() as session:
            return session.scalar(select(Booking)
                                  .where(Booking.confirmation_no == confirmation_no))


class IvrBookingDesk:
    """``ivr.ports.BookingDesk`` over :class:`BookingService`."""

    def __init__(self, service: BookingService) -> None:
        self.service = service

    async def halls(self) -> list[Hall]:
        return await asyncio.to_thread(self.service.halls)

    async def free_slots(self, hall_id: int, after: datetime, limit: int) -> list[Slot]:
        return await asyncio.to_thread(self.service.free_slots, hall_id, after, limit)

    async def book(self, slot_id: int, caller: str, linkedid: str
                   ) -> BookingConfirmation | None:
        return await asyncio.to_thread(self.service.book, slot_id, caller, linkedid)
