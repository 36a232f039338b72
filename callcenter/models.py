"""Every table of the project, imported in one place for Alembic and tests."""

from callcenter.agents.models import AgentStateChange, AgentStateRow, CallNote
from callcenter.auth.models import AuditEntry, AuthSession, User
from callcenter.bookings.models import Booking, BookingSlot, ServiceHall
from callcenter.consult.models import ConsultCode, ConsultReply, ConsultSession
from callcenter.contacts.models import Contact, ContactEventRow
from callcenter.invoices.models import Invoice
from callcenter.kb.models import KbDraft, KbEntry, KbSeedFile, KbVersion
from callcenter.notices.models import StaffNotice, StaffNoticeRecipient
from callcenter.quality.models import Review, ReviewForm
from callcenter.queues.models import AgentSkill, Disposition, PauseReason, QueueConfig, Skill
from callcenter.recordings.models import Recording
from callcenter.sms.models import SmsDeliveryReport, SmsMessage, SmsOptOut
from callcenter.stats.models import (
    StatsContactDaily,
    StatsContactRollup,
    StatsDirtyBucket,
    StatsQueueDaily,
    StatsQueueRollup,
    StatsRollupState,
)
from callcenter.taxpayers.models import TaxFiling, Taxpayer
from callcenter.tickets.models import CallbackRequest, Ticket, TicketStatusChange

__all__ = [
    "AgentSkill", "AgentStateChange", "AgentStateRow", "AuditEntry", "AuthSession", "Booking",
    "BookingSlot", "CallNote", "CallbackRequest", "ConsultCode", "ConsultReply",
    "ConsultSession", "Contact", "ContactEventRow", "Disposition",
    "Invoice", "KbDraft", "KbEntry", "KbSeedFile", "KbVersion", "PauseReason", "QueueConfig",
    "Recording", "Review", "ReviewForm", "ServiceHall", "Skill",
    "SmsDeliveryReport", "SmsMessage", "SmsOptOut", "StaffNotice", "StaffNoticeRecipient",
    "StatsContactDaily",
    "StatsContactRollup", "StatsDirtyBucket", "StatsQueueDaily", "StatsQueueRollup",
    "StatsRollupState", "TaxFiling", "Taxpayer", "Ticket", "TicketStatusChange", "User",
]
