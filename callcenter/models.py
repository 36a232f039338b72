"""Every table of the project, imported in one place for Alembic and tests."""

from callcenter.contacts.models import Contact, ContactEventRow

__all__ = ["Contact", "ContactEventRow"]
