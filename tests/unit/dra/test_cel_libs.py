"""Function libraries of the selector environment: strings, lists, regex, URL, sets, optional."""

from __future__ import annotations

import pytest

from scheduler.dra.cel import CelDevice, CelEnvironment, CelError, SemVer

ENV = CelEnvironment(consumable_capacity=False)
DEVICE = CelDevice(
    "dra.example.com",
    {"name": "gpu-0", "index": 3, "version": SemVer.parse("2.0.0")},
    {},
)


def matches(expression: str) -> bool:
    return ENV.compile(expression).matches(DEVICE)


STRINGS = [
    # CEL strings extension, version 2 (examples from its documentation)
    '"hello".charAt(4) == "o" && "hello".charAt(5) == ""',
    '"hello mellow".indexOf("ello") == 1 && "hello mellow".indexOf("ello", 2) == 7',
    '"hello mellow".indexOf("") == 0 && "hello mellow".indexOf("jello") == -1',
    '"hello mellow".lastIndexOf("ello") == 7 && "hello mellow".lastIndexOf("ello", 6) == 1',
    '"hello mellow".lastIndexOf("") == 12',
    '"TacoCat".lowerAscii() == "tacocat" && "TacoCat".upperAscii() == "TACOCAT"',
    '"hello hello".replace("he", "we") == "wello wello"',
    '"hello hello".replace("he", "we", 1) == "wello hello"',
    '"hello hello".replace("he", "we", 0) == "hello hello"',
    '"a b c".split(" ") == ["a", "b", "c"] && "a b c".split(" ", 2) == ["a", "b c"]',
    '"a b c".split(" ", 0) == []',
    '"tacocat".substring(4) == "cat" && "tacocat".substring(0, 4) == "taco"',
    '"  \\ttrim\\n    ".trim() == "trim"',
    '["hello", "mellow"].join() == "hellomellow" && ["a", "b"].join(" ") == "a b"',
    '[].join() == ""',
    '"%s is %d".format(["x", 3]) == "x is 3"',
    '"%.2f".format([3.14159]) == "3.14"',
    'strings.quote("a\\"b") == "\\"a\\\\\\"b\\""',
    'device.attributes["dra.example.com"].name.upperAscii() == "GPU-0"',
    'device.attributes["dra.example.com"].name.split("-")[1] == "0"',
]

LISTS = [
    # Kubernetes lists library
    "[1, 2, 3].isSorted() && ![2, 1].isSorted() && [].isSorted()",
    '["a", "b"].isSorted() && [1.0, 2.5].isSorted()',
    "[1, 2, 3].sum() == 6 && [1.5, 2.5].sum() == 4.0 && [].sum() == 0",
    "[3, 1, 2].min() == 1 && [3, 1, 2].max() == 3",
    '["b", "c", "a"].max() == "c"',
    "[1, 2, 1].indexOf(1) == 0 && [1, 2, 1].lastIndexOf(1) == 2 && [1, 2].indexOf(3) == -1",
    '["a", "b"].indexOf("b") == 1',
    # lists extension
    "lists.range(4) == [0, 1, 2, 3]",
    "[1, 2, 3, 4].slice(1, 3) == [2, 3]",
    "[[1], [2, 3]].flatten() == [1, 2, 3]",
    "[1, 2, 1, 3].distinct() == [1, 2, 3]",
    "[1, 2, 3].reverse() == [3, 2, 1]",
    '[3, 1, 2].sort() == [1, 2, 3] && ["b", "a"].sort() == ["a", "b"]',
    "[1, 2].first().hasValue() && [1, 2].last().value() == 2 && ![].first().hasValue()",
    # sets extension
    "sets.contains([1, 2, 3], [3, 1]) && !sets.contains([1, 2], [3])",
    "sets.equivalent([1, 2, 2], [2, 1]) && !sets.equivalent([1], [1, 2])",
    "sets.intersects([1, 2], [3, 2]) && !sets.intersects([1], [])",
    # macros
    "[1, 2].exists(x, x == 2) && [1, 2].all(x, x > 0) && [1, 2].exists_one(x, x > 1)",
    "[1, 2].map(x, x * 2) == [2, 4] && [1, 2].filter(x, x > 1) == [2]",
    '{"a": 1}.exists(k, k == "a")',
]

REGEX = [
    # Kubernetes regex library (Go RE2 semantics)
    '"abc 123 def 456".find("[0-9]+") == "123"',
    '"abc".find("x") == ""',
    '"abc 123 def 456".findAll("[0-9]+") == ["123", "456"]',
    '"abc 123 def 456".findAll("[0-9]+", 1) == ["123"]',
    '"abc".findAll("[a-z]", 0) == []',
    # Go skips an empty match right after a match: "" at 0, "aaa", then nothing at 4
    '"baaa".findAll("a*") == ["", "aaa"]',
    '"abc".findAll("") == ["", "", "", ""]',
    '"aXb".find("(?i)x") == "X"',
    '"a1\\nb2".find("[a-z]\\\\d$") == "b2"',  # $ is end of text without (?m)
    '"a1\\nb2".find("(?m)[a-z]\\\\d$") == "a1"',
    '"x{,2}".find("x{,2}") == "x{,2}"',  # RE2 reads {,n} literally
    '"é9".find("\\\\w") == "9"',  # \\w is ASCII in RE2
    '"abc".matches("^a.c$") && matches("abc", "b")',
]

