"""User management for staff: add volunteers and staff, change roles, disable accounts, reset passwords."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from bot.console.context import PREFIX, ConsoleError
from bot.console.deps import Console, DbSession, StaffForm, StaffLogin, plausible_id, text_field
from bot.staff.auth import end_user_sessions
from bot.staff.users import ConsoleUser, UserError, create_user, list_users, update_user

router = APIRouter()


@router.get("/users")
def users_page(
    request: Request, console: Console, db: DbSession, login: StaffLogin, saved: str = ""
) -> Response:
    return console.render(request, "users.html", login=login, users=list_users(db), saved=saved)


@router.post("/users")
def add_user(db: DbSession, login: StaffLogin, form: StaffForm) -> Response:
    try:
        user = create_user(
            db,
            username=text_field(form, "username"),
            password=text_field(form, "password"),
            role=text_field(form, "role"),
        )
    except UserError as exc:
        raise ConsoleError(400, f"未能添加用户：{exc}") from exc
    return RedirectResponse(f"{PREFIX}/users?saved={user.username}", status_code=303)


@router.post("/users/{user_id}")
def change_user(db: DbSession, login: StaffLogin, form: StaffForm, user_id: int) -> Response:
    user = db.get(ConsoleUser, user_id) if plausible_id(user_id) else None
    if user is None:
        raise ConsoleError(404, f"没有编号为 {user_id} 的用户。")
    role, active = text_field(form, "role") or None, text_field(form, "active")
    if user.id == login.user.id and (role not in (None, user.role) or active == "0"):
        # Otherwise the last staff member could lock everyone out of user management.
        raise ConsoleError(400, "不能停用自己的账号或更改自己的角色，请让另一位工作人员操作。")
    try:
        update_user(
            db,
            user,
            role=role,
            active={"1": True, "0": False}.get(active),
            password=text_field(form, "password") or None,
        )
    except UserError as exc:
        raise ConsoleError(400, f"未能修改用户：{exc}") from exc
    if user.id != login.user.id:
        end_user_sessions(db, user)  # a changed role or password applies at the user's next request
    elif text_field(form, "password"):
        end_user_sessions(db, user, keep=login)  # one's own new password: log out everywhere else
    return RedirectResponse(f"{PREFIX}/users?saved={user.username}", status_code=303)
