"""Tax service halls, their appointment slots and the bookings made through the IVR."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, UtcDateTime


class ServiceHall(Base):
    __tablename__ = "service_halls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    address: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    prompt: Mapped[str] = mapped_column(String(64), nullable=False)  # catalogue prompt id
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class BookingSlot(Base):
    __tablename__ = "booking_slots"
    __table_args__ = (UniqueConstraint("hall_id", "starts_at", name="uq_booking_slots_hall_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hall_id: Mapped[int] = mapped_column(
        ForeignKey("service_halls.id", ondelete="CASCADE"), nullable=False, index=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    booked: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Booking(Base):
    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    confirmation_no: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    slot_id: Mapped[int] = mapped_column(
        ForeignKey("booking_slots.id", ondelete="CASCADE"), nullable=False, index=True)
    caller: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    linkedid: Mapped[str] = mapped_column(String(64), nullable=False, default="", index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="booked")
