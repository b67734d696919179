"""Authentication and the caller's scope.

Callers present ``Authorization: Bearer <token>``: a JWT (HS256) naming the user, minted by the
OAuth2 password login (``POST /api/auth/token``, argon2id password hashes) or by
``firetwin users token USERNAME``. No token means the public. The scope follows the role:

- admin (district) and dispatcher: every grid, personal data shown;
- planner: every grid, personal data left out (aggregates and analysis);
- street officer: every grid of its street (``app_user.region_id``) plus assigned grids;
- community admin: every grid of its community plus assigned grids;
- grid worker and inspector: their assigned grids (``user_grid``);
- unit manager: its own unit's rows only;
- public: published rows of public layers, no personal data (see layers/scope.py).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jwt
from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from layers.scope import Scope
from services.errors import FireSafetyError, ServiceUnavailable

WIDE_ROLES = frozenset({"admin", "dispatcher", "planner"})
GRID_ROLES = frozenset({"street_officer", "community_admin", "grid_worker", "inspector"})
#: Roles that see personal data (names, phone numbers) of the rows in their scope.
PERSONAL_DATA_ROLES = frozenset({"admin", "dispatcher", "street_officer", "community_admin",
                                 "grid_worker", "inspector", "unit_manager"})
TOKEN_TTL_S = 12 * 3600


class Unauthorized(FireSafetyError):
    status_code = 401
    default_msg = "invalid or expired token: sign in again"


class Forbidden(FireSafetyError):
    status_code = 403
    default_msg = "your role may not do this"


@dataclass(frozen=True)
class Caller:
    """Who is calling, and what they may see."""

    user_id: int | None
    username: str
    role: str
    scope: Scope


PUBLIC = Caller(user_id=None, username="public", role="public", scope=Scope.public())


def secret_key(home: Path) -> str:
    """The signing key: FIRETWIN_SECRET_KEY, else one generated once under ``home`` (0600)."""
    import os

    if key := os.environ.get("FIRETWIN_SECRET_KEY"):
        return key
    path = home / "secret_key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


_HASHER = None


def _hasher():
    global _HASHER
    if _HASHER is None:
        from argon2 import PasswordHasher

        _HASHER = PasswordHasher()
    return _HASHER


def hash_password(password: str) -> str:
    """An argon2id hash of a password (never store the password itself)."""
    if len(password) < 8:
        msg = "password must be at least 8 characters"
        raise ValueError(msg)
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches the stored hash (False without a hash)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    if not password_hash:
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def mint_token(key: str, *, user_id: int, role: str, ttl_s: int = TOKEN_TTL_S) -> str:
    """A signed token for a user."""
    now = int(time.time())
    return jwt.encode({"sub": str(user_id), "role": role, "iat": now, "exp": now + ttl_s},
                      key, algorithm="HS256")


#: Seconds a resolved caller (role, grids) is reused by one worker before it is read again;
#: a role or grid change, or a deactivation, takes effect within this delay.
CALLER_TTL_S = 5.0
_CALLERS: dict[tuple[str, int], tuple[float, Caller]] = {}


#: Verified tokens (header, key) → (valid until, epoch seconds; user id): a map panning client
#: sends the same token on every tile, so its signature is checked once, not per request.
_VERIFIED: dict[tuple[str, str], tuple[float, int]] = {}


def user_id_from_header(header: str, key: str) -> int | None:
    """The user id of a valid bearer token, None without a token; Unauthorized otherwise."""
    if not header:
        return None
    hit = _VERIFIED.get((header, key))
    if hit is not None and hit[0] > time.time():
        return hit[1]
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("use 'Authorization: Bearer <token>'")
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"], options={"require": ["exp", "sub"]})
        user_id = int(claims["sub"])
    except (jwt.PyJWTError, ValueError) as e:
        raise Unauthorized from e
    if len(_VERIFIED) > 10_000:
        _VERIFIED.clear()
    _VERIFIED[(header, key)] = (float(claims["exp"]), user_id)
    return user_id


async def caller_from_header(header: str, *, key: str, pool: AsyncConnectionPool) -> Caller:
    """The caller a request's Authorization header names (the public when there is none).

    The public costs no database round trip, and a signed-in caller is read at most once
    per CALLER_TTL_S per worker.
    """
    user_id = user_id_from_header(header, key)
    if user_id is None:
        return PUBLIC
    now = time.monotonic()
    cache_key = (pool.conninfo, user_id)
    hit = _CALLERS.get(cache_key)
    if hit is not None and hit[0] > now:
        return hit[1]
    try:
        async with pool.connection(timeout=5) as conn:
            caller = await _load_caller(conn, user_id)
    except PoolTimeout as e:
        raise ServiceUnavailable from e
    if len(_CALLERS) > 10_000:
        _CALLERS.clear()
    _CALLERS[cache_key] = (now + CALLER_TTL_S, caller)
    return caller


async def _load_caller(conn: AsyncConnection, user_id: int) -> Caller:
    """Load a user and derive their scope from role and grids."""
    cur = await conn.execute(
        "SELECT u.username, u.role, u.active, u.unit_id, "
        "  ARRAY(SELECT grid_id FROM firetwin.user_grid WHERE user_id = u.id "
        "        UNION SELECT g.id FROM firetwin.grid g "
        "        WHERE (u.role = 'street_officer' AND g.street_id = u.region_id) "
        "           OR (u.role = 'community_admin' AND g.community_id = u.region_id)) "
        "FROM firetwin.app_user u WHERE u.id = %s",
        (user_id,),
    )
    row = await cur.fetchone()
    if row is None or not row[2]:
        raise Unauthorized
    username, role, _active, unit_id, grids = row
    if role in WIDE_ROLES:
        scope = Scope.everything(personal=role in PERSONAL_DATA_ROLES)
    elif role in GRID_ROLES:
        scope = Scope.for_grids(set(grids))
    elif role == "unit_manager":
        scope = Scope.for_units({unit_id} if unit_id is not None else set())
    else:
        scope = Scope.public()
    return Caller(user_id=user_id, username=username, role=role, scope=scope)


async def get_caller(request: Request) -> Caller:
    """The caller of this request, resolved once per request (the public without a token)."""
    cached = getattr(request.state, "caller", None)
    if cached is None:
        cached = await caller_from_header(request.headers.get("authorization", ""),
                                          key=request.app.state.secret_key,
                                          pool=request.app.state.pool)
        request.state.caller = cached
    return cached


CallerDep = Annotated[Caller, Depends(get_caller)]
