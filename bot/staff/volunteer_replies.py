"""Follow-up replies: a volunteer answers a villager again through WeChat, within WeChat's 48-hour window.

Each attempt is logged (who, when, the text, whether WeChat accepted it); the openid is decrypted only
for the call and never stored or logged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from bot.answers.text import MAX_REPLY_BYTES
from bot.records.followups import followup_openid
from bot.records.models import Base, Consultation
from bot.staff.plain_text import strip_xml_illegal
from bot.staff.users import ConsoleUser
from bot.wechat.customer_service import OUT_OF_WINDOW, WeChatApiError

SENT, FAILED = "sent", "failed"


class FollowupError(ValueError):
    """A follow-up that cannot be sent; the message (Chinese) is shown to the volunteer."""


class TextSender(Protocol):
    def send_text(self, openid: str, text: str) -> None: ...


class VolunteerReply(Base):
    __tablename__ = "volunteer_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), index=True
    )
    sender_id: Mapped[int] = mapped_column(ForeignKey("console_users.id"))
    created_at: Mapped[datetime]
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(200))

    sender: Mapped[ConsoleUser] = relationship(lazy="joined")


def can_follow_up(row: Consultation, *, now: datetime | None = None) -> bool:
    """Whether the villager's WeChat window is still open (their encrypted openid is still kept)."""
    expires = row.openid_expires_at
    return row.openid_enc is not None and expires is not None and expires > (now or datetime.now(UTC))


def replies_for(session: Session, consultation_id: int) -> list[VolunteerReply]:
    stmt = select(VolunteerReply).where(VolunteerReply.consultation_id == consultation_id)
    return list(session.scalars(stmt.order_by(VolunteerReply.created_at, VolunteerReply.id)))


def _checked_text(text: str) -> str:
    text = strip_xml_illegal(text).strip()  # PostgreSQL refuses NUL; WeChat shows no control characters
    if not text:
        raise FollowupError("回复内容不能为空。")
    if len(text.encode("utf-8")) > MAX_REPLY_BYTES:
        raise FollowupError(
            f"回复太长（{len(text.encode('utf-8'))} 字节），微信最多 {MAX_REPLY_BYTES} 字节，请删减。"
        )
    return text


def send_followup(
    session: Session,
    row: Consultation,
    *,
    sender: ConsoleUser,
    text: str,
    wechat: TextSender,
    secret_key: str,
    now: datetime | None = None,
) -> VolunteerReply:
    """Send `text` to the consultation's villager and log the attempt; FollowupError if it failed."""
    text = _checked_text(text)
    at = now or datetime.now(UTC)
    openid = followup_openid(session, row.id, secret_key=secret_key, now=at)
    if openid is None:
        raise FollowupError(
            "已超过微信48小时回复期限（或群众未留下联系方式），无法再通过公众号回复。请电话或上门联系。"
        )
    reply = VolunteerReply(consultation_id=row.id, sender=sender, created_at=at, text=text, status=SENT)
    failure: WeChatApiError | None = None
    try:
        wechat.send_text(openid, text)
    except WeChatApiError as exc:
        failure = exc
        reply.status, reply.error = FAILED, str(exc)[:200]
    session.add(reply)
    session.commit()
    if failure is not None:
        window = "群众超过48小时未发消息，" if failure.errcode == OUT_OF_WINDOW else ""
        raise FollowupError(f"微信未能送达：{window}{reply.error}")
    return reply
