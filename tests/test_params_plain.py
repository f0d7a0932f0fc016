"""The hand-written load of plain parameters (fhir/params.py _Plain) gives exactly what each
operation's marshmallow schema gives, or steps aside so that the schema answers with its error.

Parameters are drawn at random in the shapes requests bring (query strings, form fields, values
of a Parameters body: strings, numbers, booleans, Codings, nulls, objects), for every schema.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terminology.errors import InvalidRequest
from terminology.fhir import params

SCHEMAS = {  # as each operation's request function loads it
    "lookup": (params._LOOKUP, params._LOOKUP_REPEATING, params._code_or_coding),
    "validate": (params._VALIDATE, params._VALIDATE_REPEATING, params._one_subject),
    "expand": (params._EXPAND, params._EXPAND_REPEATING, None),
    "translate": (params._TRANSLATE, set(), None),
    "subsumes": (params._SUBSUMES, set(), None),
}

TEXT = st.sampled_from(["true", "false", "20", "0", "-3", " 7", "2147483648", "2147483647",
                        "1e3", "", "E11.9", "http://hl7.org/fhir/sid/icd-10-cm", "²", "True"])
CODING = st.dictionaries(st.sampled_from(["system", "code", "version", "display", "userSelected",
                                          "extension"]),
                         st.one_of(TEXT, st.integers(), st.booleans(), st.none()), max_size=4)
VALUE = st.one_of(TEXT, TEXT, TEXT, st.integers(-5, 2**32), st.booleans(), st.none(), CODING,
                  st.lists(TEXT, max_size=2))


def names(schema: Any) -> list[str]:
    return [f.data_key or name for name, f in schema.fields.items()] + ["unknown", "_format"]


def outcome(load: Any) -> dict[str, Any] | str:
    """The data loaded, or the error raised."""
    try:
        return load()  # type: ignore[no-any-return]
    except InvalidRequest as exc:
        return f"{exc.message} ({exc.expression})"


def schema_load(schema: Any, flat: dict[str, list[Any]], repeating: set[str]) -> Any:
    """What the schema alone gives (params._load as it was before the plain load)."""
    known = {f.data_key or name for name, f in schema.fields.items()}
    try:
        return schema.load(params._single({k: v for k, v in flat.items() if k in known},
                                          repeating))
    except params.ValidationError as exc:
        name, problem = params._first_error(exc.messages)
        raise InvalidRequest(f"The parameter '{name}' is invalid: {problem}",
                             expression=name) from None


@pytest.mark.parametrize("operation", sorted(SCHEMAS))
def test_plain_load_is_the_schema_load(operation: str) -> None:
    schema, repeating, rules = SCHEMAS[operation]

    @settings(max_examples=400, deadline=None)
    @given(st.dictionaries(st.sampled_from(names(schema)), st.lists(VALUE, min_size=1,
                                                                    max_size=2), max_size=5))
    def check(flat: dict[str, list[Any]]) -> None:
        assert outcome(lambda: params._load(schema, flat, repeating, rules)) == outcome(
            lambda: schema_load(schema, flat, repeating))

    check()


def test_plain_queries_are_loaded_by_hand() -> None:
    """The requests the hot operations get all day do not reach marshmallow."""
    plain = params._Plain(params._VALIDATE)
    flat = {"url": ["http://hl7.org/fhir/sid/icd-10-cm"], "code": ["E11.9"],
            "display": ["Type 2 diabetes mellitus without complications"],
            "abstract": ["false"], "system-version": ["a", "b"]}
    assert plain.load(flat, params._VALIDATE_REPEATING) == {
        "url": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9",
        "display": "Type 2 diabetes mellitus without complications", "abstract": False,
        "system_version": ["a", "b"]}
    coding = {"coding": [{"system": "s", "code": "c", "userSelected": True}]}
    assert plain.load(coding, params._VALIDATE_REPEATING) == {
        "coding": {"system": "s", "code": "c"}}
    expand = params._Plain(params._EXPAND)
    assert expand.load({"filter": ["diab"], "count": ["20"]}, params._EXPAND_REPEATING) == {
        "filter": "diab", "count": 20}


@pytest.mark.parametrize(("flat", "error"), [
    ({"system": ["s"]},
     "The parameter 'code' is invalid: a code (with system) or a coding is required"),
    ({"system": ["s"], "code": ["a"], "coding": [{"code": "b"}]},
     "The parameter 'code' is invalid: give either code (with system) or coding, not both"),
    ({"system": ["s"], "code": ["a", "b"]},
     "The parameter 'code' appears 2 times; it may appear only once"),
    ({"system": ["s"], "coding": ["text"]},
     "The parameter 'coding' is invalid: Invalid input type."),
])
def test_lookup_errors_stay_the_schemas(flat: dict[str, list[Any]], error: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        params.lookup_request(flat)
    assert caught.value.message == error
