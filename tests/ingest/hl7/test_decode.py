"""decode, split and parse: charsets, line ends, framing and malformed input -> Hl7Error."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.ingest.hl7.conftest import PID, message, msh

from yilian.ingest.hl7 import Hl7Error, decode, parse, split
from yilian.ingest.hl7.fields import Seg

NAME = "张三"


def pid_name(text: str) -> str:
    pid = parse(split(text).messages[0]).segment("PID")
    assert pid is not None
    return pid.get(5, 1) + pid.get(5, 2)


@pytest.mark.parametrize(
    ("charset", "codec"),
    [
        ("UNICODE UTF-8", "utf-8"),
        ("UTF-8", "utf-8"),
        ("GBK", "gbk"),
        ("GB 18030-2000", "gb18030"),
        ("GB18030", "gb18030"),
    ],
)
def test_declared_charsets_decode_chinese_byte_exactly(charset: str, codec: str) -> None:
    raw = message(msh(charset=charset), PID).encode(codec)
    text = decode(raw)
    assert pid_name(text) == NAME
    assert text.encode(codec) == raw


def test_undeclared_utf8_and_undeclared_gbk() -> None:
    assert pid_name(decode(message(msh(), PID).encode("utf-8"))) == NAME
    assert pid_name(decode(message(msh(), PID).encode("gbk"))) == NAME  # Chinese HIS: GBK, unsaid


def test_ascii_and_latin1() -> None:
    text = message(msh(charset="8859/1"), "PID|1||1^^^X^MR||Müller^Jörg").encode("latin-1")
    assert pid_name(decode(text)) == "MüllerJörg"
    assert decode(message(msh(charset="ASCII"), "PID|1||1").encode()).startswith("MSH|")


def test_declared_charset_that_does_not_decode_names_the_byte() -> None:
    raw = message(msh(charset="UNICODE UTF-8"), PID).encode("gbk")
    with pytest.raises(Hl7Error) as caught:
        decode(raw)
    error = caught.value
    offset = raw.index("张".encode("gbk"))
    assert (error.ack_code, error.condition, error.location) == ("AR", "102", "MSH-18")
    assert f"byte {offset}" in error.text
    assert error.header is not None and error.header.control_id == "MSG1"  # the ACK can be addressed


def test_ascii_declared_but_chinese_sent() -> None:
    with pytest.raises(Hl7Error) as caught:
        decode(message(msh(charset="ASCII"), PID).encode("utf-8"))
    assert caught.value.condition == "102"


def test_unknown_charset_is_a_table_value_error() -> None:
    with pytest.raises(Hl7Error) as caught:
        decode(message(msh(charset="EBCDIC"), PID).encode())
    assert (caught.value.ack_code, caught.value.condition) == ("AR", "103")
    assert "EBCDIC" in caught.value.text


def test_undeclared_bytes_that_are_neither_utf8_nor_gb18030() -> None:
    with pytest.raises(Hl7Error) as caught:
        decode(message(msh(), "PID|1||1").encode() + b"\xff\xff")
    assert caught.value.ack_code == "AR" and "byte" in caught.value.text


@pytest.mark.parametrize("end", ["\r", "\n", "\r\n"])
def test_line_ends_blank_lines_bom_and_framing(end: str) -> None:
    body = end.join([msh(), "", PID, "  ", "PV1|1|O"]) + end
    for raw in (body.encode(), b"\xef\xbb\xbf" + body.encode(), b"\x0b" + body.encode() + b"\x1c\r"):
        text = decode(raw)
        assert text == message(msh(), PID, "PV1|1|O")
    assert decode(b"\xff\xfe" + message(msh(), PID).encode("utf-16-le")) == message(msh(), PID)


def test_garbage_and_missing_msh_are_rejected() -> None:
    for text in ("hello world\r", "PID|1||123\rPV1|1|O\r", "\r", ""):
        with pytest.raises(Hl7Error) as caught:
            split(decode(text.encode()))
        assert (caught.value.ack_code, caught.value.condition) == ("AR", "100")


def test_wrong_delimiters() -> None:
    for first in ("MSH|^~|HIS|F", "MSH|^^~\\|HIS", "MSHA^~\\&AHIS", "MSH|^~\\&"):
        with pytest.raises(Hl7Error) as caught:
            parse(message(first + "|X|Y|Z"[: 0 if first.endswith("&") else 6]))
        assert caught.value.ack_code == "AR"
        assert caught.value.location in ("MSH-1", "MSH-2", "MSH-9")


def test_truncated_msh_names_the_first_missing_field() -> None:
    full = msh()
    for cut, location in ((8, "MSH-9"), (full.index("|MSG1"), "MSH-10"), (full.index("|P|2.4"), "MSH-12")):
        with pytest.raises(Hl7Error) as caught:
            parse(message(full[:cut]))
        assert (caught.value.ack_code, caught.value.condition, caught.value.location) == (
            "AR",
            "101",
            location,
        )


def test_unsupported_version_is_named() -> None:
    with pytest.raises(Hl7Error) as caught:
        parse(message(msh(version="2.2"), PID))
    error = caught.value
    assert (error.ack_code, error.condition, error.location) == ("AR", "203", "MSH-12")
    assert "2.2" in error.text and error.header is not None and error.header.version == "2.2"


def test_unsupported_type_and_event() -> None:
    with pytest.raises(Hl7Error) as caught:
        parse(message(msh("BAR^P01^BAR_P01"), PID))
    assert (caught.value.condition, caught.value.location) == ("200", "MSH-9")
    with pytest.raises(Hl7Error) as caught:
        parse(message(msh("ADT^A99"), PID))
    assert (caught.value.condition, caught.value.location) == ("201", "MSH-9.2")


def test_v23_trigger_from_evn() -> None:
    parsed = parse(message(msh("ADT", version="2.3"), "EVN|A04|20240305", PID))
    assert parsed.header.trigger_event == "A04" and parsed.header.message_type == "ADT^A04"


def test_header_fields() -> None:
    header = parse(message(msh(charset="UNICODE UTF-8"), PID)).header
    assert (header.sending_application, header.sending_facility, header.control_id) == (
        "HIS",
        "QXXRMYY",
        "MSG1",
    )
    assert (header.message_code, header.trigger_event, header.structure) == ("ADT", "A01", "ADT_A01")
    assert (header.version, header.processing_id, header.charset) == ("2.4", "P", "UNICODE UTF-8")


def test_escapes_are_read_back() -> None:
    seg = parse(message(msh(), "PID|1||1^^^X^MR||A\\F\\B\\S\\C\\T\\D\\R\\E\\E\\^Z")).segment("PID")
    assert isinstance(seg, Seg) and seg.get(5, 1) == "A|B^C&D~E\\"


def test_batch_is_split_with_its_header() -> None:
    one, two = message(msh(control="A1"), PID), message(msh(control="A2"), PID)
    text = "FHS|^~\\&|HIS|QXXRMYY\rBHS|^~\\&|HIS|QXXRMYY|||20240305||||B77\r" + one + two + "BTS|2\rFTS|1\r"
    batch = split(decode(text.encode()))
    assert [parse(m).header.control_id for m in batch.messages] == ["A1", "A2"]
    assert batch.header is not None and batch.header.control_id == "B77" and batch.header.file
    assert split(one).messages == (one,) and split(one).header is None
    with pytest.raises(Hl7Error):
        split("BHS|^~\\&|HIS\rPID|1||1\rBTS|0\r")


_hl7ish = st.lists(
    st.sampled_from(
        ["MSH|^~\\&|", "BHS|", "FHS|", "PID|", "|", "^", "~", "\\", "&", "\r", "\n", "A01", "2.4", "ADT"]
    )
    | st.text(max_size=8),
    max_size=30,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200) | _hl7ish.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_fuzzed_input_raises_nothing_but_hl7error(raw: bytes) -> None:
    try:
        for text in split(decode(raw)).messages:
            parse(text)
    except Hl7Error as error:
        assert error.ack_code in ("AE", "AR") and error.text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=12, max_size=20))
def test_fuzzed_msh_fields_raise_nothing_but_hl7error(fields: list[str]) -> None:
    try:
        parse(message("MSH|^~\\&|" + "|".join(fields), PID))
    except Hl7Error as error:
        assert error.condition in ("100", "101", "102", "200", "201", "203")
