"""Sign-in: the OAuth2 password flow (``POST /api/auth/token``) and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from services.auth import CallerDep, Unauthorized, hash_password, mint_token, verify_password
from services.deps import ConnDep

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/token")
async def login(request: Request, conn: ConnDep,
                form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict:
    """Exchange username and password for a bearer token (OAuth2 password flow)."""
    cur = await conn.execute(
        "SELECT id, role, password_hash, active FROM firetwin.app_user WHERE username = %s",
        (form.username,))
    row = await cur.fetchone()
    # Verify even for an unknown user so timing does not reveal which usernames exist.
    ok = verify_password(row[2] if row else _dummy_hash(), form.password)
    if row is None or not ok or not row[3]:
        raise Unauthorized("wrong username or password")
    token = mint_token(request.app.state.secret_key, user_id=row[0], role=row[1])
    return {"access_token": token, "token_type": "bearer"}


@router.get("/me")
async def me(caller: CallerDep) -> dict:
    """The caller's role and scope."""
    scope = caller.scope
    return {"user_id": caller.user_id, "username": caller.username, "role": caller.role,
            "scope": {"kind": scope.kind, "grids": sorted(scope.grids or ()),
                      "units": sorted(scope.units or ()), "personal_data": scope.personal}}



_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_password("not-a-real-password"))
    return _DUMMY[0]
