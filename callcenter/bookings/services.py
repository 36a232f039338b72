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

    def hall_directory(self) -> list[tuple[int, str, str]]:
        """Every hall as (id, name, address), in the menu's order (the IVR's numbering)."""
        with self.db.session() as session:
            rows = session.execute(select(ServiceHall.id, ServiceHall.name, ServiceHall.address)
                                   .order_by(ServiceHall.position, ServiceHall.id)).all()
        return [(r[0], r[1], r[2]) for r in rows]

    def upcoming(self, caller: str) -> list[tuple[str, int, datetime]]:
        """The caller's bookings still to come: (confirmation number, hall id, start)."""
        with self.db.session() as session:
            rows = session.execute(
                select(Booking.confirmation_no, BookingSlot.hall_id, BookingSlot.starts_at)
                .join(BookingSlot, BookingSlot.id == Booking.slot_id)
                .where(Booking.caller == caller, Booking.status == "booked",
                       BookingSlot.starts_at > self.clock())
                .order_by(BookingSlot.starts_at)).all()
        return [(r[0], r[1], r[2]) for r in rows]

    def cancel(self, confirmation_no: str, caller: str) -> str:
        """Cancel the caller's booking and free its place: ``cancelled``, or why not:
        ``not_found`` (no such booking of this caller), ``already`` (cancelled before),
        ``past`` (its time has come)."""
        with self.db.transaction() as session:
            booking = session.scalar(select(Booking).where(
                Booking.confirmation_no == confirmation_no).with_for_update())
            if booking is None or booking.caller != caller[:64]:
                return "not_found"
            if booking.status == "cancelled":
                return "already"
            slot = session.get(BookingSlot, booking.slot_id)
            if slot is None or slot.starts_at <= self.clock():
                return "past"
            booking.status = "cancelled"
            session.execute(update(BookingSlot)
                            .where(BookingSlot.id == slot.id, BookingSlot.booked > 0)
                            .values(booked=BookingSlot.booked - 1))
        return "cancelled"

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
