"""UCUM unit expressions: parsed by the grammar of the UCUM specification (§ 2–7), shown as a
formal analysis, and reduced to canonical units.

    mg/dL                  ->  (milligram) / (deciliter)       canonical  g.m-3
    10*3/uL                ->  (the number ten for arbitrary powers ^ 3) / (microliter)
    mg/dL{by weight}       ->  (milligram) / (deciliter) * 1   (an annotation counts as 1)

A term is read left to right and each operator applies to the component after it, so `a/b.c`
is a/b×c. Errors say where the expression went wrong in tx.fhir.org's words
(`Error processing unit 'kgXX': The unit 'kgXX' is unknown at character 1`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codesystems.ucum.essence import Essence, Prefix, Unit


class UnitError(ValueError):
    """The expression is not a valid UCUM unit."""


# -- tokens -----------------------------------------------------------------------------------

SYMBOL, NUMBER, ANNOTATION, SOLIDUS, PERIOD, OPEN, CLOSE = (
    "symbol", "number", "annotation", "/", ".", "(", ")")
_SINGLE = {"/": SOLIDUS, ".": PERIOD, "(": OPEN, ")": CLOSE}
_SYMBOL_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ[]%*^'\"_")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    at: int  # 1-based position in the expression


def tokens(source: str) -> list[Token]:
    out: list[Token] = []
    i = 0

    def fail(message: str, at: int) -> UnitError:
        return UnitError(f"Error processing unit '{source}': {message} at character {at}")

    while i < len(source):
        ch, start = source[i], i
        if ch in _SINGLE:
            out.append(Token(_SINGLE[ch], ch, i + 1))
            i += 1
        elif ch == "{":
            end = source.find("}", i + 1)
            if end < 0:
                raise UnitError(f"Error processing unit '{source}': unterminated annotation")
            text = source[i + 1:end]
            if any(not (32 <= ord(c) <= 126) or c == "{" for c in text):
                raise UnitError(f"Error processing unit '{source}': Annotation contains "
                                "non-ascii characters")
            out.append(Token(ANNOTATION, text, i + 1))
            i = end + 1
        elif ch in "+-":
            i += 1
            while i < len(source) and source[i].isdigit():
                i += 1
            if i == start + 1:
                raise fail(f"unexpected character '{ch}': a + or - must be followed by at "
                           "least one digit", start + 1)
            out.append(Token(NUMBER, source[start:i], start + 1))
        elif ch.isdigit() or ch in _SYMBOL_CHARS:
            is_symbol, in_brackets = False, False
            while i < len(source):
                c = source[i]
                if c == "[":
                    if in_brackets:
                        raise fail("Nested [", start + 1)
                    in_brackets = True
                elif c == "]":
                    if not in_brackets:
                        raise fail("] without [", start + 1)
                    in_brackets = False
                elif not ((c.isdigit() and (not is_symbol or in_brackets)) or c in _SYMBOL_CHARS
                          or (in_brackets and 33 <= ord(c) <= 126 and c not in "{}")):
                    break
                is_symbol = is_symbol or not c.isdigit()
                i += 1
            if in_brackets:
                raise fail("[ without ]", start + 1)
            out.append(Token(SYMBOL if is_symbol else NUMBER, source[start:i], start + 1))
        else:
            raise fail(f"unexpected character '{ch}'", i + 1)
    return out


# -- the parse tree ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Factor:
    value: int


@dataclass(frozen=True, slots=True)
class Symbol:
    unit: Unit
    prefix: Prefix | None = None
    exponent: int = 1


@dataclass(frozen=True, slots=True)
class Term:
    """Components with the operator before each ('' for the first, '/' or '.')."""

    parts: tuple[tuple[str, Factor | Symbol | Term], ...] = field(default=())


class _Parser:
    def __init__(self, essence: Essence, source: str) -> None:
        self.essence = essence
        self.source = source
        self.items = tokens(source)
        self.index = 0

    def peek(self) -> Token | None:
        return self.items[self.index] if self.index < len(self.items) else None

    def fail(self, message: str) -> UnitError:
        token = self.peek()
        at = token.at if token else len(self.source) + 1
        return UnitError(f"Error processing unit '{self.source}': {message} at character {at}")

    def term(self, top: bool) -> Term:
        parts: list[tuple[str, Factor | Symbol | Term]] = []
        op = ""
        token = self.peek()
        if token is None and top:
            return Term((("", Factor(1)),))
        if token is not None and token.kind == SOLIDUS:
            op = "/"
            self.index += 1
        while True:
            token = self.peek()
            if token is not None and token.kind == ANNOTATION:
                self.index += 1
                parts.append((op, Factor(1)))  # an annotation on its own stands for 1
            else:
                parts.append((op, self.component()))
            token = self.peek()
            if token is None or token.kind == CLOSE:
                return Term(tuple(parts))
            if token.kind == SOLIDUS:
                op = "/"
                self.index += 1
            elif token.kind == PERIOD:
                op = "."
                self.index += 1
            elif token.kind == ANNOTATION:
                op = "."  # an annotation after a component multiplies it by 1
            else:
                raise self.fail("Expected '/' or '.'")

    def component(self) -> Factor | Symbol | Term:
        token = self.peek()
        if token is None:
            raise self.fail("unexpected end of expression looking for a symbol or a number")
        if token.kind == NUMBER:
            self.index += 1
            return Factor(int(token.text))
        if token.kind == SYMBOL:
            return self.symbol(token)
        if token.kind == OPEN:
            self.index += 1
            inner = self.term(True)
            closing = self.peek()
            if closing is None or closing.kind != CLOSE:
                raise self.fail("Unexpected end of expression looking for a close bracket")
            self.index += 1
            return inner
        raise self.fail("unexpected token looking for a symbol or a number")

    def symbol(self, token: Token) -> Symbol:
        text = token.text
        unit, prefix = None, None
        for candidate in self.essence.prefixes:
            if text.startswith(candidate.code):
                found = self.essence.units.get(text[len(candidate.code):])
                if found is not None and found.metric:
                    unit, prefix = found, candidate
                    break
        if unit is None:
            unit = self.essence.units.get(text)
        if unit is None:
            raise self.fail(f"The unit '{text}' is unknown")
        self.index += 1
        exponent = 1
        following = self.peek()
        if following is not None and following.kind == NUMBER:
            exponent = int(following.text)
            self.index += 1
        return Symbol(unit, prefix, exponent)


def parse(essence: Essence, source: str) -> Term:
    """The expression's parse tree; raises UnitError with where and why it is invalid."""
    if not source.strip():
        raise UnitError("Error processing unit '': the unit is empty")
    parser = _Parser(essence, source)
    term = parser.term(True)
    if parser.peek() is not None:
        raise parser.fail("Expression was not parsed completely. Syntax Error?")
    return term


