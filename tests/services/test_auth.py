"""Bearer tokens: verified once and remembered, but never past their expiry or with another key."""

from __future__ import annotations

import time

import pytest

from services.auth import Unauthorized, mint_token, user_id_from_header

KEY = "auth-test-key-0123456789abcdefghijklmnopqrstuvwxyz"


def test_token_is_remembered_until_it_expires():
    header = "Bearer " + mint_token(KEY, user_id=7, role="admin", ttl_s=2)
    assert user_id_from_header(header, KEY) == 7
    assert user_id_from_header(header, KEY) == 7  # from the verified-token cache
    with pytest.raises(Unauthorized):
        user_id_from_header(header, KEY + "x")  # another key is not a cache hit
    time.sleep(2.2)
    with pytest.raises(Unauthorized):
        user_id_from_header(header, KEY)


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer not.a.jwt",
                                    "Bearer " + mint_token("other-key-" * 5, user_id=1, role="x")])
def test_bad_or_tampered_tokens_are_refused(header):
    with pytest.raises(Unauthorized):
        user_id_from_header(header, KEY)
