from __future__ import annotations

import pytest

from novacron.auth import AuthError, token_from_authorization


@pytest.mark.parametrize("header", ["Bearer abc.def.ghi", "bearer abc.def.ghi", "  BEARER   abc.def.ghi "])
def test_bearer_token_is_extracted(header: str) -> None:
    assert token_from_authorization(header) == "abc.def.ghi"


@pytest.mark.parametrize("header", [None, "", "   ", "Bearer", "Bearer   "])
def test_absent_token_is_missing(header: str | None) -> None:
    with pytest.raises(AuthError) as info:
        token_from_authorization(header)
    assert info.value.reason == "missing token"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer a b"])
def test_other_schemes_are_malformed(header: str) -> None:
    with pytest.raises(AuthError) as info:
        token_from_authorization(header)
    assert info.value.reason == "malformed"