# -- analysis ---------------------------------------------------------------------------------


def analysis(term: Term) -> str:
    """The formal analysis tx.fhir.org gives as a UCUM code's description."""
    out: list[str] = []
    for op, comp in term.parts:
        if op:
            out.append(" / " if op == "/" else " * ")
        if isinstance(comp, Factor):
            out.append(str(comp.value))
        elif isinstance(comp, Symbol):
            name = (comp.prefix.name if comp.prefix else "") + comp.unit.name
            out.append(f"({name}{f' ^ {comp.exponent}' if comp.exponent != 1 else ''})")
        else:
            out.append(analysis(comp))
    return "".join(out).strip()


# -- canonical units --------------------------------------------------------------------------


class Canonicaliser:
    """Reduces expressions to powers of base units (`mL` -> `m3`), memoising each unit."""

    def __init__(self, essence: Essence) -> None:
        self.essence = essence
        self._units: dict[str, dict[str, int]] = {}

    def units(self, source: str) -> str:
        """`g.m-3`: base units in code order, exponents other than 1 written after them."""
        powers = self._term(parse(self.essence, source))
        ordered = sorted(powers.items(), key=lambda item: (item[0].lower(), item[0]))
        return ".".join(f"{code}{'' if n == 1 else n}" for code, n in ordered if n)

    def _term(self, term: Term) -> dict[str, int]:
        total: dict[str, int] = {}
        for op, comp in term.parts:
            if isinstance(comp, Factor):
                continue
            powers = self._term(comp) if isinstance(comp, Term) else self._symbol(comp)
            sign = -1 if op == "/" else 1
            for code, n in powers.items():
                total[code] = total.get(code, 0) + sign * n
        return {code: n for code, n in total.items() if n}

    def _symbol(self, symbol: Symbol) -> dict[str, int]:
        return {code: n * symbol.exponent for code, n in self._unit(symbol.unit).items()}

    def _unit(self, unit: Unit) -> dict[str, int]:
        if unit.base:
            return {unit.code: 1}
        if unit.code not in self._units:
            if unit.offset:
                raise UnitError(f"The unit '{unit.code}' is measured from an offset zero, so it "
                                "has no canonical form")
            definition = unit.function_unit if unit.special else unit.definition
            self._units[unit.code] = self._term(parse(self.essence, definition or "1"))
        return self._units[unit.code]