URLS = [
    # Kubernetes URL library (Go net/url)
    'url("https://user:pass@example.com:80/path?query=val#fragment").getHost() == "example.com:80"',
    'url("https://example.com:80/").getHostname() == "example.com"',
    'url("https://127.0.0.1:80/").getHostname() == "127.0.0.1"',
    'url("https://[::1]:80/").getHostname() == "::1"',
    'url("https://[::1]:80/").getHost() == "[::1]:80"',
    'url("https://example.com:80/").getPort() == "80"',
    'url("https://example.com/").getPort() == ""',
    'url("/path").getScheme() == "" && url("https://example.com/").getScheme() == "https"',
    'url("/path").getHost() == ""',
    'url("https://example.com/path").getEscapedPath() == "/path"',
    'url("https://example.com/path with spaces/").getEscapedPath() == "/path%20with%20spaces/"',
    'url("https://example.com").getEscapedPath() == ""',
    'url("https://example.com/path?k1=a&k2=b&k2=c").getQuery() == {"k1": ["a"], "k2": ["b", "c"]}',
    'url("https://example.com/p?key with spaces=value with spaces").getQuery() == '
    '{"key with spaces": ["value with spaces"]}',
    'url("https://example.com/path?").getQuery() == {}',
    'url("https://example.com").getQuery() == {}',
    'isURL("https://user:pass@example.com:80/path?query=val#fragment") && isURL("/absolute-path")',
    '!isURL("https://a:b:c/") && !isURL("../relative-path")',
]

CORE = [
    # cross-type numeric comparisons (cel-go CrossTypeNumericComparisons)
    "1 < 1.5 && 2u > 1 && 1.5 >= 1u",
    "dyn(1) == 1.0 && dyn(1u) == 1",
    # optional types
    "optional.of(1).orValue(2) == 1 && optional.none().orValue(2) == 2",
    '{"a": 1}[?"b"].orValue(5) == 5',
    "[1, ?optional.none(), 2] == [1, 2]",
    "optional.of(1).optMap(x, x + 1).value() == 2",
    # time
    'timestamp("2024-01-01T00:00:00Z") < timestamp("2025-01-01T00:00:00Z")',
    'duration("1h") > duration("1m")',
    # Kubernetes objects compare by value through lists and `in`
    '[quantity("1")] == [quantity("1000m")] && quantity("1") in [quantity("1000m")]',
    'device.attributes["dra.example.com"].version in [semver("2.0.0"), semver("3.0.0")]',
    '"x" in device.attributes["dra.example.com"] == false',
    'type(quantity("1")) == kubernetes.Quantity',
    'type(device.attributes["dra.example.com"].version) == kubernetes.Semver',
    'type(device.attributes["dra.example.com"].name) == string',
    'device.attributes["dra.example.com"].index in [1, 2, 3]',
    'device.attributes["dra.example.com"].name != "gpu-1"',
]


@pytest.mark.parametrize("expression", STRINGS + LISTS + REGEX + URLS + CORE)
def test_library_functions(expression: str) -> None:
    """Library calls give the results documented for the upstream libraries."""
    assert matches(expression) is True


ERRORS = [
    ('"hello".charAt(6) == ""', "greater than"),
    ('"tacocat".substring(2, 1) == ""', "less than"),
    ("[].min() == 0", "min called on empty list"),
    ("[].max() == 0", "max called on empty list"),
    ("[1, 2].slice(2, 1) == []", "start index must be less than or equal to end index"),
    ("[1, 2].slice(0, 3) == []", "list is length 2"),
    ('url("../x").getScheme() == ""', "URL parse error during conversion from string"),
    ('url("https://a:b:c/").getHost() == ""', "invalid port"),
    ('"x".find("[") == ""', "error parsing regexp"),
    ('[duration("1s"), duration("2s")].sum() == duration("3s")', "durations and timestamps"),
    ('"x".find("[[:alpha:]]") == "x"', "unsupported regular expression"),
    ('"x".find("\\\\pL") == "x"', "unsupported regular expression"),
    ('device.attributes["dra.example.com"].version == "2.0.0"', "no such overload"),
    ('device.attributes["dra.example.com"].version in ["2.0.0"]', "no such overload"),
    # Kubernetes objects reached through an untyped path are opaque, as upstream
    ('device.attributes["dra.example.com"].version.startsWith("2")', "no such overload"),
    ('size(device.attributes["dra.example.com"].version) > 0', "no such overload"),
    ('string(device.attributes["dra.example.com"].version) == "2.0.0"', "no such overload"),
]


@pytest.mark.parametrize(("expression", "message"), ERRORS)
def test_library_errors(expression: str, message: str) -> None:
    """Failing library calls are runtime errors with the upstream wording."""
    with pytest.raises(CelError, match=message) as info:
        matches(expression)
    assert info.value.kind == "runtime"


def test_string_on_the_left_of_semver_is_unequal() -> None:
    """cel-go: ``"2.0.0" == <semver>`` is false (string equality), not an error."""
    expression = '"2.0.0" == device.attributes["dra.example.com"].version'
    assert matches(expression) is False
