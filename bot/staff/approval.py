"""Staff approval of what volunteers propose: a status on the row, and who decided it and when.

A volunteer's contribution that would reach villagers (a curated answer; later situation cards) is stored
as `proposed` and only used once a staff member sets it `active`; `rejected` keeps it for the record.
Any model that mixes in `Approval` gets the three columns; `decide` is the one way to change them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ForeignKey, String, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.staff.users import ConsoleUser

PROPOSED, ACTIVE, REJECTED = "proposed", "active", "rejected"
STATUSES = {PROPOSED: "待审核", ACTIVE: "已批准", REJECTED: "已退回"}  # stored value → what the console shows
DECISIONS = {"approve": ACTIVE, "reject": REJECTED}  # the console's form value → the new status


class ApprovalError(ValueError):
    """A decision that cannot be taken: not staff, or an unknown decision."""


class Approval:
    """Mixin: `status`, `decided_by_id` and `decided_at` (nothing is used by the bot until `active`)."""

    # A row inserted without a status (or by an old build) is never live by accident.
    status: Mapped[str] = mapped_column(String(16), default=PROPOSED, server_default=text(f"'{PROPOSED}'"))
    decided_at: Mapped[datetime | None]
    # Each model adds the relationship `decided_by` on this (its other user columns make it ambiguous here).
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("console_users.id"))

    @property
    def status_label(self) -> str:
        return STATUSES.get(self.status, self.status)


def initial_decision(author: ConsoleUser, at: datetime) -> dict[str, Any]:
    """The approval columns of a new row: staff publish directly (and are its decider); anyone else
    proposes, and nobody has decided yet."""
    if author.is_staff:
        return {"status": ACTIVE, "decided_by": author, "decided_at": at}
    return {"status": PROPOSED, "decided_by": None, "decided_at": None}


def decide(item: Approval, decision: str, *, staff: ConsoleUser, now: datetime | None = None) -> None:
    """Approve or reject `item` (the caller commits); ApprovalError unless `staff` is staff."""
    if not staff.is_staff:
        raise ApprovalError("only staff may approve or reject a proposal.")
    if decision not in DECISIONS:
        raise ApprovalError(f"decision {decision!r} is unknown; use one of {', '.join(DECISIONS)}.")
    item.status = DECISIONS[decision]
    item.decided_by_id, item.decided_at = staff.id, now or datetime.now(UTC)
