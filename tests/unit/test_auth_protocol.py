"""protocol/auth.py: reading bearer tokens, challenges, metadata URLs and scope hierarchies."""

import pytest

from trimcp.protocol.auth import MalformedAuthorization, challenge, metadata_url_of, missing_scopes, read_bearer


def test_read_bearer() -> None:
    assert read_bearer([]) is None
    assert read_bearer(["Bearer abc.DEF-_~+/=="]) == "abc.DEF-_~+/=="
    assert read_bearer(["bearer  tok "]) == "tok"  # the scheme is case-insensitive
    for bad in (["Bearer"], ["Bearer a b"], ["Basic x"], ["Bearer é"], ["Bearer a", "Bearer a"], ["Bearer a=b"]):
        with pytest.raises(MalformedAuthorization):
            read_bearer(bad)


def test_challenges_quote_what_they_carry() -> None:
    assert challenge("https://x/.well-known/oauth-protected-resource/mcp") == (
        'Bearer resource_metadata="https://x/.well-known/oauth-protected-resource/mcp"'
    )
    value = challenge("u", scopes=["b", "a", "a"], error="invalid_token", description='say "hi"\\\n')
    assert (
        value
        == 'Bearer error="invalid_token", error_description="say \\"hi\\"\\\\?", scope="a b", resource_metadata="u"'
    )


def test_metadata_url_inserts_the_well_known_path() -> None:
    assert (
        metadata_url_of("https://h:8443/nested/mcp/")
        == "https://h:8443/.well-known/oauth-protected-resource/nested/mcp"
    )
    assert metadata_url_of("https://h") == "https://h/.well-known/oauth-protected-resource"


def test_a_broader_scope_covers_the_narrower_ones() -> None:
    granted = frozenset({"files", "mail:read"})
    assert missing_scopes(granted, ["files:read", "files:write:all", "mail:read"]) == []
    assert missing_scopes(granted, ["mail:send", "mail", "filesystem"]) == ["mail:send", "mail", "filesystem"]
