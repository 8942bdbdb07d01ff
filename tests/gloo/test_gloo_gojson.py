"""Go encoding/json wording for the JWKS syntax errors users hit when pasting $CERT_KEYS."""

from __future__ import annotations

import pytest

from oktalab.sandbox.gloo.gojson import GoJSONError, check_valid


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{keys:[n:kdhR]}", "invalid character 'k' looking for beginning of object key string"),
        (
            '{"keys":[{kty:RSA}]}',
            "invalid character 'k' looking for beginning of object key string",
        ),
        ("{'keys': []}", "invalid character '\\'' looking for beginning of object key string"),
        ('{"keys":x}', "invalid character 'x' looking for beginning of value"),
        ("", "unexpected end of JSON input"),
        ('{"keys":[', "unexpected end of JSON input"),
        ('{"keys" []}', "invalid character '[' after object key"),
        ('{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
        ("[1 2]", "invalid character '2' after array element"),
        ("{} {}", "invalid character '{' after top-level value"),
        ('"a\nb"', "invalid character '\\n' in string literal"),
        ("tru", "unexpected end of JSON input"),
        ("trux", "invalid character 'x' in literal true (expecting 'e')"),
        ("1.x", "invalid character 'x' after decimal point in numeric literal"),
        ("-x", "invalid character 'x' in numeric literal"),
    ],
)
def test_go_messages(text: str, message: str) -> None:
    with pytest.raises(GoJSONError) as err:
        check_valid(text)
    assert str(err.value) == message


@pytest.mark.parametrize(
    "text", ['{"keys":[]}', " [1, 2.5e3, -0, true, false, null] ", '"\\u00e9"']
)
def test_valid(text: str) -> None:
    check_valid(text)
